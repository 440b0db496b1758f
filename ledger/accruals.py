"""Accruals, penalties and the allocation of members' payments to charges.

Accrual (`accrue`) writes every charge due up to a date, once (each charge has an accrual key), set-based
in SQL with exact integer arithmetic in kopecks, rounded half up per charge.

Allocation is a pure function of the ledger (charges with corrections, `member_payments`, contributions,
key rates). It is kept as a cache in `allocations` / `charge_state`, recomputed by `refresh` for every
member whose inputs changed (a fingerprint per member) — so a confirmed, moved or split match is picked up
the next time anything reads debts. Rules (issue 5):
1. money whose purpose designates one contribution (by its keywords) pays only that contribution's charges,
   oldest due date first;
2. other money pays all open charges, oldest due date first, ties by contribution code;
3. money beyond the principal due on the payment date pays the penalties accrued by then (oldest charge
   first), and the rest becomes an advance (a designated one stays in its contribution), applied to charges
   on their due dates (the contribution's own advance first, then the general one).
On one day, charges falling due take advances first, then that day's payments are applied in id order.
`_allocate_member` is the rules day by day for one member; ledger/allocation.py computes the same set-wise
for every member whose money is one stream, and uses the loop for the others.

Penalty of a charge: for each day D from due + grace + 1 through the as-of date, the daily rate × the
principal still unpaid at the end of D; summed exactly, rounded half up to kopecks per charge.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from . import audit, fields
from .formats import money
from .db import Database, utcnow
from .errors import InputError
from .tariffs import Contribution, contributions

DAY0 = date(1990, 1, 1).toordinal()       # first day of the penalty calendars
DAYS = (date(2100, 1, 1).toordinal() - DAY0)
ORDINAL_SQL = "(date_diff('day', DATE '0001-01-01', {col}) + 1)"  # Python's date.toordinal() in SQL


# -- periods and accrual ------------------------------------------------------------------------

def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def periods(c: Contribution, through: date) -> list[tuple[date, date, date]]:
    """(period_start, period_end, due) of every period of c whose due date is not after `through`.

    Periods are calendar months, quarters or years, from the one containing c.start; a one-off contribution
    has the single "period" of its due date.
    """
    if c.kind == "one_off":
        due = date.fromisoformat(c.due)
        return [(due, due, due)] if due <= through else []
    step = {"month": 1, "quarter": 3, "year": 12}[c.period]
    if c.period == "year":
        start = date(c.start.year, 1, 1)
    else:
        start = date(c.start.year, (c.start.month - 1) // step * step + 1, 1)
    result = []
    last = min(through, c.end) if c.end else through
    while start <= last:
        end = _add_months(start, step) - timedelta(days=1)
        due = c.due_date(start)
        if due <= through:
            result.append((start, end, due))
        start = _add_months(start, step)
    return result


# Liability of members (basis member) and of owners (plot bases): exact kopecks, half up, set-based.
# Intervals are [from, to): join_date/owned_from inclusive, exit_date/owned_to exclusive; an unknown start
# (NULL) counts from the start of every contribution. A member who joins after the period's due date owes his
# share from the day he joins (the due date moves to that day). What is owed is summed per member,
# contribution, plot and period (one row per ownership record, each rounded). `_accr_periods` lists the
# periods; a period marked `fresh` is computed for every member, the others only for the members in
# `_accr_stale` (those whose register data changed since the last run).
_EXPECTED_SQL = """
WITH liable AS (
    SELECT m.id AS member_id, NULL::BIGINT AS plot_id, 1::HUGEINT AS num, 1::HUGEINT AS den, NULL::DECIMAL(12,2) AS area,
           coalesce(m.join_date, DATE '1900-01-01') AS l_from, coalesce(m.exit_date, DATE '2999-12-31') AS l_to,
           'member' AS basis, m.exit_date
    FROM members m WHERE m.status <> 'applicant'
    UNION ALL
    SELECT m.id, o.plot_id, o.share_num, o.share_den, p.area,
           greatest(coalesce(m.join_date, DATE '1900-01-01'), coalesce(o.owned_from, DATE '1900-01-01')),
           least(coalesce(m.exit_date, DATE '2999-12-31'), coalesce(o.owned_to, DATE '2999-12-31')),
           'plot', m.exit_date
    FROM members m JOIN plot_owners o ON o.member_id = m.id JOIN plots p ON p.id = o.plot_id
    WHERE m.status <> 'applicant'
), pairs AS (
    SELECT pr.*, l.* EXCLUDE (basis) FROM _accr_periods pr JOIN contributions c ON c.code = pr.code
    JOIN liable l ON (l.basis = 'member') = (c.basis = 'member') WHERE pr.fresh
    UNION ALL
    SELECT pr.*, l.* EXCLUDE (basis) FROM _accr_periods pr JOIN contributions c ON c.code = pr.code
    JOIN (SELECT * FROM liable WHERE member_id IN (SELECT member_id FROM _accr_stale)) l
        ON (l.basis = 'member') = (c.basis = 'member') WHERE NOT pr.fresh
), overlap AS (
    SELECT c.code, c.basis, c.rate, l.member_id, l.plot_id, l.num, l.den, l.area, l.l_from, l.l_to, l.exit_date,
           l.period_start, l.period_end, greatest(l.due_date, l.l_from) AS due_date, l.one_off,
           (date_diff('day', l.period_start, l.period_end) + 1) AS period_days,
           CASE WHEN l.one_off THEN (CASE WHEN l.due_date >= l.l_from AND l.due_date < l.l_to THEN 1 ELSE 0 END)
                ELSE greatest(0, date_diff('day',
                        greatest(l.period_start, l.l_from, c.start_date),
                        least(l.period_end + 1, l.l_to, coalesce(c.end_date + 1, DATE '2999-12-31')))) END AS days
    FROM pairs l JOIN contributions c ON c.code = l.code
), priced AS (
    SELECT *, CASE WHEN one_off THEN 1 ELSE period_days END AS pdays,
           CAST(rate * 10000 AS HUGEINT) * days * num
             * CASE WHEN basis = 'plot_area' THEN CAST(coalesce(area, 0) * 100 AS HUGEINT) ELSE 100 END AS numer
    FROM overlap WHERE days > 0
), amounts AS (
    -- rubles = numer / (10^4 * 100 * pdays * den), so kopecks = numer / (10^4 * pdays * den), rounded half up
    SELECT *, days * num AS share_days, (2 * numer + 10000 * pdays * den) // (2 * 10000 * pdays * den) AS kop
    FROM priced
)
{select}
"""

# One row per member, contribution, plot and period when several ownership records of a member and plot fall
# into one period (a plot sold and bought back, a share changed within a period).
_GROUPED = """
SELECT member_id, code AS contribution, plot_id, period_start, any_value(period_end) AS period_end,
       min(due_date) AS due_date, sum(kop)::BIGINT AS kop,
       -- how it was computed: rate × area × share × days (ownership records of one period share a divisor)
       any_value(rate) AS rate, any_value(area) AS area, sum(share_days)::BIGINT AS share_days,
       max(pdays * den)::BIGINT AS divisor,
       -- where the liability starts or ends inside the period (for the reason of a recalculation)
       min(CASE WHEN NOT one_off AND l_to <= period_end THEN l_to END) AS ends_on,
       min(CASE WHEN NOT one_off AND l_from > period_start THEN l_from END) AS starts_on,
       bool_or(exit_date IS NOT NULL AND exit_date = l_to) AS ends_by_exit
