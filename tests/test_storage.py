"""Storage: migrations, one transaction per write, and the CLI beside the app on the same file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from ledger import members
from ledger.db import Database, available_migrations, migrate
from ledger.errors import DatabaseBusy, InputError


def test_migrations_create_schema_and_record_versions(db):
    versions = db.schema_versions()
    assert versions == [v for v, _, _ in available_migrations()]
    assert 1 in versions
    tables = {r[0] for r in db.fetchall("SELECT table_name FROM information_schema.tables")}
    assert {"members", "plots", "plot_owners", "users", "audit_log", "payments", "matches"} <= tables


def test_migrations_are_idempotent_and_apply_missing_versions(db_path):
    con = duckdb.connect(str(db_path))
    first = migrate(con)
    assert first and migrate(con) == []
    # A version missing from the middle (merged later) is still applied.
    con.execute("DELETE FROM schema_version WHERE version = 1")
    con.execute("DROP VIEW member_payments")
    for t in ("match_splits", "matches", "payments", "statements", "audit_log", "users", "plot_owners", "plots",
              "member_changes", "member_statuses", "members", "coop_settings"):
        con.execute(f"DROP TABLE {t}")
    for s in ("member_id_seq", "member_change_id_seq", "plot_id_seq", "audit_id_seq", "statement_id_seq", "payment_id_seq"):
        con.execute(f"DROP SEQUENCE {s}")
    assert 1 in migrate(con)
    con.close()


def test_money_is_decimal_not_float(db):
    types = dict(db.fetchall("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'payments'"))
    assert types["amount"] == "DECIMAL(18,2)"
    assert not [r for r in db.fetchall("SELECT table_name, column_name FROM information_schema.columns "
                                       "WHERE data_type IN ('FLOAT', 'DOUBLE', 'REAL')")]


def test_a_failed_write_leaves_the_database_as_it_was(db):
    members.add_member(db, {"reg_no": "1", "full_name": "Иванов Иван"})
    with pytest.raises(RuntimeError):
        with db.transaction() as con:
            con.execute("UPDATE members SET full_name = 'Испорчено'")
            con.execute("INSERT INTO plots (number, created_at) VALUES ('99', now()::TIMESTAMP)")
            raise RuntimeError("boom")
    assert db.scalar("SELECT full_name FROM members") == "Иванов Иван"
    assert db.scalar("SELECT count(*) FROM plots") == 0


def _holder(path, seconds):
    """Another process holding the database file, as the app or a cron job would."""
    Database(path).release()
    code = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("held", flush=True)
        time.sleep({seconds})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_busy_database_gives_a_clear_message(db):
    db.schema_versions()
    proc = _holder(db.path, 120)
    try:
        with pytest.raises(DatabaseBusy, match="База занята"):
            Database(db.path, wait_seconds=0.5).schema_versions()
    finally:
        proc.kill()
        proc.wait()


def test_cli_waits_for_the_app_to_release_the_file(db, tmp_path):
    """The CLI, run while another process holds the file briefly, retries and succeeds."""
    db.schema_versions()
    register = tmp_path / "r.csv"
    register.write_text("№ л/с;ФИО;Участок\n1;Иванов Иван;5\n", encoding="utf-8")
    proc = _holder(db.path, 1.5)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), "members", "import", str(register)],
                            capture_output=True, text=True, env={**__import__("os").environ, "COOP_DB_WAIT": "20"})
    proc.wait()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    assert db.scalar("SELECT count(*) FROM members") == 1


def test_cli_reports_busy_database_without_traceback(db):
    db.schema_versions()
    proc = _holder(db.path, 120)  # held until the CLI has answered, however slow the machine is
    try:
        result = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), "init"],
                                capture_output=True, text=True, env={**__import__("os").environ, "COOP_DB_WAIT": "0.5"})
    finally:
        proc.kill()
        proc.wait()
    assert result.returncode == 1
    assert "База занята" in result.stderr and "Traceback" not in result.stderr


def test_input_error_lists_all_problems():
    err = InputError([f"f.xlsx, строка {i}: плохо" for i in range(30)])
    assert "строка 0" in str(err) and "… и ещё 10 ошибок" in str(err)


def test_file_is_released_after_an_idle_pause(db, monkeypatch):
    """Between uses the process lets go of the file, so a cron job can open it."""
    monkeypatch.setenv("COOP_DB_IDLE", "2")
    db.scalar("SELECT 1")
    probe = [sys.executable, "-c", f"import duckdb; duckdb.connect({str(db.path)!r}).close()"]
    held = subprocess.run(probe, capture_output=True, text=True)
    assert held.returncode != 0 and "lock" in held.stderr
    time.sleep(2.5)
    free = subprocess.run(probe, capture_output=True, text=True)
    assert free.returncode == 0, free.stderr


def test_fingerprint_migration_turns_hex_into_numbers_and_keeps_the_table_whole(db_path, monkeypatch):
    """0011 rebuilds payments with 128-bit fingerprints: ids, other columns, the unique constraint, the id sequence
    and the view over payments all survive; hex fingerprints keep their first half, hand-made ones are hashed."""
    import hashlib

    import ledger.db as ledger_db

    shipped = available_migrations()
    monkeypatch.setattr(ledger_db, "available_migrations", lambda: [m for m in shipped if m[0] != 11])
    con = duckdb.connect(str(db_path))
    migrate(con)
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'payments' "
                       "AND column_name = 'fingerprint'").fetchone()[0] == "VARCHAR"
    hexed = hashlib.sha256(b"one payment").hexdigest()
    con.execute("INSERT INTO payments (fingerprint, doc_date, amount, direction, purpose, doc_kind, created_at) VALUES "
                "(?, DATE '2025-03-01', 1500.00, 'in', 'л/с 7', 'Платежное поручение', now()::TIMESTAMP), "
                "('demo-history-1', DATE '2025-03-02', 99.99, 'in', NULL, NULL, now()::TIMESTAMP)", [hexed])
    before = con.execute("SELECT id, doc_date, amount, purpose, doc_kind FROM payments ORDER BY id").fetchall()

    monkeypatch.setattr(ledger_db, "available_migrations", lambda: shipped)
    assert migrate(con) == [11]
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'payments' "
                       "AND column_name = 'fingerprint'").fetchone()[0] == "UHUGEINT"
    assert con.execute("SELECT id, doc_date, amount, purpose, doc_kind FROM payments ORDER BY id").fetchall() == before
    fingerprints = [r[0] for r in con.execute("SELECT fingerprint FROM payments ORDER BY id").fetchall()]
    assert fingerprints == [int(hexed[:32], 16), int(hashlib.sha256(b"demo-history-1").hexdigest()[:32], 16)]
    new_id = con.execute("INSERT INTO payments (fingerprint, doc_date, amount, direction, created_at) "
                         "VALUES (5, DATE '2025-03-03', 1.00, 'in', now()::TIMESTAMP) RETURNING id").fetchone()[0]
    assert new_id == before[-1][0] + 1
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO payments (fingerprint, doc_date, amount, direction, created_at) "
                    "VALUES (5, DATE '2025-03-04', 2.00, 'in', now()::TIMESTAMP)")
    assert con.execute("SELECT count(*) FROM member_payments").fetchone()[0] >= 0
    con.close()
