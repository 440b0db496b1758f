"""Encrypted, versioned backups (issue 16): backup → wipe → restore, refusals, the standard age tool, retention."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from integrations.base import Context
from integrations.storage.local import LocalStorage
from ledger import audit, backup, members
from ledger.backup import BackupError
from ledger.db import Database

PASSPHRASE = "Рассвет-копии-2026 надёжно"


def coop(db_path, *args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db_path), *args], input=stdin,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def table_dump(path: Path) -> dict[str, list]:
    """Every row of every table, read with duckdb directly (independent of the app's code)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
    finally:
        con.close()


@pytest.fixture
def ledger_with_data(demo_db):
    db = demo_db
    originals = db.path.parent / "originals"
    originals.mkdir(exist_ok=True)
    statement = "1CClientBankExchange\nВерсияФормата=1.03\n".encode("cp1251")
    (originals / hashlib.sha256(statement).hexdigest()).write_bytes(statement)
    audit.record(db, "test", "settings_changed", "перед копией")
    return db


@pytest.fixture
def storage(ledger_with_data, tmp_path):
    return LocalStorage({"path": str(tmp_path / "копии"), "keep_last": None, "keep_daily": None,
                         "keep_weekly": None, "keep_monthly": None, "keep_yearly": None},
                        Context(ledger_with_data, actor="test"))


def test_backup_wipe_restore_gives_identical_data(ledger_with_data, storage, tmp_path, monkeypatch):
    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE, actor="test")
    db.release()
    before = table_dump(db.path)
    name = backup.run(db, storage, actor="test")
    assert backup.NAME_RE.match(name)
    assert [n for n, _ in storage.list()] == [backup.IDENTITY_OBJECT, name]   # one object per backup
    db.release()
    originals_before = {p.name: p.read_bytes() for p in (db.path.parent / "originals").iterdir()}
    key_before = (db.path.parent / "vault.key").read_text()
    # the server is lost: nothing of the installation is left, only the storage and the passphrase
    fresh = tmp_path / "новый-сервер"
    shutil.rmtree(db.path.parent / "originals")
    (db.path.parent / "vault.key").unlink()
    db.path.unlink()
    fresh_storage = LocalStorage({"path": storage.settings["path"]}, Context(Database(tmp_path / "настройки" / "scratch.duckdb")))
    manifest = backup.restore(fresh_storage, name, fresh / "coop.duckdb", PASSPHRASE)
    from ledger import audit
    restored = Database(fresh / "coop.duckdb")
    assert audit.verify(restored).ok   # the head file is sealed beside the restored ledger
    restored.release()
    after = table_dump(fresh / "coop.duckdb")
    # the run itself logged its start and its first storage calls before the snapshot: those rows are added
    started = {t: rows for t, rows in after.items() if rows != before.get(t)}
    assert set(started) <= {"audit_log", "backup_runs"}
    assert set(before["audit_log"]) < set(after["audit_log"])
    assert len(after["backup_runs"]) == 1 and "None, None, None" in after["backup_runs"][0]   # not finished yet
    assert {p.name: p.read_bytes() for p in (fresh / "originals").iterdir()} == originals_before
    assert (fresh / "vault.key").read_text() == key_before
    assert oct((fresh / "vault.key").stat().st_mode & 0o777) == "0o600"
    assert manifest["schema_version"] == max(Database(fresh / "coop.duckdb").schema_versions())
    # the restored ledger works: encrypted member fields open with the restored master key, the chain is intact
    restored = Database(fresh / "coop.duckdb")
    assert audit.verify_chain(restored) == []
    assert members.personal_data(restored)


