"""The five kinds of integration, their settings schema and the audited-call helper every integration uses.

An integration is a class that declares `kind`, `name`, `title`, `fields` (its settings; which are secret)
and `requires` (optional Python modules it needs). It is built with its parsed settings and a Context
(database, vault, actor) and implements the abstract methods of its kind. Built-ins and third-party
plug-ins are found the same way: the entry-point group `coop.integrations` (see integrations/registry.py).
"""

from __future__ import annotations

import abc
import io
import importlib.util
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO, Callable, ClassVar, Iterator

from ledger import audit
from ledger.db import Database
from ledger.errors import LedgerError
from ledger.vault import Vault

KINDS = {
    "bank": "Банк",
    "channel": "Канал уведомлений",
    "signer": "Электронная подпись",
    "transport": "Отправка отчётности",
    "backup": "Резервные копии",
    "task": "Регламентная проверка",
}

# Names reserved for the CLI and settings, now and for the integrations to come (only working ones register).
PLANNED = {
    "bank": ["statement_folder", "open_banking", "tbank", "sber", "soap_bank"],
    "channel": ["smtp", "smsru", "smsc", "telegram", "max"],
    "signer": ["cms", "gost", "cryptopro"],
    "transport": ["file_drop", "kontur"],
    "backup": ["local", "webdav", "yandex_disk", "google_drive", "dropbox", "s3"],
    "task": ["retention"],
}


class IntegrationError(LedgerError):
    """An integration failed: its message is Russian, names the integration, and never holds a secret."""


# -- settings schema ------------------------------------------------------------------------------

# Folders an integration may never read statements from or write files into.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/bin", "/sbin", "/lib", "/lib64", "/usr",
                  "/var/run")
MAX_TEXT = 1000          # characters of a text, URL or path setting
MAX_PEM = 64 * 1024      # a certificate chain or a key


@dataclass(frozen=True)
class Field:
    """One setting: its type decides how a value typed by a user is checked and stored.

    Types: str, int (bounded by minimum/maximum), port (1–65535), bool, choice, url (http/https, without
    a login or password inside), pem, path (a file), folder (a folder outside the system's own),
    pattern (a file-name pattern that stays inside its folder).
    """

    key: str
    label: str
    type: str = "str"            # str | int | port | choice | path | folder | pattern | url | pem | bool
    secret: bool = False         # stored only in the vault, shown masked
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: int = 0             # int: smallest value
    maximum: int = 10 ** 9       # int: largest value
    max_length: int = MAX_TEXT   # str, url, path, folder, pattern: longest text

    def parse(self, value: Any) -> Any:
        """The stored form of a value typed by a user; ValueError with a Russian reason if it is bad."""
        if value is None or (isinstance(value, (str, bytes)) and not value.strip()):
            return None
        if self.type in ("int", "port"):
            low, high = (1, 65535) if self.type == "port" else (self.minimum, self.maximum)
            text = str(value).strip()
            if not text.lstrip("-").isdigit() or len(text) > 12:
                raise ValueError(f"нужно целое число от {low} до {high}")
            number = int(text)
            if not low <= number <= high:
                raise ValueError(f"{number} — вне допустимого диапазона от {low} до {high}")
            return number
        if self.type == "bool":
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "да", "on"):
                return True
            if text in ("0", "false", "no", "нет", "off"):
                return False
            raise ValueError("нужно да или нет")
        if self.type == "choice":
            text = str(value).strip().lower()
            if text not in self.choices:
                raise ValueError(f"допустимы: {', '.join(self.choices)}")
            return text
        if self.type == "pem":
            text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            if len(text) > MAX_PEM:
                raise ValueError(f"текст длиннее {MAX_PEM // 1024} КБ — это не сертификат и не ключ")
            if "-----BEGIN " not in text:
                raise ValueError("нужен текст в формате PEM (-----BEGIN …)")
            return text.strip() + "\n"
        text = str(value).strip()
        if len(text) > self.max_length:
            raise ValueError(f"длиннее {self.max_length} символов")
        if any(ord(ch) < 32 for ch in text):
            raise ValueError("содержит управляющие символы (перевод строки, табуляцию)")
        if self.type == "url":
            return _check_url(text)
        if self.type == "folder":
            return _check_folder(text)
        if self.type == "pattern":
            return _check_pattern(text)
        return text


