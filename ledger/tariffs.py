"""Contributions (tariffs): the TOML loader, validation, storage, and the Bank of Russia key-rate history.

A tariff file holds `[[contribution]]` tables (see README «Начисления»). Every problem is reported in
Russian with the file and the contribution code (or its number) and field; nothing is saved unless the
whole file is valid.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from . import audit
from .db import Database, insert_rows, utcnow
from .errors import InputError

KINDS = {"periodic": "периодический", "one_off": "разовый"}
BASES = {"member": "с члена", "plot": "с участка", "plot_area": "с м² участка"}


def bases(words) -> dict[str, str]:
    """BASES as the cooperative says them: «с квартиры», «с м² бокса» (words: cooperative.ObjectWords)."""
    return {"member": BASES["member"], "plot": f"с {words.gen}", "plot_area": f"с м² {words.gen}"}
PERIODS = {"month": "месяц", "quarter": "квартал", "year": "год"}
PENALTY_KINDS = {"none": "без пени", "daily_percent": "% в день", "key_rate": "по ключевой ставке (ЖК РФ)"}
_CODE = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,31}$")


@dataclass
class Penalty:
    kind: str = "none"
    rate: Decimal | None = None              # percent per day (daily_percent)
    grace_days: int = 0
    cap_rate: Decimal | None = None          # key_rate: at most this rate (percent per annum) ...
    cap_from: date | None = None             # ... on days inside this window
    cap_to: date | None = None
    moratoriums: list[tuple[date, date]] = field(default_factory=list)  # days without penalty, inclusive


@dataclass
class Contribution:
    code: str
    name: str
    kind: str
    basis: str
    rate: Decimal
    due: str
    start: date
    period: str | None = None
    end: date | None = None
    keywords: list[str] = field(default_factory=list)
    penalty: Penalty = field(default_factory=Penalty)

    def due_date(self, period_start: date) -> date:
        """The due date of the period starting on period_start (one-off: the fixed date)."""
        if self.kind == "one_off":
            return date.fromisoformat(self.due)
        if self.period == "year":
            month, day = (int(x) for x in self.due.split("-"))
            return _clamped(period_start.year, month, day)
        if self.period == "quarter":
            month, day = (int(x) for x in self.due.split("-"))
            return _clamped(period_start.year, period_start.month + month - 1, day)
        return _clamped(period_start.year, period_start.month, int(self.due))


def _clamped(year: int, month: int, day: int) -> date:
    """A day of a month, the 31st becoming the month's last day."""
    import calendar

    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


# -- parsing ------------------------------------------------------------------------------------

MAX_NUMBER = Decimal(10) ** 12     # rates, areas, sums: nothing in a cooperative's tariffs comes near
MAX_TARIFF_BYTES = 1024 * 1024


def _text(value: Any, where: str, field_name: str, problems: list[str], required: bool = True) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{where}, поле «{field_name}»: не указано")
        return ""
    if not isinstance(value, str):
        problems.append(f"{where}, поле «{field_name}»: ожидается строка в кавычках")
        return ""
    return value.strip()


def _decimal(value: Any, where: str, field_name: str, problems: list[str], required: bool = True) -> Decimal | None:
    if value is None or value == "":
        if required:
            problems.append(f"{where}, поле «{field_name}»: не указано")
        return None
    if isinstance(value, float):
        problems.append(f"{where}, поле «{field_name}»: укажите число строкой в кавычках, например \"12.50\" "
                        f"(дробные числа без кавычек неточны)")
        return None
    try:
        result = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        problems.append(f"{where}, поле «{field_name}»: «{value}» не число")
        return None
    if not result.is_finite() or result < 0:
        problems.append(f"{where}, поле «{field_name}»: должно быть неотрицательным числом")
        return None
    if result >= MAX_NUMBER:
        problems.append(f"{where}, поле «{field_name}»: «{value}» — слишком большое число "
                        f"(допустимо меньше 1 000 000 000 000)")
        return None
    if result != result.quantize(Decimal("0.000001")):
        problems.append(f"{where}, поле «{field_name}»: слишком много знаков после запятой")
        return None
    return result


def _date(value: Any, where: str, field_name: str, problems: list[str], required: bool = True) -> date | None:
    if isinstance(value, date):
        return value
    text = _text(value, where, field_name, problems, required) if value not in (None, "") else ""
    if not text:
        if required and value in (None, ""):
            problems.append(f"{where}, поле «{field_name}»: не указано")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{where}, поле «{field_name}»: дата «{text}» не разобрана (ожидается ГГГГ-ММ-ДД)")
        return None


