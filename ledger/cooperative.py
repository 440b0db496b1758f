"""Settings of the cooperative itself: name, type, requisites, bank account, chairman."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import audit, fields
from .db import Database, utcnow
from .errors import InputError

COOP_TYPES = ["СНТ", "ОНТ", "ТСН", "ЖСК", "ТСЖ", "ГСК", "КПК", "СПК", "ПО"]


@dataclass(frozen=True)
class ObjectWords:
    """What the members own, in the forms the UI needs: «участок», «квартира», «помещение», «бокс», «гараж»."""

    one: str        # nominative singular: участок
    gen: str        # genitive singular, also after 2-4: участка
    many: str       # nominative plural: участки
    gen_many: str   # genitive plural, also after 5+: участков
    dat_many: str   # dative plural: (найден) по участкам

    @property
    def One(self) -> str:  # noqa: N802 - the capitalised form, for column titles and labels
        return self.one.capitalize()

    @property
    def Many(self) -> str:  # noqa: N802
        return self.many.capitalize()

    def count(self, n: int) -> str:
        """«1 участок», «3 квартиры», «5 боксов»."""
        from .formats import count

        return count(n, self.one, self.gen, self.gen_many)


OBJECT_WORDS = {
    "участок": ObjectWords("участок", "участка", "участки", "участков", "участкам"),
    "квартира": ObjectWords("квартира", "квартиры", "квартиры", "квартир", "квартирам"),
    "помещение": ObjectWords("помещение", "помещения", "помещения", "помещений", "помещениям"),
    "бокс": ObjectWords("бокс", "бокса", "боксы", "боксов", "боксам"),
    "гараж": ObjectWords("гараж", "гаража", "гаражи", "гаражей", "гаражам"),
}
# Housing cooperatives and ТСЖ keep flats, garage cooperatives boxes; the rest (СНТ, ОНТ, ТСН, …) plots.
TYPE_OBJECTS = {"ЖСК": "квартира", "ТСЖ": "квартира", "ГСК": "бокс"}


def object_words(coop_type: str | None = None, kind: str | None = None) -> ObjectWords:
    """The word for a member's objects: the chosen kind, else the one of the cooperative's type, else «участок»."""
    return OBJECT_WORDS.get(kind or TYPE_OBJECTS.get((coop_type or "").upper(), "участок"), OBJECT_WORDS["участок"])


def objects_of(db: Database) -> ObjectWords:
    """The object word of this ledger's cooperative (settings «Тип» and «Объекты членов»)."""
    settings = get_settings(db)
    return object_words(settings.get("type"), settings.get("object_kind"))


def _object_kind(value: Any) -> str | None:
    text = fields.clean_text(value).lower()
    if text and text not in OBJECT_WORDS:
        raise ValueError(f"«{value}» — не вид объекта; допустимы: {', '.join(OBJECT_WORDS)}")
    return text or None


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
    "object_kind": ("Объекты членов (пусто — по типу: участок, квартира или бокс)", _object_kind),
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
