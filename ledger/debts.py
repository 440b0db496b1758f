"""Debts as of a date: per charge positions, per member and contribution, aging, the member statement
(акт сверки, .xlsx and PDF) and the dashboard aggregates kept in a snapshot.

A charge is overdue from the day after its due date. Debt principal as of A is the unpaid part of charges
due before A; penalty is what accrued through A less what was paid by A. Charges due on or after A are
"not yet due". Principal overdue for more than three years is flagged «срок исковой давности».
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from . import accruals, allocation, audit, cooperative
from .accruals import ORDINAL_SQL, fmt_money
from .db import Database
from .errors import InputError, LedgerError
from .opening import PENALTY_SUFFIX
from .spreadsheets import Column, write_table, xlsx_bytes

BUCKETS = [("not_due", "срок не наступил"), ("b0_30", "1–30 дней"), ("b31_90", "31–90 дней"),
           ("b91_180", "91–180 дней"), ("b181_365", "181–365 дней"), ("b365", "более 365 дней")]
TIME_BARRED_YEARS = 3

DEBT_COLUMNS = [
    Column("member_id", "member_id"), Column("full_name", "full_name"), Column("contribution", "contribution"),
    Column("principal", "principal", "money"), Column("penalty", "penalty", "money"), Column("total", "total", "money"),
    Column("oldest_due", "oldest_due", "date"), Column("days_overdue", "days_overdue", "int"),
]


def _member_filter(member_ids: list[int] | None, col: str = "member_id") -> str:
    if member_ids is None:
        return ""
    return f" AND {col} IN ({', '.join(str(int(m)) for m in member_ids) or 'NULL'})"


def _open_penalties(con, as_of: date) -> None:
    """Temp table _open_pen(charge_id, penalty): penalty accrued through as_of of the overdue charges in _open
    (not paid off by then), from their principal payments in _paid_days."""
    scheds = accruals.schedules(con)
    codes = list(scheds)
    code_list = "[" + ", ".join(accruals._literal(c) for c in codes) + "]" if codes else "[]::VARCHAR[]"
    seg = con.execute(f"""
        WITH open AS (
            SELECT * FROM _open WHERE due_date < $1
              AND contribution IN (SELECT code FROM contributions WHERE penalty_kind <> 'none')
        ), pts AS (
            SELECT id AS charge_id, due_date + 1 AS start, 0::DECIMAL(18,2) AS amt FROM open
            UNION ALL
            SELECT charge_id, applied_on, amount FROM _paid_days SEMI JOIN open ON open.id = _paid_days.charge_id
        )
        SELECT p.charge_id, list_position({code_list}, o.contribution) - 1 AS code,
               {ORDINAL_SQL.format(col='o.due_date')} AS due, {ORDINAL_SQL.format(col='p.start')} AS a,
               coalesce({ORDINAL_SQL.format(col='lead(p.start) OVER w')} - 1, {ORDINAL_SQL.format(col='$1')}) AS b,
               CAST((o.amount - sum(p.amt) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) * 100 AS BIGINT) AS u
        FROM pts p JOIN open o ON o.id = p.charge_id
        WINDOW w AS (PARTITION BY p.charge_id ORDER BY p.start, p.amt)
        ORDER BY p.charge_id
    """, [as_of]).fetchnumpy()
    ids, code = seg["charge_id"], seg["code"]
    numer = accruals.penalties_vectorised(scheds, code, seg["due"], seg["a"], seg["b"], seg["u"])
    if len(ids):
        starts = np.concatenate(([0], np.nonzero(ids[1:] != ids[:-1])[0] + 1))
        sums = np.add.reduceat(numer, starts)
        q = np.array([scheds[c].q for c in codes], dtype=np.int64)[code[starts]]
        uniq, kop = ids[starts], (2 * sums + q) // (2 * q)
    else:
        uniq, kop = np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    import pyarrow as pa

    con.register("_pen_arrow", pa.table({"charge_id": pa.array(uniq, pa.int64()), "kop": pa.array(kop, pa.int64())}))
    con.execute("CREATE OR REPLACE TEMP TABLE _open_pen AS SELECT charge_id, "
                "(kop::DECIMAL(38,0) / 100)::DECIMAL(18,2) AS penalty FROM _pen_arrow")
    con.unregister("_pen_arrow")


def positions(con, as_of: date, member_ids: list[int] | None = None) -> None:
    """Temp table _pos: every charge not yet settled (principal and penalty paid) as of a date, with its unpaid
    principal, penalty accrued and penalty paid."""
    accruals.refresh_in(con)
    # charges not settled by the date; of them, those not paid off (_open) and their principal payments by day
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _unsettled AS
        SELECT c.id, c.member_id, c.contribution, c.plot_id, c.due_date, c.amount, s.paid_off_on, s.final_penalty
        FROM {allocation.charges_sql(con)} c LEFT JOIN charge_state s ON s.charge_id = c.id
        WHERE (s.settled_on IS NULL OR s.settled_on > $1) {_member_filter(member_ids, 'c.member_id')}""", [as_of])
    con.execute("CREATE OR REPLACE TEMP TABLE _open AS SELECT * FROM _unsettled "
                "WHERE paid_off_on IS NULL OR paid_off_on > $1", [as_of])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _paid_days AS
        SELECT a.charge_id, a.applied_on, sum(a.amount) AS amount FROM allocations a SEMI JOIN _open o ON o.id = a.charge_id
        WHERE a.kind = 'principal' AND a.applied_on <= $1 GROUP BY ALL""", [as_of])
    _open_penalties(con, as_of)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pos AS
        WITH paid AS (
            SELECT charge_id, sum(amount) AS paid FROM _paid_days GROUP BY charge_id
        ), pen AS (
            SELECT charge_id, sum(amount) AS pen_paid FROM allocations
            WHERE kind = 'penalty' AND applied_on <= $1 {_member_filter(member_ids)} GROUP BY charge_id
        )
        SELECT c.id AS charge_id, c.member_id, c.contribution, c.plot_id, c.due_date, c.amount,
               (CASE WHEN c.paid_off_on <= $1 THEN 0 ELSE c.amount - coalesce(paid.paid, 0) END)::DECIMAL(18,2)
                   AS unpaid,
               (CASE WHEN c.due_date >= $1 THEN 0
                     WHEN c.paid_off_on <= $1 THEN coalesce(c.final_penalty, 0)
                     ELSE coalesce(op.penalty, 0) END)::DECIMAL(18,2) AS penalty_accrued,
               coalesce(pen.pen_paid, 0)::DECIMAL(18,2) AS penalty_paid
        FROM _unsettled c
        LEFT JOIN _open_pen op ON op.charge_id = c.id
        LEFT JOIN paid ON paid.charge_id = c.id
        LEFT JOIN pen ON pen.charge_id = c.id
    """, [as_of])


