"""Encrypted, versioned backups: snapshot → tar → zstd → age → one object in a backup storage, and back.

A backup is one object `coop-<YYYYMMDD-HHMMSS>.tar.zst.age`: a tar (zstd-compressed, age-encrypted to an
X25519 recipient) of
- `coop.duckdb`   a consistent snapshot of the database (a copy of the file after a CHECKPOINT, see snapshot()),
- `originals/…`   the kept original files (statements, signed reports, receipts), as stored beside the database,
- `vault.key`     the vault's master key (without it the encrypted member fields and secrets cannot be read),
- `manifest.json` (last) the SHA-256 and size of every other part, app and schema version, the audit chain's head.

The age identity (private key) exists only encrypted with the backup passphrase (age scrypt): in the vault and
as `backup-identity.age` beside the backups. Writing a backup needs only the public recipient, so the scheduled
job holds no secret; reading one needs the storage and the passphrase. Everything is streamed through OS
pipes (tar + zstd in a thread → age in a child process, since pyrage holds the GIL while it encrypts → upload
in the caller's thread, hashing as it goes), so memory stays bounded.

The storage is any `integrations.base.BackupStorage` (duck-typed here: put/download/list/delete).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import duckdb
import pyrage
import zstandard

from .db import Database, utcnow
from .errors import LedgerError

FORMAT = "coop-backup/1"
NAME_RE = re.compile(r"^coop-(\d{8}-\d{6})\.tar\.zst\.age$")
IDENTITY_OBJECT = "backup-identity.age"
VAULT_IDENTITY = "backup/identity.age"
VAULT_RECIPIENT = "backup/recipient"
PASSPHRASE_ENV = "COOP_BACKUP_PASSPHRASE"
MIN_PASSPHRASE = 10
CHUNK = 1 << 20
# The database file is compressed by DuckDB already: zstd's fastest regular level (-1, `zstd --fast=1`) makes it as
# small as level 1 does (94.4 % against 93.8 % of the file in bench_backup) for half the CPU.
ZSTD_LEVEL = -1
DB_PART, KEY_PART, MANIFEST_PART, ORIGINALS = "coop.duckdb", "vault.key", "manifest.json", "originals"
KEPT_FOLDERS = ("originals", "reports", "receipts")   # beside the database: kept original files
RETENTION = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")

Progress = Callable[[int, str], None]   # (bytes done so far, what is happening)


class BackupError(LedgerError):
    """A backup could not be made, verified or restored; the message is Russian and says why."""


# -- keys -----------------------------------------------------------------------------------------

def is_initialised(db: Database) -> bool:
    from .vault import Vault

    return Vault(db).get(VAULT_RECIPIENT) is not None


def init_keys(db: Database, passphrase: str, actor: str | None = None) -> str:
    """Create the backup key pair once; the identity is kept only encrypted with the passphrase."""
    from . import audit
    from .vault import Vault

    if len(passphrase or "") < MIN_PASSPHRASE:
        raise BackupError(f"Парольная фраза слишком короткая: нужно не меньше {MIN_PASSPHRASE} символов")
    vault = Vault(db)
    if vault.get(VAULT_RECIPIENT):
        raise BackupError("Ключ резервных копий уже создан; прежние копии открываются прежней парольной фразой")
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    sealed = pyrage.passphrase.encrypt(str(identity).encode("ascii") + b"\n", passphrase)
    vault.put(VAULT_IDENTITY, sealed, actor=actor)
    vault.put(VAULT_RECIPIENT, recipient, actor=actor)
    audit.record(db, actor, "backup_key_created", recipient)
    return recipient


def recipient(db: Database) -> str:
    from .vault import Vault

    value = Vault(db).get(VAULT_RECIPIENT)
    if not value:
        raise BackupError("Ключ резервных копий не создан: выполните coop backup init (парольная фраза — на stdin)")
    return value


def sealed_identity(db: Database) -> bytes | None:
    from .vault import Vault

    return Vault(db).get_bytes(VAULT_IDENTITY)


# age's scrypt costs what its work factor says: rage picks it at encryption so that it takes about a second on
# the machine as it is then (log2 N 15-20 seen on the 2-vCPU test machine, loaded or quiet: 32 MB-1 GB). It runs in a short-lived child process, so that memory is the child's and is given
# back before the backup streams; the streaming process stays small. Protocol: stdin = passphrase line + sealed
# file; stdout = the identity; exit 2 = not decrypted (stderr: pyrage's reason).
_UNLOCK = ("import sys, pyrage\n"
           "phrase, _, sealed = sys.stdin.buffer.read().partition(b'\\n')\n"
           "try:\n"
           "    sys.stdout.buffer.write(pyrage.passphrase.decrypt(sealed, phrase.decode('utf-8')))\n"
           "except pyrage.DecryptError as exc:\n"
           "    sys.stderr.write(str(exc))\n"
           "    sys.exit(2)\n")


def _not_decrypted(sealed: bytes, reason: str) -> BackupError:
    """rage refuses a work factor far above what this machine computes in about a second right now ("Excessive
    work parameter"): that is not a wrong passphrase, and saying so would mislead."""
    if "xcessive work" not in reason:
        return BackupError("Неверная парольная фраза резервных копий")
    found = re.search(rb"-> scrypt \S+ (\d+)", sealed)
    factor = f" (log2 N = {found.group(1).decode()})" if found else ""
    return BackupError(f"Ключ резервных копий защищён рабочим фактором scrypt{factor}, который эта машина сейчас "
                       f"считала бы слишком долго; повторите, когда она менее загружена, или откройте ключ "
                       f"программой age на другой машине (см. README, «Без программы»)")


def _scrypt_decrypt(sealed: bytes, passphrase: str) -> bytes:
    """pyrage.passphrase.decrypt in a child process (see _UNLOCK); in this process where there is no Python binary."""
    import subprocess
    import sys

    if not sys.executable:
        try:
            return pyrage.passphrase.decrypt(sealed, passphrase)
        except pyrage.DecryptError as exc:
            raise _not_decrypted(sealed, str(exc)) from None
    done = subprocess.run([sys.executable, "-c", _UNLOCK], input=passphrase.encode("utf-8") + b"\n" + sealed,
                          capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode == 2:
        raise _not_decrypted(sealed, done.stderr.decode("utf-8", "replace"))
    if done.returncode != 0:
        raise BackupError(f"Не удалось открыть ключ резервных копий (код {done.returncode})")
    return done.stdout


def unlock(sealed: bytes, passphrase: str | None) -> pyrage.x25519.Identity:
    """The identity from its passphrase-encrypted form; a Russian error for a wrong passphrase."""
    if not passphrase:
        raise BackupError(f"Нужна парольная фраза резервных копий (stdin или переменная {PASSPHRASE_ENV})")
    if "\n" in passphrase:
        raise BackupError("Парольная фраза резервных копий — одна строка")
    try:
        text = _scrypt_decrypt(sealed, passphrase).decode("ascii")
    except UnicodeDecodeError:
        raise BackupError(f"Файл {IDENTITY_OBJECT} не содержит ключа age") from None
    lines = [line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-")]
    if not lines:
        raise BackupError(f"Файл {IDENTITY_OBJECT} не содержит ключа age")
    return pyrage.x25519.Identity.from_str(lines[0])


def env_passphrase() -> str | None:
    return os.environ.get(PASSPHRASE_ENV) or None


# -- what each stage costs -----------------------------------------------------------------------

@dataclass
class Stage:
    """One stage of a run: wall seconds, CPU seconds of this process (all its threads) and of the child processes
    it waited for (encryption, the scrypt unlock), bytes, peak memory of this process."""
    name: str
    seconds: float = 0.0
    cpu: float = 0.0
    nbytes: int | None = None
    peak_mb: int | None = None

    def summary(self) -> str:
        rate = f", {self.nbytes / 1e6 / self.seconds:.0f} МБ/с" if self.nbytes and self.seconds > 0 else ""
        return f"{self.name}: {self.seconds:.1f} с{rate}".replace(".", ",")


class Meter:
    """Measures the stages of a backup, verify or restore (the CLI prints them; benchmarks read them).

    Peak memory per stage is the process's VmHWM, reset at the start of each stage (Linux /proc; elsewhere None).
    """

    def __init__(self) -> None:
        self.stages: list[Stage] = []

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        import time

        _reset_peak()
        record = Stage(name)
        wall, cpu = time.perf_counter(), time.process_time() + _children_cpu()
        try:
            yield record
        finally:
            record.seconds = time.perf_counter() - wall
            record.cpu = time.process_time() + _children_cpu() - cpu
            record.peak_mb = _peak_mb()
            self.stages.append(record)

    def summary(self) -> str:
        return "; ".join(s.summary() for s in self.stages)


def _children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _reset_peak() -> None:
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def _peak_mb() -> int | None:
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    return None


# -- threads joined by pipes ----------------------------------------------------------------------

class _Produced:
    """A readable pipe fed by `produce(writer)` in a thread; close() joins it and re-raises its error."""

    def __init__(self, produce: Callable[[BinaryIO], Any], name: str):
        r, w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):   # 1 MB pipe: fewer wake-ups between the threads
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
        self.reader = os.fdopen(r, "rb", buffering=CHUNK)
        self._writer = os.fdopen(w, "wb", buffering=CHUNK)
        self.error: BaseException | None = None
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _run(self, produce) -> None:
        try:
            self.result = produce(self._writer)
        except BaseException as exc:  # handed to the consumer in close()
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                self._writer.close()

    def close(self) -> Any:
        self.reader.close()   # a producer still writing gets a broken pipe and stops
        self._thread.join()
        if self.error is not None and not isinstance(self.error, (BrokenPipeError, ValueError)):
            raise self.error
        return self.result


class _Hashing(io.RawIOBase):
    """Wraps a reader, counting and hashing (SHA-256) what passes; with `digest` (a storage's checksum, see
    integrations.base.Digest) also that checksum, computed on the same pass."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None] | None = None, digest=None):
        self.raw, self.sha, self.size, self.progress = raw, hashlib.sha256(), 0, progress
        self.digest = digest() if digest is not None else None

    def digest_hex(self) -> str | None:
        return self.digest.hexdigest() if self.digest is not None else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.sha.update(memoryview(buffer)[:n])
        if self.digest is not None:
            self.digest.update(memoryview(buffer)[:n])
        self.size += n
        if self.progress and n:
            self.progress(n)
        return n

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        if self.digest is not None:
            self.digest.update(data)
        self.size += len(data)
        if self.progress and data:
            self.progress(len(data))
        return data


# -- the archive ----------------------------------------------------------------------------------

def app_version() -> str:
    try:
        return metadata.version("coop-ledger")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def audit_head(con) -> dict | None:
    """The audit chain's head in a database connection (the snapshot's, or a restored file's).

    Uses the ledger's own head (ledger.audit, engineer B's chain_head/_head_of) when it is there; until then
    the newest chained entry's id and hash."""
    from . import audit

    head_of = getattr(audit, "_head_of", None)
    if head_of is not None:
        return head_of(con)
    row = con.execute("SELECT id, hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    return {"id": row[0], "hash": row[1]} if row else None


def snapshot(db: Database, target: Path) -> dict:
    """A consistent copy of the live database, and what the manifest says of it.

    A checkpointed copy: while this process holds the file (other processes wait, as for any write), the WAL
    is checkpointed into the file and the file is copied (copy_file_range: disk speed, no DuckDB memory).
    Automatic checkpoints are held off during the copy, so a commit by another thread of this process goes to
    the WAL, which is not copied: the copy is the database as of the checkpoint.
    """
    with db.connect() as con:
        threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
        con.execute("SET checkpoint_threshold = '1000 GiB'")
        try:
            con.execute("CHECKPOINT")
            shutil.copyfile(db.path, target)
        finally:
            con.execute(f"SET checkpoint_threshold = '{_sql_text(threshold)}'")
    copy = duckdb.connect(str(target), read_only=True)
    try:
        head = audit_head(copy)
        schema = [r[0] for r in copy.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
    finally:
        copy.close()
    return {"audit_head": head, "schema_version": max(schema) if schema else None, "schema_versions": schema}


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def kept_files(db: Database) -> list[tuple[str, Path]]:
    """(name in the archive, file) of every kept original beside the database."""
    out = []
    for folder in KEPT_FOLDERS:
        root = db.path.parent / folder
        if root.is_dir():
            out += [(f"{folder}/{p.relative_to(root).as_posix()}", p) for p in sorted(root.rglob("*"))
                    if p.is_file() and not p.name.startswith(".")]
    return out


@contextlib.contextmanager
def prepared(db: Database, progress: Progress | None = None) -> Iterator[tuple[list[tuple[str, Path]], dict]]:
    """The parts of a backup on disk for as long as the block runs: (archive name, file) of each, and what the
    manifest says of the snapshot. The snapshot is taken here, before anything streams."""
    from .vault import encode_key, master_key

    with tempfile.TemporaryDirectory(prefix=".coop-backup-", dir=db.path.parent) as tmp:
        snap = Path(tmp) / DB_PART
        if progress:
            progress(0, "снимок базы")
        info = snapshot(db, snap)
        key_file = Path(tmp) / KEY_PART
        key_file.write_text(encode_key(master_key(db).key) + "\n", "ascii")
        yield [(DB_PART, snap), (KEY_PART, key_file)] + kept_files(db), info


def write_archive(db: Database, out: BinaryIO, recipient_text: str, progress: Progress | None = None,
                  parts: tuple[list[tuple[str, Path]], dict] | None = None) -> dict:
    """Snapshot (unless `parts` from prepared() are given), pack, compress and encrypt into `out`; returns the
    manifest."""
    try:
        recipient_key = pyrage.x25519.Recipient.from_str(recipient_text)
    except Exception:
        raise BackupError("Открытый ключ резервных копий повреждён; создайте ключ заново (coop backup init)") from None
    if parts is None:
        with prepared(db, progress) as parts:
            return write_archive(db, out, recipient_text, progress, parts)
    parts, info = parts
    manifest = {"format": FORMAT, "created_at": utcnow().isoformat(timespec="seconds") + "Z",
                "app_version": app_version(), **info, "parts": []}
    done = [0]

    def count(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], "упаковка и шифрование")

    def pack(writer: BinaryIO) -> None:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)   # one thread: the pipeline has its own
        # "w" (not the "w|" stream mode): tarfile's stream buffer re-copies itself on every small write
        with compressor.stream_writer(writer, write_size=CHUNK, closefd=False) as z, \
                tarfile.open(fileobj=z, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
            for arcname, path in parts:
                with open(path, "rb") as fh:
                    hashing = _Hashing(fh, count)
                    tar.addfile(_member(arcname, path.stat().st_size), hashing)
                manifest["parts"].append({"path": arcname, "size": hashing.size,
                                          "sha256": hashing.sha.hexdigest()})
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            tar.addfile(_member(MANIFEST_PART, len(body)), io.BytesIO(body))

    if _fileno(out) is not None and sys.executable:
        _encrypt_apart(pack, out, recipient_text)
        return manifest
    packed = _Produced(pack, "backup-pack")
    try:
        pyrage.encrypt_io(packed.reader, out, [recipient_key])
    finally:
        packed.close()
    return manifest


# pyrage holds the GIL while it encrypts; in a child process the encryption runs beside this process's threads
# (packing, hashing, TLS) instead of taking turns with them. stdin: tar.zst; stdout: the age file.
_ENCRYPT = ("import sys, pyrage\n"
            "pyrage.encrypt_io(sys.stdin.buffer, sys.stdout.buffer, [pyrage.x25519.Recipient.from_str(sys.argv[1])])\n"
            "sys.stdout.buffer.flush()\n")


def _fileno(out) -> int | None:
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _encrypt_apart(pack: Callable[[BinaryIO], None], out: BinaryIO, recipient_text: str) -> None:
    """Pack in this thread into a child that encrypts straight into `out` (a file or pipe)."""
    import subprocess

    out.flush()
    child = subprocess.Popen([sys.executable, "-c", _ENCRYPT, recipient_text], stdin=subprocess.PIPE,
                             stdout=_fileno(out), stderr=subprocess.PIPE, bufsize=CHUNK)
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(child.stdin.fileno(), fcntl.F_SETPIPE_SZ, CHUNK)
    try:
        pack(child.stdin)
        child.stdin.close()
    except BaseException:
        child.kill()
        child.wait()
        raise
    error = child.stderr.read()
    if child.wait() != 0:
        raise BackupError(f"Шифрование копии не удалось: {error.decode('utf-8', 'replace').strip()[-300:]}")


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(utcnow().timestamp())
    return info


def read_archive(source: BinaryIO, identity, dest: Path, progress: Progress | None = None) -> dict:
    """Decrypt, decompress and unpack into dest, checking every part against the manifest; returns it."""
    dest.mkdir(parents=True, exist_ok=True)
    seen: dict[str, tuple[int, str]] = {}
    manifest = None
    done = [0]

    def decrypt(writer: BinaryIO) -> None:
        pyrage.decrypt_io(source, writer, [identity])

    plain = _Produced(decrypt, "backup-decrypt")
    try:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(plain.reader, closefd=False)
            with tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK) as tar:
                for member in tar:
                    name = member.name
                    if manifest is not None:
                        raise BackupError(f"После manifest.json в копии есть ещё часть «{name}»")
                    if not member.isfile() or not _safe_part(name):
                        raise BackupError(f"В копии посторонняя часть «{name}»")
                    fh = tar.extractfile(member)
                    if name == MANIFEST_PART:
                        manifest = _parse_manifest(fh.read(CHUNK))
                        continue
                    target = dest.joinpath(*name.split("/"))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    sha, size = hashlib.sha256(), 0
                    with open(target, "wb") as out:
                        while chunk := fh.read(CHUNK):
                            sha.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                            done[0] += len(chunk)
                            if progress:
                                progress(done[0], "распаковка")
                    seen[name] = (size, sha.hexdigest())
            while plain.reader.read(CHUNK):   # to the end: age authenticates the final chunk (truncation)
                pass
        except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
            raise BackupError(f"Копия повреждена или обрезана ({type(exc).__name__})") from None
    except BaseException:
        with contextlib.suppress(BaseException):
            plain.close()
        if isinstance(plain.error, pyrage.DecryptError):
            raise BackupError("Копия повреждена, обрезана или зашифрована другим ключом: расшифровка не удалась") \
                from None
        raise
    try:
        plain.close()
    except pyrage.DecryptError:
        raise BackupError("Копия повреждена, обрезана или зашифрована другим ключом: расшифровка не удалась") from None
    if manifest is None:
        raise BackupError("В копии нет manifest.json: копия обрезана или не наша")
    listed = {p["path"]: (p["size"], p["sha256"]) for p in manifest["parts"]}
    if listed != seen:
        bad = sorted(n for n in set(listed) | set(seen) if listed.get(n) != seen.get(n))
        raise BackupError(f"Части копии не совпадают с manifest.json: {', '.join(bad[:10])}")
    return manifest


def _safe_part(name: str) -> bool:
    parts = name.split("/")
    if name in (DB_PART, KEY_PART, MANIFEST_PART):
        return True
    return len(parts) >= 2 and parts[0] in KEPT_FOLDERS and all(p not in ("", ".", "..") for p in parts) \
        and "\\" not in name


def _parse_manifest(data: bytes) -> dict:
    try:
        manifest = json.loads(data.decode("utf-8"))
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("parts"), list):
            raise ValueError
        for p in manifest["parts"]:
            if not (isinstance(p.get("path"), str) and isinstance(p.get("size"), int) and isinstance(p.get("sha256"), str)):
                raise ValueError
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise BackupError("manifest.json в копии не читается: формат не coop-backup/1") from None
    return manifest