def test_manifest_lists_every_part_with_hash_size_versions_and_audit_head(ledger_with_data, storage, tmp_path):
    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE)
    name = backup.run(db, storage)
    head = db.fetchone("SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1")
    out = tmp_path / "unpacked"
    identity = backup.unlock(storage.get(backup.IDENTITY_OBJECT), PASSPHRASE)
    with open(storage.root / name, "rb") as fh:
        manifest = backup.read_archive(fh, identity, out)
    assert manifest["format"] == "coop-backup/1" and manifest["app_version"] == "0.1.0"
    assert {p["path"] for p in manifest["parts"]} == {"coop.duckdb", "vault.key"} | {
        f"originals/{p.name}" for p in (db.path.parent / "originals").iterdir()}
    for part in manifest["parts"]:
        data = (out / part["path"]).read_bytes()
        assert part["size"] == len(data) and part["sha256"] == hashlib.sha256(data).hexdigest()
    # the snapshot was taken before the run recorded itself: its head is in the chain, at or before the newest
    recorded = manifest["audit_head"]
    last_id = recorded.get("id", recorded.get("last_id"))
    assert last_id <= head[0]
    assert db.fetchone("SELECT hash FROM audit_log WHERE id = ?", [last_id])[0] == \
        recorded.get("hash", recorded.get("mac"))


def test_standard_age_and_zstd_tools_restore_without_the_app(ledger_with_data, storage, tmp_path):
    """Exactly the README's recipe: age -d the identity with the passphrase, then age | zstd | tar."""
    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE)
    name = backup.run(db, storage)
    work = tmp_path / "руками"
    work.mkdir()
    shutil.copy(storage.root / backup.IDENTITY_OBJECT, work / backup.IDENTITY_OBJECT)
    shutil.copy(storage.root / name, work / name)
    # age reads a passphrase only from a terminal: give it one (script(1) makes a pty)
    script = (f"age -d -o identity.txt {backup.IDENTITY_OBJECT} && "
              f"age -d -i identity.txt {name} | zstd -d | tar x")
    done = subprocess.run(["script", "-qec", script, "/dev/null"], cwd=work, input=f"{PASSPHRASE}\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((work / "manifest.json").read_text("utf-8"))
    for part in manifest["parts"]:
        assert hashlib.sha256((work / part["path"]).read_bytes()).hexdigest() == part["sha256"]
    db.release()
    extracted, live = table_dump(work / "coop.duckdb"), table_dump(db.path)
    run_tables = {"audit_log", "backup_runs", "backups"}   # the run goes on writing after its snapshot
    assert {t: r for t, r in extracted.items() if t not in run_tables} == \
        {t: r for t, r in live.items() if t not in run_tables}
    assert set(extracted["audit_log"]) < set(live["audit_log"]) and extracted["members"]


def test_wrong_passphrase_tampered_and_truncated_backups_are_refused(ledger_with_data, storage, tmp_path):
    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE)
    name = backup.run(db, storage)
    with pytest.raises(BackupError, match="Неверная парольная фраза"):
        backup.verify(db, storage, name, "не та фраза вовсе")
    assert backup.verify(db, storage, name, PASSPHRASE) == name
    path = storage.root / name
    good = path.read_bytes()
    tampered = bytearray(good)
    tampered[len(good) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    with pytest.raises(BackupError, match="повреждена"):
        backup.verify(db, storage, name, PASSPHRASE)
    path.write_bytes(good[: len(good) - 70_000])
    with pytest.raises(BackupError, match="повреждена|обрезана"):
        backup.verify(db, storage, name, PASSPHRASE)
    path.write_bytes(good[:200])
    with pytest.raises(BackupError, match="повреждена|обрезана"):
        backup.restore(storage, name, tmp_path / "куда" / "coop.duckdb", PASSPHRASE, db=db)
    assert not (tmp_path / "куда" / "coop.duckdb").exists()
    row = db.fetchone("SELECT verified_at, verify_error FROM backups WHERE name = ?", [name])
    assert row[0] is not None and "обрезана" in row[1]   # the good verify is remembered, and the last failure


def test_unlock_runs_apart_and_tells_an_excessive_work_factor_from_a_wrong_passphrase():
    """The scrypt unlock runs in a child process; rage refuses a work factor far above what the machine computes
    in about a second (e.g. a key sealed on a quiet machine, opened on a loaded one): that is said as such."""
    import re

    import pyrage

    identity = pyrage.x25519.Identity.generate()
    sealed = pyrage.passphrase.encrypt(str(identity).encode() + b"\n", PASSPHRASE)
    assert str(backup.unlock(sealed, PASSPHRASE)) == str(identity)
    with pytest.raises(BackupError, match="Неверная парольная фраза"):
        backup.unlock(sealed, "другая фраза копий")
    heavy = re.sub(rb"(-> scrypt \S+) \d+", rb"\1 30", sealed, count=1)
    with pytest.raises(BackupError, match=r"рабочим фактором scrypt \(log2 N = 30\)") as refused:
        backup.unlock(heavy, PASSPHRASE)
    assert "Неверная" not in str(refused.value)


def test_a_part_swapped_inside_a_validly_encrypted_archive_is_refused(ledger_with_data, storage, tmp_path):
    """Someone holding only the public key can encrypt a forged archive; the manifest's hashes catch it."""
    import pyrage
    import zstandard

    db = ledger_with_data
    recipient = backup.init_keys(db, PASSPHRASE)
    name = backup.run(db, storage)
    identity = backup.unlock(storage.get(backup.IDENTITY_OBJECT), PASSPHRASE)
    plain = zstandard.ZstdDecompressor().decompress(pyrage.decrypt((storage.root / name).read_bytes(), [identity]),
                                                    max_output_size=1 << 30)
    src = tmp_path / "plain.tar"
    src.write_bytes(plain)
    forged = tmp_path / "forged.tar"
    with tarfile.open(src) as old, tarfile.open(forged, "w", format=tarfile.PAX_FORMAT) as new:
        for m in old.getmembers():
            data = old.extractfile(m).read()
            if m.name == "vault.key":
                data = b"A" * len(data)
            new.addfile(m, __import__("io").BytesIO(data))
    packed = zstandard.ZstdCompressor().compress(forged.read_bytes())
    (storage.root / name).write_bytes(pyrage.encrypt(packed, [pyrage.x25519.Recipient.from_str(recipient)]))
    with pytest.raises(BackupError, match="не совпадают с manifest.json: vault.key"):
        backup.verify(db, storage, name, PASSPHRASE)


def test_restore_never_overwrites_the_live_database_without_confirmation(ledger_with_data, storage):
    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE)
    name = backup.run(db, storage)
    with pytest.raises(BackupError, match="уже существует"):
        backup.restore(storage, name, db.path, PASSPHRASE, db=db)
    audit.record(db, "test", "settings_changed", "после копии")
    backup.restore(storage, name, db.path, PASSPHRASE, db=db, overwrite=True)
    assert not db.fetchall("SELECT 1 FROM audit_log WHERE target = 'после копии'")
    kept = list(db.path.parent.glob("coop.duckdb.before-restore-*"))
    assert len(kept) == 1   # the replaced database is kept aside, not lost