FROM amounts WHERE kop > 0
  -- a member with opening balances (ledger/opening.py) has his past in them: nothing is owed before that date
  AND NOT EXISTS (SELECT 1 FROM opening_balances ob WHERE ob.member_id = amounts.member_id AND amounts.due_date < ob.as_of)
GROUP BY member_id, code, plot_id, period_start
"""
# The same without grouping, when each member holds each plot under one ownership record (about 3× cheaper).
_PLAIN = """
SELECT member_id, code AS contribution, plot_id, period_start, period_end, due_date, kop::BIGINT AS kop, rate, area,
       share_days::BIGINT AS share_days, (pdays * den)::BIGINT AS divisor,
       CASE WHEN NOT one_off AND l_to <= period_end THEN l_to END AS ends_on,
       CASE WHEN NOT one_off AND l_from > period_start THEN l_from END AS starts_on,
       (exit_date IS NOT NULL AND exit_date = l_to) AS ends_by_exit
FROM amounts WHERE kop > 0
  -- a member with opening balances (ledger/opening.py) has his past in them: nothing is owed before that date
  AND NOT EXISTS (SELECT 1 FROM opening_balances ob WHERE ob.member_id = amounts.member_id AND amounts.due_date < ob.as_of)
"""

# What was posted per member, contribution, plot and period: accrual charges with the recalculations posted
# on them (the accountant's own corrections are kept on top and never undone).
_POSTED_SQL = """
SELECT c.member_id, c.contribution, c.plot_id, c.period_start, any_value(c.period_end) AS period_end,
       sum(CAST(c.amount * 100 AS BIGINT) + coalesce(k.kop, 0))::BIGINT AS kop, max(c.id) AS charge_id,
       count(*) AS charges, max(c.created_at) AS posted_at
FROM _accr_posted c
LEFT JOIN (SELECT charge_id, sum(CAST(delta * 100 AS BIGINT)) AS kop FROM charge_corrections
           WHERE kind = 'recalc' AND charge_id IN (SELECT id FROM _accr_posted) GROUP BY charge_id) k ON k.charge_id = c.id
GROUP BY c.member_id, c.contribution, c.plot_id, c.period_start
"""
# The posted accrual charges in scope (fresh periods, or any period of a stale member).
_POSTED_SCOPE_SQL = """
SELECT c.id, c.member_id, c.contribution, c.plot_id, c.period_start, c.period_end, c.amount, c.created_at
FROM charges c JOIN _accr_periods pr ON pr.code = c.contribution AND pr.period_start = c.period_start
WHERE c.kind = 'accrual' AND pr.fresh
UNION ALL
SELECT c.id, c.member_id, c.contribution, c.plot_id, c.period_start, c.period_end, c.amount, c.created_at
FROM (SELECT * FROM charges WHERE member_id IN (SELECT member_id FROM _accr_stale) AND kind = 'accrual') c
JOIN _accr_periods pr ON pr.code = c.contribution AND pr.period_start = c.period_start
WHERE NOT pr.fresh
"""

# The differences, numbers only (millions of rows on a first run or after a tariff edit): charge_id is the
# posted charge a difference corrects, NULL for a new charge.
_DIFF_SQL = f"""
SELECT coalesce(e.member_id, p.member_id) AS member_id, coalesce(e.contribution, p.contribution) AS contribution,
       coalesce(e.plot_id, p.plot_id) AS plot_id, coalesce(e.period_start, p.period_start) AS period_start,
       coalesce(e.period_end, p.period_end) AS period_end, e.due_date,
       coalesce(e.kop, 0) - coalesce(p.kop, 0) AS dkop, p.charge_id, p.posted_at,
       e.rate, e.area, e.share_days, e.divisor, e.ends_on, e.starts_on, coalesce(e.ends_by_exit, false) AS ends_by_exit
FROM ({_EXPECTED_SQL}) e
FULL JOIN ({_POSTED_SQL}) p ON p.member_id = e.member_id AND p.contribution = e.contribution
    AND coalesce(p.plot_id, -1) = coalesce(e.plot_id, -1) AND p.period_start = e.period_start