def _check_url(text: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port out of range)
    except ValueError:
        raise ValueError("адрес не разобран (нужен вид https://сервер/путь)") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("нужен адрес вида https://…")
    if "@" in parts.netloc:
        raise ValueError("логин и пароль в адресе не указывайте — используйте поля логина и пароля")
    return text


def _check_folder(text: str) -> str:
    from pathlib import Path

    resolved = Path(text).expanduser().resolve()
    for system in SYSTEM_FOLDERS:
        if resolved == Path(system) or Path(system) in resolved.parents or str(resolved) == "/":
            raise ValueError(f"системная папка {resolved} — укажите папку для данных кооператива")
    return text


def _check_pattern(text: str) -> str:
    from pathlib import PurePosixPath, PureWindowsPath

    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive \
            or text.startswith("~") or ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise ValueError("шаблон должен выбирать файлы внутри папки (без «..», «~» и пути от корня), "
                         "например kl_to_1c*.txt")
    return text


# -- context and audited calls --------------------------------------------------------------------

@dataclass
class Context:
    db: Database
    actor: str | None = None
    _vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            self._vault = Vault(self.db)
        return self._vault


@dataclass
class Call:
    """What an audited call fills in while it runs."""
    status: str | int | None = None
    nbytes: int | None = None
    details: dict = field(default_factory=dict)


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s and len(s) >= 3:
            text = text.replace(s, "***")
    return text


class Integration(abc.ABC):
    kind: ClassVar[str]
    name: ClassVar[str]
    title: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()     # optional Python modules this integration needs

    def __init__(self, settings: dict[str, Any], ctx: Context):
        self.settings = settings
        self.ctx = ctx

    @classmethod
    def missing_requirements(cls) -> list[str]:
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def field(cls, key: str) -> Field:
        return next(f for f in cls.fields if f.key == key)

    def setting(self, key: str) -> Any:
        value = self.settings.get(key)
        if value is None:
            f = self.field(key)
            if f.required:
                raise IntegrationError(f"Интеграция {self.name}: не задан параметр «{f.label}» ({key}); "
                                       f"coop integrations configure {self.name} {key}=…")
            return f.default
        return value

    def secrets(self) -> list[str]:
        return [str(self.settings[f.key]) for f in self.fields if f.secret and self.settings.get(f.key)]

    @contextmanager
    def audited(self, operation: str, host: str | None = None, path: str | None = None) -> Iterator[Call]:
        """Time an external call and append it to the audit log, failed or not; errors lose their secrets."""
        call = Call()
        started = time.perf_counter()
        try:
            yield call
        except Exception as exc:
            message = redact(str(exc) or type(exc).__name__, self.secrets())
            audit.external_call(self.ctx.db, self.name, operation, ok=False, host=host, path=path, status=call.status,
                                duration_ms=round((time.perf_counter() - started) * 1000), nbytes=call.nbytes,
                                error=message[:500], actor=self.ctx.actor, **call.details)
            if isinstance(exc, IntegrationError):
                raise IntegrationError(message) from None
            if isinstance(exc, LedgerError):
                raise
            raise IntegrationError(f"Интеграция {self.name}, {operation}: {message}") from None
        audit.external_call(self.ctx.db, self.name, operation, ok=True, host=host, path=path, status=call.status,
                            duration_ms=round((time.perf_counter() - started) * 1000), nbytes=call.nbytes,
                            actor=self.ctx.actor, **call.details)

    def expiries(self) -> list[tuple[str, datetime]]:
        """Certificates and tokens this integration holds, with their expiry (for monitoring alerts)."""
        return []

    def check(self) -> str:
        """A harmless call proving the settings work; returns a Russian one-line result."""
        return "Проверка не предусмотрена"


# -- the five kinds -------------------------------------------------------------------------------

@dataclass
class StatementFile:
    name: str
    data: bytes
    received_at: datetime


@dataclass
class ImportOutcome:
    name: str
    ok: bool
    message: str


