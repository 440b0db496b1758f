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


def key_file_path(db: Database) -> Path:
    return Path(os.environ.get(ENV_KEY_FILE) or db.path.parent / KEY_FILE_NAME)


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


def master_key(db: Database, create: bool = True) -> MasterKey:
    """The master key from COOP_MASTER_KEY or the key file (created on first use)."""
    env = os.environ.get(ENV_KEY)
    if env:
        return MasterKey(parse_key(env, ENV_KEY), ENV_KEY)
    path = key_file_path(db)
    pending = path.with_name(path.name + ".new")
    if pending.exists():
        _finish_rotation(db, path, pending)
    if not path.exists():
        if not create:
            raise VaultError(f"Мастер-ключ не найден: задайте {ENV_KEY} или положите файл ключа в {path}")
        if _stored_key_ids(db):
            raise VaultError(f"Файл мастер-ключа {path} пропал, а в базе есть зашифрованные данные: верните файл "
                             f"ключа (или задайте {ENV_KEY}); без него данные не расшифровать")
        _write_key_file(path, generate_key())
    return MasterKey(_read_key_file(path), str(path))


def _finish_rotation(db: Database, path: Path, pending: Path) -> None:
    """A rotation that committed but crashed before renaming the new key file: finish it."""
    new = MasterKey(_read_key_file(pending), str(pending))
    ids = _stored_key_ids(db)
    if ids and ids <= {new.key_id}:
        os.replace(pending, path)
    else:
        pending.unlink()


def _stored_key_ids(db: Database) -> set[str]:
    return {r[0] for r in db.fetchall("SELECT DISTINCT key_id FROM vault_secrets")}


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
            audit.log(con, actor, "vault_rotated", None, old_key=old.key_id, new_key=new.key_id, **done)
    except BaseException:
        if pending is not None and pending.exists():
            pending.unlink()
        raise
    if pending is not None:
        os.replace(pending, key_file_path(db))
    return done


def mask_secret(value: str | None) -> str:
    """What the UI and CLI show of a secret: whether it is set and its length class, never its characters."""
    if not value:
        return "не задан"
    return "•••••••• (задан)"