_DEBTS_SQL = """
SELECT member_id, contribution, plot_id,
       sum(unpaid) FILTER (WHERE due_date < $1)::DECIMAL(18,2) AS principal,
       sum(penalty_accrued - penalty_paid)::DECIMAL(18,2) AS penalty,
       coalesce(sum(unpaid) FILTER (WHERE due_date >= $1), 0)::DECIMAL(18,2) AS not_due,
       coalesce(min(due_date) FILTER (WHERE due_date < $1 AND unpaid > 0),
                min(due_date) FILTER (WHERE due_date < $1 AND penalty_accrued > penalty_paid)) AS oldest_due,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $1 AND due_date >= $1 - 30), 0)::DECIMAL(18,2) AS b0_30,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $1 - 30 AND due_date >= $1 - 90), 0)::DECIMAL(18,2) AS b31_90,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $1 - 90 AND due_date >= $1 - 180), 0)::DECIMAL(18,2) AS b91_180,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $1 - 180 AND due_date >= $1 - 365), 0)::DECIMAL(18,2) AS b181_365,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $1 - 365), 0)::DECIMAL(18,2) AS b365,
       coalesce(sum(unpaid) FILTER (WHERE due_date < $2), 0)::DECIMAL(18,2) AS time_barred
FROM _pos
WHERE unpaid <> 0 OR penalty_accrued <> penalty_paid
GROUP BY member_id, contribution, plot_id
"""
_SUMMED = ("principal", "penalty", "not_due", "b0_30", "b31_90", "b91_180", "b181_365", "b365", "time_barred")


