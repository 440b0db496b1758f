"""Signing and submitting report files: a detached signature beside the file, the submission through a
transport (file_drop, kontur, …) stored with its status history and receipts.

A NO_BOUPR report is checked (boupr.check_xml) before it is signed: a report with problems is not signed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import audit
from ..db import Database, utcnow
from ..errors import InputError
from . import boupr

STATUSES = {"packed": "упакован для ручной загрузки", "sent": "отправлен", "delivered": "доставлен (извещение о получении)",
            "accepted": "принят (квитанция о приёме)", "rejected": "отклонён (уведомление об отказе)",
            "processed": "обработан (извещение о вводе)", "failed": "ошибка отправки"}
FINAL = {"rejected", "processed", "failed"}


def signature_path(path: Path, extension: str) -> Path:
    return path.with_name(path.name + extension)


def find_signature(path: Path) -> Path | None:
    for ext in (".sig", ".p7s", ".sgn"):
        candidate = signature_path(path, ext)
        if candidate.exists():
            return candidate
    return None


def precheck(name: str, data: bytes) -> list[str]:
    return boupr.check_xml(data, name) if Path(name).name.upper().startswith("NO_BOUPR") else []


def _checked_integration(db: Database, name: str, data: bytes, integration: str, kind: str, doing: str,
                         actor: str | None):
    """The enabled integration of that kind, once the report has passed its checks."""
    from integrations import registry
    from integrations.base import KINDS

    problems = precheck(name, data)
    if problems:
        raise InputError([f"{name}: отчёт не прошёл проверку, {doing} его нельзя"] + problems)
    built = registry.build(db, integration, actor)
    if built.kind != kind:
        raise InputError(f"Интеграция «{integration}» — не «{KINDS[kind]}»")
    return built


def sign_bytes(db: Database, name: str, data: bytes, signer_name: str, actor: str | None = None) -> tuple[bytes, str]:
    """(signature, its extension); the report's checks first."""
    signer = _checked_integration(db, name, data, signer_name, "signer", "подписывать", actor)
    signature = signer.sign(data)
    audit.record(db, actor, "report_signed", name, signer=signer_name, sha256=hashlib.sha256(data).hexdigest())
    return signature, signer.signature_extension


def sign_file(db: Database, path: Path, data: bytes, signer_name: str, actor: str | None = None) -> Path:
    signature, extension = sign_bytes(db, Path(path).name, data, signer_name, actor)
    target = signature_path(Path(path), extension)
    try:
        target.write_bytes(signature)
    except OSError as exc:
        raise InputError(f"{target}: не удалось записать подпись ({exc.strerror})") from None
    return target


def verify(data: bytes, signature: bytes) -> str:
    from integrations.signers.gost import verify_cms

    return verify_cms(data, signature)


def submit(db: Database, name: str, data: bytes, signature: bytes | None, signature_name: str | None,
           transport_name: str, actor: str | None = None) -> dict:
    transport = _checked_integration(db, name, data, transport_name, "transport", "отправлять", actor)
    result = transport.submit(name, data, signature, signature_name)
    now = utcnow()
    with db.transaction() as con:
        sid = con.execute(
            "INSERT INTO report_submissions (file_name, sha256, signature_name, transport, remote_id, status, detail, "
            "submitted_at, submitted_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [name, hashlib.sha256(data).hexdigest(), signature_name, transport_name, result.submission_id,
             result.status, result.detail, now, actor, now]).fetchone()[0]
        history = getattr(result, "history", None) or [(result.status, result.detail, None)]
        for status, detail, happened in history:
            con.execute("INSERT INTO report_submission_events VALUES (?, ?, ?, ?, ?)",
                        [sid, status, detail, happened, now])
        audit.log(con, actor, "report_submitted", name, transport=transport_name, submission=sid)
    return submission(db, sid)


def submit_file(db: Database, path: Path, transport_name: str, actor: str | None = None) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: файл не найден")
    sig = find_signature(path)
    return submit(db, path.name, path.read_bytes(), sig.read_bytes() if sig else None, sig.name if sig else None,
                  transport_name, actor)


def submission(db: Database, submission_id: int) -> dict:
    rows = db.records("SELECT * FROM report_submissions WHERE id = ?", [submission_id])
    if not rows:
        raise InputError(f"Отправки № {submission_id} нет")
    return rows[0]


def refresh(db: Database, submission_id: int, actor: str | None = None) -> dict:
    """Ask the transport for the current status; a new status and new receipts are stored (each once)."""
    from integrations import registry

    row = submission(db, submission_id)
    if row["status"] in FINAL:
        return row
    transport = registry.build(db, row["transport"], actor)
    state = transport.poll(row["remote_id"])
    receipts = transport.receipts(row["remote_id"])
    now = utcnow()
    history = getattr(state, "history", None) or [(state.status, state.detail, None)]
    with db.transaction() as con:
        seen = {r[0] for r in con.execute("SELECT status FROM report_submission_events WHERE submission_id = ?",
                                          [submission_id]).fetchall()}
        for status, detail, happened in history:      # each status once, with the operator's date
            if status not in seen:
                con.execute("INSERT INTO report_submission_events VALUES (?, ?, ?, ?, ?)",
                            [submission_id, status, detail, happened, now])
                seen.add(status)
        if state.status != row["status"] or state.detail != row["detail"]:
            con.execute("UPDATE report_submissions SET status = ?, detail = ?, updated_at = ? WHERE id = ?",
                        [state.status, state.detail, now, submission_id])
        for name, content in receipts:
            con.execute("INSERT INTO report_receipts VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [submission_id, name, content, now])
    return submission(db, submission_id)


def events(db: Database, submission_id: int) -> list[dict]:
    return db.records("SELECT status, detail, happened_at, recorded_at FROM report_submission_events "
                      "WHERE submission_id = ? ORDER BY coalesce(happened_at, recorded_at), recorded_at", [submission_id])


def receipts(db: Database, submission_id: int) -> list[dict]:
    return db.records("SELECT name, content, received_at FROM report_receipts WHERE submission_id = ? ORDER BY name",
                      [submission_id])


def submissions(db: Database, limit: int = 100) -> list[dict]:
    return db.records("SELECT * FROM report_submissions ORDER BY id DESC LIMIT ?", [limit])