def check_database(path: Path, manifest: dict) -> None:
    """Open the restored database read-only and compare its audit head with the manifest's."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise BackupError(f"База из копии не открывается: {exc}") from None
    try:
        head = audit_head(con)
    except duckdb.Error as exc:
        raise BackupError(f"База из копии не читается: {exc}") from None
    finally:
        con.close()
    if head != manifest.get("audit_head"):
        raise BackupError("Журнал действий в базе из копии не совпадает с manifest.json")


# -- names and retention --------------------------------------------------------------------------

def object_name(when: datetime) -> str:
    return f"coop-{when:%Y%m%d-%H%M%S}.tar.zst.age"


def taken_at(name: str) -> datetime | None:
    m = NAME_RE.match(name)
    return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S") if m else None


def to_keep(times: list[datetime], policy: dict[str, int | None]) -> set[datetime]:
    """restic `forget` semantics: keep the newest N, and the newest of each of the last N days/weeks/…"""
    ordered = sorted(set(times), reverse=True)
    if not any(policy.get(k) for k in RETENTION):
        return set(ordered)     # no policy: keep everything
    keep = set(ordered[: policy.get("keep_last") or 0])
    buckets = {"keep_daily": lambda t: (t.year, t.month, t.day), "keep_weekly": lambda t: t.isocalendar()[:2],
               "keep_monthly": lambda t: (t.year, t.month), "keep_yearly": lambda t: t.year}
    for rule, bucket in buckets.items():
        left, last = policy.get(rule) or 0, None
        for t in ordered:
            if left <= 0:
                break
            b = bucket(t)
            if b != last:
                keep.add(t)
                last = b
                left -= 1
    return keep


# -- runs against a storage -----------------------------------------------------------------------

@dataclass
class Version:
    name: str
    taken_at: datetime
    size: int
    verified_at: datetime | None
    verify_error: str | None


def versions(db: Database, storage) -> list[Version]:
    """Backups the storage holds, newest first, with what this database knows of their verification."""
    known = {r["name"]: r for r in db.records("SELECT name, verified_at, verify_error FROM backups WHERE storage = ?",
                                              [storage.name])}
    out = []
    for name, size in storage.list("coop-"):
        when = taken_at(name)
        if when is None:
            continue
        k = known.get(name, {})
        out.append(Version(name, when, size, k.get("verified_at"), k.get("verify_error")))
    return sorted(out, key=lambda v: v.taken_at, reverse=True)


@contextlib.contextmanager
def _one_at_a_time(db: Database) -> Iterator[None]:
    lock_path = db.path.parent / ".coop-backup.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError("Резервное копирование уже идёт; дождитесь его окончания") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ensure_identity_object(db: Database, storage) -> None:
    """`backup-identity.age` beside the backups, so a fresh installation needs only storage and passphrase."""
    sealed = sealed_identity(db)
    if sealed is None:
        return
    if not any(n == IDENTITY_OBJECT for n, _ in storage.list(IDENTITY_OBJECT)) or storage.get(IDENTITY_OBJECT) != sealed:
        storage.put(IDENTITY_OBJECT, sealed)


def run(db: Database, storage, actor: str | None = None, progress: Progress | None = None,
        passphrase: str | None = None, meter: Meter | None = None) -> str:
    """Make a backup to the storage, check it, then apply the retention policy; returns the object name.

    The check: with the passphrase, the full verify(); without it, the checksum the storage reports of what
    it stored (storage.stored_digest) against the one computed while sending, or, where the storage reports
    none (WebDAV, a folder), the object read back and hashed."""
    meter = meter or Meter()
    started = utcnow()
    with db.transaction() as con:
        run_id = con.execute("INSERT INTO backup_runs (storage, started_at, actor) VALUES (?, ?, ?) RETURNING id",
                             [storage.name, started, actor]).fetchone()[0]
    name = None
    try:
        recipient_text = recipient(db)
        with _one_at_a_time(db):
            _ensure_identity_object(db, storage)
            name = object_name(started)
            sent = [0]

            def count(n: int) -> None:   # reported from this thread (UI progress bars need the caller's thread)
                sent[0] += n
                if progress:
                    progress(sent[0], "сжатие, шифрование и отправка")

            with contextlib.ExitStack() as stack:
                with meter.stage("снимок") as stage:
                    parts = stack.enter_context(prepared(db, progress))
                    stage.nbytes = parts[0][0][1].stat().st_size
                with meter.stage("сжатие, шифрование и отправка") as stage:
                    archive = _Produced(lambda w: write_archive(db, w, recipient_text, parts=parts), "backup-archive")
                    try:
                        counted = _Hashing(archive.reader, count, digest=getattr(storage, "digest", None))
                        size = storage.put(name, counted)
                    except BaseException:
                        with contextlib.suppress(BaseException):
                            archive.close()
                        raise
                    manifest = archive.close()
                    stage.nbytes = size
            sha = counted.sha.hexdigest()
            with db.transaction() as con:
                con.execute("INSERT OR REPLACE INTO backups (storage, name, created_at, size, sha256, manifest) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            [storage.name, name, started, size, sha, json.dumps(manifest, ensure_ascii=False)])
            phrase = passphrase or env_passphrase()
            with meter.stage("проверка") as stage:
                stage.nbytes = size
                if phrase:
                    verify(db, storage, name, phrase, progress)
                else:
                    _check_uploaded(storage, name, sha, counted.digest_hex(), progress)
            forget(db, storage, actor)
    except Exception as exc:
        with db.transaction() as con:
            con.execute("UPDATE backup_runs SET finished_at = ?, ok = false, name = ?, error = ? WHERE id = ?",
                        [utcnow(), name, str(exc)[:500], run_id])
        raise
    with db.transaction() as con:
        con.execute("UPDATE backup_runs SET finished_at = ?, ok = true, name = ? WHERE id = ?", [utcnow(), name, run_id])
    return name


def _check_uploaded(storage, name: str, sha256: str, digest: str | None, progress: Progress | None) -> None:
    """Without the passphrase: the checksum the storage reports of the stored object against the one computed
    while sending; where the storage has none, read the object back and compare its SHA-256 with what was sent."""
    reported = storage.stored_digest(name) if digest is not None else None
    if reported is not None:
        if reported.lower() != digest.lower():
            raise BackupError(f"Копия {name} в хранилище {storage.name} отличается от отправленной "
                              f"(контрольная сумма хранилища не совпала)")
        return

    class _Sink(io.RawIOBase):
        def __init__(self):
            self.sha, self.n = hashlib.sha256(), 0

        def writable(self):
            return True

        def write(self, b):
            self.sha.update(b)
            self.n += len(b)
            if progress:
                progress(self.n, "проверка загруженной копии")
            return len(b)
    sink = _Sink()
    storage.download(name, sink)
    if sink.sha.hexdigest() != sha256:
        raise BackupError(f"Копия {name} в хранилище {storage.name} отличается от отправленной")


def _identity_for(db: Database, storage, passphrase: str | None):
    sealed = sealed_identity(db)
    if sealed is None:   # a fresh installation: the identity beside the backups
        if not any(n == IDENTITY_OBJECT for n, _ in storage.list(IDENTITY_OBJECT)):
            raise BackupError(f"В хранилище {storage.name} нет {IDENTITY_OBJECT}: это не папка резервных копий coop")
        sealed = storage.get(IDENTITY_OBJECT)
    return unlock(sealed, passphrase or env_passphrase())


def _fetch_and_unpack(db: Database | None, storage, name: str, identity, dest: Path,
                      progress: Progress | None, meter: Meter | None = None) -> dict:
    meter = meter or Meter()
    if taken_at(name) is None:
        raise BackupError(f"«{name}» — не имя резервной копии (ожидается coop-ГГГГММДД-ЧЧММСС.tar.zst.age)")
    if not any(n == name for n, _ in storage.list(name)):
        raise BackupError(f"В хранилище {storage.name} нет копии {name}")
    with meter.stage("загрузка, расшифровка и распаковка") as stage:
        downloaded = _Produced(lambda w: storage.download(name, w), "backup-download")
        try:
            manifest = read_archive(downloaded.reader, identity, dest, progress)
        except BaseException:
            with contextlib.suppress(BaseException):
                downloaded.close()
            if downloaded.error is not None and not isinstance(downloaded.error, (BrokenPipeError, ValueError)):
                raise downloaded.error from None
            raise
        stage.nbytes = downloaded.close()
    with meter.stage("проверка базы"):
        check_database(dest / DB_PART, manifest)
    return manifest


def verify(db: Database, storage, name: str | None = None, passphrase: str | None = None,
           progress: Progress | None = None, meter: Meter | None = None) -> str:
    """Download, decrypt, check every hash and open the database read-only; records the result."""
    if name is None:
        found = versions(db, storage)
        if not found:
            raise BackupError(f"В хранилище {storage.name} нет резервных копий")
        name = found[0].name
    meter = meter or Meter()
    with meter.stage("открытие ключа"):
        identity = _identity_for(db, storage, passphrase)
    try:
        with tempfile.TemporaryDirectory(prefix=".coop-verify-", dir=db.path.parent) as tmp:
            _fetch_and_unpack(db, storage, name, identity, Path(tmp), progress, meter)
    except BackupError as exc:
        _record_verify(db, storage, name, str(exc))
        raise
    _record_verify(db, storage, name, None)
    return name


def _record_verify(db: Database, storage, name: str, error: str | None) -> None:
    when = taken_at(name)
    if when is None:
        return
    with db.transaction() as con:
        con.execute("INSERT INTO backups (storage, name, created_at, size, sha256) VALUES (?, ?, ?, 0, '') "
                    "ON CONFLICT DO NOTHING", [storage.name, name, when])
        if error is None:
            con.execute("UPDATE backups SET verified_at = ?, verify_error = NULL WHERE storage = ? AND name = ?",
                        [utcnow(), storage.name, name])
        else:
            con.execute("UPDATE backups SET verify_error = ? WHERE storage = ? AND name = ?",
                        [error[:500], storage.name, name])


def restore(storage, name: str, target: Path, passphrase: str | None, *, db: Database | None = None,
            overwrite: bool = False, progress: Progress | None = None, meter: Meter | None = None) -> dict:
    """Write the backup's database to `target` (a new file), its originals and master key beside it.

    `db` is the installation's database, if there is one (its vault may hold the identity); a fresh
    installation needs only the storage and the passphrase. An existing target is replaced only with
    `overwrite`, and then kept as <target>.before-restore-<time>.
    """
    target = Path(target).resolve()
    if target.exists() and not overwrite:
        raise BackupError(f"Файл {target} уже существует; выберите другой путь или подтвердите замену (--force)")
    meter = meter or Meter()
    with meter.stage("открытие ключа"):
        identity = _identity_for(db, storage, passphrase) if db is not None and db.path.exists() else \
            unlock(_identity_object(storage), passphrase or env_passphrase())
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".coop-restore-", dir=target.parent) as tmp:
        unpacked = Path(tmp)
        manifest = _fetch_and_unpack(db, storage, name, identity, unpacked, progress, meter)
        key_text = (unpacked / KEY_PART).read_text("ascii").strip()
        key_path = target.parent / "vault.key"
        if key_path.exists() and key_path.read_text("ascii").strip() != key_text and not overwrite:
            raise BackupError(f"Рядом с {target.name} уже лежит другой vault.key; восстановите в пустую папку "
                              f"или подтвердите замену (--force)")
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        if db is not None and target == db.path.resolve():
            db.release()
        for existing in (target, key_path):
            if existing.exists() and overwrite and (existing != key_path or
                                                   existing.read_text("ascii").strip() != key_text):
                existing.rename(existing.with_name(f"{existing.name}.before-restore-{stamp}"))
        wal = target.with_name(target.name + ".wal")
        if wal.exists():
            wal.rename(wal.with_name(f"{wal.name}.before-restore-{stamp}"))
        os.replace(unpacked / DB_PART, target)
        if not key_path.exists():
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key_text + "\n")
        for folder in KEPT_FOLDERS:
            src = unpacked / folder
            if src.is_dir():
                for path in src.rglob("*"):
                    if path.is_file():
                        dst = target.parent / folder / path.relative_to(src)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        if not dst.exists():
                            shutil.move(str(path), dst)
    with meter.stage("проверка цепочки аудита"):
        _seal_restored_audit(target, manifest)
    return manifest


def _seal_restored_audit(target: Path, manifest: dict) -> None:
    """The restored ledger gets its audit head file (ledger/audit.py) once its chain checks out against the head
    the manifest recorded; a chain that does not is reported and no head file is written."""
    from . import audit

    restored = Database(target)
    try:
        with restored.connect() as con:
            if con.execute("SELECT count(*) FROM audit_log").fetchone()[0]:
                audit.seal_head(con)
        verdict = audit.verify(restored, head=manifest.get("audit_head"))
    finally:
        restored.release()
    if not verdict.ok:
        audit.head_path(target).unlink(missing_ok=True)
        raise BackupError(f"База восстановлена в {target}, но {verdict.message()}")


def _identity_object(storage) -> bytes:
    if not any(n == IDENTITY_OBJECT for n, _ in storage.list(IDENTITY_OBJECT)):
        raise BackupError(f"В хранилище {storage.name} нет {IDENTITY_OBJECT}: это не папка резервных копий coop")
    return storage.get(IDENTITY_OBJECT)


def retention_policy(storage) -> dict[str, int | None]:
    return {k: storage.settings.get(k, storage.field(k).default) for k in RETENTION}


def forget(db: Database, storage, actor: str | None = None, dry_run: bool = False) -> list[str]:
    """Remove the backups the retention policy does not keep; returns their names."""
    from . import audit

    found = versions(db, storage)
    keep = to_keep([v.taken_at for v in found], retention_policy(storage))
    gone = [v.name for v in found if v.taken_at not in keep]
    if dry_run:
        return gone
    for name in gone:
        storage.delete(name)
        with db.transaction() as con:
            con.execute("UPDATE backups SET forgotten_at = ? WHERE storage = ? AND name = ?",
                        [utcnow(), storage.name, name])
            audit.log(con, actor, "backup_forgotten", name, storage=storage.name)
    return gone


def last_runs(db: Database) -> list[dict]:
    """Per storage: the last run, the last successful one (for the admin and monitoring pages)."""
    return db.records("""
        SELECT storage, max(started_at) AS last_started, max(finished_at) FILTER (WHERE ok) AS last_success,
               arg_max(ok, started_at) AS last_ok, arg_max(error, started_at) AS last_error
        FROM backup_runs GROUP BY storage ORDER BY storage""")


def human_size(size: int) -> str:
    for unit, scale in (("ГБ", 1 << 30), ("МБ", 1 << 20), ("КБ", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}".replace(".", ",")
    return f"{size} Б"


def stale_after(interval_minutes: int | None) -> timedelta:
    return timedelta(minutes=(interval_minutes or 1440)) + timedelta(hours=2)
