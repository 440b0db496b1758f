"""DuckDB storage: short-held connections, one transaction per write, numbered migrations.

DuckDB lets one process at a time hold a database file. The app and the `coop` CLI (run by cron while
the accountant has the page open) therefore hold the file only while they work: a process opens it on first
use, every unit of work gets its own cursor of that connection (one transaction per write), and the file is
closed once no cursor has been used for `COOP_DB_IDLE` seconds (default 0.5) — so a page's dozen queries
pay the ~50 ms opening cost once, and a cron job still gets the file between the accountant's clicks.
Opening retries while another process holds the lock and gives up with a clear "база занята" message after
`COOP_DB_WAIT` seconds (default 15).
"""

from __future__ import annotations

import atexit
import importlib
import os
import random
import re
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import duckdb

from .errors import DatabaseBusy, DatabaseMissing, LedgerError

DEFAULT_DB = Path("data/coop.duckdb")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class _Held:
    """The process's connection to one database file, closed after an idle pause."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.users = 0
        self.timer: threading.Timer | None = None

    def close_if_idle(self) -> None:
        with self.lock:
            if self.users == 0 and self.con is not None:
                self.con.close()
                self.con = None
            self.timer = None


_held: dict[str, _Held] = {}
_held_lock = threading.Lock()


def _idle_seconds() -> float:
    return float(os.environ.get("COOP_DB_IDLE", "0.5"))


@atexit.register
def _close_all() -> None:
    for held in list(_held.values()):
        if held.timer:
            held.timer.cancel()
        held.close_if_idle()


# Steps to run after the commit of the transaction a cursor is in (Database.transaction), by cursor.
_after_commit: dict[int, list] = {}


def after_commit(con: duckdb.DuckDBPyConnection, step) -> None:
    """Run step(con) once the Database.transaction this cursor belongs to has committed (never if it rolls
    back). Outside such a transaction (a migration's own) the step is skipped: callers must tolerate that."""
    steps = _after_commit.get(id(con))
    if steps is not None and step not in steps:
        steps.append(step)


def path_of(con: duckdb.DuckDBPyConnection) -> Path:
    """The file of the ledger an open connection belongs to."""
    return Path(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
                .fetchall()[0][0])


def utcnow() -> datetime:
    """Naive UTC timestamp, as stored in TIMESTAMP columns."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_path() -> Path:
    return Path(os.environ.get("COOP_DB") or DEFAULT_DB)


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting lock" in text or "Could not set lock" in text)


class Database:
    """A DuckDB ledger file. Cheap to create; the file is held only while in use (see the module notes)."""

    def __init__(self, path: str | Path | None = None, wait_seconds: float | None = None):
        self.path = Path(path) if path is not None else default_path()
        if wait_seconds is None:
            wait_seconds = float(os.environ.get("COOP_DB_WAIT", "15"))
        self.wait_seconds = wait_seconds

    def require_file(self) -> None:
        """Refuse a database file that is not there (opening it would create an empty ledger)."""
        if not self.path.is_file():
            raise DatabaseMissing(self.path)

    def is_default(self) -> bool:
        """Whether this is the installation's usual file (data/coop.duckdb), not a path someone typed."""
        return self.path.resolve() == DEFAULT_DB.resolve()

    # -- connections -------------------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise LedgerError(f"Не удалось открыть базу {self.path}: {exc}") from None
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"База занята другой программой ({self.path}); повторите попытку позже."
                    ) from None
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 1.0)

    def _held(self) -> _Held:
        key = str(self.path.resolve())
        with _held_lock:
            return _held.setdefault(key, _Held())

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reading (and for writes that manage their own transaction)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        held = self._held()
        with held.lock:
            if held.timer is not None:
                held.timer.cancel()
                held.timer = None
            if held.con is None:
                held.con = self._open()
            held.users += 1
            root = held.con
        try:
            cur = root.cursor()
            try:
                self._ensure_migrated(cur)
                yield cur
            finally:
                cur.close()
        finally:
            with held.lock:
                held.users -= 1
                if held.users == 0:
                    idle = _idle_seconds()
                    if idle <= 0:
                        held.con.close()
                        held.con = None
                    else:
                        held.timer = threading.Timer(idle, held.close_if_idle)
                        held.timer.daemon = True
                        held.timer.start()

    def release(self) -> None:
        """Close the file now if nothing uses it (before copying it, or handing it to another process)."""
        held = self._held()
        with held.lock:
            if held.timer is not None:
                held.timer.cancel()
                held.timer = None
        held.close_if_idle()

    def rewrite(self) -> None:
        """Rewrite the ledger into a fresh file holding only its live rows, swapped in atomically.

        DuckDB keeps the bytes of deleted and overwritten rows in freed blocks of the file (and in the WAL until
        a checkpoint): after an erasure (152-ФЗ anonymisation) the old values must leave the file itself. While
        this process holds the file (other processes wait, as for any write; other threads of this process wait
        for the file's lock) the WAL is checkpointed, the database is copied (COPY FROM DATABASE: schema,
        sequences at their positions, data) into a new file beside it, and the new file replaces the old one by
        rename while the old one is still locked, so nobody writes to the old file after its copy was taken.
        """
        held = self._held()
        deadline = time.monotonic() + self.wait_seconds
        while True:   # wait until no thread of this process is inside connect(), then keep them out
            held.lock.acquire()
            if held.users == 0:
                break
            held.lock.release()
            if time.monotonic() >= deadline:
                raise DatabaseBusy(f"База занята ({self.path}); повторите попытку позже.")
            time.sleep(0.05)
        fresh = self.path.with_name(f".{self.path.name}.rewrite-{os.getpid()}.tmp")
        try:
            if held.timer is not None:
                held.timer.cancel()
                held.timer = None
            if held.con is not None:
                held.con.close()
                held.con = None
            fresh.unlink(missing_ok=True)
            con = self._open()
            try:
                self._ensure_migrated(con)
                con.execute("CHECKPOINT")
                name = con.execute("SELECT current_database()").fetchone()[0]
                con.execute(f"ATTACH '{_sql_literal(fresh)}' AS coop_rewrite")
                con.execute(f'COPY FROM DATABASE "{name}" TO coop_rewrite')
                con.execute("DETACH coop_rewrite")
                with open(fresh, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(fresh, self.path)   # the old file stays locked by con until the swap is done
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            finally:
                con.close()
        finally:
            fresh.unlink(missing_ok=True)
            Path(f"{fresh}.wal").unlink(missing_ok=True)
            held.lock.release()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed when the block ends, rolled back on any error. Steps registered
        with `after_commit` during it run once it has committed (with the same cursor)."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            _after_commit[id(con)] = []
            try:
                yield con
            except BaseException:
                _after_commit.pop(id(con), None)
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
                for step in _after_commit.pop(id(con), []):
                    step(con)

    # -- convenience -------------------------------------------------------------------------
    def fetchall(self, sql: str, params: Any = None) -> list[tuple]:
        with self.connect() as con:
            return con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: Any = None) -> tuple | None:
        with self.connect() as con:
            return con.execute(sql, params or []).fetchone()

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def df(self, sql: str, params: Any = None):
        with self.connect() as con:
            return frame(con, sql, params)

    def records(self, sql: str, params: Any = None) -> list[dict]:
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    # -- migrations --------------------------------------------------------------------------
    def _ensure_migrated(self, con: duckdb.DuckDBPyConnection) -> None:
        key = str(self.path.resolve())
        if key in _migrated:
            return
        with _migrate_lock:
            if key not in _migrated:
                migrate(con)
                _migrated.add(key)

    def schema_versions(self) -> list[int]:
        return [r[0] for r in self.fetchall("SELECT version FROM schema_version ORDER BY version")]