def test_retention_follows_restic_forget():
    t = [datetime(2026, 1, d, h) for d in range(1, 32) for h in (3, 15)] + [datetime(2025, 12, 31, 3),
                                                                          datetime(2024, 6, 1, 3)]
    keep = backup.to_keep(t, {"keep_last": 2, "keep_daily": 3, "keep_weekly": 0, "keep_monthly": 2, "keep_yearly": 3})
    assert keep == {datetime(2026, 1, 31, 15), datetime(2026, 1, 31, 3),       # last 2
                    datetime(2026, 1, 30, 15), datetime(2026, 1, 29, 15),      # daily: newest of the last 3 days
                    datetime(2025, 12, 31, 3),                                 # monthly: Jan 2026 (dup), Dec 2025
                    datetime(2024, 6, 1, 3)}                                   # yearly: 2026, 2025 (dups), 2024
    assert backup.to_keep(t, {}) == set(t)   # no policy: nothing is forgotten


def test_forget_applies_the_policy_of_the_storage(ledger_with_data, storage):
    db = ledger_with_data
    for day in range(1, 6):
        storage.put(backup.object_name(datetime(2026, 3, day, 2)), b"x")
    storage.settings.update(keep_last=2)
    gone = backup.forget(db, storage, actor="test")
    assert gone == [backup.object_name(datetime(2026, 3, d, 2)) for d in (3, 2, 1)]
    assert [v.taken_at.day for v in backup.versions(db, storage)] == [5, 4]


