"""Append-only audit log: sign-ins, exports of personal data, changes of settings and roles."""

from __future__ import annotations

import json
from typing import Any

from .db import Database, utcnow


def log(con, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry inside the caller's transaction (con is an open DuckDB connection)."""
    con.execute(
        "INSERT INTO audit_log (happened_at, actor, action, target, ok, details) VALUES (?, ?, ?, ?, ?, ?)",
        [utcnow(), actor, action, target, ok, json.dumps(details, ensure_ascii=False, default=str) if details else None],
    )


def record(db: Database, actor: str | None, action: str, target: str | None = None, ok: bool = True, **details: Any) -> None:
    """Append one entry in a transaction of its own."""
    with db.transaction() as con:
        log(con, actor, action, target, ok, **details)


def entries(db: Database, action: str | None = None, limit: int = 1000):
    sql = "SELECT happened_at, actor, action, target, ok, details FROM audit_log"
    params: list[Any] = []
    if action:
        sql += " WHERE action = ?"
        params.append(action)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return db.records(sql, params)
