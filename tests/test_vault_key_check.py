"""A lost or wrong master key is refused, never silently replaced (issue 12.1).

The ledger records a key check value (HMAC of a constant under a key derived from the master key) when its
first key is created or first used; every command and page compares the key with it before anything else
and stops with «ключ шифрования не подходит к базе: восстановите … из копии», creating nothing.
"""

from __future__ import annotations

import base64
import csv
import io
import os

import pytest
from streamlit.testing.v1 import AppTest

from ledger import fields, members, vault
from ledger.cli import main
from ledger.vault import Vault, VaultError
from tests.conftest import table_dump

MESSAGE = "ключ шифрования не подходит к базе: восстановите"
TABLES = ("members", "member_changes", "vault_secrets", "vault_key_check", "audit_log", "payments", "users")


def _register(first: int = 1) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=";").writerows([["№ л/с", "ФИО", "ИНН", "Телефон"]] + [
        [str(first + i), f"Членов Член {name}", fields.make_person_inn(f"77{first + i:08d}"), "+7 916 000-00-0" + str(i)]
        for i, name in enumerate(["Иванович", "Петрович"])])
    return buf.getvalue().encode("utf-8")


@pytest.fixture
def ledger(db, tmp_path):
    """A ledger with encrypted member fields and a secret, and a second register file ready to import."""
    members.import_register(db, _register(), "реестр.csv", actor="test")
    Vault(db).put("integration/smtp/password", "секрет-1")
    (tmp_path / "ещё.csv").write_bytes(_register(10))
    db.release()
    return db


def _state(db) -> dict:
    return {t: table_dump(db, t) for t in TABLES}


def _every_command_refuses(db, tmp_path, capsys, key_file_expected: bool) -> None:
    before = _state(db)
    key_file = db.path.parent / "vault.key"
    key_bytes = key_file.read_bytes() if key_file.exists() else None
    commands = [["members", "import", str(tmp_path / "ещё.csv")], ["match"], ["users", "list"],
                ["accrue", "--through", "2025-12-31"],
                ["vault", "rotate"], ["audit", "verify"], ["integrations", "list"], ["bank", "list"],
                ["members", "export", str(tmp_path / "out.csv")]]
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert MESSAGE in err, (argv, err)
        assert "Внутренняя ошибка" not in err
    assert key_file.exists() == key_file_expected
    assert (key_file.read_bytes() if key_file.exists() else None) == key_bytes
    assert not (db.path.parent / "vault.key.new").exists()
    assert not (tmp_path / "out.csv").exists()
    assert _state(db) == before


def test_lost_key_file_every_command_refuses_and_creates_nothing(db_path, ledger, tmp_path, capsys):
    (db_path.parent / "vault.key").unlink()
    _every_command_refuses(ledger, tmp_path, capsys, key_file_expected=False)


def test_wrong_key_file_is_refused(db_path, ledger, tmp_path, capsys):
    key_file = db_path.parent / "vault.key"
    key_file.unlink()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.urlsafe_b64encode(os.urandom(32)) + b"\n")
    os.close(fd)
    _every_command_refuses(ledger, tmp_path, capsys, key_file_expected=True)


def test_wrong_env_key_is_refused(db_path, db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COOP_MASTER_KEY", os.urandom(32).hex())
    members.import_register(db, _register(), "реестр.csv", actor="test")
    (tmp_path / "ещё.csv").write_bytes(_register(10))
    db.release()
    monkeypatch.setenv("COOP_MASTER_KEY", os.urandom(32).hex())
    _every_command_refuses(db, tmp_path, capsys, key_file_expected=False)
    assert "COOP_MASTER_KEY" in str(pytest.raises(VaultError, vault.master_key, db).value)


def test_a_new_ledger_gets_a_key_and_its_check_value(db_path, db, tmp_path, capsys):
    assert not (db_path.parent / "vault.key").exists()
    assert main(["users", "list"]) == 0        # a new ledger: its key is made with it (it signs the audit head)
    assert (db_path.parent / "vault.key").exists()
    assert (db_path.parent / "coop.duckdb.audit-head").exists()
    (tmp_path / "реестр.csv").write_bytes(_register())
    assert main(["members", "import", str(tmp_path / "реестр.csv")]) == 0
    key = vault.master_key(db, create=False)
    key_id, check = db.fetchone("SELECT key_id, check_value FROM vault_key_check")
    assert key_id == key.key_id and check == vault.check_value(key)
    assert key.key.hex() not in check and encode(key) not in check
    assert main(["match"]) == 0


def encode(key) -> str:
    return vault.encode_key(key.key)


def test_rotate_updates_the_check_value_and_the_old_key_is_refused_after(db_path, ledger, tmp_path, capsys):
    key_file = db_path.parent / "vault.key"
    old_text = key_file.read_text()
    old_check = ledger.scalar("SELECT check_value FROM vault_key_check")
    assert main(["vault", "rotate"]) == 0
    new = vault.master_key(ledger, create=False)
    assert ledger.scalar("SELECT check_value FROM vault_key_check") == vault.check_value(new) != old_check
    assert members.find_by_reg_no(ledger, "1")["inn"] == fields.make_person_inn("7700000001")
    assert main(["vault", "rotate"]) == 0      # and again
    key_file.unlink()                           # the admin restores a copy older than the rotation
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, old_text.encode())
    os.close(fd)
    _every_command_refuses(ledger, tmp_path, capsys, key_file_expected=True)


def test_an_older_ledger_gets_its_check_value_from_the_key_that_opens_it(db_path, ledger, tmp_path, capsys):
    with ledger.transaction() as con:          # as before migration 0060 recorded anything
        con.execute("DELETE FROM vault_key_check")
    assert main(["users", "list"]) == 0
    key = vault.master_key(ledger, create=False)
    assert ledger.scalar("SELECT check_value FROM vault_key_check") == vault.check_value(key)
    with ledger.transaction() as con:
        con.execute("DELETE FROM vault_key_check")
    (db_path.parent / "vault.key").unlink()
    vault._write_key_file(db_path.parent / "vault.key", os.urandom(32))   # a key that opens nothing here
    _every_command_refuses(ledger, tmp_path, capsys, key_file_expected=True)
    assert ledger.scalar("SELECT count(*) FROM vault_key_check") == 0


@pytest.mark.parametrize("script", ["../app.py", "../pages/members.py", "../pages/matching.py"])
def test_pages_refuse_a_lost_key(db_path, ledger, script):
    (db_path.parent / "vault.key").unlink()
    before = _state(ledger)
    at = AppTest.from_file(script, default_timeout=30)
    at.session_state["user"] = {"login": "admin", "role": "admin"}
    at.run()
    assert not at.exception
    assert any(MESSAGE in e.value.replace("\\", "") for e in at.error)   # as shown: Markdown escapes dropped
    assert not (db_path.parent / "vault.key").exists()
    assert _state(ledger) == before
