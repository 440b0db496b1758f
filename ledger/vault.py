"""Credential vault and field-level encryption: AES-256-GCM under a master key kept outside the database.

The master key comes from the environment variable COOP_MASTER_KEY (32 bytes, base64 or 64 hex digits) or
from the key file `vault.key` next to the database (data/vault.key by default; COOP_MASTER_KEY_FILE names
another place). The file is created with mode 0600 on first use and refused when others can read it.

Secrets live in the table vault_secrets, each bound to its name (the name is the GCM associated data, so a
ciphertext copied to another slot does not decrypt). Personal data of members is encrypted per field with
`encrypt_field` into text tokens "v1:<key id>:<base64>"; `blind_index` gives a keyed hash for exact look-ups.
`rotate` re-encrypts everything under a new key in one transaction. Secret values never appear in messages:
errors name the key fingerprint, never the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .db import Database, utcnow
from .errors import LedgerError

ENV_KEY = "COOP_MASTER_KEY"
ENV_NEW_KEY = "COOP_NEW_MASTER_KEY"
ENV_KEY_FILE = "COOP_MASTER_KEY_FILE"
KEY_FILE_NAME = "vault.key"
_FIELD_PREFIX = "v1:"


class VaultError(LedgerError):
    """The master key is missing, malformed or does not open the stored secrets."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes
    source: str  # where it came from, for messages ("COOP_MASTER_KEY" or the file path)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"coop-vault-key-id" + self.key).hexdigest()[:12]

    def subkey(self, purpose: str) -> bytes:
        return _derive(self.key, purpose)

    def aead(self) -> AESGCM:
        return _aead(self.key)


