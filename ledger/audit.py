"""Append-only audit log: sign-ins, exports of personal data, changes of settings and roles, external calls.

Append-only is enforced three ways: this module is the only writer and offers no update or delete;
a test (tests/test_audit.py) fails if any SQL in the code base updates or deletes audit_log; and every
entry carries a SHA-256 hash chained to the previous entry, so an edit or deletion made behind the
application's back (e.g. with the duckdb shell) is found by `verify_chain` and shown on the audit page.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from .db import Database, utcnow

# Columns of an external call (integration, operation, host, path, status, duration, bytes, error).
CALL_COLUMNS = ("integration", "operation", "host", "path", "status", "duration_ms", "bytes", "error")
_COLUMNS = ("happened_at", "actor", "action", "target", "ok", "details") + CALL_COLUMNS

ACTIONS = {
    "signin": "Вход", "signin_failed": "Неудачный вход", "export_personal_data": "Выгрузка персональных данных",
    "personal_data_revealed": "Показ персональных данных", "external_call": "Обращение к внешнему сервису",
    "settings_changed": "Изменение настроек", "integration_configured": "Настройка интеграции",
    "integration_enabled": "Интеграция включена", "integration_disabled": "Интеграция отключена",
    "user_added": "Пользователь добавлен", "role_changed": "Смена роли", "user_enabled": "Пользователь включён",
    "user_disabled": "Пользователь отключён", "password_changed": "Смена пароля", "vault_rotated": "Смена ключа хранилища",
    "alert_sent": "Оповещение отправлено", "member_added": "Член добавлен", "audit_exported": "Выгрузка журнала",
    "bank_sync": "Синхронизация с банком",
}


def _digest(prev_hash: str | None, row: dict[str, Any]) -> str:
    canonical = json.dumps([prev_hash] + [_plain(row.get(c)) for c in _COLUMNS], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def _append(con, row: dict[str, Any]) -> None:
    row = {c: row.get(c) for c in _COLUMNS}
    row["happened_at"] = row["happened_at"] or utcnow()
    prev = con.execute("SELECT hash FROM audit_log WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = prev[0] if prev else None
    cols = _COLUMNS + ("prev_hash", "hash")
    con.execute(f"INSERT INTO audit_log ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in _COLUMNS] + [prev_hash, _digest(prev_hash, row)])


def log(con, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry inside the caller's transaction (con is an open DuckDB connection)."""
    _append(con, {"actor": actor, "action": action, "target": target, "ok": ok,
                  "details": json.dumps(details, ensure_ascii=False, default=str) if details else None})


def record(db: Database, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry in a transaction of its own."""
    with db.transaction() as con:
        log(con, actor, action, target, ok, **details)


_SECRET_QUERY = re.compile(r"\?.*$")


def external_call(db: Database, integration: str, operation: str, *, ok: bool, host: str | None = None,
                  path: str | None = None, status: str | int | None = None, duration_ms: int | None = None,
                  nbytes: int | None = None, error: str | None = None, actor: str | None = None,
                  **details: Any) -> None:
    """One call to an external service. The path loses its query string (where tokens hide)."""
    with db.transaction() as con:
        _append(con, {"actor": actor, "action": "external_call", "target": integration, "ok": ok,
                      "details": json.dumps(details, ensure_ascii=False, default=str) if details else None,
                      "integration": integration, "operation": operation, "host": host,
                      "path": _SECRET_QUERY.sub("", path) if path else path,
                      "status": None if status is None else str(status), "duration_ms": duration_ms,
                      "bytes": nbytes, "error": error})


def entries(db: Database, action: str | None = None, limit: int = 1000, *, actor: str | None = None,
            integration: str | None = None, since: datetime | None = None, until: datetime | None = None,
            only_failed: bool = False, text: str = "") -> list[dict]:
    """Entries, newest first, filtered by any of action, actor, integration, time range, failure and text."""
    where, params = [], []
    for column, value in (("action", action), ("actor", actor), ("integration", integration)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("happened_at >= ?")
        params.append(since)
    if until:
        where.append("happened_at < ?")
        params.append(until)
    if only_failed:
        where.append("NOT ok")
    if text.strip():
        where.append("lower(concat_ws(' ', actor, action, target, details, host, path, error)) LIKE ?")
        params.append(f"%{text.strip().lower()}%")
    sql = ("SELECT id, happened_at, actor, action, target, ok, details, " + ", ".join(CALL_COLUMNS) +
           " FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
    params.append(limit)
    return db.records(sql, params)


def verify_chain(db: Database) -> list[int]:
    """Ids of entries whose hash does not match their content or whose predecessor is missing or altered.

    An empty list means the log is intact. Entries written before the chain existed (no hash) are skipped.
    """
    cols = ", ".join(_COLUMNS)
    with db.connect() as con:
        rows = con.execute(f"SELECT id, {cols}, prev_hash, hash FROM audit_log WHERE hash IS NOT NULL "
                           "ORDER BY id").fetchall()
    # Concurrent sessions may both chain to the same predecessor, so a link only has to point at some
    # earlier entry; an altered entry fails its own hash, a deleted one breaks the link of its successor.
    bad, seen = [], set()
    for i, r in enumerate(rows):
        row = dict(zip(_COLUMNS, r[1:1 + len(_COLUMNS)]))
        prev_hash, stored = r[-2], r[-1]
        linked = prev_hash in seen or (i == 0 and prev_hash is None)
        if _digest(prev_hash, row) != stored or not linked:
            bad.append(r[0])
        seen.add(stored)
    return bad





def _export_columns():
    from .spreadsheets import Column

    return [Column("id", "№", "int"), Column("happened_at", "Когда (UTC)", "date"), Column("actor", "Кто"),
            Column("action_label", "Действие"), Column("target", "Объект"), Column("ok_label", "Успешно"),
            Column("integration", "Интеграция"), Column("operation", "Операция"), Column("host", "Сервер"),
            Column("path", "Путь"), Column("status", "Статус"), Column("duration_ms", "Длительность, мс", "int"),
            Column("bytes", "Байт", "int"), Column("error", "Ошибка"), Column("details", "Подробности")]


def export_bytes(rows: list[dict], fmt: str) -> bytes:
    """Entries (as from `entries`) as .xlsx or .csv bytes."""
    import io

    from .spreadsheets import write_csv, xlsx_bytes

    rows = [{**r, "action_label": ACTIONS.get(r["action"], r["action"]), "ok_label": "да" if r["ok"] else "нет"}
            for r in rows]
    if fmt == "xlsx":
        return xlsx_bytes(_export_columns(), rows, sheet_title="Журнал")
    text = io.StringIO()
    write_csv(text, _export_columns(), rows)
    return text.getvalue().encode("utf-8")


def export_log(db: Database, fmt: str, exported_by: str | None = None, **filters: Any) -> tuple[bytes, int]:
    """The (filtered) log as .xlsx or .csv bytes and its row count; the export itself is logged."""
    from .errors import InputError

    if fmt not in ("xlsx", "csv"):
        raise InputError(f"Формат «{fmt}» не поддерживается: только xlsx и csv")
    rows = entries(db, limit=10_000_000, **filters)
    data = export_bytes(rows, fmt)
    record(db, exported_by, "audit_exported", f"журнал.{fmt}", rows=len(rows))
    return data, len(rows)


def export(db: Database, path, exported_by: str | None = None, **filters: Any) -> int:
    """Write the (filtered) log to an .xlsx or .csv file named by path."""
    from pathlib import Path

    from .errors import InputError

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")
    data, n = export_log(db, fmt, exported_by, **filters)
    path.write_bytes(data)
    return n