WHERE coalesce(e.kop, 0) <> coalesce(p.kop, 0)
"""

# The corrections among the differences, with their Russian reasons.
_CORRECTIONS_SQL = """
SELECT d.*, ct.name AS contribution_name, pl.number AS plot,
       'перерасчёт: ' || CASE
           WHEN ct.updated_at > d.posted_at THEN 'изменён взнос «' || ct.name || '»'
           WHEN d.ends_by_exit AND d.ends_on IS NOT NULL THEN 'выход из членов с ' || strftime(d.ends_on, '%d.%m.%Y')
           WHEN d.plot_id IS NOT NULL AND coalesce(d.ends_on, d.starts_on) IS NOT NULL
               THEN 'смена владельца участка ' || pl.number || ' с '
                    || strftime(coalesce(d.ends_on, d.starts_on), '%d.%m.%Y')
           WHEN d.plot_id IS NOT NULL THEN 'изменились данные владения участком ' || pl.number
           WHEN d.starts_on IS NOT NULL THEN 'вступление в члены с ' || strftime(d.starts_on, '%d.%m.%Y')
           ELSE 'изменились данные члена' END AS reason
FROM _accr_diff d JOIN contributions ct ON ct.code = d.contribution LEFT JOIN plots pl ON pl.id = d.plot_id
WHERE d.charge_id IS NOT NULL
"""

# What the accrual reads about a member, hashed: a member whose hash is unchanged owes what was posted.
_INPUTS_SQL = """
SELECT m.id AS member_id,
       xor(hash(m.status, m.join_date, m.exit_date),
           coalesce(bit_xor(hash(o.plot_id, o.share_num, o.share_den, o.owned_from, o.owned_to, p.area)), 0)) AS fp