def _check_due(c: dict, where: str, problems: list[str]) -> None:
    due, kind, period = c.get("due", ""), c.get("kind"), c.get("period")
    patterns = {"year": (r"(\d{2})-(\d{2})", "ММ-ДД, например 07-01"),
                "quarter": (r"([1-3])-(\d{2})", "М-ДД, месяц квартала 1–3, например 1-25"),
                "month": (r"(\d{1,2})", "ДД, например 25")}
    if kind == "one_off":
        try:
            date.fromisoformat(due)
        except ValueError:
            problems.append(f"{where}, поле «due»: «{due}» — для разового взноса нужна дата ГГГГ-ММ-ДД")
        return
    if period not in patterns:
        return
    pattern, hint = patterns[period]
    m = re.fullmatch(pattern, due)
    ok = m is not None
    if ok and period == "year":
        try:
            date(2024, int(m.group(1)), int(m.group(2)))
        except ValueError:
            ok = False
    elif ok:
        ok = 1 <= int(m.groups()[-1]) <= 31
    if not ok:
        problems.append(f"{where}, поле «due»: «{due}» — для периода «{period}» ожидается {hint}")


def due_text(c: Contribution) -> str:
    """The due date as a Russian reader writes it: a one-off ДД.ММ.ГГГГ, a yearly ДД.ММ; the file's own
    forms (ГГГГ-ММ-ДД, ММ-ДД) stay in the .toml and the edit form."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", c.due or "")
    if c.kind == "one_off" and m:
        return f"{m.group(3)}.{m.group(2)}.{m.group(1)}"
    m = re.fullmatch(r"(\d{2})-(\d{2})", c.due or "")
    if c.period == "year" and m:
        return f"{m.group(2)}.{m.group(1)}"
    return c.due or ""


def parse_contribution(raw: dict, where: str, problems: list[str]) -> Contribution | None:
    """One [[contribution]] table; problems get one line per bad field."""
    before = len(problems)
    if not isinstance(raw, dict):
        problems.append(f"{where}: ожидается таблица [[contribution]]")
        return None
    known = {"code", "name", "kind", "basis", "rate", "period", "due", "start", "end", "keywords", "penalty"}
    for key in raw:
        if key not in known:
            problems.append(f"{where}: неизвестное поле «{key}»")
    code = _text(raw.get("code"), where, "code", problems)
    if code and not _CODE.match(code):
        problems.append(f"{where}, поле «code»: «{code}» — латинские строчные буквы, цифры, _ и -, до 32 знаков")
    name = _text(raw.get("name"), where, "name", problems)
    kind = _text(raw.get("kind"), where, "kind", problems)
    if kind and kind not in KINDS:
        problems.append(f"{where}, поле «kind»: «{kind}» — допустимо periodic или one_off")
    basis = _text(raw.get("basis"), where, "basis", problems)
    if basis and basis not in BASES:
        problems.append(f"{where}, поле «basis»: «{basis}» — допустимо member, plot или plot_area")
    rate = _decimal(raw.get("rate"), where, "rate", problems)
    period = _text(raw.get("period"), where, "period", problems, required=kind == "periodic") or None
    if kind == "periodic" and period and period not in PERIODS:
        problems.append(f"{where}, поле «period»: «{period}» — допустимо month, quarter или year")
    if kind == "one_off" and period:
        problems.append(f"{where}, поле «period»: у разового взноса периода нет")
        period = None
    due = _text(raw.get("due"), where, "due", problems)
    start = _date(raw.get("start"), where, "start", problems, required=kind != "one_off")
    end = _date(raw.get("end"), where, "end", problems, required=False)
    if start and end and end < start:
        problems.append(f"{where}, поле «end»: {end} раньше начала {start}")
    keywords = raw.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        problems.append(f"{where}, поле «keywords»: ожидается список строк, например [\"членск\"]")
        keywords = []
    if due:
        _check_due({"due": due, "kind": kind, "period": period}, where, problems)
    penalty = _parse_penalty(raw.get("penalty") or {}, where, problems)
    if len(problems) > before:
        return None
    if start is None:  # one-off without start: its due date
        start = date.fromisoformat(due)
    return Contribution(code=code, name=name, kind=kind, basis=basis, rate=rate, due=due, start=start,
                        period=period, end=end, keywords=[k.strip().lower().replace("ё", "е") for k in keywords],
                        penalty=penalty)


def _parse_penalty(raw: Any, where: str, problems: list[str]) -> Penalty:
    where = f"{where}, пеня"
    if not isinstance(raw, dict):
        problems.append(f"{where}: ожидается таблица [contribution.penalty]")
        return Penalty()
    known = {"kind", "rate", "grace_days", "cap_rate", "cap_from", "cap_to", "moratoriums"}
    for key in raw:
        if key not in known:
            problems.append(f"{where}: неизвестное поле «{key}»")
    kind = raw.get("kind", "none")
    if kind not in PENALTY_KINDS:
        problems.append(f"{where}, поле «kind»: «{kind}» — допустимо none, daily_percent или key_rate")
        kind = "none"
    rate = _decimal(raw.get("rate"), where, "rate", problems, required=kind == "daily_percent")
    grace = raw.get("grace_days", 0)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0 or grace > 3650:
        problems.append(f"{where}, поле «grace_days»: ожидается целое число дней от 0")
        grace = 0
    cap_rate = _decimal(raw.get("cap_rate"), where, "cap_rate", problems, required=False)
    cap_from = _date(raw.get("cap_from"), where, "cap_from", problems, required=False)
    cap_to = _date(raw.get("cap_to"), where, "cap_to", problems, required=False)
    if cap_rate is not None and (cap_from is None or cap_to is None):
        problems.append(f"{where}: для ограничения ставки укажите cap_from и cap_to")
    moratoriums = []
    raw_m = raw.get("moratoriums", [])
    if not isinstance(raw_m, list):
        raw_m = [raw_m]
    for i, window in enumerate(raw_m, start=1):
        if not (isinstance(window, list) and len(window) == 2):
            problems.append(f"{where}, поле «moratoriums», окно {i}: ожидается [\"ГГГГ-ММ-ДД\", \"ГГГГ-ММ-ДД\"]")
            continue
        a = _date(window[0], where, f"moratoriums, окно {i}", problems)
        b = _date(window[1], where, f"moratoriums, окно {i}", problems)
        if a and b:
            if b < a:
                problems.append(f"{where}, поле «moratoriums», окно {i}: конец раньше начала")
            else:
                moratoriums.append((a, b))
    return Penalty(kind=kind, rate=rate, grace_days=grace, cap_rate=cap_rate, cap_from=cap_from, cap_to=cap_to,
                   moratoriums=moratoriums)


def parse_tariffs(data: bytes, name: str) -> list[Contribution]:
    """Every contribution of a tariff file; InputError lists every problem with the file name."""
    if len(data) > MAX_TARIFF_BYTES:
        raise InputError(f"{name}: файл тарифов занимает {len(data) // 1024} КБ, допустимо не больше "
                         f"{MAX_TARIFF_BYTES // 1024} КБ")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: файл должен быть в кодировке UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{name}: ошибка формата TOML ({exc})") from None
    except RecursionError:  # tomllib descends recursively: thousands of nested arrays exhaust the stack
        raise InputError(f"{name}: слишком глубокая вложенность массивов и таблиц") from None
    items = doc.get("contribution")
    if not isinstance(items, list) or not items:
        raise InputError(f"{name}: нет ни одного взноса (таблицы [[contribution]])")
    problems: list[str] = []
    result: list[Contribution] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(items, start=1):
        code = raw.get("code") if isinstance(raw, dict) else None
        where = f"{name}, взнос «{code}»" if isinstance(code, str) and code else f"{name}, взнос №{i}"
        c = parse_contribution(raw, where, problems)
        if c is None:
            continue
        if c.code in seen:
            problems.append(f"{where}: код повторяется (уже во взносе №{seen[c.code]})")
            continue
        seen[c.code] = i
        result.append(c)
    if problems:
        raise InputError(problems, source=name)
    return result


# -- storage ------------------------------------------------------------------------------------

def _row(c: Contribution, actor: str | None) -> dict:
    p = c.penalty
    return {"code": c.code, "name": c.name, "kind": c.kind, "basis": c.basis, "rate": c.rate, "period": c.period,
            "due": c.due, "start_date": c.start, "end_date": c.end, "keywords": json.dumps(c.keywords, ensure_ascii=False),
            "penalty_kind": p.kind, "penalty_rate": p.rate, "grace_days": p.grace_days, "cap_rate": p.cap_rate,
            "cap_from": p.cap_from, "cap_to": p.cap_to,
            "moratoriums": json.dumps([[a.isoformat(), b.isoformat()] for a, b in p.moratoriums]),
            "updated_at": utcnow(), "updated_by": actor}


def save_contributions(db: Database, items: list[Contribution], actor: str | None = None, source: str = "") -> tuple[int, int]:
    """Insert or replace contributions by code in one transaction; returns (added, changed)."""
    rows = [_row(c, actor) for c in items]
    with db.transaction() as con:
        known = {r[0] for r in con.execute("SELECT code FROM contributions").fetchall()}
        codes = [c.code for c in items]
        if codes:
            con.execute(f"DELETE FROM contributions WHERE code IN ({', '.join('?' * len(codes))})", codes)
        insert_rows(con, "contributions", rows)
        added = sum(1 for c in codes if c not in known)
        audit.log(con, actor, "tariffs_saved", source or ", ".join(codes), codes=codes)
    return added, len(codes) - added


def load_tariffs(db: Database, data: bytes, name: str, actor: str | None = None) -> tuple[int, int]:
    return save_contributions(db, parse_tariffs(data, name), actor, source=name)


def save_contribution_form(db: Database, values: dict[str, Any], actor: str | None = None) -> Contribution:
    """A contribution edited in the UI (same fields and checks as the file)."""
    problems: list[str] = []
    c = parse_contribution(values, f"Взнос «{values.get('code') or ''}»", problems)
    if problems or c is None:
        raise InputError(problems)
    save_contributions(db, [c], actor, source=f"форма: {c.code}")
    return c


def _from_row(r: dict) -> Contribution:
    return Contribution(
        code=r["code"], name=r["name"], kind=r["kind"], basis=r["basis"], rate=r["rate"], due=r["due"],
        start=r["start_date"], period=r["period"], end=r["end_date"], keywords=json.loads(r["keywords"] or "[]"),
        penalty=Penalty(kind=r["penalty_kind"], rate=r["penalty_rate"], grace_days=r["grace_days"],
                        cap_rate=r["cap_rate"], cap_from=r["cap_from"], cap_to=r["cap_to"],
                        moratoriums=[(date.fromisoformat(a), date.fromisoformat(b))
                                     for a, b in json.loads(r["moratoriums"] or "[]")]))


def contributions(db_or_con) -> list[Contribution]:
    sql = "SELECT * FROM contributions ORDER BY code"
    if isinstance(db_or_con, Database):
        rows = db_or_con.records(sql)
    else:
        cur = db_or_con.execute(sql)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return [_from_row(r) for r in rows]


def as_form(c: Contribution) -> dict[str, Any]:
    """A contribution as the dict parse_contribution takes (the UI form and TOML export)."""
    d = asdict(c)
    d["rate"] = str(c.rate.normalize()) if c.rate is not None else ""
    d["start"] = c.start.isoformat()
    d["end"] = c.end.isoformat() if c.end else ""
    p = c.penalty
    d["penalty"] = {"kind": p.kind, "grace_days": p.grace_days}
    if p.rate is not None:
        d["penalty"]["rate"] = str(p.rate.normalize())
    if p.cap_rate is not None:
        d["penalty"].update(cap_rate=str(p.cap_rate.normalize()), cap_from=p.cap_from.isoformat(),
                            cap_to=p.cap_to.isoformat())
    if p.moratoriums:
        d["penalty"]["moratoriums"] = [[a.isoformat(), b.isoformat()] for a, b in p.moratoriums]
    if not d["period"]:
        d.pop("period")
    return d


# -- key rate -----------------------------------------------------------------------------------

def key_rates(db: Database) -> list[dict]:
    return db.records("SELECT valid_from, rate, updated_by FROM key_rates ORDER BY valid_from")


def set_key_rate(db: Database, valid_from: date, rate: Any, actor: str | None = None) -> None:
    """Add or change one entry of the key-rate history (percent per annum)."""
    problems: list[str] = []
    value = _decimal(rate, "Ключевая ставка", "ставка", problems)
    if value is not None and value > 100:
        problems.append(f"Ключевая ставка, поле «ставка»: {value} % — слишком много")
    if problems:
        raise InputError(problems)
    with db.transaction() as con:
        old = con.execute("SELECT rate FROM key_rates WHERE valid_from = ?", [valid_from]).fetchone()
        con.execute("DELETE FROM key_rates WHERE valid_from = ?", [valid_from])
        con.execute("INSERT INTO key_rates VALUES (?, ?, ?, ?)", [valid_from, value, utcnow(), actor])
        audit.log(con, actor, "key_rate_set", valid_from.isoformat(), old=old[0] if old else None, new=value)


def delete_key_rate(db: Database, valid_from: date, actor: str | None = None) -> None:
    with db.transaction() as con:
        con.execute("DELETE FROM key_rates WHERE valid_from = ?", [valid_from])
        audit.log(con, actor, "key_rate_deleted", valid_from.isoformat())
