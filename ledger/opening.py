"""Opening balances (входящие остатки): members' debts and advances per contribution as of a date, brought in
from a spreadsheet («л/с | участок | взнос | долг | пени | аванс») or from a 1С «Оборотно-сальдовая ведомость
по счету 76 (86)» exported to Excel or CSV.

The balances become real ledger entries, so debts, the dashboard, the акт сверки, allocation and penalties
see them like any other: a debt is a charge of kind 'opening' due the day before the as-of date (so it is
the oldest one and a payment pays it first; penalties run from the as-of date), an opening penalty a charge
of the pseudo-contribution "<code>:пени" (no tariff, so no penalty on it), and an advance an incoming
payment of the day before the as-of date matched to the member and designated to its contribution (so it
pays the next charges of that contribution). `opening_balances` keeps what each member's entries stand for:
accruals skip the periods due before the as-of date (`accrual_filter_sql`), and a different file for the
same date changes the entries through corrections, never by editing them.

In an ОСВ every row must reconcile (start + turnover = end, to the kopeck), the contribution rows must add
up to their counterparty row and the counterparty rows to «Итого». Which column pair is the end balance is
taken from the captions when they reconcile, otherwise from the equations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import audit, fields
from .formats import money as fmt_money
from .db import Database, utcnow
from .errors import InputError
from .spreadsheets import Need, Sheet, data_rows, find_header, normalize_header, parse_pairs, read_sheet
from .tariffs import contributions

ZERO = Decimal("0.00")
PENALTY_SUFFIX = ":пени"

TABLE_COLUMNS = {
    "reg_no": ["л/с", "лс", "лицевой счет", "№ л/с", "номер л/с", "рег номер", "номер в реестре"],
    "plot": ["участок", "№ участка", "номер участка", "уч", "помещение", "квартира", "кв", "бокс"],
    "contribution": ["взнос", "вид взноса", "статья", "назначение"],
    "debt": ["долг", "задолженность", "сальдо дебет", "дебет"],
    "penalty": ["пени", "пеня"],
    "advance": ["аванс", "переплата", "сальдо кредит", "кредит"],
}

# «п уч.36», «уч. 36», «участок № 36», «пользователь (уч №) 36», «Участок 36а»
_PLOT = re.compile(r"(?:^|\s|\()(?:п\s*)?(?:уч(?:асток)?|пользователь\s*\(уч\s*№?\s*\))\s*\.?\s*(?:№\s*)?"
                   r"(?:\)\s*)?([0-9][0-9а-я/\-]*)\s*$", re.IGNORECASE)
_ACCOUNT = re.compile(r"^\d{2}(\.\d{1,2})*$")


@dataclass
class Balance:
    """One member's opening balance of one contribution, as read (before members and tariffs are found)."""

    line: int
    reg_no: str
    plot: str
    contribution: str               # as written in the file
    debt: Decimal = ZERO
    penalty: Decimal = ZERO
    advance: Decimal = ZERO


@dataclass
class ImportResult:
    as_of: date
    file_name: str
    rows: int = 0
    changed: int = 0
    unchanged: bool = False
    debt: Decimal = ZERO
    advance: Decimal = ZERO
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.unchanged:
            return f"{self.file_name}: входящие остатки на {self.as_of:%d.%m.%Y} уже загружены, ничего не изменено"
        text = (f"{self.file_name}: входящие остатки на {self.as_of:%d.%m.%Y}: строк {self.rows}, долг "
                f"{fmt_money(self.debt)} ₽, аванс {fmt_money(self.advance)} ₽, изменено {self.changed}")
        return "\n".join([text] + self.notes)


# -- reading ------------------------------------------------------------------------------------

def _amount(value: Any, where: str, problems: list[str]) -> Decimal:
    if value is None or fields.clean_text(value) == "":
        return ZERO
    try:
        return fields.money(value)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return ZERO


def _is_osv(sheet: Sheet) -> bool:
    for _, values in sheet.rows[:15]:
        text = " ".join(fields.clean_text(v).lower() for v in values)
        if "оборотно-сальдовая" in text or ("сальдо на конец" in text and "обороты" in text):
            return True
    return False


