"""Shared fixtures: a fresh ledger per test, the demo ledger, register files built the way users make them."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from ledger import demo
from ledger.db import Database

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def shared(*parts: str) -> Path:
    """A reference file or folder in ../shared. Absent: the test skips with the reason, except in CI
    (COOP_REQUIRE_SHARED=1, set by .ci/run), where its absence fails the test."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is not present (reference files beside the project)"
        if os.environ.get("COOP_REQUIRE_SHARED") == "1":
            pytest.fail(message + "; COOP_REQUIRE_SHARED=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "coop.duckdb"
    monkeypatch.setenv("COOP_DB", str(path))
    monkeypatch.setenv("COOP_DB_WAIT", "5")
    for name in ("COOP_MASTER_KEY", "COOP_NEW_MASTER_KEY", "COOP_MASTER_KEY_FILE", "COOP_ALLOW_INSECURE_LOOPBACK"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def db(db_path) -> Database:
    """A fresh ledger: its file exists (commands and pages refuse a missing one) and is empty, so the first command
    or page migrates it, as after `coop init` on a new installation."""
    import duckdb

    duckdb.connect(str(db_path)).close()
    return Database(db_path)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    template = Database(path)
    demo.create_demo(template)
    template.release()  # checkpointed and closed: safe to copy
    return path


@pytest.fixture
def demo_db(demo_template, db_path) -> Database:
    shutil.copy(demo_template, db_path)
    key = demo_template.parent / "vault.key"
    if key.exists():  # the master key of the demo's encrypted personal data travels with it
        shutil.copy(key, db_path.parent / "vault.key")
    head = demo_template.with_name(demo_template.name + ".audit-head")
    if head.exists():  # and the signed head of its audit chain
        shutil.copy(head, db_path.with_name(db_path.name + ".audit-head"))
    return Database(db_path)


def xlsx_bytes(rows: list[list], merges: list[str] = (), title: str = "Лист1") -> bytes:
    """An .xlsx with the given rows (from A1) and merged ranges, as a user's spreadsheet would be."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    for rng in merges:
        ws.merge_cells(rng)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def make_xlsx():
    return xlsx_bytes


def table_dump(db: Database, table: str, order: str = "1") -> list[tuple]:
    return db.fetchall(f"SELECT * FROM {table} ORDER BY {order}")
