"""Register history and recalculation (issue 10).

1. `charge_corrections.kind`: 'manual' (the accountant's correction with a reason, kept by every recalculation)
   or 'recalc' (a перерасчёт posted by `accrue`: the difference between what is owed now and what was posted).
   Existing corrections were all made by hand.
2. `charges` is rebuilt without the UNIQUE index on `accrual_key`: accrual is idempotent by comparing what is
   owed with what is posted (per member, contribution, plot and period), not by a key, and the index over
   millions of text keys cost most of the accrual's time and memory. The key stays as an informative column.
3. `accrual_inputs`: per member, a fingerprint of what the accrual reads (status, dates, ownerships, areas), so
   that a recalculation after a register change looks only at the members that changed.
4. Ownerships first seen without a date used to start on the day the register was loaded. An ownership is taken
   to be such when it is the plot's first (no earlier ownership of the plot), starts on the day the plot was
   created (first loaded) and not on the member's joining date (the only date the register could have given).
   Its start becomes unknown (NULL: liable from the start of every contribution), and the change is written to
   the member's history as a visible correction.
"""

from __future__ import annotations

import re

from ledger.db import utcnow


def migrate(con) -> None:
    con.execute("ALTER TABLE charge_corrections ADD COLUMN kind VARCHAR DEFAULT 'manual'")
    con.execute("UPDATE charge_corrections SET kind = 'manual'")

    sql = con.execute("SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'charges'").fetchone()[0]
    sql, found = re.subn(r"\baccrual_key VARCHAR UNIQUE\b", "accrual_key VARCHAR", sql, count=1)
    if found:
        con.execute(re.sub(r"^CREATE TABLE charges\s*\(", "CREATE TABLE charges_rebuilt(", sql))
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = 'charges' "
            "ORDER BY ordinal_position").fetchall()]
        con.execute(f"INSERT INTO charges_rebuilt ({', '.join(columns)}) SELECT {', '.join(columns)} FROM charges "
                    f"ORDER BY id")
        con.execute("DROP TABLE charges")
        con.execute("ALTER TABLE charges_rebuilt RENAME TO charges")

    con.execute("CREATE TABLE accrual_inputs (member_id BIGINT PRIMARY KEY, fingerprint UBIGINT NOT NULL)")

    now = utcnow()
    load_day = """
        FROM plot_owners o JOIN plots p ON p.id = o.plot_id JOIN members m ON m.id = o.member_id
        WHERE o.owned_from = p.created_at::DATE AND o.owned_from IS DISTINCT FROM m.join_date
          AND NOT EXISTS (SELECT 1 FROM plot_owners e WHERE e.plot_id = o.plot_id AND e.owned_from < o.owned_from)"""
    con.execute(f"""
        INSERT INTO member_changes (member_id, field, old_value, new_value, changed_at, changed_by, source)
        SELECT o.member_id, 'начало владения участком ' || p.number, strftime(o.owned_from, '%d.%m.%Y'), NULL, ?,
               NULL, 'исправление при обновлении: дата загрузки реестра не является датой начала владения'
        {load_day}""", [now])
    con.execute(f"CREATE TEMP TABLE _load_day AS SELECT o.plot_id, o.member_id, o.owned_from {load_day}")
    con.execute("UPDATE plot_owners SET owned_from = NULL FROM _load_day x WHERE plot_owners.plot_id = x.plot_id "
                "AND plot_owners.member_id = x.member_id AND plot_owners.owned_from = x.owned_from")
    con.execute("DROP TABLE _load_day")