def read_table(sheet: Sheet) -> list[Balance]:
    header = find_header(sheet, TABLE_COLUMNS, min_fields=3, required=[
        Need(("contribution",), "«взнос»"), Need(("reg_no", "plot"), "«л/с» или «участок»")])
    problems: list[str] = []
    result = []
    for line, r in data_rows(sheet, header):
        where = f"{sheet.name}, строка {line}"
        b = Balance(line, fields.clean_text(r.get("reg_no")), fields.clean_text(r.get("plot")),
                    fields.clean_text(r.get("contribution")))
        if any(t.lower().startswith(("итого", "всего")) for t in (b.reg_no, b.plot, b.contribution)):
            # A totals row under the table: checked against the rows above, not loaded.
            for name in ("debt", "penalty", "advance"):
                if name in header.columns and fields.clean_text(r.get(name)):
                    total = _amount(r.get(name), f"{where}, столбец «{header.titles[name]}»", problems)
                    rows_sum = sum((getattr(x, name) for x in result), ZERO)
                    if total != rows_sum:
                        problems.append(f"{where}, столбец «{header.titles[name]}»: итог {fmt_money(total)} не "
                                        f"равен сумме строк выше {fmt_money(rows_sum)}")
            continue
        for name in ("debt", "penalty", "advance"):
            value = _amount(r.get(name), f"{where}, столбец «{header.titles.get(name, name)}»", problems)
            if value < 0:
                problems.append(f"{where}, столбец «{header.titles[name]}»: сумма не может быть отрицательной")
            setattr(b, name, value)
        if b.plot:      # written as the register writes it: «Уч. 12» → "12", «12А» → "12а"
            try:
                numbers = fields.plot_numbers(b.plot)
            except ValueError as exc:
                problems.append(f"{where}, столбец «{header.titles['plot']}»: {exc}")
            else:
                if len(numbers) > 1:
                    problems.append(f"{where}, столбец «{header.titles['plot']}»: «{b.plot}» — несколько участков; "
                                    f"остаток укажите по каждому участку отдельной строкой")
                b.plot = numbers[0] if numbers else ""
        if not b.contribution:
            problems.append(f"{where}: не указан взнос")
        if not b.reg_no and not b.plot:
            problems.append(f"{where}: не указан ни л/с, ни участок")
        result.append(b)
    if problems:
        raise InputError(problems)
    return result


def plot_of(text: str) -> str | None:
    """The plot number of a 1С counterparty caption («п уч.36» → "36"), None if it names no plot."""
    m = _PLOT.search(fields.clean_text(text).lower())
    return m.group(1) if m else None


def _adds_up(parts: list[list[Decimal]], total: list[Decimal]) -> bool:
    """The total row equals the sum of the parts, as is («Итого развернутое») or with some pairs netted to one
    side («Итого», a counterparty's collapsed balance)."""
    whole = [sum(x, ZERO) for x in zip(*parts)] if parts else [ZERO] * 6
    for mask in range(8):
        shown = list(whole)
        for k in range(3):
            if mask >> k & 1:
                net = whole[2 * k] - whole[2 * k + 1]
                shown[2 * k], shown[2 * k + 1] = max(net, ZERO), max(-net, ZERO)
        if shown == total:
            return True
    return False


def _net_pairs(rows: list[tuple[int, str, list[Decimal]]], end: int) -> int | None:
    """The first row (line) where the pairs other than `end` do not add up to the end pair; None if all do."""
    for line, _, nums in rows:
        nets = [nums[2 * k] - nums[2 * k + 1] for k in range(3)]
        if sum(n for k, n in enumerate(nets) if k != end) != nets[end]:
            return line
    return None