@pytest.mark.parametrize("name", ["nothing", "smtp", "retention"])
def test_cli_backup_to_what_is_not_a_storage_names_the_storages(ledger_with_data, name):
    db = ledger_with_data
    db.release()
    result = coop(db.path, "backup", "list", "--to", name)
    assert result.returncode == 1 and result.stdout == ""            # no table header before the refusal
    (line,) = result.stderr.splitlines()
    assert f"«{name}» — не хранилище резервных копий" in line
    assert "local" in line and "webdav" in line and "smtp" not in line.split("хранилища:")[1]


def test_cli_init_run_list_verify_restore_forget(ledger_with_data, tmp_path):
    db = ledger_with_data
    db.release()
    folder = tmp_path / "копии"
    assert coop(db.path, "integrations", "configure", "local", f"path={folder}", "keep_last=1",
                "keep_daily=0", "keep_weekly=0", "keep_monthly=0", "keep_yearly=0").returncode == 0
    assert coop(db.path, "integrations", "enable", "local").returncode == 0
    result = coop(db.path, "backup", "run", "--to", "local")
    assert result.returncode == 1 and "coop backup init" in result.stderr and "Traceback" not in result.stderr
    result = coop(db.path, "backup", "init", stdin="коротко\n")
    assert result.returncode == 1 and "слишком короткая" in result.stderr
    assert coop(db.path, "backup", "init", stdin=PASSPHRASE + "\n").returncode == 0
    assert coop(db.path, "backup", "init", stdin=PASSPHRASE + "\n").returncode == 1   # once
    first = coop(db.path, "backup", "run", "--to", "local")
    assert first.returncode == 0, first.stderr
    listed = coop(db.path, "backup", "list", "--to", "local")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()[:2]
    assert header.split("\t") == ["ID", "Дата", "Размер", "Проверена"]
    backup_id = row.split("\t")[0]
    assert backup.NAME_RE.match(backup_id) and row.split("\t")[3] == "нет"
    wrong = coop(db.path, "backup", "verify", "--to", "local", backup_id, env={"COOP_BACKUP_PASSPHRASE": "не та фраза!"})
    assert wrong.returncode == 1 and "Неверная парольная фраза" in wrong.stderr
    ok = coop(db.path, "backup", "verify", "--to", "local", env={"COOP_BACKUP_PASSPHRASE": PASSPHRASE})
    assert ok.returncode == 0 and backup_id in ok.stdout
    assert coop(db.path, "backup", "list", "--to", "local").stdout.splitlines()[1].split("\t")[3] != "нет"
    target = tmp_path / "восстановлено" / "coop.duckdb"
    restored = coop(db.path, "backup", "restore", "--from", "local", backup_id, "--to", str(target), stdin=PASSPHRASE + "\n")
    assert restored.returncode == 0, restored.stderr
    assert target.exists()
    again = coop(db.path, "backup", "restore", "--from", "local", backup_id, "--to", str(db.path), stdin=PASSPHRASE + "\n")
    assert again.returncode == 1 and "уже существует" in again.stderr
    (folder / backup.object_name(datetime(2020, 1, 1))).write_bytes(b"old")
    forgot = coop(db.path, "backup", "forget", "--to", "local")
    assert forgot.returncode == 0 and "coop-20200101-000000" in forgot.stdout
    assert [n for n in os.listdir(folder) if n.startswith("coop-")] == [backup_id]


def test_run_checks_the_upload_by_the_checksum_the_storage_reports_without_downloading(ledger_with_data, monkeypatch):
    """Yandex Disk keeps a SHA-256 of each file: the run compares it with the one computed while sending instead of
    reading the backup back; a store that kept other bytes fails the run and nothing is forgotten."""
    from tests.test_conformance import cloud_storage

    db = ledger_with_data
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    monkeypatch.delenv(backup.PASSPHRASE_ENV, raising=False)
    backup.init_keys(db, PASSPHRASE, actor="test")
    server, disk = cloud_storage("yandex_disk", db)
    try:
        name = backup.run(db, disk, actor="test")
        operations = [e["operation"] for e in audit.entries(db, "external_call", integration="yandex_disk")]
        assert "metadata" in operations
        assert "download" not in operations and "download link" not in operations
        assert db.scalar("SELECT sha256 FROM backups WHERE name = ?", [name]) == \
            hashlib.sha256(server.files[f"app:/coop/копии/{name}"]).hexdigest()

        server.damage_uploads = True
        old = backup.object_name(datetime(2020, 1, 1))
        disk.put(old, b"old")
        disk.settings["keep_last"] = 1
        with pytest.raises(BackupError, match="отличается от отправленной"):
            backup.run(db, disk, actor="test")
        assert db.scalar("SELECT ok FROM backup_runs ORDER BY id DESC LIMIT 1") is False
        assert old in [n for n, _ in disk.list("coop-")]     # retention waits for a checked backup
    finally:
        server.stop()


