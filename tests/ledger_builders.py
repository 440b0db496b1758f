"""Small ledgers for the accrual and debt tests: members, plots, tariffs and matched payments written directly."""

from __future__ import annotations

import itertools
import json
from datetime import date
from decimal import Decimal

from ledger import tariffs
from ledger.db import Database, insert_rows, utcnow

_payment_no = itertools.count(1)


def tariff(code: str = "member", name: str = "Членский взнос", kind: str = "periodic", basis: str = "member",
           rate: str = "1000", period: str | None = "year", due: str = "07-01", start: str = "2025-01-01",
           keywords: list[str] | None = None, penalty: str = 'kind = "none"', end: str = "") -> str:
    lines = ["[[contribution]]", f'code = "{code}"', f'name = "{name}"', f'kind = "{kind}"', f'basis = "{basis}"',
             f'rate = "{rate}"', f'due = "{due}"', f'start = "{start}"', f'end = "{end}"',
             f"keywords = {json.dumps(keywords or [], ensure_ascii=False)}"]
    if period:
        lines.append(f'period = "{period}"')
    lines += ["[contribution.penalty]", penalty]
    return "\n".join(lines) + "\n"


def load(db: Database, *tables: str) -> None:
    tariffs.load_tariffs(db, "\n".join(tables).encode("utf-8"), "тарифы.toml")


def member(db: Database, member_id: int, join: date | None = date(2000, 1, 1), exit: date | None = None,
           plots: list[tuple[str, str, tuple[int, int]]] = (), name: str | None = None, status: str = "member") -> None:
    """A member with plots [(number, area, (share_num, share_den))]; plots are created when new."""
    now = utcnow()
    with db.transaction() as con:
        insert_rows(con, "members", [{"id": member_id, "reg_no": str(member_id), "full_name": name or f"Член Номер {member_id}",
                                      "status": status, "join_date": join, "exit_date": exit,
                                      "created_at": now, "updated_at": now}])
        for number, area, (num, den) in plots:
            row = con.execute("SELECT id FROM plots WHERE number = ?", [number]).fetchone()
            plot_id = row[0] if row else con.execute(
                "INSERT INTO plots (number, area, created_at) VALUES (?, ?, ?) RETURNING id",
                [number, Decimal(area), now]).fetchone()[0]
            con.execute("INSERT INTO plot_owners VALUES (?, ?, ?, ?, NULL, NULL)", [plot_id, member_id, num, den])


def pay(db: Database, member_id: int, day: date, amount: str, purpose: str = "Оплата") -> int:
    """An incoming payment matched automatically to the member; returns the payment id."""
    now = utcnow()
    n = next(_payment_no)
    with db.transaction() as con:
        pid = insert_rows(con, "payments", [{"fingerprint": n, "doc_date": day,
                                             "doc_number": str(n), "amount": Decimal(amount), "direction": "in",
                                             "purpose": purpose, "created_at": now}], returning="id")[0][0]
        insert_rows(con, "matches", [{"payment_id": pid, "status": "auto", "member_id": member_id,
                                      "confidence": Decimal(1), "decided_at": now}])
    return pid


def charge(db: Database, member_id: int, code: str, due: date, amount: str) -> int:
    with db.transaction() as con:
        return con.execute("INSERT INTO charges (member_id, contribution, period_start, period_end, due_date, amount, "
                           "kind, created_at) VALUES (?, ?, ?, ?, ?, ?, 'accrual', ?) RETURNING id",
                           [member_id, code, due, due, due, Decimal(amount), utcnow()]).fetchone()[0]