def read_osv(sheet: Sheet) -> tuple[list[Balance], list[str]]:
    """Balances of a 1С ОСВ by account 76/86: counterparty rows naming plots, each followed by its contribution
    rows; six money columns (debit, credit) at the start, turnover and end of the period."""
    # the caption rows: the one naming the periods and the one of Дебет/Кредит under it
    cap_row = dk_row = None
    for number, values in sheet.rows[:30]:
        texts = [normalize_header(v) for v in values]
        if any("сальдо на конец" in t or "конец периода" in t for t in texts) and cap_row is None:
            cap_row = (number, texts)
        if texts.count("дебет") >= 2 and texts.count("кредит") >= 2:
            dk_row = (number, texts)
            break
    if dk_row is None:
        raise InputError(f"{sheet.name}: не найдена строка заголовков «Дебет | Кредит» оборотно-сальдовой ведомости")
    money_cols = [i for i, t in enumerate(dk_row[1]) if t in ("дебет", "кредит")]
    if len(money_cols) < 6:
        raise InputError(f"{sheet.name}, строка {dk_row[0]}: ожидается шесть столбцов «Дебет | Кредит» (сальдо на "
                         f"начало, обороты, сальдо на конец), найдено {len(money_cols)}")
    money_cols = money_cols[:6]
    notes = []
    # the end pair by caption: the pair whose caption says «конец»; Дебет before Кредит within a pair
    by_caption = 2
    if cap_row is not None:
        for k in range(3):
            if "конец" in cap_row[1][money_cols[2 * k]] if money_cols[2 * k] < len(cap_row[1]) else False:
                by_caption = k
    pairs = []
    for k in range(3):
        d, c = money_cols[2 * k], money_cols[2 * k + 1]
        pairs += [d, c] if dk_row[1][d] == "дебет" else [c, d]
    problems: list[str] = []
    rows: list[tuple[int, str, list[Decimal]]] = []   # (line, first cell, six amounts)
    for number, values in sheet.rows:
        if number <= dk_row[0]:
            continue
        label = next((fields.clean_text(v) for v in values[:money_cols[0]] if fields.clean_text(v)), "")
        cells = [values[i] if i < len(values) else None for i in pairs]
        if not label and all(fields.clean_text(v) == "" for v in cells):
            continue
        nums = [_amount(v, f"{sheet.name}, строка {number}", problems) for v in cells]
        rows.append((number, label, nums))
    if problems:
        raise InputError(problems)
    end = by_caption
    if _net_pairs(rows, end) is not None:
        fits = [k for k in range(3) if _net_pairs(rows, k) is None]
        if len(fits) != 1:
            line = _net_pairs(rows, by_caption)
            raise InputError(f"{sheet.name}, строка {line}: сальдо на начало плюс обороты не равно сальдо на конец "
                             f"(с точностью до копейки) — ведомость не сходится")
        end = fits[0]
        notes.append(f"{sheet.name}: сальдо на конец периода определено по суммам (столбцы "
                     f"{pairs[2 * end] + 1} и {pairs[2 * end + 1] + 1}), а не по заголовкам")
    result: list[Balance] = []
    totals: dict[str, list[Decimal]] = {}
    counterparty: tuple[int, str, list[Decimal]] | None = None
    children: list[list[Decimal]] = []

    def close_counterparty() -> None:
        if counterparty is not None:
            if not children:
                problems.append(f"{sheet.name}, строка {counterparty[0]}: у «{counterparty[1]}» нет строк взносов")
            elif not _adds_up(children, counterparty[2]):
                problems.append(f"{sheet.name}, строка {counterparty[0]}: суммы строк взносов «{counterparty[1]}» "
                                f"не равны строке контрагента")

    parties: list[list[Decimal]] = []
    for line, label, nums in rows:
        low = label.lower()
        if low.startswith("итого"):
            totals[low] = nums + [line]
            continue
        if _ACCOUNT.match(label) or low in ("счет", "субконто"):
            continue
        plot = plot_of(label)
        if plot is not None:
            close_counterparty()
            counterparty, children = (line, label, nums), []
            parties.append(nums)
            continue
        if counterparty is None:
            problems.append(f"{sheet.name}, строка {line}: строка «{label}» не относится ни к одному участку "
                            f"(ожидается строка контрагента вида «уч. 36»)")
            continue
        children.append(nums)
        net = nums[2 * end] - nums[2 * end + 1]
        result.append(Balance(line, "", plot_of(counterparty[1]) or "", label,
                              debt=max(net, ZERO), advance=max(-net, ZERO)))
    close_counterparty()
    if not totals:
        problems.append(f"{sheet.name}: нет строки «Итого»")
    for name, nums in totals.items():
        if not _adds_up(parties, nums[:6]):
            problems.append(f"{sheet.name}, строка {nums[6]}: «{name.capitalize()}» не равно сумме строк по участкам")
    if problems:
        raise InputError(problems)
    return result, notes


_PERIOD_RANGE = re.compile(r"(\d{2}\.\d{2}\.\d{4})\s*(?:-|–|—|по)\s*(\d{2}\.\d{2}\.\d{4})")
_PERIOD_YEAR = re.compile(r"\bза\s+(\d{4})\s*г")