def test_an_upload_that_fails_mid_way_stops_the_encryption_process_and_fails_the_run(ledger_with_data, tmp_path):
    """Encryption runs in a child process: when the upload gives up after its first 64 KB, the run reports the
    storage's error, the child is gone, no snapshot is left behind and the run is recorded as failed."""
    from integrations.base import IntegrationError

    class GivesUp(LocalStorage):
        def put(self, name, source):
            if isinstance(source, bytes):   # the identity file
                return super().put(name, source)
            source.read(64 << 10)
            raise IntegrationError("Интеграция local: связь оборвалась")

    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE, actor="test")
    storage = GivesUp({"path": str(tmp_path / "копии")}, Context(db, actor="test"))
    with pytest.raises(IntegrationError, match="связь оборвалась"):
        backup.run(db, storage, actor="test")
    children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and (p / "stat").exists()
                and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(os.getpid())]
    assert not [p for p in children if b"encrypt_io" in (p / "cmdline").read_bytes()]
    assert not list(db.path.parent.glob(".coop-backup-*"))
    assert db.scalar("SELECT ok FROM backup_runs ORDER BY id DESC LIMIT 1") is False


def test_one_backup_at_a_time(ledger_with_data, storage):
    import fcntl

    db = ledger_with_data
    backup.init_keys(db, PASSPHRASE)
    with open(db.path.parent / ".coop-backup.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BackupError, match="уже идёт"):
            backup.run(db, storage)
    assert db.fetchone("SELECT ok FROM backup_runs ORDER BY id DESC LIMIT 1") == (False,)


def test_scheduled_daily_by_default_and_failed_or_missed_backups_alert_the_admin(ledger_with_data, tmp_path):
    from datetime import timedelta

    from integrations import monitoring, registry
    from ledger.db import utcnow
    from tests.smtp_server import PASSWORD as SMTP_PASSWORD
    from tests.smtp_server import USER as SMTP_USER
    from tests.smtp_server import SmtpServer

    db = ledger_with_data
    server = SmtpServer(tmp_path, "starttls")
    try:
        registry.configure(db, "smtp", {"host": "127.0.0.1", "port": server.port, "tls": "starttls",
                                        "username": SMTP_USER, "password": SMTP_PASSWORD, "sender": "snt@snt.test",
                                        "ca_file": str(server.cert), "admin_recipient": "chair@snt.test"})
        registry.set_enabled(db, "smtp", True)
        registry.configure(db, "local", {"path": str(tmp_path / "копии")})
        registry.set_enabled(db, "local", True)
        row = next(r for r in registry.overview(db) if r["name"] == "local")
        assert row["interval_minutes"] == 24 * 60          # daily unless the admin chose otherwise
        # no key yet: the scheduled run fails, and the admin hears of it at once
        (result,) = registry.run_due(db, actor="cron")
        assert "ошибка" in result and "coop backup init" in result
        texts = [a.text for a in monitoring.alerts(db)]
        assert any("Резервная копия в local не сделана" in t for t in texts)
        (mail,) = server.inbox.messages
        assert "Резервная копия в local не сделана" in mail["message"].get_content()
        # with the key, the next cron run makes the backup without any secret
        backup.init_keys(db, PASSPHRASE)
        (result,) = registry.run(db, "local", actor="cron"),
        assert "сохранена" in result and "coop-" in result
        assert not [a for a in monitoring.alerts(db) if "local" in a.text]
        assert registry.run_due(db, actor="cron") == []   # not due again before tomorrow
        later = utcnow() + timedelta(days=2)
        assert any("Резервная копия в local просрочена" in a.text for a in monitoring.alerts(db, now=later))
    finally:
        server.stop()