def _sql_literal(path: Path) -> str:
    return str(path).replace("'", "''")


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, kind) of every migration shipped in ledger/migrations, by version."""
    found = []
    for entry in resources.files("ledger.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), m.group(2), m.group(3)))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise LedgerError("Две миграции с одним номером в ledger/migrations")
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every shipped migration the database does not have yet, each in its own transaction.

    Versions are tracked as a set, not a maximum, so migrations merged from parallel work in any order
    still all apply.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    have = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
    applied = []
    for version, name, kind in available_migrations():
        if version in have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if kind == "sql":
                sql = resources.files("ledger.migrations").joinpath(f"{version:04d}_{name}.sql").read_text("utf-8")
                for statement in _split_sql(sql):
                    con.execute(statement)
            else:
                module = importlib.import_module(f"ledger.migrations.{version:04d}_{name}")
                module.migrate(con)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, name, utcnow()])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        if kind == "py" and hasattr(module, "after_commit"):   # e.g. a file beside the ledger to write
            module.after_commit(con)
        applied.append(version)
    return applied


def _split_sql(sql: str) -> list[str]:
    """Split a migration file on semicolons at line ends (no procedural SQL in migrations)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return [p.strip() for p in parts if p.strip()]


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None):
    """A query result as a pandas DataFrame whose text columns hold Python str and None.

    pandas 3 reads VARCHAR into its string dtype with NaN for NULL (pandas 2 gave object and None); NaN is
    truthy and not a str, so `if value:` and string functions break on it, and an empty result's columns
    differ in dtype from a full one's. Every read of ledger data into pandas goes through here: text columns
    become object dtype with None for missing values, whatever the pandas version and whether or not rows
    came back; numbers, dates and booleans keep DuckDB's dtypes.
    """
    import pandas as pd

    df = con.execute(sql, params or []).df()
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, pd.StringDtype) or dtype == object:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def _arrow_table(values: dict[str, list]):
    """Columns of Python values (str, int, Decimal, date, None) as an Arrow table DuckDB can scan."""
    import pyarrow as pa

    return pa.table({c: pa.array(v) for c, v in values.items()})


