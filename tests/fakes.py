"""In-memory implementations of each kind: the conformance suites run against them as well as the real ones,
which shows the suites test the interface rather than one implementation."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime
from typing import BinaryIO

from integrations.base import (BackupStorage, BankSource, Channel, Delivery, Field, ImportOutcome, IntegrationError,
                               ReportSigner, ReportTransport, StatementFile, Submission)


class FakeBank(BankSource):
    name = "fake_bank"
    title = "Тестовый банк"
    fields = (Field("token", "Токен", secret=True),)

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self.files: list[StatementFile] = []
        self.imported: set[str] = set()

    def statements_since(self, since: date) -> list[StatementFile]:
        return [f for f in self.files if f.received_at.date() >= since]

    def sync(self) -> list[ImportOutcome]:
        out = []
        for f in self.files:
            digest = hashlib.sha256(f.data).hexdigest()
            if digest not in self.imported:
                self.imported.add(digest)
                out.append(ImportOutcome(f.name, True, "загружено"))
        return out

    def drop(self, name: str, data: bytes, when: datetime) -> None:
        self.files.append(StatementFile(name, data, when))


class FakeChannel(Channel):
    name = "fake_channel"
    title = "Тестовый канал"
    fields = (Field("admin_recipient", "Кому"),)

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self.sent: dict[str, tuple[str, str, str]] = {}

    def send(self, to: str, subject: str, text: str) -> Delivery:
        if "@" not in to:
            raise IntegrationError(f"неверный адрес {to}")
        message_id = uuid.uuid4().hex
        self.sent[message_id] = (to, subject, text)
        return Delivery(message_id, "accepted")

    def status(self, message_id: str) -> Delivery:
        if message_id not in self.sent:
            raise IntegrationError("нет такого сообщения")
        return Delivery(message_id, "accepted")

    def received(self) -> list[tuple[str, str, str]]:
        return list(self.sent.values())


class FakeSigner(ReportSigner):
    """Signs with an HMAC; verified by recomputing it."""
    name = "fake_signer"
    title = "Тестовая подпись"
    signature_extension = ".sig"

    def sign(self, data: bytes) -> bytes:
        return hashlib.sha256(b"key" + data).digest()

    def verify(self, data: bytes, signature: bytes) -> bool:
        return hashlib.sha256(b"key" + data).digest() == signature


class FakeTransport(ReportTransport):
    name = "fake_transport"
    title = "Тестовая отчётность"

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self.store: dict[str, tuple[str, bytes, bytes | None]] = {}
        self.issued: dict[str, list[tuple[str, bytes]]] = {}

    def submit(self, name, data, signature, signature_name=None) -> Submission:
        sid = uuid.uuid4().hex
        self.store[sid] = (name, data, signature)
        return Submission(sid, "packed")

    def poll(self, submission_id: str) -> Submission:
        if submission_id not in self.store:
            raise IntegrationError("нет такой отправки")
        return Submission(submission_id, "accepted" if self.issued.get(submission_id) else "packed")

    def receipts(self, submission_id: str) -> list[tuple[str, bytes]]:
        return list(self.issued.get(submission_id, []))

    def issue_receipt(self, submission_id: str, name: str, data: bytes) -> None:
        self.issued.setdefault(submission_id, []).append((name, data))


class FakeStorage(BackupStorage):
    name = "fake_storage"
    title = "Тестовое хранилище"

    def __init__(self, settings, ctx):
        super().__init__(settings, ctx)
        self.objects: dict[str, bytes] = {}

    def put(self, name: str, source: bytes | BinaryIO) -> int:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise IntegrationError(f"недопустимое имя {name}")
        data = source if isinstance(source, (bytes, bytearray)) else source.read()
        self.objects[name] = bytes(data)
        return len(data)

    def download(self, name: str, sink: BinaryIO) -> int:
        if name not in self.objects:
            raise IntegrationError(f"нет {name}")
        sink.write(self.objects[name])
        return len(self.objects[name])

    def list(self, prefix: str = "") -> list[tuple[str, int]]:
        return sorted((k, len(v)) for k, v in self.objects.items() if k.startswith(prefix))

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)