class BankSource(Integration):
    kind = "bank"

    @abc.abstractmethod
    def statements_since(self, since: date) -> list[StatementFile]:
        """Statement files the bank produced on or after `since`."""

    @abc.abstractmethod
    def sync(self) -> list[ImportOutcome]:
        """Import every statement not imported yet (each once) through the bank-import code."""


@dataclass
class Delivery:
    message_id: str
    status: str          # accepted | delivered | failed
    detail: str = ""


@dataclass
class Attachment:
    name: str
    data: bytes
    mime: str            # e.g. application/pdf, image/png


@dataclass
class OutgoingMessage:
    """One notification as a channel receives it. `key` is the outbox key: the same message always has the same
    key, so a channel can make its message id from it and say after a crash whether it was sent."""
    key: str
    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    unsubscribe: str | None = None       # mailto: or https: address for List-Unsubscribe


class Channel(Integration):
    kind = "channel"
    address: ClassVar[str] = "email"     # the member's address it needs: email | phone | telegram | max
    batch_size: ClassVar[int] = 1        # messages one provider request can carry
    polls_status: ClassVar[bool] = False  # the provider learns of delivery later (SMS): its statuses are polled
    keeps_address: ClassVar[bool] = False  # its status call needs the address: kept encrypted beside the id

    def statuses(self, items: list[tuple[str, str]]) -> dict[str, Delivery]:
        """The latest states of several messages, (message id, the recipient's address) → Delivery; a message the
        provider could not tell about is left out. Channels whose provider takes many ids at once override it."""
        out = {}
        for message_id, _ in items:
            try:
                out[message_id] = self.status(message_id)
            except IntegrationError:
                continue
        return out

    def address_of(self, message_id: str) -> str | None:
        """The address a message went to, for a channel that keeps it (keeps_address)."""
        from ledger import vault

        token = self.ctx.db.scalar("SELECT address FROM channel_messages WHERE message_id = ? AND integration = ?",
                                   [message_id, self.name])
        return vault.decrypt_field(vault.master_key(self.ctx.db), token, "channel_messages.address") if token else None

    def deliver_many(self, messages: list[OutgoingMessage]) -> list[Delivery | IntegrationError]:
        """Send several; one answer per message, an IntegrationError for each that failed."""
        out: list[Delivery | IntegrationError] = []
        for m in messages:
            try:
                out.append(self.deliver(m))
            except IntegrationError as exc:
                out.append(exc)
        return out

    def deliver(self, message: OutgoingMessage) -> Delivery:
        """Send a notification; channels with more than plain text override this."""
        return self.send(message.to, message.subject, message.text)

    def find_sent(self, message: OutgoingMessage) -> Delivery | None:
        """After a crash: the Delivery if this message was handed over already, None if it surely was not.

        Channels record the provider's answer (with the outbox key) the moment it comes (record()); a message found
        there is asked about with the provider's status call. Raise IntegrationError if the channel cannot tell."""
        row = self.ctx.db.fetchone("SELECT message_id FROM channel_messages WHERE integration = ? AND notify_key = ?",
                                   [self.name, message.key]) if message.key else None
        if row is None:
            return None
        return self.statuses([(row[0], message.to)]).get(row[0]) or self.recorded(row[0])

    def record(self, delivery: Delivery, recipient: str, key: str | None = None) -> None:
        """Keep a provider's answer (recipient masked) for status() and find_sent()."""
        self.record_many([(delivery, recipient, key)])

    def record_many(self, answers: list[tuple[Delivery, str, str | None]]) -> None:
        """Several answers of one provider request, in one transaction."""
        from ledger.db import utcnow
        from ledger.members import mask

        if not answers:
            return
        now = utcnow()
        if self.keeps_address:
            from ledger import vault

            key = self.__dict__.get("_master_key") or self.__dict__.setdefault("_master_key",
                                                                                vault.master_key(self.ctx.db))
            seal = lambda r: vault.encrypt_field(key, r, "channel_messages.address") if r and "*" not in r else None  # noqa: E731
        else:
            seal = lambda r: None  # noqa: E731
        from ledger.db import insert_rows

        with self.ctx.db.transaction() as con:   # one Arrow insert: executemany costs ~2 ms a row in DuckDB
            insert_rows(con, "channel_messages",
                        [{"message_id": d.message_id, "integration": self.name, "recipient": mask(r), "status": d.status,
                          "detail": d.detail, "sent_at": now, "notify_key": k or None, "address": seal(r)}
                         for d, r, k in answers], skip_existing=True)

    # A batch records its answers in one transaction at the end; until then each answer is appended (and flushed)
    # to a small journal file next to the database, so a process that dies mid-batch loses no answer: the next
    # send() moves the journal into channel_messages before it asks about any «sending» row.
    def _journal_path(self):
        import os
        from pathlib import Path

        return Path(f"{self.ctx.db.path}.{self.name}.{os.getpid()}.sent")

    def journal_sent(self, delivery: Delivery, recipient: str, key: str | None) -> None:
        import json

        from ledger.members import mask

        pending = self.__dict__.setdefault("_pending", [])
        pending.append((delivery, recipient, key))
        with open(self._journal_path(), "a", encoding="utf-8") as f:
            f.write(json.dumps([delivery.message_id, delivery.status, delivery.detail, mask(recipient), key],
                               ensure_ascii=False) + "\n")
            f.flush()

    def flush_sent(self) -> None:
        pending = self.__dict__.get("_pending") or []
        if pending:
            self.record_many(pending)
            pending.clear()
        self._journal_path().unlink(missing_ok=True)

    def recover_journal(self) -> int:
        """Answers journaled by runs that died before recording them; returns how many were recorded now."""
        import json
        from pathlib import Path

        found = 0
        for path in sorted(Path(str(self.ctx.db.path)).parent.glob(f"{Path(str(self.ctx.db.path)).name}.{self.name}.*.sent")):
            entries = []
            for line in path.read_text("utf-8").splitlines():
                try:
                    message_id, status, detail, recipient, key = json.loads(line)
                except ValueError:
                    continue          # a line cut short by the crash: its message was not confirmed
                entries.append((Delivery(message_id, status, detail), recipient, key))
            self.record_many(entries)
            found += len(entries)
            path.unlink()
        return found

    def recorded(self, message_id: str) -> Delivery:
        row = self.ctx.db.fetchone("SELECT status, detail FROM channel_messages WHERE message_id = ? AND integration = ?",
                                   [message_id, self.name])
        if row is None:
            raise IntegrationError(f"Интеграция {self.name}: сообщение {message_id} не отправлялось")
        return Delivery(message_id, row[0], row[1] or "")

    def open(self) -> None:
        """Start a batch (e.g. keep one SMTP connection for many messages)."""

    def close(self) -> None:
        """End a batch."""

    @abc.abstractmethod
    def send(self, to: str, subject: str, text: str) -> Delivery:
        """Send a message; the Delivery says whether the service accepted it."""

    @abc.abstractmethod
    def status(self, message_id: str) -> Delivery:
        """The latest known delivery state of a message sent by this channel."""