FROM members m LEFT JOIN plot_owners o ON o.member_id = m.id LEFT JOIN plots p ON p.id = o.plot_id
GROUP BY m.id, m.status, m.join_date, m.exit_date
"""
_TARIFF_STAMP_SQL = ("SELECT coalesce(bit_xor(hash(code, kind, basis, rate, period, due, start_date, end_date)), 0)::VARCHAR "
                     "FROM contributions")


@dataclass
class AccrualResult:
    """What an accrual posts (or, for a preview, would post). Contributions are named, not coded."""
    added: int
    amount: Decimal
    by_contribution: dict[str, tuple[int, Decimal]]            # name -> (new charges, sum)
    corrections: int = 0
    corrections_amount: Decimal = Decimal(0)
    corrections_by_contribution: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    past_years: Decimal = Decimal(0)                            # of both, for periods before the year of `through`
    through: date | None = None
    posted: bool = True
    lines: list[dict] = field(default_factory=list)             # the corrections (up to PREVIEW_LINES)

    @property
    def empty(self) -> bool:
        return not self.added and not self.corrections

    @property
    def token(self) -> str:
        """Identifies a preview: posting with it refuses when the ledger changed in between."""
        return f"{self.added}|{self.amount}|{self.corrections}|{self.corrections_amount}"

    def summary(self) -> str:
        if self.empty:
            return "новых начислений нет, перерасчёт не нужен"
        verb = ("начислено", "перерасчёт") if self.posted else ("будет начислено", "будет пересчитано")
        parts = []
        if self.added:
            items = ", ".join(f"{name}: {n} на {fmt_money(s)} ₽" for name, (n, s) in sorted(self.by_contribution.items()))
            parts.append(f"{verb[0]} {self.added} на {fmt_money(self.amount)} ₽ ({items})")
        else:
            parts.append("новых начислений нет")
        if self.corrections:
            items = ", ".join(f"{name}: {n} на {fmt_money(s)} ₽"
                              for name, (n, s) in sorted(self.corrections_by_contribution.items()))
            parts.append(f"{verb[1]}: {self.corrections} испр. на {fmt_money(self.corrections_amount)} ₽ ({items})")
        if self.past_years and self.through:
            parts.append(f"из них за годы до {self.through.year}: {fmt_money(self.past_years)} ₽")
        return "; ".join(parts)


PREVIEW_LINES = 1000


fmt_money = money  # the one money format (ledger/formats.py), under the name pages and the CLI already use


def accrue(db: Database, through: date, actor: str | None = None, dry_run: bool = False,
           expect: str | None = None) -> AccrualResult:
    """Post every charge due up to `through` and recalculate the periods already charged (перерасчёт).

    What members owe is computed again from the current register and tariffs and compared with what was
    posted per member, contribution, plot and period: a missing charge is posted as a new charge, a
    difference as a correction of the posted charge (доначисление or сторно, with a Russian reason). Posted
    charges are never edited; running it again posts nothing. `dry_run` computes and returns the same result
    without writing; `expect` (a preview's token) refuses to post when the result differs from the preview.
    """
    with db.transaction() as con:
        items = contributions(con)
        tariff_stamp = con.execute(_TARIFF_STAMP_SQL).fetchone()[0]
        state = con.execute("SELECT value FROM ledger_meta WHERE key = 'accrual_state'").fetchone()
        last_stamp, _, last_through = (state[0] if state else "||").partition("|")
        full = not state or last_stamp != tariff_stamp
        last = None if full or not last_through else date.fromisoformat(last_through)
        rows = [{"code": c.code, "period_start": ps, "period_end": pe, "due_date": due, "one_off": c.kind == "one_off",
                 "fresh": last is None or due > last}
                for c in items for ps, pe, due in periods(c, through)]
        con.execute(f"CREATE OR REPLACE TEMP TABLE _accr_fp AS {_INPUTS_SQL}")
        if full:
            con.execute("CREATE OR REPLACE TEMP TABLE _accr_stale (member_id BIGINT)")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _accr_stale AS "
                        "SELECT coalesce(f.member_id, a.member_id) AS member_id FROM _accr_fp f "
                        "FULL JOIN accrual_inputs a ON a.member_id = f.member_id WHERE f.fp IS DISTINCT FROM a.fingerprint")
        # the periods as list parameters (a few hundred rows; no Arrow or pandas round trip)
        con.execute("""CREATE OR REPLACE TEMP TABLE _accr_periods AS
            SELECT unnest(?::VARCHAR[]) AS code, unnest(?::DATE[]) AS period_start, unnest(?::DATE[]) AS period_end,
                   unnest(?::DATE[]) AS due_date, unnest(?::BOOLEAN[]) AS one_off, unnest(?::BOOLEAN[]) AS fresh""",
                    [[r[k] for r in rows] for k in ("code", "period_start", "period_end", "due_date", "one_off", "fresh")])
        con.execute(f"CREATE OR REPLACE TEMP TABLE _accr_posted AS {_POSTED_SCOPE_SQL}")
        if full:
            # after a tariff edit, charges of periods the contribution no longer has (a later start, an earlier
            # end, another due date or period) are owed no more
            con.execute("""
                INSERT INTO _accr_posted
                SELECT c.id, c.member_id, c.contribution, c.plot_id, c.period_start, c.period_end, c.amount, c.created_at
                FROM charges c WHERE c.kind = 'accrual' AND c.due_date <= ? AND NOT EXISTS (
                    SELECT 1 FROM _accr_periods pr WHERE pr.code = c.contribution AND pr.period_start = c.period_start)""",
                        [through])
        con.execute(f"CREATE OR REPLACE TEMP TABLE _accr_diff AS {_diff_sql(con)}")
        result = _accrual_result(con, through, posted=not dry_run)
        if not dry_run:
            if expect is not None and expect != result.token:
                raise InputError("Данные изменились после предварительного расчёта: проверьте начисления ещё раз")
            _post(con, actor)
            if full:
                con.execute("DELETE FROM accrual_inputs")
                con.execute("INSERT INTO accrual_inputs SELECT member_id, fp FROM _accr_fp")
            else:
                con.execute("DELETE FROM accrual_inputs WHERE member_id IN (SELECT member_id FROM _accr_stale)")
                con.execute("INSERT INTO accrual_inputs SELECT member_id, fp FROM _accr_fp "
                            "WHERE member_id IN (SELECT member_id FROM _accr_stale)")
            con.execute("INSERT OR REPLACE INTO ledger_meta VALUES ('accrual_state', ?)",
                        [f"{tariff_stamp}|{through.isoformat()}"])
            audit.log(con, actor, "accrue", through.isoformat(), added=result.added, amount=str(result.amount),
                      corrections=result.corrections, corrections_amount=str(result.corrections_amount))
        for table in ("_accr_diff", "_accr_posted", "_accr_periods", "_accr_stale", "_accr_fp"):
            con.execute(f"DROP TABLE {table}")
    return result


def _diff_sql(con) -> str:
    """The differences; exact kopecks in BIGINT when no product can reach 2^62 (about twice as fast as HUGEINT)."""
    rate, area, num, den = con.execute("""
        SELECT (SELECT coalesce(max(abs(rate)), 0) FROM contributions), (SELECT coalesce(max(abs(area)), 0) FROM plots),
               (SELECT coalesce(max(abs(share_num)), 1) FROM plot_owners),
               (SELECT coalesce(max(abs(share_den)), 1) FROM plot_owners)""").fetchone()
    numer = int(rate * 10000 + 1) * 366 * max(int(num), 1) * max(int(area * 100 + 1), 100)
    sql = _DIFF_SQL
    if not con.execute("SELECT count(*) FROM _accr_posted").fetchone()[0]:
        # nothing posted in scope (a first accrual, new periods): everything owed is new, no join needed
        sql = (f"SELECT member_id, contribution, plot_id, period_start, period_end, due_date, kop AS dkop, "
               f"NULL::BIGINT AS charge_id, NULL::TIMESTAMP AS posted_at, rate, area, share_days, divisor, ends_on, "
               f"starts_on, ends_by_exit FROM ({_EXPECTED_SQL})")
    repeated = con.execute("SELECT EXISTS (SELECT 1 FROM plot_owners GROUP BY member_id, plot_id "
                           "HAVING count(*) > 1)").fetchone()[0]
    sql = sql.replace("{select}", _GROUPED if repeated else _PLAIN)
    if 2 * numer + 2 * 10000 * 366 * max(int(den), 1) < 2 ** 62:
        return sql.replace("HUGEINT", "BIGINT")
    return sql


def _accrual_result(con, through: date, posted: bool) -> AccrualResult:
    by_new: dict[str, tuple[int, Decimal]] = {}
    by_fix: dict[str, tuple[int, Decimal]] = {}
    past = Decimal(0)
    names = dict(con.execute("SELECT code, name FROM contributions").fetchall())
    for code, is_new, n, kop, past_kop in con.execute("""
            SELECT contribution, charge_id IS NULL, count(*), sum(dkop),
                   coalesce(sum(dkop) FILTER (WHERE period_start < ?), 0)
            FROM _accr_diff GROUP BY ALL""", [date(through.year, 1, 1)]).fetchall():
        by = by_new if is_new else by_fix
        was = by.get(names.get(code, code), (0, Decimal(0)))
        by[names.get(code, code)] = (was[0] + n, was[1] + Decimal(kop) / 100)
        past += Decimal(past_kop) / 100
    cur = con.execute(f"""
        SELECT d.charge_id, m.reg_no, m.full_name, d.contribution_name AS contribution, d.period_start, d.period_end,
               d.plot, (d.dkop::DECIMAL(38,0) / 100)::DECIMAL(18,2) AS delta, d.reason
        FROM ({_CORRECTIONS_SQL}) d JOIN members m ON m.id = d.member_id
        ORDER BY d.period_start, d.contribution, d.member_id LIMIT {PREVIEW_LINES}""")
    columns = [c[0] for c in cur.description]
    lines = [dict(zip(columns, row)) for row in cur.fetchall()]
    return AccrualResult(
        added=sum(n for n, _ in by_new.values()), amount=sum((s for _, s in by_new.values()), Decimal(0)),
        by_contribution=by_new, corrections=sum(n for n, _ in by_fix.values()),
        corrections_amount=sum((s for _, s in by_fix.values()), Decimal(0)), corrections_by_contribution=by_fix,
        past_years=past, through=through, posted=posted, lines=lines)


def _ru_number(sql: str, money: bool = False) -> str:
    """SQL text of a DECIMAL as the page shows numbers: «1 234,5»; money keeps two decimals, «1 234,50»."""
    text = f"rtrim(rtrim(format('{{:,.4f}}', {sql}), '0'), '.')"
    if money:
        text = f"CASE WHEN {sql} = round({sql}, 2) THEN format('{{:,.2f}}', {sql}) ELSE {text} END"
    return f"replace(replace({text}, ',', ' '), '.', ',')"


def _post(con, actor: str | None) -> None:
    now = utcnow()
    con.execute(f"""
        INSERT INTO charges (member_id, contribution, plot_id, period_start, period_end, due_date, amount, kind,
                             basis_note, accrual_key, created_at, created_by)
        SELECT d.member_id, d.contribution, d.plot_id, d.period_start, d.period_end, d.due_date,
               (d.dkop::DECIMAL(38,0) / 100)::DECIMAL(18,2), 'accrual',
               {_ru_number("d.rate", money=True)} || ' ₽'
                 || CASE WHEN c.basis = 'plot_area' THEN ' × ' || {_ru_number("d.area")} || ' м²' ELSE '' END
                 || CASE WHEN d.share_days <> d.divisor
                         THEN ' × ' || d.share_days::VARCHAR || '/' || d.divisor::VARCHAR || ' (доля × дни)'
                         ELSE '' END,
               NULL, ?, ?
        FROM _accr_diff d JOIN contributions c ON c.code = d.contribution
        WHERE d.charge_id IS NULL""", [now, actor])
    con.execute(f"""
        INSERT INTO charge_corrections (charge_id, delta, reason, created_at, created_by, kind)
        SELECT charge_id, (dkop::DECIMAL(38,0) / 100)::DECIMAL(18,2), reason, ?, ?, 'recalc'
        FROM ({_CORRECTIONS_SQL}) ORDER BY charge_id""", [now, actor])


def _amount_and_reason(amount: Any, reason: str, label: str, positive: bool, what: str) -> Decimal:
    """A hand-entered sum with its required reason; InputError names the form fields."""
    problems = []
    value = Decimal(0)
    try:
        value = fields.money(amount)
        if (value <= 0) if positive else (value == 0):
            problems.append(f"Поле «{label}»: " + ("должна быть больше нуля" if positive else "не может быть нулём"))
    except ValueError as exc:
        problems.append(f"Поле «{label}»: {exc}")
    if not (reason or "").strip():
        problems.append(f"Поле «Основание»: укажите причину {what}")
    if problems:
        raise InputError(problems)
    return value


def add_manual_charge(db: Database, member_id: int, contribution: str, amount: Any, due: date, reason: str,
                      actor: str | None = None) -> int:
    """A one-off charge entered by hand; the reason is required and the entry is logged."""
    value = _amount_and_reason(amount, reason, "Сумма", True, "начисления")
    with db.transaction() as con:
        _check_member_and_contribution(con, member_id, contribution)
        charge_id = con.execute(
            "INSERT INTO charges (member_id, contribution, period_start, period_end, due_date, amount, kind, reason, "
            "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, 'manual', ?, ?, ?) RETURNING id",
            [member_id, contribution, due, due, due, value, reason.strip(), utcnow(), actor]).fetchone()[0]
        audit.log(con, actor, "charge_added", str(charge_id), member_id=member_id, contribution=contribution,
                  amount=str(value), due=due.isoformat(), reason=reason.strip())
    return charge_id


def correct_charge(db: Database, charge_id: int, delta: Any, reason: str, actor: str | None = None) -> None:
    """Change a charge by `delta` (negative reduces it) with a reason; the charge cannot go below zero."""
    value = _amount_and_reason(delta, reason, "Изменение", False, "корректировки")
    with db.transaction() as con:
        row = con.execute("SELECT amount, member_id FROM charges_effective WHERE id = ?", [charge_id]).fetchone()
        if row is None:
            raise InputError(f"Начисление №{charge_id} не найдено")
        if row[0] + value < 0:
            raise InputError(f"Поле «Изменение»: начисление №{charge_id} на {fmt_money(row[0])} ₽ нельзя уменьшить "
                             f"на {fmt_money(-value)} ₽")
        con.execute("INSERT INTO charge_corrections (charge_id, delta, reason, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?)", [charge_id, value, reason.strip(), utcnow(), actor])
        audit.log(con, actor, "charge_corrected", str(charge_id), member_id=row[1], delta=str(value),
                  reason=reason.strip())


def _check_member_and_contribution(con, member_id: int, contribution: str) -> None:
    if not con.execute("SELECT 1 FROM members WHERE id = ?", [member_id]).fetchone():
        raise InputError(f"Член с id {member_id} не найден")
    if not con.execute("SELECT 1 FROM contributions WHERE code = ?", [contribution]).fetchone():
        raise InputError(f"Взнос «{contribution}» не найден")


def member_charges(db: Database, member_id: int) -> list[dict]:
    """A member's charges with their effective amounts and the reasons of their corrections (newest last)."""
    return db.records("""
        SELECT c.*, p.number AS plot, k.corrections
        FROM charges_effective c LEFT JOIN plots p ON p.id = c.plot_id
        LEFT JOIN (SELECT charge_id, string_agg(reason || ' (' || CASE WHEN delta > 0 THEN '+' ELSE '' END
                                                || replace(delta::VARCHAR, '.', ',') || ' ₽)', '; ' ORDER BY id)
                          AS corrections
                   FROM charge_corrections GROUP BY charge_id) k ON k.charge_id = c.id
        WHERE c.member_id = ? ORDER BY c.due_date, c.contribution, c.id""", [member_id])


# -- penalty schedules --------------------------------------------------------------------------

@dataclass
class Schedule:
    """How one contribution's penalty accrues: step weights by day of delay over a calendar of day rates.

    The exact penalty in kopecks of an unpaid principal u (kopecks) over days [a, b] inside step i is
    u * m_i * (K[b] - K[a-1]) / Q, where K is the cumulative day rate (in hundredths) of the calendar.
    """
    steps: list[tuple[int, int]]     # (first day of delay, multiplier m), increasing
    q: int                           # common divisor
    cum: np.ndarray                  # K: cumulative day rates from DAY0 (int64), index = ordinal - DAY0 + 1
    _cum_list: list[int] | None = None

    @property
    def first(self) -> int:
        return self.steps[0][0] if self.steps else 10**9

    def exact(self, due: int, a: int, b: int, u: int) -> int:
        """Numerator (× Q) of the penalty on u kopecks unpaid at the end of each day a..b (ordinals)."""
        cum = self._cum_list
        if cum is None:
            cum = self._cum_list = self.cum.tolist()  # plain ints: indexing a list is faster one by one
        total = 0
        steps = self.steps
        for i, (start_n, m) in enumerate(steps):
            lo = max(a, due + start_n)
            hi = b if i + 1 == len(steps) else min(b, due + steps[i + 1][0] - 1)
            if lo <= hi and m:
                total += u * m * (cum[hi - DAY0 + 1] - cum[lo - DAY0])
        return total

    def kopecks(self, numerator: int) -> int:
        return (2 * numerator + self.q) // (2 * self.q)


def _calendar(c: Contribution, rates: list[tuple[date, Decimal]]) -> np.ndarray:
    """Day rates in hundredths from DAY0: 100 per day (daily_percent) or the key rate × 100 (key_rate)."""
    p = c.penalty
    day = np.zeros(DAYS, dtype=np.int64)
    if p.kind == "daily_percent":
        day[:] = 100
    elif p.kind == "key_rate":
        for i, (since, rate) in enumerate(rates):
            lo = max(since.toordinal() - DAY0, 0)
            hi = rates[i + 1][0].toordinal() - DAY0 if i + 1 < len(rates) else DAYS
            day[lo:hi] = int(rate * 100)
        if p.cap_rate is not None and p.cap_from and p.cap_to:
            lo, hi = p.cap_from.toordinal() - DAY0, p.cap_to.toordinal() - DAY0 + 1
            day[lo:hi] = np.minimum(day[lo:hi], int(p.cap_rate * 100))
    for a, b in p.moratoriums:
        day[max(a.toordinal() - DAY0, 0):b.toordinal() - DAY0 + 1] = 0
    cum = np.zeros(DAYS + 1, dtype=np.int64)
    np.cumsum(day, out=cum[1:])
    return cum


def schedule(c: Contribution, rates: list[tuple[date, Decimal]]) -> Schedule:
    p = c.penalty
    first = p.grace_days + 1
    if p.kind == "daily_percent" and p.rate:
        # per day u * rate/100; K counts 100 per day: u * rn/rd/100 * K/100 = u * rn * K / (rd * 10^4)
        r = Fraction(p.rate)
        return Schedule([(first, r.numerator)], r.denominator * 10_000, _calendar(c, rates))
    if p.kind == "key_rate":
        # housing rule: 1/300 of the key rate per day from day 31 of the delay, 1/130 from day 91;
        # K is the key rate in hundredths of a percent: u * K/10^4 * (13 or 30)/3900
        steps = [(max(31, first), 13), (max(91, first), 30)]
        if first > 91:
            steps = [(first, 30)]
        return Schedule(steps, 10_000 * 3900, _calendar(c, rates))
    return Schedule([], 1, np.zeros(DAYS + 1, dtype=np.int64))


def schedules(con) -> dict[str, Schedule]:
    rates = [(r[0], r[1]) for r in con.execute("SELECT valid_from, rate FROM key_rates ORDER BY valid_from").fetchall()]
    return {c.code: schedule(c, rates) for c in contributions(con)}


def penalty_of(sched: Schedule, due: int, amount: int, paid: list[tuple[int, int]], through: int) -> int:
    """Penalty in kopecks of one charge through a day: `paid` is [(day, kopecks)] in day order."""
    unpaid, start, numer = amount, due + 1, 0
    for day, kop in paid:
        if day > through:
            break
        if day > start and unpaid > 0:
            numer += sched.exact(due, start, day - 1, unpaid)
        unpaid -= kop
        start = max(start, day)
    if unpaid > 0 and through >= start:
        numer += sched.exact(due, start, through, unpaid)
    return sched.kopecks(numer)


def penalties_vectorised(scheds: dict[str, Schedule], code: np.ndarray, due: np.ndarray, a: np.ndarray,
                         b: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Exact numerators of many segments at once (the same arithmetic as Schedule.exact); `code` holds the
    position of each segment's contribution in `scheds`."""
    numer = np.zeros(len(code), dtype=np.int64)
    for index, s in enumerate(scheds.values()):
        sel = np.nonzero(code == index)[0]
        if not len(sel) or not s.steps:
            continue
        d, aa, bb, uu = due[sel], a[sel], b[sel], u[sel]
        part = np.zeros(len(sel), dtype=np.int64)
        for i, (start_n, m) in enumerate(s.steps):
            lo = np.maximum(aa, d + start_n)
            hi = bb if i + 1 == len(s.steps) else np.minimum(bb, d + s.steps[i + 1][0] - 1)
            ok = (lo <= hi) & (uu > 0)
            k = s.cum[np.clip(hi - DAY0 + 1, 0, DAYS)] - s.cum[np.clip(lo - DAY0, 0, DAYS)]
            part += np.where(ok, uu * m * k, 0)
        numer[sel] = part
    return numer


# -- allocation ---------------------------------------------------------------------------------

def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def designated_payments_sql(con) -> str:
    """member_payments with `designated`: the contribution whose keywords occur in the purpose, when exactly one
    contribution's do (otherwise NULL: the money is not designated). Built as plain column expressions."""
    sql = _designated_by_purpose_sql(con)
    if con.execute("SELECT count(*) FROM opening_payments").fetchone()[0]:   # opening advances: their contribution
        sql = (f"SELECT d.payment_id, d.member_id, d.amount, d.paid_on, d.purpose, "
               f"coalesce(op.contribution, d.designated) AS designated FROM ({sql}) d "
               f"LEFT JOIN opening_payments op ON op.payment_id = d.payment_id")
    return sql


def _designated_by_purpose_sql(con) -> str:
    items = [(c.code, c.keywords) for c in contributions(con) if c.keywords]
    if not items:
        return "SELECT mp.*, NULL::VARCHAR AS designated FROM member_payments mp"
    flags = ["(" + " OR ".join(f"contains(t, {_literal(k)})" for k in words) + ")" for _, words in items]
    count = " + ".join(f"{f}::INT" for f in flags)
    which = "CASE " + " ".join(f"WHEN {f} THEN {_literal(code)}" for f, (code, _) in zip(flags, items)) + " END"
    return (f"SELECT payment_id, member_id, amount, paid_on, purpose, CASE WHEN {count} = 1 THEN {which} END "
            f"AS designated FROM (SELECT mp.*, replace(lower(coalesce(mp.purpose, '')), 'ё', 'е') AS t "
            f"FROM member_payments mp)")


def _member_fingerprints_sql(con) -> str:
    return f"""
SELECT member_id, bit_xor(h) AS fp FROM (
    SELECT member_id, hash(id, contribution, due_date, amount) AS h FROM charges_effective
    UNION ALL
    SELECT member_id, hash(payment_id, amount, paid_on, designated, 'p') FROM ({designated_payments_sql(con)})
) GROUP BY member_id
"""


def ledger_stamp(con) -> str:
    """A cheap stamp of everything the allocation reads: when it is unchanged, so is the allocation."""
    return con.execute("""
        SELECT concat_ws('/',
            (SELECT count(*) || ':' || coalesce(bit_xor(hash(id, doc_date, amount, purpose)), 0) FROM payments),
            (SELECT count(*) || ':' || coalesce(bit_xor(hash(payment_id, status, member_id)), 0) FROM matches),
            (SELECT count(*) || ':' || coalesce(bit_xor(hash(payment_id, member_id, amount)), 0) FROM match_splits),
            (SELECT count(*) || ':' || coalesce(bit_xor(hash(id, member_id, contribution, due_date, amount)), 0)
             FROM charges),
            (SELECT count(*) || ':' || coalesce(bit_xor(hash(id, charge_id, delta)), 0) FROM charge_corrections),
            (SELECT coalesce(bit_xor(hash(code, name, kind, basis, rate, period, due, start_date, end_date, keywords,
                    penalty_kind, penalty_rate, grace_days, cap_rate, cap_from, cap_to, moratoriums)), 0)
             FROM contributions),
            (SELECT coalesce(bit_xor(hash(valid_from, rate)), 0) FROM key_rates))""").fetchone()[0]


def refresh(db: Database, force: bool = False) -> int:
    """Recompute the allocation of every member whose charges, payments or tariffs changed; returns how many."""
    with db.transaction() as con:
        return refresh_in(con, force)


def refresh_in(con, force: bool = False) -> int:
    stamp = ledger_stamp(con)
    old_stamp = con.execute("SELECT value FROM ledger_meta WHERE key = 'allocation_stamp'").fetchone()
    if not force and old_stamp is not None and old_stamp[0] == stamp:
        return 0
    params = stamp.rsplit("/", 2)[1:]
    old = old_stamp[0].rsplit("/", 2)[1:] if old_stamp else None
    if old != params:  # tariffs or key rates changed: every member's penalties may have
        force = True
    if force:  # everyone: the fingerprints come with the allocation's own reading of the ledger
        con.execute("CREATE OR REPLACE TEMP TABLE _stale AS SELECT member_id FROM charges UNION "
                    "SELECT member_id FROM matches WHERE member_id IS NOT NULL UNION "
                    "SELECT member_id FROM match_splits UNION SELECT member_id FROM allocation_inputs")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _fp AS {_member_fingerprints_sql(con)}")
        con.execute("CREATE OR REPLACE TEMP TABLE _stale AS "
                    "SELECT coalesce(f.member_id, a.member_id) AS member_id FROM _fp f "
                    "FULL JOIN allocation_inputs a ON a.member_id = f.member_id "
                    "WHERE f.fp IS DISTINCT FROM a.fingerprint")
    stale = con.execute("SELECT count(*) FROM _stale").fetchone()[0]
    if stale:
        everyone = force or stale == con.execute("SELECT count(*) FROM (SELECT member_id FROM _fp "
                                                 "UNION SELECT member_id FROM allocation_inputs)").fetchone()[0]
        fingerprints = _allocate(con, schedules(con), everyone)
        if force and fingerprints is None:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _fp AS {_member_fingerprints_sql(con)}")
        if force and fingerprints is not None:
            con.register("_fp_arrow", fingerprints)
            con.execute("INSERT INTO allocation_inputs SELECT member_id, fp FROM _fp_arrow")
            con.unregister("_fp_arrow")
        else:
            con.execute("INSERT INTO allocation_inputs SELECT member_id, fp FROM _fp "
                        "WHERE member_id IN (SELECT member_id FROM _stale)")
    con.execute("INSERT OR REPLACE INTO ledger_meta VALUES ('allocation_stamp', ?)", [stamp])
    con.execute("DROP TABLE _stale")
    con.execute("DROP TABLE IF EXISTS _fp")
    return stale


def _allocate(con, scheds: dict[str, Schedule], everyone: bool):
    """Recompute the allocation of the members in _stale (everyone: of all members) and replace theirs. Returns
    the members' fingerprints as an Arrow table when it could take them from its reading of the ledger."""
    from .allocation import allocate, to_arrow

    out, state, _slow, fingerprints = allocate(con, scheds, _allocate_member)
    alloc, st = to_arrow(out, state)
    for table in ("allocations", "charge_state", "allocation_inputs"):
        con.execute(f"DELETE FROM {table}" if everyone else
                    f"DELETE FROM {table} WHERE member_id IN (SELECT member_id FROM _stale)")
    con.register("_alloc_arrow", alloc)
    con.register("_state_arrow", st)
    try:
        con.execute("INSERT INTO allocations SELECT member_id, charge_id, payment_id, amount, applied_on, "
                    "kind::VARCHAR FROM _alloc_arrow")
        con.execute("INSERT INTO charge_state SELECT * FROM _state_arrow")
    finally:
        con.unregister("_alloc_arrow")
        con.unregister("_state_arrow")
    return fingerprints


def _allocate_member(member: int, charges: list[tuple], payments: list[tuple], scheds: dict[str, Schedule],
                     out: list[list], state: list[list]) -> None:
    """The rules for one member. charges: (id, code, due, kop) by due, code, id; payments: (id, day, kop, code)."""
    n = len(charges)
    unpaid = [c[3] for c in charges]
    paid_log: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    paid_off: list[int | None] = [None] * n
    penalty: list[int] = [0] * n
    settled: list[int | None] = [None] * n   # the day principal and penalty were both paid
    pen_left: dict[int, int] = {}            # charge index -> penalty still to pay (charges paid in full)
    by_code: dict[str, list[int]] = {}
    for i, c in enumerate(charges):
        by_code.setdefault(c[1], []).append(i)
    ptr_code = {code: 0 for code in by_code}
    ptr_all = 0
    fallen = 0                               # charges[:fallen] are due
    adv_general: deque = deque()
    adv_code: dict[str, deque] = {}
    o_member, o_charge, o_payment, o_amount, o_day, o_kind = out

    def emit(i: int, pid: int, kop: int, day: int, kind: str) -> None:
        o_member.append(member)
        o_charge.append(charges[i][0])
        o_payment.append(pid)
        o_amount.append(kop)
        o_day.append(day)
        o_kind.append(kind)

    def pay(i: int, pid: int, money: int, day: int) -> int:
        take = money if money < unpaid[i] else unpaid[i]
        if take <= 0:
            return 0
        unpaid[i] -= take
        paid_log[i].append((day, take))
        o_member.append(member)
        o_charge.append(charges[i][0])
        o_payment.append(pid)
        o_amount.append(take)
        o_day.append(day)
        o_kind.append("principal")
        if unpaid[i] == 0:
            paid_off[i] = day
            cid, code, due, kop = charges[i]
            s = scheds.get(code)
            if s is not None and s.steps and day > due + s.first - 1:
                penalty[i] = penalty_of(s, due, kop, paid_log[i], day)
                if penalty[i]:
                    pen_left[i] = penalty[i]
            if not penalty[i]:
                settled[i] = day
        return take

    def fall_due(i: int) -> None:
        day, code = charges[i][2], charges[i][1]
        if unpaid[i] == 0:
            paid_off[i] = settled[i] = day
            return
        for queue in (adv_code.get(code), adv_general):
            while queue and unpaid[i] > 0:
                entry = queue[0]
                entry[1] -= pay(i, entry[0], entry[1], day)
                if entry[1] == 0:
                    queue.popleft()

    for pid, day, money, code in payments:
        while fallen < n and charges[fallen][2] <= day:
            fall_due(fallen)
            fallen += 1
        if code is not None and code in by_code:
            idx = by_code[code]
            j = ptr_code[code]
            while money > 0 and j < len(idx) and idx[j] < fallen:
                money -= pay(idx[j], pid, money, day)
                if unpaid[idx[j]] == 0:
                    j += 1
            ptr_code[code] = j
        elif code is None:
            while ptr_all < fallen and unpaid[ptr_all] == 0:
                ptr_all += 1
            j = ptr_all
            while money > 0 and j < fallen:
                if unpaid[j]:
                    money -= pay(j, pid, money, day)
                j += 1
        if money > 0 and pen_left:
            for i in sorted(pen_left):
                if code is not None and charges[i][1] != code:
                    continue
                take = min(money, pen_left[i])
                emit(i, pid, take, day, "penalty")
                money -= take
                pen_left[i] -= take
                if not pen_left[i]:
                    del pen_left[i]
                    settled[i] = day
                if not money:
                    break
        if money > 0:
            queue = adv_general if code is None else adv_code.setdefault(code, deque())
            queue.append([pid, money])
    while fallen < n:
        fall_due(fallen)
        fallen += 1
    s_charge, s_member, s_day, s_pen, s_settled = state
    for i, c in enumerate(charges):
        s_charge.append(c[0])
        s_member.append(member)
        s_day.append(paid_off[i])
        s_pen.append(penalty[i] if paid_off[i] is not None else None)
        s_settled.append(settled[i])