def period_end(sheet: Sheet) -> date | None:
    """The last day of the period an ОСВ's title states («за 2025 г.», «Период: 01.01.2025 - 31.12.2025»)."""
    for _, values in sheet.rows[:8]:
        for v in values:
            text = fields.clean_text(v).lower()
            m = _PERIOD_RANGE.search(text)
            if m:
                try:
                    return fields.parse_date(m.group(2))
                except ValueError:
                    return None
            m = _PERIOD_YEAR.search(text)
            if m and "квартал" not in text and "месяц" not in text:
                return date(int(m.group(1)), 12, 31)
    return None


def read_balances(data: bytes, name: str) -> tuple[list[Balance], str, list[str], date | None]:
    """The balances of a file, its format (osv|table), notes for the summary, and the end of the period an ОСВ
    states."""
    sheet = read_sheet(data, name)
    if _is_osv(sheet):
        balances, notes = read_osv(sheet)
        return balances, "osv", notes, period_end(sheet)
    return read_table(sheet), "table", [], None


# -- resolving members and contributions --------------------------------------------------------

def parse_mapping(pairs: list[str]) -> dict[str, str]:
    return parse_pairs(pairs, "--map", "Название=код")


def _contribution_codes(con, balances: list[Balance], mapping: dict[str, str], name: str) -> dict[str, str]:
    """Name as written → contribution code: by mapping, code, name, or one contribution's keyword."""
    items = contributions(con)
    codes = {c.code for c in items}
    result: dict[str, str] = {}
    unknown: dict[str, tuple[str, list[int]]] = {}   # key -> (as written, lines)
    for b in balances:
        key = normalize_header(b.contribution)
        if key in unknown:
            unknown[key][1].append(b.line)
        if key in result or key in unknown:
            continue
        code = mapping.get(key)
        if code is not None and code not in codes:
            raise InputError(f"--map: взнос с кодом «{code}» не найден среди тарифов")
        if code is None:
            code = next((c.code for c in items if normalize_header(c.code) == key or normalize_header(c.name) == key),
                        None)
        if code is None:
            hits = {c.code for c in items for w in c.keywords if w and normalize_header(w) in key}
            code = hits.pop() if len(hits) == 1 else None
        if code is None:
            unknown[key] = (b.contribution, [b.line])
        else:
            result[key] = code
    if unknown:
        lines = [f"«{written}» (строки {', '.join(map(str, at))})" for written, at in unknown.values()]
        raise InputError([f"{name}: взносы не найдены среди тарифов: " + "; ".join(lines),
                          "Укажите соответствие «Название=код» (в командной строке: --map \"Название=код\"); коды: "
                          + ", ".join(sorted(codes))])
    return result


class _Register:
    """Plots, л/с and each plot's owner on one day, read once per import (not three queries a row)."""

    def __init__(self, con, day: date):
        self.day = day
        self.plots = dict(con.execute("SELECT number, id FROM plots").fetchall())
        self.members = dict(con.execute("SELECT reg_no, id FROM members").fetchall())
        # the largest share, then the smallest л/с
        self.owners = dict(con.execute("""
            SELECT o.plot_id, o.member_id FROM plot_owners o JOIN members m ON m.id = o.member_id
            WHERE (o.owned_from IS NULL OR o.owned_from <= ?) AND (o.owned_to IS NULL OR o.owned_to >= ?)
            QUALIFY row_number() OVER (PARTITION BY o.plot_id
                                       ORDER BY o.share_num::DOUBLE / o.share_den DESC, m.reg_no) = 1""",
                                       [day, day]).fetchall())

    def member_of(self, b: Balance, name: str) -> tuple[int, int | None]:
        """(member id, plot id): by л/с, else the plot's owner on the day."""
        plot_id = None
        if b.plot:
            plot_id = self.plots.get(b.plot)
            if plot_id is None:
                raise InputError(f"{name}, строка {b.line}: участок {b.plot} не найден в реестре")
        if b.reg_no:
            member = self.members.get(b.reg_no)
            if member is None:
                raise InputError(f"{name}, строка {b.line}: л/с {b.reg_no} не найден в реестре")
            return member, plot_id
        member = self.owners.get(plot_id)
        if member is None:
            raise InputError(f"{name}, строка {b.line}: у участка {b.plot} нет собственника на {self.day:%d.%m.%Y}")
        return member, plot_id