def _columns_of(rows: list[dict], columns: list[str]) -> dict[str, list]:
    return {c: [r.get(c) for r in rows] for c in columns}


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], columns: list[str] | None = None,
                returning: str | None = None, skip_existing: bool = False) -> list[tuple]:
    """Insert many rows at once through Arrow (row-by-row INSERTs are slow in DuckDB).

    Columns default to the keys of the first row; values are Python objects (str, int, Decimal, date, None).
    `skip_existing`: rows that clash with a unique key already there are left out (ON CONFLICT DO NOTHING).
    """
    if not rows:
        return []
    columns = columns or list(rows[0])
    return insert_columns(con, table, _columns_of(rows, columns), returning, skip_existing)


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, values: dict[str, list],
                   returning: str | None = None, skip_existing: bool = False) -> list[tuple]:
    """insert_rows for values already held column by column (no dict per row): column -> list of values."""
    columns = list(values)
    if not columns or not len(values[columns[0]]):
        return []
    con.register("_rows_in", _arrow_table(values))
    try:
        cols = ", ".join(columns)
        sql = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _rows_in"
        if skip_existing:
            sql += " ON CONFLICT DO NOTHING"
        if returning:
            sql += f" RETURNING {returning}"
        cur = con.execute(sql)
        return cur.fetchall() if returning else []
    finally:
        con.unregister("_rows_in")


def update_rows(con: duckdb.DuckDBPyConnection, table: str, keys: list[str], rows: list[dict],
                columns: list[str], where: str = "") -> None:
    """UPDATE many rows at once: rows carry the key columns and the new values of `columns`."""
    if not rows:
        return
    con.register("_rows_up", _arrow_table(_columns_of(rows, keys + columns)))
    try:
        sets = ", ".join(f"{c} = _rows_up.{c}" for c in columns)
        cond = " AND ".join(f"{table}.{k} = _rows_up.{k}" for k in keys)
        con.execute(f"UPDATE {table} SET {sets} FROM _rows_up WHERE {cond}" + (f" AND {where}" if where else ""))
    finally:
        con.unregister("_rows_up")
