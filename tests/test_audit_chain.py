"""The keyed audit chain and its head outside the database (issue 12.2).

Each tampering is done the way an intruder with the database file but without the master key would: plain
duckdb on the file, the application closed. `coop audit verify` must fail (exit 1, a Russian reason) and the
audit page must say so, for every variant.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from ledger import audit, db as dbmod, users
from ledger.cli import main
from ledger.db import Database

COLUMNS = audit._COLUMNS


def _unkeyed(prev_hash, row) -> str:
    """The chain anyone can compute (SHA-256 without a key), as the intruder recomputes it."""
    canonical = json.dumps([prev_hash] + [audit._plain(row.get(c)) for c in COLUMNS], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _recompute_from(con, first_id: int) -> None:
    rows = con.execute(f"SELECT id, {', '.join(COLUMNS)}, prev_hash FROM audit_log ORDER BY id").fetchall()
    prev = None
    for r in rows:
        if r[0] >= first_id:
            h = _unkeyed(prev, dict(zip(COLUMNS, r[1:-1])))
            con.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", [prev, h, r[0]])
        prev = con.execute("SELECT hash FROM audit_log WHERE id = ?", [r[0]]).fetchone()[0]


@pytest.fixture
def logged(db):
    users.add_user(db, "root", "пароль-админа", "admin")
    for i in range(6):
        audit.record(db, "root", "settings_changed", f"t{i}", keys=[i])
    verdict = audit.verify(db)
    assert verdict.ok, verdict.message()
    db.release()
    return db


def _ids(db) -> list[int]:
    return [r[0] for r in db.fetchall("SELECT id FROM audit_log ORDER BY id")]


def _tamper(db, *sql_and_params) -> None:
    db.release()
    con = duckdb.connect(str(db.path))
    try:
        for step in sql_and_params:
            step(con) if callable(step) else con.execute(*step)
    finally:
        con.close()


def _detected(db, capsys) -> str:
    verdict = audit.verify(db)
    assert not verdict.ok
    assert main(["--db", str(db.path), "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "Журнал изменён в обход приложения" in err and "Внутренняя ошибка" not in err
    return verdict.message()


def test_hash_set_to_null_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("UPDATE audit_log SET hash = NULL WHERE id = ?", [ids[3]]))
    assert ids[3] in audit.verify(logged).bad
    _detected(logged, capsys)


def test_all_hashes_set_to_null_is_tampering(logged, capsys):
    _tamper(logged, ("UPDATE audit_log SET hash = NULL, prev_hash = NULL",))
    assert audit.verify(logged).bad == _ids(logged)
    _detected(logged, capsys)


def test_inserted_row_without_hash_is_tampering(logged, capsys):
    _tamper(logged, ("INSERT INTO audit_log (id, happened_at, actor, action, ok) VALUES (10000, now(), 'x', "
                     "'signin', TRUE)",))
    assert audit.verify(logged).bad == [10000]
    _detected(logged, capsys)


def test_inserted_row_with_an_unkeyed_hash_is_tampering(logged, capsys):
    last = logged.fetchone("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")[0]
    row = {"happened_at": None, "actor": "x", "action": "signin", "target": None, "ok": True, "details": None}
    _tamper(logged, ("INSERT INTO audit_log (id, happened_at, actor, action, ok, prev_hash, hash) VALUES "
                     "(10000, '2026-01-01', 'x', 'signin', TRUE, ?, ?)", [last, _unkeyed(last, row)]))
    assert audit.verify(logged).bad == [10000]
    _detected(logged, capsys)


def test_edited_row_with_the_chain_recomputed_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("UPDATE audit_log SET actor = 'someone' WHERE id = ?", [ids[2]]),
            lambda con: _recompute_from(con, ids[2]))
    assert audit.verify(logged).bad == ids[2:]
    _detected(logged, capsys)


def test_edited_row_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("UPDATE audit_log SET details = '{}' WHERE id = ?", [ids[1]]))
    assert audit.verify(logged).bad == [ids[1]]
    _detected(logged, capsys)


def test_newest_entries_deleted_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id >= ?", [ids[-2]]))
    verdict = audit.verify(logged)
    assert verdict.bad == []                  # what is left is a valid chain: only the head tells
    assert f"запись № {ids[-1]} удалена" in _detected(logged, capsys)


def test_newest_entries_and_the_head_file_deleted_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id >= ?", [ids[-2]]))
    audit.head_path(logged.path).unlink()
    assert "нет файла головы журнала" in _detected(logged, capsys)


def test_forged_head_file_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id >= ?", [ids[-2]]))
    path = audit.head_path(logged.path)
    head = json.loads(path.read_text())
    head.update(last_id=ids[-3], count=len(ids) - 2,
                mac=logged.scalar("SELECT hash FROM audit_log WHERE id = ?", [ids[-3]]))
    path.write_text(json.dumps(head))
    assert "подпись не сходится" in _detected(logged, capsys)


def test_middle_entry_deleted_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id = ?", [ids[3]]))
    assert audit.verify(logged).bad == [ids[4]]
    _detected(logged, capsys)


def test_middle_entry_deleted_and_chain_recomputed_is_tampering(logged, capsys):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id = ?", [ids[3]]), lambda con: _recompute_from(con, ids[4]))
    assert audit.verify(logged).bad == ids[4:]
    _detected(logged, capsys)


def test_an_older_head_is_accepted_a_shorter_chain_never(logged, capsys):
    """The crash window: the head file may lag by the entries of a transaction that committed just before the
    process died. An older head (a prefix) verifies; the chain may never be shorter than a head."""
    path = audit.head_path(logged.path)
    older = path.read_bytes()
    head_before = audit.chain_head(logged)
    audit.record(logged, "root", "settings_changed", "after")
    assert audit.chain_head(logged)["count"] == head_before["count"] + 1
    path.write_bytes(older)                   # as if the process died before renaming the new head in
    assert audit.verify(logged).ok
    assert audit.verify(logged, head=head_before).ok
    audit.record(logged, "root", "settings_changed", "and later")   # the next append catches the file up
    assert json.loads(path.read_text())["count"] == head_before["count"] + 2
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id = ?", [ids[0]]), lambda con: _recompute_from(con, ids[1]))
    assert not audit.verify(logged, head=head_before).ok


def test_a_head_from_a_backup_manifest_catches_deletions(logged):
    head = audit.chain_head(logged)
    assert set(head) == {"last_id", "mac", "count"} and head["count"] == len(_ids(logged))
    ids = _ids(logged)
    audit.head_path(logged.path).unlink()     # the intruder deleted the file too; the manifest remains
    _tamper(logged, ("DELETE FROM audit_log WHERE id >= ?", [ids[-2]]))
    assert any("по голове из копии" in p for p in audit.verify(logged, head=head).problems)


def test_appends_from_concurrent_sessions_verify(db):
    """Threads of one process (Streamlit sessions) append at once: the chain may fork, but verifies, and the
    head file keeps up."""
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                audit.record(db, f"u{n}", "settings_changed", f"{n}-{i}")
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = audit.verify(db)
    assert verdict.ok, verdict.message()
    assert json.loads(audit.head_path(db.path).read_text())["count"] == audit.chain_head(db)["count"]


def test_an_unkeyed_chain_is_rekeyed_once_at_migration_and_logged(logged):
    """A ledger from before the keyed chain (entries with the old SHA-256 chain, some even without one)."""
    ids = _ids(logged)

    def as_before(con):
        con.execute("DELETE FROM schema_version WHERE version = 61")
        con.execute("UPDATE audit_log SET hash = NULL, prev_hash = NULL WHERE id <= ?", [ids[1]])   # pre-chain
        _recompute_from(con, ids[2])
        con.execute("UPDATE audit_log SET actor = 'edited' WHERE id = ?", [ids[4]])    # broken before migration

    _tamper(logged, as_before)
    audit.head_path(logged.path).unlink()
    dbmod._migrated.discard(str(logged.path.resolve()))
    fresh = Database(logged.path)
    assert 61 in fresh.schema_versions()
    verdict = audit.verify(fresh)
    assert verdict.ok, verdict.message()
    entry = fresh.records("SELECT actor, details FROM audit_log WHERE action = 'audit_rekeyed'")
    assert len(entry) == 1
    details = json.loads(entry[0]["details"])
    assert details["entries"] == len(ids) and details["unchained_before"] == 2 and details["broken_before"] == [ids[4]]


def test_rotation_rekeys_the_chain_and_refuses_a_tampered_one(logged, capsys):
    assert main(["--db", str(logged.path), "vault", "rotate"]) == 0
    verdict = audit.verify(logged)
    assert verdict.ok, verdict.message()
    ids = _ids(logged)
    _tamper(logged, ("UPDATE audit_log SET actor = 'x' WHERE id = ?", [ids[1]]))
    key_before = (logged.path.parent / "vault.key").read_bytes()
    assert main(["--db", str(logged.path), "vault", "rotate"]) == 1
    assert "Смена ключа отменена" in capsys.readouterr().err
    assert (logged.path.parent / "vault.key").read_bytes() == key_before
    assert not (logged.path.parent / "vault.key.new").exists()


def test_the_audit_page_shows_tampering(logged):
    ids = _ids(logged)
    _tamper(logged, ("DELETE FROM audit_log WHERE id >= ?", [ids[-2]]))
    at = AppTest.from_file("../pages/audit.py", default_timeout=30)
    at.session_state["user"] = {"login": "root", "role": "admin"}
    at.run()
    assert not at.exception
    assert any("Журнал изменён в обход приложения" in e.value and f"№ {ids[-1]}" in e.value for e in at.error)