def _debts_in(con, as_of: date, member_ids: list[int] | None = None) -> None:
    """Temp tables _debts_plot (per member, contribution and plot; see _DEBTS_SQL) and _debts (per member and
    contribution) as of a date."""
    positions(con, as_of, member_ids)
    barred = _years_before(as_of, TIME_BARRED_YEARS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _debts_plot AS {_DEBTS_SQL}", [as_of, barred])
    sums = ", ".join(f"sum({c})::DECIMAL(18,2) AS {c}" for c in _SUMMED)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _debts AS SELECT member_id, contribution, {sums}, "
                f"min(oldest_due) AS oldest_due FROM _debts_plot GROUP BY member_id, contribution")


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def debts(db: Database, as_of: date) -> list[dict]:
    """Rows of `coop debts`: one per member and contribution with a non-zero total, by register number."""
    with db.transaction() as con:
        _debts_in(con, as_of)
        cur = con.execute("""
            SELECT m.reg_no AS member_id, m.full_name, d.contribution, coalesce(d.principal, 0) AS principal,
                   d.penalty, (coalesce(d.principal, 0) + d.penalty)::DECIMAL(18,2) AS total, d.oldest_due,
                   CASE WHEN d.oldest_due IS NOT NULL THEN date_diff('day', d.oldest_due, $1) END AS days_overdue
            FROM _debts d JOIN members m ON m.id = d.member_id
            WHERE coalesce(d.principal, 0) + d.penalty <> 0
            ORDER BY try_cast(regexp_extract(m.reg_no, '\\d+') AS BIGINT) NULLS LAST, m.reg_no, d.contribution
        """, [as_of])
        names = [x[0] for x in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def export_debts(db: Database, as_of: date, path: Path, actor: str | None = None) -> int:
    """`coop debts --out FILE`: .csv or .xlsx with the contract columns; logged (names are personal data)."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")
    rows = debts(db, as_of)
    write_table(path, DEBT_COLUMNS, rows, sheet_title=f"Долги на {as_of:%d.%m.%Y}", csv_header="key")
    audit.record(db, actor, "export_personal_data", path.name, rows=len(rows), what=f"долги на {as_of}")
    return len(rows)


# -- dashboard ----------------------------------------------------------------------------------

def snapshot(db: Database, as_of: date) -> None:
    """Keep the dashboard aggregates for as_of up to date with the ledger (recomputed only when it changed)."""
    with db.transaction() as con:
        accruals.refresh_in(con)
        current = con.execute("SELECT value FROM ledger_meta WHERE key = 'allocation_stamp'").fetchone()
        stamp = f"{as_of.isoformat()}|{current[0] if current else ''}"
        old = con.execute("SELECT value FROM ledger_meta WHERE key = 'debt_snapshot'").fetchone()
        if old and old[0] == stamp:
            return
        _debts_in(con, as_of)
        con.execute("DELETE FROM debt_snapshot")
        con.execute("INSERT INTO debt_snapshot SELECT $1, member_id, contribution, plot_id, coalesce(principal, 0), "
                    "penalty, not_due, oldest_due, b0_30, b31_90, b91_180, b181_365, b365, time_barred "
                    "FROM _debts_plot", [as_of])
        con.execute("DELETE FROM collection_snapshot")
        con.execute("""
            INSERT INTO collection_snapshot
            SELECT $1, c.month, c.charged, c.charged - coalesce(u.unpaid, 0) FROM
                (SELECT date_trunc('month', due_date)::DATE AS month, sum(amount) AS charged FROM charges_effective
                 WHERE due_date <= $1 GROUP BY ALL) c
            LEFT JOIN (SELECT date_trunc('month', due_date)::DATE AS month, sum(unpaid) AS unpaid FROM _pos
                       WHERE due_date <= $1 GROUP BY ALL) u USING (month)""", [as_of])
        con.execute("INSERT OR REPLACE INTO ledger_meta VALUES ('debt_snapshot', ?)", [stamp])


@dataclass
class Dashboard:
    as_of: date
    rows: list[dict]                       # member × contribution × plot debts with member details
    collection: list[dict]                 # month, charged, paid, rate
    contributions: dict[str, str] = field(default_factory=dict)

    def filtered(self, contribution: list[str] | None = None, plot: str = "", statuses: list[str] | None = None):
        rows = self.rows
        if contribution:
            rows = [r for r in rows if r["contribution"] in contribution]
        if statuses:
            rows = [r for r in rows if r["status"] in statuses]
        if plot.strip():
            # charges of that plot, and charges per member (no plot) of its current owners
            wanted = plot.strip().lower()
            rows = [r for r in rows if (r["plot"] or "").lower() == wanted or (
                r["plot"] is None and wanted in [p.strip() for p in (r["plots"] or "").lower().split(",")])]
        return rows


_DASHBOARD_MONEY = ("principal", "penalty", "not_due", "b0_30", "b31_90", "b91_180", "b181_365", "b365", "time_barred",
                    "total")


def dashboard(db: Database, as_of: date) -> Dashboard:
    """Aggregates for the board's dashboard, read from the snapshot (refreshed first when the ledger changed)."""
    snapshot(db, as_of)
    # Amounts travel as whole kopecks and become Decimal here: exact, and ~5x cheaper than DuckDB's own
    # DECIMAL -> Decimal conversion, which dominated the dashboard of a 20,000-member cooperative.
    kopecks = ", ".join(f"({c} * 100)::BIGINT AS {c}" for c in _DASHBOARD_MONEY)
    rows = db.records(f"""
        SELECT * REPLACE ({kopecks}) FROM (
        SELECT d.*, (d.principal + d.penalty)::DECIMAL(18,2) AS total, m.reg_no, m.full_name, m.status,
               pl.number AS plot, o.plots
        FROM debt_snapshot d JOIN members m ON m.id = d.member_id
        LEFT JOIN plots pl ON pl.id = d.plot_id
        LEFT JOIN (SELECT o.member_id, string_agg(p.number, ', ' ORDER BY p.number) AS plots FROM plot_owners o
                   JOIN plots p ON p.id = o.plot_id WHERE o.owned_to IS NULL GROUP BY o.member_id) o
               ON o.member_id = m.id
        WHERE d.principal <> 0 OR d.penalty <> 0 OR d.not_due <> 0)""")
    for r in rows:
        for c in _DASHBOARD_MONEY:
            r[c] = Decimal(r[c]).scaleb(-2)
    collection = db.records("SELECT month, charged, paid, CASE WHEN charged > 0 THEN paid / charged END AS rate "
                            "FROM collection_snapshot ORDER BY month")
    names = {r[0]: r[1] for r in db.fetchall("SELECT code, name FROM contributions")}
    names.update({code + PENALTY_SUFFIX: f"Пени: {name}" for code, name in list(names.items())})   # opening penalties
    return Dashboard(as_of, rows, collection, names)


def totals(rows: list[dict]) -> dict[str, Any]:
    per_member: dict[int, Decimal] = {}
    for r in rows:
        per_member[r["member_id"]] = per_member.get(r["member_id"], Decimal(0)) + r["principal"] + r["penalty"]
    return {
        "principal": sum((r["principal"] for r in rows), Decimal(0)),
        "penalty": sum((r["penalty"] for r in rows), Decimal(0)),
        # the same members as by_member(): a debt or unpaid penalties in total
        "debtors": sum(1 for owed in per_member.values() if owed > 0),
        "time_barred": sum((r["time_barred"] for r in rows), Decimal(0)),
        "not_due": sum((r["not_due"] for r in rows), Decimal(0)),
    }


def by_contribution(rows: list[dict], names: dict[str, str]) -> list[dict]:
    acc: dict[str, dict] = {}
    for r in rows:
        a = acc.setdefault(r["contribution"], {"code": r["contribution"], "name": names.get(r["contribution"], r["contribution"]),
                                               "principal": Decimal(0), "penalty": Decimal(0), "debtors": set()})
        a["principal"] += r["principal"]
        a["penalty"] += r["penalty"]
        if r["principal"] > 0:
            a["debtors"].add(r["member_id"])
    return [{**a, "debtors": len(a["debtors"]), "total": a["principal"] + a["penalty"]} for a in acc.values()]


def by_plot(rows: list[dict]) -> list[dict]:
    """Debts of plot-based charges per plot (charges per member have no plot), largest first."""
    acc: dict[str, dict] = {}
    for r in rows:
        if r["plot"] is None:
            continue
        a = acc.setdefault(r["plot"], {"plot": r["plot"], "principal": Decimal(0), "penalty": Decimal(0), "owners": {}})
        a["principal"] += r["principal"]
        a["penalty"] += r["penalty"]
        a["owners"][r["reg_no"]] = None
    result = [{**a, "owners": ", ".join(a["owners"] if len(a["owners"]) == 1 else sorted(a["owners"])),
               "total": a["principal"] + a["penalty"]} for a in acc.values() if a["principal"] + a["penalty"] > 0]
    result.sort(key=lambda a: (-a["total"], a["plot"]))
    return result


def by_bucket(rows: list[dict]) -> list[dict]:
    return [{"bucket": title, "order": i, "amount": sum((r[key] for r in rows), Decimal(0))}
            for i, (key, title) in enumerate(BUCKETS)]


def by_member(rows: list[dict]) -> list[dict]:
    """Debtors ordered by total debt (principal overdue + penalty), largest first."""
    acc: dict[int, dict] = {}
    for r in rows:
        a = acc.setdefault(r["member_id"], {"member_id": r["member_id"], "reg_no": r["reg_no"], "full_name": r["full_name"],
                                            "status": r["status"], "plots": r["plots"], "principal": Decimal(0),
                                            "penalty": Decimal(0), "oldest_due": None, "time_barred": Decimal(0)})
        a["principal"] += r["principal"]
        a["penalty"] += r["penalty"]
        a["time_barred"] += r["time_barred"]
        if r["oldest_due"] and (a["oldest_due"] is None or r["oldest_due"] < a["oldest_due"]):
            a["oldest_due"] = r["oldest_due"]
    result = [{**a, "total": a["principal"] + a["penalty"]} for a in acc.values() if a["principal"] + a["penalty"] > 0]
    result.sort(key=lambda a: (-a["total"], a["reg_no"]))
    return result


def short_name(full_name: str) -> str:
    """«Иванов Иван Петрович» → «Иванов И. П.» (what the board sees)."""
    parts = (full_name or "").split()
    if not parts:
        return ""
    return " ".join([parts[0]] + [p[0] + "." for p in parts[1:3]])


# -- member statement (акт сверки) ----------------------------------------------------------------

@dataclass
class Statement:
    member: dict
    date_from: date
    date_to: date
    opening: Decimal
    lines: list[dict]          # day, document, text, charged, paid
    charged: Decimal
    paid: Decimal
    penalties: Decimal
    closing: Decimal
    coop_name: str = ""
    by_contribution: list[dict] = field(default_factory=list)


def _balance(con, member_id: int, day: date) -> tuple[Decimal, dict[str, Decimal]]:
    """Charges due by day + penalty accrued through day − payments by day; and the penalty per contribution."""
    positions(con, day, [member_id])
    penalty = {r[0]: r[1] for r in con.execute("""
        SELECT contribution, sum(p) FROM (
            SELECT contribution, penalty_accrued AS p FROM _pos
            UNION ALL
            SELECT c.contribution, s.final_penalty FROM charge_state s JOIN charges c ON c.id = s.charge_id
            WHERE s.member_id = $1 AND s.settled_on <= $2)
        GROUP BY contribution""", [member_id, day]).fetchall()}
    charged = con.execute("SELECT coalesce(sum(amount), 0) FROM charges_effective WHERE member_id = ? AND due_date <= ?",
                          [member_id, day]).fetchone()[0]
    paid = con.execute("SELECT coalesce(sum(amount), 0) FROM member_payments WHERE member_id = ? AND paid_on <= ?",
                       [member_id, day]).fetchone()[0]
    return Decimal(charged) + sum(penalty.values(), Decimal(0)) - Decimal(paid), penalty


def statement(db: Database, member_id: int, date_from: date, date_to: date) -> Statement:
    if date_to < date_from:
        raise InputError(f"Период: дата окончания {date_to:%d.%m.%Y} раньше начала {date_from:%d.%m.%Y}")
    with db.transaction() as con:
        cur = con.execute("SELECT id, reg_no, full_name FROM members WHERE id = ?", [member_id])
        row = cur.fetchone()
        if row is None:
            raise InputError(f"Член с id {member_id} не найден")
        member = {"id": row[0], "reg_no": row[1], "full_name": row[2]}
        opening, pen_open = _balance(con, member_id, date_from - timedelta(days=1))
        closing_check, pen_close = _balance(con, member_id, date_to)
        names = {r[0]: r[1] for r in con.execute("SELECT code, name FROM contributions").fetchall()}
        lines = []
        # Charges as posted, and each correction (перерасчёт or the accountant's) as its own line on the
        # charge's due date: a change to the past stays visible.
        for due, code, amount, ps, pe, kind, reason, plot in con.execute("""
                SELECT c.due_date, c.contribution, c.amount, c.period_start, c.period_end, c.kind, c.reason, p.number
                FROM charges c LEFT JOIN plots p ON p.id = c.plot_id
                WHERE c.member_id = ? AND c.due_date BETWEEN ? AND ? AND c.amount <> 0
                ORDER BY c.due_date, c.contribution, c.id""", [member_id, date_from, date_to]).fetchall():
            what = names.get(code, code)
            if kind == "opening":   # ledger/opening.py: a debt or penalty brought in as of a date
                base = code.removesuffix(PENALTY_SUFFIX)
                what = f"Пени: {names.get(base, base)}" if code != base else what
                lines.append({"day": due, "document": "входящее сальдо", "text": what + (f", участок {plot}" if plot else ""),
                              "charged": amount, "paid": None})
                continue
            if kind == "manual":
                text = f"{what}: {reason}"
            elif ps == pe:
                text = what
            else:
                text = f"{what} за {ps:%d.%m.%Y}–{pe:%d.%m.%Y}"
            if plot:
                text += f", участок {plot}"
            lines.append({"day": due, "document": "начисление", "text": text, "charged": amount, "paid": None})
        for due, code, delta, reason, plot in con.execute("""
                SELECT c.due_date, c.contribution, k.delta, k.reason, p.number
                FROM charge_corrections k JOIN charges c ON c.id = k.charge_id LEFT JOIN plots p ON p.id = c.plot_id
                WHERE c.member_id = ? AND c.due_date BETWEEN ? AND ? AND k.delta <> 0
                ORDER BY c.due_date, c.contribution, k.id""", [member_id, date_from, date_to]).fetchall():
            text = f"{names.get(code, code)}, {reason}" + (f", участок {plot}" if plot and f"участка {plot} " not in reason
                                                             else "")
            lines.append({"day": due, "document": "доначисление" if delta > 0 else "сторно", "text": text,
                          "charged": delta, "paid": None})
        for paid_on, amount, number, purpose, is_opening in con.execute("""
                SELECT mp.paid_on, mp.amount, p.doc_number, mp.purpose, op.payment_id IS NOT NULL FROM member_payments mp
                JOIN payments p ON p.id = mp.payment_id LEFT JOIN opening_payments op ON op.payment_id = mp.payment_id
                WHERE mp.member_id = ? AND mp.paid_on BETWEEN ? AND ? ORDER BY mp.paid_on, mp.payment_id""",
                [member_id, date_from, date_to]).fetchall():
            if is_opening:   # an advance brought in as of a date (ledger/opening.py)
                lines.append({"day": paid_on, "document": "входящее сальдо", "text": purpose, "charged": None,
                              "paid": amount})
                continue
            doc = f"п/п № {number}" if number else "платёж"
            lines.append({"day": paid_on, "document": doc, "text": f"Оплата: {purpose or ''}".strip(),
                          "charged": None, "paid": amount})
        for code in sorted(set(pen_open) | set(pen_close)):
            delta = pen_close.get(code, Decimal(0)) - pen_open.get(code, Decimal(0))
            if delta:
                lines.append({"day": date_to, "document": "расчёт пени",
                              "text": f"Пени: {names.get(code, code)} за период", "charged": delta, "paid": None})
        lines.sort(key=lambda r: (r["day"], r["paid"] is not None, r["document"] == "расчёт пени"))
    charged = sum((r["charged"] for r in lines if r["charged"] is not None and r["document"] != "расчёт пени"), Decimal(0))
    penalties = sum((r["charged"] for r in lines if r["document"] == "расчёт пени"), Decimal(0))
    paid = sum((r["paid"] for r in lines if r["paid"] is not None), Decimal(0))
    closing = opening + charged + penalties - paid
    if closing != closing_check:  # the two ways of counting must agree; anything else is a bug
        raise LedgerError(f"Акт сверки не сходится: сальдо по строкам {fmt_money(closing)} ₽, по остаткам "
                          f"{fmt_money(closing_check)} ₽ — сообщите разработчикам")
    settings = cooperative.get_settings(db)
    return Statement(member, date_from, date_to, opening, lines, charged, paid, penalties, closing,
                     coop_name=settings.get("name") or "")


def _balance_text(value: Decimal) -> str:
    if value > 0:
        return f"{fmt_money(value)} ₽ (задолженность члена)"
    if value < 0:
        return f"{fmt_money(-value)} ₽ (переплата, аванс)"
    return "0,00 ₽"


def statement_xlsx(s: Statement) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "Акт сверки"
    ws.append([f"Акт сверки расчётов {s.coop_name}".strip()])
    ws.append([f"Член: {s.member['full_name']}, л/с {s.member['reg_no']}"])
    ws.append([f"Период: {s.date_from:%d.%m.%Y} – {s.date_to:%d.%m.%Y}"])
    ws.append([])
    ws.append(["Сальдо на начало", None, None, s.opening])
    ws.append(["Дата", "Документ", "Содержание", "Начислено, ₽", "Оплачено, ₽"])
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for r in s.lines:
        ws.append([r["day"], r["document"], r["text"], r["charged"], r["paid"]])
        ws.cell(ws.max_row, 1).number_format = "DD.MM.YYYY"
        ws.cell(ws.max_row, 3).data_type = "s"
    ws.append(["Итого за период", None, None, s.charged + s.penalties, s.paid])
    ws.append(["в т. ч. пени", None, None, s.penalties])
    ws.append(["Сальдо на конец", None, None, s.closing])
    for row in ws.iter_rows(min_row=5):
        for cell in row[3:5]:
            cell.number_format = "#,##0.00"
    for row in (1, 5, ws.max_row - 2, ws.max_row):
        ws.cell(row, 1).font = Font(bold=True)
    ws.cell(ws.max_row + 2, 1, value=f"Сальдо на {s.date_to:%d.%m.%Y}: {_balance_text(s.closing)}")
    for col, width in zip("ABCDE", (12, 14, 60, 16, 16)):
        ws.column_dimensions[col].width = width
    ws.cell(header_row, 3).alignment = Alignment(wrap_text=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _font_path() -> Path:
    """DejaVu Sans shipped inside matplotlib (a PyPI package): Cyrillic without any system font."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not path.exists():
        raise InputError("Не найден шрифт DejaVuSans.ttf из пакета matplotlib: переустановите зависимости (make install)")
    return path


def new_pdf(landscape: bool = False, margin: float = 15):
    """An A4 fpdf2 document with DejaVu Sans (regular and bold) and its first page."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L" if landscape else "P", unit="mm", format="A4")
    font = _font_path()
    pdf.add_font("DejaVu", "", str(font))
    pdf.add_font("DejaVu", "B", str(font.with_name("DejaVuSans-Bold.ttf")))
    pdf.set_auto_page_break(True, margin=margin)
    pdf.add_page()
    return pdf


def statement_pdf(s: Statement) -> bytes:
    pdf = new_pdf()
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 8, f"Акт сверки расчётов {s.coop_name}".strip(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, f"Член: {s.member['full_name']}, л/с {s.member['reg_no']}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"Период: {s.date_from:%d.%m.%Y} – {s.date_to:%d.%m.%Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, f"Сальдо на {s.date_from:%d.%m.%Y}: {_balance_text(s.opening)}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    widths = (24, 28, 78, 30, 30)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"),
                   line_height=5, first_row_as_headings=True) as table:
        header = table.row()
        for title in ("Дата", "Документ", "Содержание", "Начислено, ₽", "Оплачено, ₽"):
            header.cell(title)
        for r in s.lines:
            row = table.row()
            row.cell(f"{r['day']:%d.%m.%Y}")
            row.cell(r["document"])
            row.cell(r["text"])
            row.cell(fmt_money(r["charged"]) if r["charged"] is not None else "")
            row.cell(fmt_money(r["paid"]) if r["paid"] is not None else "")
        total = table.row()
        total.cell("Итого за период", colspan=3)
        total.cell(fmt_money(s.charged + s.penalties))
        total.cell(fmt_money(s.paid))
    pdf.ln(3)
    pdf.cell(0, 6, f"в т. ч. пени: {fmt_money(s.penalties)} ₽", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(0, 6, f"Сальдо на {s.date_to:%d.%m.%Y}: {_balance_text(s.closing)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.ln(10)
    pdf.cell(95, 6, "От кооператива: ____________________")
    pdf.cell(95, 6, "Член: ____________________", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_statement(db: Database, member_reg_no: str, date_from: date, date_to: date, path: Path,
                    actor: str | None = None) -> Statement:
    """`coop statement`: .xlsx or .pdf by extension; the export is logged (it carries personal data)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".pdf"):
        raise InputError(f"{path.name}: акт сверки выгружается в .xlsx или .pdf")
    member_id = db.scalar("SELECT id FROM members WHERE reg_no = ?", [member_reg_no])
    if member_id is None:
        raise InputError(f"Член с л/с {member_reg_no} не найден")
    s = statement(db, member_id, date_from, date_to)
    path.write_bytes(statement_xlsx(s) if suffix == ".xlsx" else statement_pdf(s))
    audit.record(db, actor, "export_personal_data", path.name, what=f"акт сверки л/с {member_reg_no}")
    return s


def table_xlsx(columns: list[Column], rows: list[dict], title: str, heading: str | None = None,
               as_of: date | None = None) -> bytes:
    """A dashboard table as a formatted .xlsx; heading (the cooperative's name and the table) and the as-of
    date go above the table."""
    lines = [line for line in (heading, f"на {as_of:%d.%m.%Y}" if as_of else None) if line]
    return xlsx_bytes(columns, rows, sheet_title=title, title=lines)