class ReportSigner(Integration):
    kind = "signer"

    @abc.abstractmethod
    def sign(self, data: bytes) -> bytes:
        """A detached signature of data."""

    @property
    @abc.abstractmethod
    def signature_extension(self) -> str:
        """File extension of the signature, e.g. ".p7s"."""


@dataclass
class Submission:
    submission_id: str
    status: str          # packed | sent | accepted | rejected
    detail: str = ""


class ReportTransport(Integration):
    kind = "transport"

    @abc.abstractmethod
    def submit(self, name: str, data: bytes, signature: bytes | None, signature_name: str | None = None) -> Submission:
        """Hand a report (and its detached signature) to the regulator's channel."""

    @abc.abstractmethod
    def poll(self, submission_id: str) -> Submission:
        """Current state of a submission."""

    @abc.abstractmethod
    def receipts(self, submission_id: str) -> list[tuple[str, bytes]]:
        """Receipts (квитанции) received for a submission: (file name, content)."""


RETENTION_FIELDS = (
    Field("keep_last", "Хранить последних копий", "int", default=3),
    Field("keep_daily", "Хранить ежедневных", "int", default=7),
    Field("keep_weekly", "Хранить еженедельных", "int", default=4),
    Field("keep_monthly", "Хранить ежемесячных", "int", default=12),
    Field("keep_yearly", "Хранить ежегодных", "int", default=5),
)
CHUNK = 1 << 20