# -- writing the ledger entries -----------------------------------------------------------------

def _key(as_of: date, member: int, code: str, what: str) -> str:
    return f"opening|{as_of.isoformat()}|{member}|{code}|{what}"


def _charge(con, as_of, member, code, plot, what, amount, reason, actor) -> None:
    """Bring the opening charge `what` (debt|penalty|advance_fix) to `amount`: a new charge, or a correction."""
    key = _key(as_of, member, code, what)
    row = con.execute("SELECT c.id, e.amount FROM charges c JOIN charges_effective e ON e.id = c.id "
                      "WHERE c.accrual_key = ?", [key]).fetchone()
    day = as_of - timedelta(days=1)
    if row is None:
        if amount > 0:
            con.execute("INSERT INTO charges (member_id, contribution, plot_id, period_start, period_end, due_date, "
                        "amount, kind, reason, accrual_key, created_at, created_by) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, 'opening', ?, ?, ?, ?)",
                        [member, code + PENALTY_SUFFIX if what == "penalty" else code, plot, day, day, day, amount,
                         reason, key, utcnow(), actor])
    elif row[1] != amount:
        con.execute("INSERT INTO charge_corrections (charge_id, delta, reason, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?)", [row[0], amount - row[1], reason, utcnow(), actor])


def _advance(con, as_of, member, code, old: Decimal, new: Decimal, name_of: str, reason, actor) -> None:
    """Bring the member's opening advance of `code` from old to new: more is a further opening payment, less a
    charge that takes it back (a payment is never edited)."""
    if new == old:
        return
    fix_key = _key(as_of, member, code, "advance_fix")
    fix = con.execute("SELECT e.amount FROM charges c JOIN charges_effective e ON e.id = c.id WHERE c.accrual_key = ?",
                      [fix_key]).fetchone()
    fix = fix[0] if fix else ZERO
    paid = old + fix   # the opening payments so far
    if new > paid:
        n = con.execute("SELECT count(*) FROM opening_payments op JOIN matches m ON m.payment_id = op.payment_id "
                        "WHERE m.member_id = ? AND op.contribution = ?", [member, code]).fetchone()[0]
        fingerprint = int(hashlib.sha256(f"{_key(as_of, member, code, 'advance')}|{n + 1}".encode()).hexdigest()[:32], 16)
        day = as_of - timedelta(days=1)
        pid = con.execute(
            "INSERT INTO payments (fingerprint, doc_date, amount, direction, purpose, created_at) "
            "VALUES (?, ?, ?, 'in', ?, ?) RETURNING id",
            [fingerprint, day, new - paid,
             f"Входящее сальдо на {as_of:%d.%m.%Y}: аванс, {name_of}", utcnow()]).fetchone()[0]
        con.execute("INSERT INTO matches (payment_id, status, member_id, confidence, reason, decided_by, decided_at) "
                    "VALUES (?, 'manual', ?, 1, ?, ?, ?)", [pid, member, reason, actor, utcnow()])
        con.execute("INSERT INTO opening_payments VALUES (?, ?)", [pid, code])
        paid = new
    _charge(con, as_of, member, code, None, "advance_fix", paid - new, reason, actor)


