"""Credential vault: round trip, key file permissions, rotation, wrong and missing keys, no secret in output."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from ledger import audit, vault
from ledger.cli import main
from ledger.vault import Vault, VaultError

SECRET = "пароль-от-почты-Q7"


def test_round_trip_and_key_file_created_0600(db):
    v = Vault(db)
    v.put("integration/smtp/password", SECRET)
    assert v.get("integration/smtp/password") == SECRET
    key_file = db.path.parent / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.urlsafe_b64decode(key_file.read_text().strip())) == 32
    raw = db.fetchone("SELECT nonce, ciphertext FROM vault_secrets")
    assert SECRET.encode() not in bytes(raw[1]) and len(bytes(raw[0])) == 12
    assert SECRET.encode() not in db.path.read_bytes()


def test_ciphertext_is_bound_to_its_name(db):
    v = Vault(db)
    v.put("a", "один")
    v.put("b", "два")
    with db.transaction() as con:  # move b's ciphertext into a's slot
        con.execute("UPDATE vault_secrets SET nonce = (SELECT nonce FROM vault_secrets WHERE name = 'b'), "
                    "ciphertext = (SELECT ciphertext FROM vault_secrets WHERE name = 'b') WHERE name = 'a'")
    with pytest.raises(VaultError, match="повреждена или изменена"):
        Vault(db).get("a")


def test_env_key_and_wrong_key(db, monkeypatch):
    key = os.urandom(32)
    monkeypatch.setenv("COOP_MASTER_KEY", key.hex())
    Vault(db).put("x", SECRET)
    assert not (db.path.parent / "vault.key").exists()
    monkeypatch.setenv("COOP_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    with pytest.raises(VaultError) as err:
        Vault(db).get("x")
    assert "не подходит" in str(err.value) and "COOP_MASTER_KEY" in str(err.value)
    assert key.hex() not in str(err.value) and SECRET not in str(err.value)
    monkeypatch.setenv("COOP_MASTER_KEY", "short")
    with pytest.raises(VaultError, match="неверный формат"):
        Vault(db).get("x")


def test_missing_key_file_with_data_is_a_clear_error(db):
    Vault(db).put("x", SECRET)
    (db.path.parent / "vault.key").unlink()
    with pytest.raises(VaultError, match="ключ шифрования не подходит к базе"):
        Vault(db).get("x")


def test_key_file_readable_by_others_is_refused(db):
    Vault(db).put("x", SECRET)
    (db.path.parent / "vault.key").chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        Vault(db).get("x")


def test_rotate_reencrypts_everything(db, capsys):
    v = Vault(db)
    for i in range(5):
        v.put(f"s{i}", f"{SECRET}-{i}")
    old_file = (db.path.parent / "vault.key").read_text()
    old_ids = {r[0] for r in db.fetchall("SELECT key_id FROM vault_secrets")}
    assert main(["--db", str(db.path), "vault", "rotate"]) == 0
    assert "перешифровано: secrets 5" in capsys.readouterr().out
    new_file = (db.path.parent / "vault.key").read_text()
    assert new_file != old_file
    assert stat.S_IMODE((db.path.parent / "vault.key").stat().st_mode) == 0o600
    new_ids = {r[0] for r in db.fetchall("SELECT key_id FROM vault_secrets")}
    assert len(new_ids) == 1 and new_ids.isdisjoint(old_ids)
    assert [Vault(db).get(f"s{i}") for i in range(5)] == [f"{SECRET}-{i}" for i in range(5)]
    assert not (db.path.parent / "vault.key.new").exists()
    assert audit.entries(db, action="vault_rotated")[0]["ok"]


def test_rotate_with_env_key_needs_the_new_key(db, monkeypatch, capsys):
    old, new = os.urandom(32), os.urandom(32)
    monkeypatch.setenv("COOP_MASTER_KEY", old.hex())
    Vault(db).put("x", SECRET)
    assert main(["--db", str(db.path), "vault", "rotate"]) == 1
    assert "COOP_NEW_MASTER_KEY" in capsys.readouterr().err
    monkeypatch.setenv("COOP_NEW_MASTER_KEY", new.hex())
    assert main(["--db", str(db.path), "vault", "rotate"]) == 0
    monkeypatch.setenv("COOP_MASTER_KEY", new.hex())
    assert Vault(db).get("x") == SECRET


def test_interrupted_rotation_is_finished_on_next_start(db):
    """Commit happened, rename did not: the pending key file opens the data and replaces the old one."""
    Vault(db).put("x", SECRET)
    key_file = db.path.parent / "vault.key"
    new_key = os.urandom(32)
    old_text = key_file.read_text()
    vault.rotate(db, new_key=new_key)
    # simulate the crash: put the old key back and the new one as pending
    key_file.rename(db.path.parent / "vault.key.new")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, old_text.encode())
    os.close(fd)
    assert Vault(db).get("x") == SECRET
    assert base64.urlsafe_b64decode(key_file.read_text().strip()) == new_key


def test_field_encryption_and_blind_index(db):
    key = vault.master_key(db)
    token = vault.encrypt_field(key, "+79161234567", "members.phones")
    assert token.startswith("v1:") and "79161234567" not in token
    assert vault.decrypt_field(key, token, "members.phones") == "+79161234567"
    assert vault.encrypt_field(key, "+79161234567", "members.phones") != token  # random nonce
    with pytest.raises(VaultError):
        vault.decrypt_field(key, token, "members.inn")  # bound to its column
    assert vault.decrypt_field(key, "plain", "members.inn") == "plain"
    assert vault.blind_index(key, "a@b.ru", "e") == vault.blind_index(key, "a@b.ru", "e") != vault.blind_index(key, "a@b.ru", "f")