def chunks(source: bytes | BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    """The content of bytes or a readable stream, in pieces of at most `size` (a stream is read lazily)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        for start in range(0, len(data), size):
            yield data[start:start + size]
        return
    while chunk := source.read(size):
        yield chunk


def fill(source: bytes | BinaryIO, size: int) -> Iterator[bytes]:
    """Like chunks(), but every piece except the last is exactly `size` bytes (for chunked upload APIs)."""
    pending = bytearray()
    for chunk in chunks(source, min(size, CHUNK)):
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


class CountingSink:
    """Passes a download's pieces on to a sink, counting them."""

    def __init__(self, sink: BinaryIO):
        self.sink, self.size = sink, 0

    def write(self, piece: bytes) -> int:
        self.size += len(piece)
        return self.sink.write(piece)


class BlockDigest:
    """A service's checksum made of fixed-size blocks, computed as the bytes pass (hashlib-like: update,
    hexdigest): each block hashed with `block_hash`, then `combine` turns the blocks' digests into the result."""

    def __init__(self, size: int, block_hash: Callable[[], Any], combine: Callable[[list[bytes]], str]):
        self._size, self._new, self._combine = size, block_hash, combine
        self._digests: list[bytes] = []
        self._block, self._left = block_hash(), size

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            take = min(self._left, len(view))
            self._block.update(view[:take])
            view, self._left = view[take:], self._left - take
            if not self._left:
                self._digests.append(self._block.digest())
                self._block, self._left = self._new(), self._size

    def hexdigest(self) -> str:
        return self._combine(self._digests + ([self._block.digest()] if self._left < self._size else []))


class BackupStorage(Integration):
    """Where backups go. Streaming: put() reads a stream, download() writes one, never a whole backup in memory.

    An object is visible in list() only once it is complete (a temporary name renamed at the end, or an upload
    the service publishes only when finished), so an interrupted upload never looks like a backup.
    """
    kind = "backup"
    resumable: ClassVar[bool] = False
    fields: ClassVar[tuple[Field, ...]] = RETENTION_FIELDS
    # The checksum the service keeps of a stored object, as a hashlib-like factory (update/hexdigest), computed
    # by the caller while the object streams up; None where the service keeps none (WebDAV, a folder).
    digest: ClassVar[Callable[[], Any] | None] = None

    def stored_digest(self, name: str) -> str | None:
        """The service's checksum of a stored object (hex, of the kind `digest` computes), or None if it has none.

        Lets a backup be checked without downloading it again."""
        return None

    def object_parts(self, name: str) -> tuple[str, ...]:
        """Path segments of an object name; IntegrationError for names that could leave the storage."""
        parts = tuple(name.split("/"))
        if not name or name.startswith("/") or "\\" in name or any(p in ("", "..", ".") for p in parts) \
                or name.endswith(".part"):
            raise IntegrationError(f"Интеграция {self.name}: недопустимое имя копии «{name}»")
        return parts

    @abc.abstractmethod
    def put(self, name: str, source: bytes | BinaryIO) -> int:
        """Store an object (bytes or a readable binary stream, read once); returns its size. Replaces an existing one."""

    @abc.abstractmethod
    def download(self, name: str, sink: BinaryIO) -> int:
        """Write the object's content to sink, piece by piece; returns its size. IntegrationError if there is none."""

    def get(self, name: str) -> bytes:
        """A small object's content (the identity file); backups themselves go through download()."""
        buffer = io.BytesIO()
        self.download(name, buffer)
        return buffer.getvalue()

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        """(name, size) of complete stored objects whose names start with prefix, sorted by name."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove an object; removing a missing one is not an error."""


class ScheduledTask(Integration):
    """A check of the ledger itself run on the integrations' schedule (coop integrations schedule/run), such as
    the retention check of 152-ФЗ: no external service, the same switch, schedule, monitoring and alerts."""
    kind = "task"

    @abc.abstractmethod
    def run_task(self) -> str:
        """Do the check; returns a Russian one-line result (what `coop integrations run` prints)."""

    def check(self) -> str:
        return self.run_task()


INTERFACES = {"bank": BankSource, "channel": Channel, "signer": ReportSigner, "transport": ReportTransport,
              "backup": BackupStorage, "task": ScheduledTask}