def import_balances(db: Database, data: bytes, name: str, as_of: date, mapping: dict[str, str] | None = None,
                    actor: str | None = None) -> ImportResult:
    """Load opening balances as of `as_of` (all or nothing; the same file again changes nothing)."""
    balances, fmt, notes, end = read_balances(data, name)
    if end is not None and end + timedelta(days=1) != as_of:
        raise InputError(f"{name}: ведомость за период по {end:%d.%m.%Y}, её сальдо на конец — остатки на "
                         f"{end + timedelta(days=1):%d.%m.%Y}, а указана дата {as_of:%d.%m.%Y}")
    sha = hashlib.sha256(data).hexdigest()
    result = ImportResult(as_of, name, rows=len(balances), notes=notes)
    day = as_of - timedelta(days=1)
    with db.transaction() as con:
        other = con.execute("SELECT DISTINCT as_of FROM opening_balances WHERE as_of <> ?", [as_of]).fetchone()
        if other:
            raise InputError(f"{name}: входящие остатки уже загружены на {other[0]:%d.%m.%Y}; дата перехода одна, "
                             f"загрузите исправленный файл на ту же дату")
        last = con.execute("SELECT sha256 FROM opening_imports WHERE as_of = ? ORDER BY id DESC LIMIT 1",
                           [as_of]).fetchone()
        if last and last[0] == sha:
            result.unchanged = True
            return result
        codes = _contribution_codes(con, balances, mapping or {}, name)
        names = {c.code: c.name for c in contributions(con)}
        target: dict[tuple[int, str], list] = {}
        unknown: list[str] = []     # every row whose member is not found, not just the first
        register = _Register(con, day)
        for b in balances:
            try:
                member, plot = register.member_of(b, name)
            except InputError as exc:
                unknown += exc.problems
                continue
            code = codes[normalize_header(b.contribution)]
            t = target.setdefault((member, code), [plot, ZERO, ZERO, ZERO])
            t[1] += b.debt
            t[2] += b.penalty
            t[3] += b.advance
        if unknown:
            raise InputError(unknown)
        for t in target.values():   # debit and credit of one contribution are netted, as 1С does at period end
            net = t[1] - t[3]
            t[1], t[3] = max(net, ZERO), max(-net, ZERO)
        old = {(r[0], r[1]): r[2:] for r in con.execute(
            "SELECT member_id, contribution, plot_id, debt, penalty, advance FROM opening_balances").fetchall()}
        if old and old == {k: tuple(v) for k, v in target.items()}:   # the same balances (a re-saved file)
            result.unchanged = True
            return result
        import_id = con.execute(
            "INSERT INTO opening_imports (as_of, sha256, file_name, format, rows, imported_at, imported_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", [as_of, sha, name, fmt, len(balances), utcnow(), actor]
        ).fetchone()[0]
        replacing = bool(old)
        reason = (f"Входящее сальдо на {as_of:%d.%m.%Y} заменено файлом {name}" if replacing
                  else f"Входящее сальдо на {as_of:%d.%m.%Y} ({name})")
        for key in sorted(set(target) | set(old)):
            member, code = key
            plot, debt, penalty, advance = target.get(key, [old[key][0] if key in old else None, ZERO, ZERO, ZERO])
            before = old.get(key, (plot, ZERO, ZERO, ZERO))
            if (debt, penalty, advance) != tuple(before[1:]):
                result.changed += 1
            _charge(con, as_of, member, code, plot, "debt", debt, reason, actor)
            _charge(con, as_of, member, code, plot, "penalty", penalty, reason, actor)
            _advance(con, as_of, member, code, before[3], advance, names.get(code, code), reason, actor)
            con.execute("DELETE FROM opening_balances WHERE member_id = ? AND contribution = ?", [member, code])
            if key in target:
                con.execute("INSERT INTO opening_balances VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [as_of, member, code, plot, debt, penalty, advance, import_id])
            result.debt += debt
            result.advance += advance
        audit.log(con, actor, "opening_balances_replaced" if replacing else "opening_balances_imported",
                  as_of.isoformat(), file=name, sha256=sha, rows=len(balances), changed=result.changed,
                  debt=str(result.debt), advance=str(result.advance))
    return result


def balances(db: Database) -> list[dict]:
    """The current opening balances, for the page."""
    return db.records("""
        SELECT o.as_of, m.reg_no, m.full_name, p.number AS plot, o.contribution, o.debt, o.penalty, o.advance
        FROM opening_balances o JOIN members m ON m.id = o.member_id LEFT JOIN plots p ON p.id = o.plot_id
        ORDER BY m.reg_no, o.contribution""")


def accrual_filter_sql(alias: str) -> str:
    """A condition for accruals: the charge `alias` is not due before its member's opening date (see
    opening_date)."""
    return (f"NOT EXISTS (SELECT 1 FROM opening_balances ob WHERE ob.member_id = {alias}.member_id "
            f"AND {alias}.due_date < ob.as_of)")


def opening_date(con, member_id: int, contribution: str) -> date | None:
    """The date from which the ledger accrues a contribution for a member (None: from its start). A member
    with opening balances has his whole past in them, every contribution: 1С leaves out of an ОСВ the rows
    that are zero, so a contribution missing from his rows was settled, not forgotten."""
    row = con.execute("SELECT max(as_of) FROM opening_balances WHERE member_id = ?", [member_id]).fetchone()
    return row[0] if row else None