@lru_cache(maxsize=64)
def _derive(key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(key)


@lru_cache(maxsize=16)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(_derive(key, "coop vault aes-256-gcm"))


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def parse_key(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise VaultError(f"Мастер-ключ в {source} имеет неверный формат: нужны 32 байта в base64 или 64 шестнадцатеричные "
                         f"цифры")
    return key


def key_file_path(db: Database | Path) -> Path:
    db_path = db.path if isinstance(db, Database) else Path(db)
    return Path(os.environ.get(ENV_KEY_FILE) or db_path.parent / KEY_FILE_NAME)


def _write_key_file(path: Path, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(encode_key(key) + "\n")


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultError(f"Файл мастер-ключа {path} доступен другим пользователям (права {mode:o}); "
                         f"выполните: chmod 600 {path}")
    return parse_key(path.read_text("ascii", errors="replace"), str(path))


# -- the key check value -------------------------------------------------------------------------------
# A ledger remembers which master key it belongs to: vault_key_check holds an HMAC of a constant under a key
# derived from the master key. It is recorded when the first key is created or first used (a ledger made
# before it existed gets it from the key in force, if that key opens its encrypted data), replaced by
# `rotate`, and compared before any use of the key. So a lost or wrong key is refused before anything is
# written, instead of a new key silently sealing new data next to data nobody can open any more.

_CHECK_INPUT = b"coop-ledger vault key check v1"

# Columns holding field tokens "v1:<key id>:..." (members registers its own), checked with vault_secrets.
_SEALED_COLUMNS: dict[str, tuple[str, ...]] = {}


def register_sealed_columns(table: str, columns: tuple[str, ...]) -> None:
    _SEALED_COLUMNS[table] = columns


_rotating: set[Path] = set()   # key files a rotation of this process is replacing right now


def check_value(key: MasterKey) -> str:
    return hmac.new(key.subkey("coop vault key check"), _CHECK_INPUT, hashlib.sha256).hexdigest()


def _recorded_check(con) -> tuple[str, str] | None:
    rows = con.execute("SELECT key_id, check_value FROM vault_key_check WHERE id = 1").fetchall()
    return rows[0] if rows else None


def _record_check(con, key: MasterKey) -> None:
    con.execute("INSERT OR REPLACE INTO vault_key_check VALUES (1, ?, ?, ?)",
                [key.key_id, check_value(key), utcnow()]).fetchall()


def _sealed_key_ids(con) -> set[str]:
    """Fingerprints of the keys the ledger's encrypted data (secrets and field tokens) was sealed with."""
    from . import members  # noqa: F401  (registers its sealed columns)

    ids = {r[0] for r in con.execute("SELECT DISTINCT key_id FROM vault_secrets").fetchall()}
    for table, columns in _SEALED_COLUMNS.items():
        values = ", ".join(columns)
        ids |= {r[0] for r in con.execute(
            f"SELECT DISTINCT split_part(v, ':', 2) FROM (SELECT unnest([{values}]) AS v FROM {table}) "
            f"WHERE starts_with(v, '{_FIELD_PREFIX}')").fetchall()}
    return ids


def _holds_keyed_data(con) -> bool:
    return _recorded_check(con) is not None or bool(_sealed_key_ids(con))


def _does_not_fit(path: Path, key: MasterKey | None, detail: str) -> VaultError:
    where = f" (ключ задан переменной {ENV_KEY}: задайте прежний ключ)" if key and key.source == ENV_KEY else ""
    return VaultError(f"ключ шифрования не подходит к базе: восстановите {path} из копии{where}. {detail}")


def _confirm(con, key: MasterKey, path: Path) -> None:
    """Refuse a key that is not the ledger's; record the check value on first use."""
    recorded = _recorded_check(con)
    if recorded is not None:
        if not hmac.compare_digest(recorded[1], check_value(key)):
            raise _does_not_fit(path, key, f"База зашифрована ключом {recorded[0]}, а дан ключ {key.key_id}; "
                                           f"ничего не изменено")
        return
    ids = _sealed_key_ids(con)
    if ids and ids != {key.key_id}:
        raise _does_not_fit(path, key, f"Данные в базе зашифрованы ключом {', '.join(sorted(ids))}, а дан ключ "
                                       f"{key.key_id}; ничего не изменено")
    _record_check(con, key)


def key_for(con, db_path: Path, create: bool = True) -> MasterKey:
    """The ledger's master key, checked against the ledger (con: an open connection to it); created on first
    use of a ledger that holds nothing encrypted yet."""
    path = key_file_path(db_path)
    env = os.environ.get(ENV_KEY)
    if env:
        key = MasterKey(parse_key(env, ENV_KEY), ENV_KEY)
    else:
        pending = path.with_name(path.name + ".new")
        if pending.exists() and path not in _rotating:
            _finish_rotation(con, path, pending)
        if not path.exists():
            if _holds_keyed_data(con):
                raise _does_not_fit(path, None, f"Файла ключа {path} нет, а в базе есть зашифрованные данные; "
                                                f"новый ключ не создан, ничего не изменено")
            if not create:
                raise VaultError(f"Мастер-ключ не найден: задайте {ENV_KEY} или положите файл ключа в {path}")
            _write_key_file(path, generate_key())
        key = MasterKey(_read_key_file(path), str(path))
    _confirm(con, key, path)
    return key


def master_key(db: Database, create: bool = True) -> MasterKey:
    """The master key from COOP_MASTER_KEY or the key file (created on first use), checked against the ledger."""
    with db.connect() as con:
        return key_for(con, db.path, create)


def check_key(db: Database) -> None:
    """Refuse to go on when the ledger holds encrypted data (or has a recorded key) and the master key is
    missing or is not its key. Creates nothing. Every command and page calls it before anything else."""
    with db.connect() as con:
        if _holds_keyed_data(con):
            key_for(con, db.path, create=False)


def _finish_rotation(con, path: Path, pending: Path) -> None:
    """A rotation that committed but crashed before renaming the new key file: finish it."""
    new = MasterKey(_read_key_file(pending), str(pending))
    recorded = _recorded_check(con)
    if recorded is not None and hmac.compare_digest(recorded[1], check_value(new)):
        os.replace(pending, path)
    else:
        pending.unlink()


def _wrong_key(key: MasterKey, stored_id: str) -> VaultError:
    return VaultError(f"Мастер-ключ из {key.source} не подходит (отпечаток {key.key_id}, а данные зашифрованы ключом "
                      f"{stored_id}); задайте верный {ENV_KEY} или верните прежний файл ключа")


def _seal(key: MasterKey, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(12)
    return nonce, key.aead().encrypt(nonce, plaintext, aad)


def _open(key: MasterKey, stored_id: str, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    if stored_id != key.key_id:
        raise _wrong_key(key, stored_id)
    try:
        return key.aead().decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise VaultError(f"Секрет не расшифровывается ключом {key.key_id}: запись повреждена или изменена") from None


class Vault:
    """Named secrets of one database."""

    def __init__(self, db: Database, key: MasterKey | None = None):
        self.db = db
        self._key = key

    @property
    def key(self) -> MasterKey:
        if self._key is None:
            self._key = master_key(self.db)
        return self._key

    def put(self, name: str, value: str | bytes, actor: str | None = None, con=None) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else value
        nonce, ct = _seal(self.key, data, name.encode())
        sql = ("INSERT INTO vault_secrets VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
               "key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, "
               "updated_at = excluded.updated_at, updated_by = excluded.updated_by")
        params = [name, self.key.key_id, nonce, ct, utcnow(), actor]
        if con is not None:
            con.execute(sql, params)
        else:
            with self.db.transaction() as own:
                own.execute(sql, params)

    def get_bytes(self, name: str) -> bytes | None:
        row = self.db.fetchone("SELECT key_id, nonce, ciphertext FROM vault_secrets WHERE name = ?", [name])
        if row is None:
            return None
        return _open(self.key, row[0], bytes(row[1]), bytes(row[2]), name.encode())

    def get(self, name: str) -> str | None:
        data = self.get_bytes(name)
        return None if data is None else data.decode("utf-8")

    def delete(self, name: str, con=None) -> None:
        if con is not None:
            con.execute("DELETE FROM vault_secrets WHERE name = ?", [name])
        else:
            with self.db.transaction() as own:
                own.execute("DELETE FROM vault_secrets WHERE name = ?", [name])

    def names(self, prefix: str = "") -> list[str]:
        return [r[0] for r in self.db.fetchall("SELECT name FROM vault_secrets WHERE starts_with(name, ?) ORDER BY name",
                                               [prefix])]

    def updated_at(self, name: str):
        return self.db.scalar("SELECT updated_at FROM vault_secrets WHERE name = ?", [name])


# -- field-level encryption of personal data ---------------------------------------------------------

def encrypt_field(key: MasterKey, value: str | None, context: str) -> str | None:
    """A text token for a column; context (e.g. "members.inn") is bound as associated data."""
    if value is None or value == "":
        return value
    nonce, ct = _seal(key, value.encode("utf-8"), context.encode())
    return f"{_FIELD_PREFIX}{key.key_id}:{base64.b64encode(nonce + ct).decode('ascii')}"


def decrypt_field(key: MasterKey, token: str | None, context: str) -> str | None:
    """Plaintext of a token; values stored before encryption (no prefix) pass through unchanged."""
    if not token or not token.startswith(_FIELD_PREFIX):
        return token
    _, key_id, body = token.split(":", 2)
    raw = base64.b64decode(body)
    return _open(key, key_id, raw[:12], raw[12:], context.encode()).decode("utf-8")


def blind_index(key: MasterKey, value: str | None, context: str) -> str | None:
    """Keyed hash of a normalised value for exact-match search without decrypting."""
    if not value:
        return None
    return hmac.new(key.subkey("coop blind index " + context), value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


# Tables with encrypted columns register a re-encryption step here: fn(con, old_key, new_key) -> rows done.
_REENCRYPTORS: dict[str, Callable] = {}


def register_reencryptor(name: str, fn: Callable) -> None:
    _REENCRYPTORS[name] = fn


def rotate(db: Database, actor: str | None = None, new_key: bytes | None = None) -> dict[str, int]:
    """Re-encrypt every secret and encrypted field under a new master key, all in one transaction.

    With a key file, the new key is written to vault.key.new first, the database re-encrypted and committed,
    then the file renamed over vault.key (a crash in between is finished on the next start). With
    COOP_MASTER_KEY the new key must be given in COOP_NEW_MASTER_KEY; the admin then swaps the variables.
    """
    from . import audit, members  # noqa: F401  (members registers its re-encryption of personal data)

    old = master_key(db)
    env = os.environ.get(ENV_KEY)
    if env:
        text = os.environ.get(ENV_NEW_KEY)
        if not text:
            raise VaultError(f"Ключ задан переменной {ENV_KEY}: положите новый ключ в {ENV_NEW_KEY} и повторите")
        new = MasterKey(parse_key(text, ENV_NEW_KEY), ENV_NEW_KEY)
    else:
        new = MasterKey(new_key or generate_key(), str(key_file_path(db)))
    if new.key_id == old.key_id:
        raise VaultError("Новый мастер-ключ совпадает со старым")
    pending = None
    if not env:
        path = key_file_path(db)
        pending = path.with_name(path.name + ".new")
        if pending.exists():
            pending.unlink()
        _write_key_file(pending, new.key)
    done = {"secrets": 0}
    _rotating.add(key_file_path(db))    # the pending key file is this rotation's, not a crashed one's
    try:
        with db.transaction() as con:
            rows = con.execute("SELECT name, key_id, nonce, ciphertext FROM vault_secrets").fetchall()
            for name, key_id, nonce, ct in rows:
                plain = _open(old, key_id, bytes(nonce), bytes(ct), name.encode())
                n2, c2 = _seal(new, plain, name.encode())
                con.execute("UPDATE vault_secrets SET key_id = ?, nonce = ?, ciphertext = ? WHERE name = ?",
                            [new.key_id, n2, c2, name])
            done["secrets"] = len(rows)
            for what, fn in _REENCRYPTORS.items():
                done[what] = fn(con, old, new)
            # logged under the old key, then the whole audit chain (this entry too) re-keyed to the new one
            audit.log(con, actor, "vault_rotated", None, old_key=old.key_id, new_key=new.key_id, **done)
            done["audit"] = audit.rechain(con, old, new)
            _record_check(con, new)
        if pending is not None:
            os.replace(pending, key_file_path(db))
    except BaseException:
        if pending is not None and pending.exists():
            pending.unlink()
        raise
    finally:
        _rotating.discard(key_file_path(db))
    with db.connect() as con:
        audit.seal_head(con, new)
    return done


def mask_secret(value: str | None) -> str:
    """What the UI and CLI show of a secret: whether it is set and its length class, never its characters."""
    if not value:
        return "не задан"
    return "•••••••• (задан)"
