"""Settings of the cooperative itself: name, type, requisites, bank account, chairman."""

from __future__ import annotations

import re
from typing import Any

from . import audit, fields
from .db import Database, utcnow
from .errors import InputError

COOP_TYPES = ["СНТ", "ОНТ", "ТСН", "ЖСК", "ТСЖ", "ГСК", "КПК", "СПК", "ПО"]


def _digits(n: int, label: str):
    def check(value: Any) -> str | None:
        text = fields.clean_text(value).replace(" ", "")
        if not text:
            return None
        if not re.fullmatch(rf"\d{{{n}}}", text):
            raise ValueError(f"{label} должен состоять из {n} цифр")
        return text
    return check


def _ogrn(value: Any) -> str | None:
    text = _digits(13, "ОГРН")(value)
    if text and int(text[:12]) % 11 % 10 != int(text[12]):
        raise ValueError("ОГРН не проходит проверку контрольной цифры")
    return text


def account_matches_bik(account: str, bik: str) -> bool:
    """Control key of a settlement account against the bank's BIK (ЦБ РФ rule)."""
    digits = bik[-3:] + account
    weights = [7, 1, 3] * 8
    return sum(int(d) * w for d, w in zip(digits, weights)) % 10 == 0


def _accounts(value: Any) -> str | None:
    """Several accounts (20 digits, or an IBAN / a foreign bank's number for MT940 and camt.053) separated by
    commas, semicolons or spaces → "A,B" (order kept, repeats dropped)."""
    if isinstance(value, (list, tuple, set)):
        value = ",".join(map(str, value))
    text = fields.clean_text(value)
    if not text:
        return None
    found: list[str] = []
    for part in re.split(r"[,;\s]+", text):
        if not part:
            continue
        part = part.upper()
        if not re.fullmatch(r"\d{20}|[A-Z0-9]{5,34}", part) or not re.search(r"\d{5}", part):
            raise ValueError(f"«{part}» — не номер счёта (20 цифр или IBAN); счета перечисляются через запятую")
        if part not in found:
            found.append(part)
    return ",".join(found) or None


def _coop_type(value: Any) -> str | None:
    text = fields.clean_text(value).upper()
    if text and text not in COOP_TYPES:
        raise ValueError(f"тип «{value}» неизвестен; допустимы: {', '.join(COOP_TYPES)}")
    return text or None


def _timezone(value: Any) -> str | None:
    text = fields.clean_text(value)
    if not text:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"часовой пояс «{text}» неизвестен; пример: Europe/Moscow, Asia/Yekaterinburg") from None
    return text


def _years(value: Any) -> str | None:
    text = fields.clean_text(value)
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 75:
        raise ValueError(f"«{value}» — укажите целое число лет от 1 до 75")
    return str(int(text))


SETTINGS = {
    "name": ("Наименование", lambda v: fields.clean_text(v) or None),
    "type": ("Тип", _coop_type),
    "inn": ("ИНН", fields.org_inn),
    "kpp": ("КПП", _digits(9, "КПП")),
    "ogrn": ("ОГРН", _ogrn),
    "address": ("Адрес", lambda v: fields.clean_text(v) or None),
    "bank_account": ("Расчётный счёт", _digits(20, "Расчётный счёт")),
    "bank_accounts": ("Все счета кооператива (через запятую)", _accounts),
    "bik": ("БИК", _digits(9, "БИК")),
    "bank_name": ("Банк", lambda v: fields.clean_text(v) or None),
    "chairman": ("Председатель", lambda v: fields.clean_text(v) or None),
    "corr_account": ("Корр. счёт банка", _digits(20, "Корр. счёт")),
    "timezone": ("Часовой пояс (тихие часы уведомлений)", _timezone),
    "pd_retention_years": ("Срок хранения документов бывшего члена, лет после года последнего документа "
                           "(по умолчанию 5, 402-ФЗ ст. 29)", _years),
}


def get_settings(db: Database) -> dict[str, str | None]:
    stored = dict(db.fetchall("SELECT key, value FROM coop_settings"))
    return {k: stored.get(k) for k in SETTINGS}


def accounts(settings: dict[str, str | None]) -> list[str]:
    """The cooperative's accounts: the settlement account first, then the others; statements of any other account
    are refused."""
    found = [settings["bank_account"]] if settings.get("bank_account") else []
    for account in (settings.get("bank_accounts") or "").split(","):
        if account and account not in found:
            found.append(account)
    return found
def export_title(db: Database, what: str, as_of=None) -> list[str]:
    """Title lines of a downloaded .xlsx: the cooperative's name (when set), then what and as of when."""
    from .spreadsheets import title_lines

    return title_lines(get_settings(db).get("name"), what, as_of)


def save_settings(db: Database, values: dict[str, Any], actor: str | None = None) -> dict[str, str | None]:
    parsed: dict[str, str | None] = {}
    problems = []
    for key, value in values.items():
        if key not in SETTINGS:
            problems.append(f"Поле «{key}» неизвестно")
            continue
        label, parser = SETTINGS[key]
        try:
            parsed[key] = parser(value)
        except ValueError as exc:
            problems.append(f"Поле «{label}»: {exc}")
    merged = {**get_settings(db), **parsed}
    if merged.get("bank_account") and merged.get("bik") and not account_matches_bik(merged["bank_account"], merged["bik"]):
        problems.append("Поле «Расчётный счёт»: не сходится контрольный ключ с БИК банка")
    if problems:
        raise InputError(problems)
    with db.transaction() as con:
        for key, value in parsed.items():
            con.execute("INSERT INTO coop_settings VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                        "value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                        [key, value, utcnow(), actor])
        audit.log(con, actor, "settings_changed", "cooperative", keys=sorted(parsed))
    return merged
