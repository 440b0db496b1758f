"""Bank statements in the ledger: import exactly once, list, delete; originals kept by content hash.

Every payment gets a stable fingerprint (our account, date, number, amount, direction, the other side's
account, purpose with spacing and case ignored, plus its ordinal among identical payments in the same file),
computed set-based in DuckDB.
The same file again, or an overlapping period in another format, therefore adds nothing. Each import is one
transaction; payment_sources records every statement that holds a payment, so deleting one of two
overlapping statements keeps the payments the other still holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import audit, cooperative
from .bankformats import FORMAT_LABELS, PAYMENT_FIELDS, ParsedStatement, Progress, parse_statement
from .formats import count, plural
from .db import Database, utcnow
from .errors import InputError, LedgerError



def counts_text(new: int, already: int, outgoing: int) -> str:
    """«N новых, M уже загружено, K исходящих», in agreeing number: the summary of every import and bank sync."""
    return (f"{count(new, 'новый', 'новых', 'новых')}, {already} уже "
            f"{plural(already, 'загружен', 'загружено', 'загружено')}, "
            f"{count(outgoing, 'исходящий', 'исходящих', 'исходящих')}")

@dataclass
class ImportResult:
    """What one file brought: new incoming, already loaded (any direction), new outgoing."""

    name: str
    format: str
    statement_id: int | None = None
    new: int = 0
    already: int = 0
    outgoing: int = 0
    total: int = 0
    our_account: str | None = None
    period_from: date | None = None
    period_to: date | None = None
    same_file: bool = False
    warnings: list[str] = field(default_factory=list)
    pending: int = 0                                       # rows «В обработке», skipped
    currencies: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)       # accounts that became the cooperative's with this file

    @property
    def format_label(self) -> str:
        return FORMAT_LABELS.get(self.format, self.format)

    def summary(self) -> str:
        text = counts_text(self.new, self.already, self.outgoing)
        if self.pending:
            text += f", {self.pending} в обработке (пропущено)"
        foreign = [c for c in self.currencies if c != "RUB"]
        if foreign:
            text += f"; валюта {', '.join(foreign)}: не разносится и не входит в долги"
        return text

    def notice(self) -> str | None:
        """What the import changed besides payments (the cooperative's accounts), for the user to see."""
        if not self.adopted:
            return None
        listed = ", ".join(self.adopted)
        return (f"У кооператива ещё не было счетов: {'счёт' if len(self.adopted) == 1 else 'счета'} {listed} из этой "
                f"выписки {'записан' if len(self.adopted) == 1 else 'записаны'} в реквизиты кооператива (страница "
                f"«Кооператив»); выписки других счетов будут отклонены")


# The identity of a payment whatever format brought it: our account, date, number without leading zeros, amount,
# direction, the other side's account, the purpose without spaces and case (ё = е), and the payment's ordinal
# among identical keys in the same file (two equal transfers on one day stay two payments). Stored as the first
# 128 bits of its SHA-256 (a number: the unique index over it is cheaper than over hex text).
_PURPOSE_SQL = ("replace(replace(replace(replace(replace(coalesce(purpose, ''), ' ', ''), chr(160), ''), "
                "chr(9), ''), chr(10), ''), chr(13), '')")
_KEY_SQL = f"""concat_ws('|', coalesce(our_account, ''), strftime(doc_date, '%Y-%m-%d'),
    ltrim(trim(coalesce(doc_number, '')), '0'), CAST(amount AS VARCHAR), direction,
    coalesce(CASE WHEN direction = 'in' THEN payer_account ELSE payee_account END, ''),
    replace(lower({_PURPOSE_SQL}), 'ё', 'е'))"""
FINGERPRINT_SQL = f"""
    SELECT ord, line, direction,
           CAST('0x' || left(sha256(k || '#' || CAST(row_number() OVER (PARTITION BY k ORDER BY ord) - 1 AS VARCHAR)), 32)
                AS UHUGEINT) AS fingerprint
    FROM (SELECT ord, line, direction, {_KEY_SQL} AS k FROM _bank_arrow)"""


IMPORT_MEMORY_LIMIT = "256MB"

# Payments in roubles: the only ones matching, allocation, debts and rouble totals take (for alias p or none).
ROUBLES = "coalesce(currency, 'RUB') = 'RUB'"


def fingerprint_table(con, table) -> None:
    """Register the payments (Arrow, PAYMENT_FIELDS) as _bank_arrow and their fingerprints as the temp table
    _bank_fp (ord, line, direction, fingerprint, known_id: the payment already in the ledger, or NULL); the caller
    drops them with forget_table()."""
    import numpy as np
    import pyarrow as pa

    con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")   # big statements spill instead of swelling
    con.register("_bank_arrow", table.append_column("ord", pa.array(np.arange(table.num_rows, dtype=np.int64))))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _bank_fp AS SELECT f.*, p.id AS known_id "
                f"FROM ({FINGERPRINT_SQL}) f LEFT JOIN payments p ON p.fingerprint = f.fingerprint")


def forget_table(con) -> None:
    con.execute("DROP TABLE IF EXISTS _bank_fp")
    con.unregister("_bank_arrow")
    # The limit is global to the database instance, which the process keeps open between calls: give the
    # default back so later work (debts over millions of charges, say) is not squeezed into the import's limit.
    con.execute("RESET memory_limit")


def originals_dir(db: Database) -> Path:
    """Original files, content-addressed, next to the database file (data/originals/<sha256>)."""
    return db.path.parent / "originals"


def read_original(db: Database, statement_id: int) -> bytes:
    sha = db.scalar("SELECT sha256 FROM statements WHERE id = ?", [statement_id])
    if sha is None:
        raise InputError(f"Выписка № {statement_id} не найдена")
    path = originals_dir(db) / sha
    if not path.exists():
        raise InputError(f"Исходный файл выписки № {statement_id} не найден в {originals_dir(db)}")
    return path.read_bytes()


def _keep_original(db: Database, sha: str, data: bytes) -> Path | None:
    """Write the original once; returns its path when this call created it."""
    folder = originals_dir(db)
    path = folder / sha
    tmp = folder / f".{sha}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if path.exists():
            return None
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        if folder.is_dir():
            tmp.unlink(missing_ok=True)
        raise LedgerError(f"Не удалось сохранить исходный файл выписки в {folder}: {exc.strerror or exc}. "
                          f"Выписка не загружена") from None
    return path


def remove_stale_originals(db: Database) -> int:
    """Delete the temporary copies (.<sha>.<pid>.<thread>.tmp) an import killed half-way left in data/originals;
    those of a process still running are its imports under way and stay."""
    folder = originals_dir(db)
    removed = 0
    for path in folder.glob(".*.tmp") if folder.is_dir() else []:
        parts = path.name.split(".")
        pid = int(parts[2]) if len(parts) >= 5 and parts[2].isdigit() else None
        if pid is not None and _running(pid):
            continue
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # exists, owned by someone else
        return True
    return True


def statement_accounts(parsed: ParsedStatement) -> list[str]:
    """Every account of ours the statement covers (its header and its payments)."""
    found = [a for a in parsed.accounts if a]
    for account, _ in parsed.sums():
        if account and account not in found:
            found.append(account)
    return found


def check_statement(parsed: ParsedStatement, known: list[str], allow_currency: bool = False) -> list[str]:
    """Why this statement may not be imported: an account the cooperative does not have (`known`; none yet means
    any), or another currency without the user's consent."""
    problems = []
    if known:
        strangers = [a for a in statement_accounts(parsed) if a not in known]
        for account in strangers:
            problems.append(f"{parsed.name}: счёт {account} не указан в реквизитах кооператива: добавьте его на странице "
                            f"«Кооператив» или командой coop cooperative set bank_accounts={','.join(known + strangers)}")
    foreign = parsed.foreign
    if foreign and not allow_currency:
        problems.append(f"{parsed.name}: выписка в валюте {', '.join(foreign)} — валютная выписка загружается только "
                        f"по согласию (coop bank import --allow-currency, в приложении — отметка «Загружать валютные "
                        f"выписки»); её платежи не разносятся по членам и не входят в долги")
    return problems


def known_accounts(db: Database) -> list[str]:
    return cooperative.accounts(cooperative.get_settings(db))


def parse(db: Database, data: bytes, name: str, progress: Progress | None = None, allow_currency: bool = False,
          known: list[str] | None = None) -> ParsedStatement:
    """Parse a statement for preview (no writes) and check it may be imported; the cooperative's account fills in
    where the file has none. `known` overrides the cooperative's accounts (the CLI checks several files at once,
    and the first may give a cooperative without accounts its own)."""
    accounts = known_accounts(db) if known is None else known
    parsed = parse_statement(data, name, default_account=accounts[0] if accounts else None, progress=progress)
    problems = check_statement(parsed, accounts, allow_currency)
    if problems:
        raise InputError(problems)
    return parsed


def import_statement(db: Database, data: bytes, name: str, actor: str | None = None, progress: Progress | None = None,
                     parsed: ParsedStatement | None = None, allow_currency: bool = False) -> ImportResult:
    """Import one statement file in one transaction: all of it or, on any error, nothing.

    `parsed` may carry the result of an earlier parse() of the same bytes (the upload page's preview). A statement
    of an account the cooperative does not have is refused; while it has none, the statement's accounts become its
    accounts (result.adopted). Another currency needs allow_currency.
    """
    remove_stale_originals(db)
    if parsed is None:
        parsed = parse(db, data, name, progress, allow_currency)
    # The file's hash and the copy of the original are made by other threads while DuckDB fingerprints the
    # payments (hashlib and file writes let go of the GIL); the copy is on disk before the payments commit.
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="statement-original")
    hashing = background.submit(lambda: hashlib.sha256(data).hexdigest())
    keeping = background.submit(lambda: _keep_original(db, hashing.result(), data))
    background.shutdown(wait=False)
    result = ImportResult(name=name, format=parsed.format, total=len(parsed), our_account=parsed.our_account,
                          period_from=parsed.period_from, period_to=parsed.period_to, warnings=list(parsed.warnings),
                          pending=parsed.pending, currencies=parsed.currencies)
    accounts = statement_accounts(parsed)
    if progress:
        progress(0.65, "Проверка повторов…")
    table = parsed.to_table()
    try:
        with db.transaction() as con:
            known = cooperative.accounts(dict(con.execute(
                "SELECT key, value FROM coop_settings WHERE key IN ('bank_account', 'bank_accounts')").fetchall()))
            problems = check_statement(parsed, known, allow_currency)
            if problems:
                raise InputError(problems)
            if not known and accounts:
                _adopt_accounts(con, accounts, actor)
                result.adopted = accounts
            fingerprint_table(con, table)
            try:
                sha = hashing.result()
                known = con.execute("SELECT id, file_name FROM statements WHERE sha256 = ?", [sha]).fetchone()
                if known:
                    result.statement_id, result.same_file, result.already = known[0], True, len(parsed)
                    result.warnings.append(f"{name}: этот файл уже загружен (выписка № {known[0]}, «{known[1]}»)")
                    audit.log(con, actor, "bank_statement_import", name, same_file=True, statement_id=known[0])
                    keeping.result()
                    return result
                fresh = dict(con.execute(
                    "SELECT direction, count(*) FROM _bank_fp WHERE known_id IS NULL GROUP BY direction").fetchall())
                result.new, result.outgoing = fresh.get("in", 0), fresh.get("out", 0)
                result.already = result.total - result.new - result.outgoing
                statement_id = con.execute(
                    "INSERT INTO statements (sha256, file_name, format, our_account, period_from, period_to, imported_at, "
                    "imported_by, docs_total, docs_new, warnings, file_size, docs_in, docs_out, total_in, total_out, "
                    "opening_balance, closing_balance, currency, accounts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [sha, name, parsed.format, parsed.our_account, parsed.period_from, parsed.period_to, utcnow(), actor,
                     result.total, result.new + result.outgoing,
                     json.dumps(parsed.warnings, ensure_ascii=False) if parsed.warnings else None, len(data),
                     parsed.incoming, parsed.outgoing, parsed.total("in"), parsed.total("out"),
                     parsed.opening_balance, parsed.closing_balance, ",".join(parsed.currencies) or "RUB",
                     ",".join(accounts) or None]).fetchone()[0]
                result.statement_id = statement_id
                if progress:
                    progress(0.8, "Запись платежей…")
                # The unique index on payments.fingerprint still refuses a payment stored twice (a concurrent
                # import, say). The new payments are found again by their new statement_id (zone maps skip the
                # old row groups), not by a join of all payments on the fingerprint.
                cols = [f for f in PAYMENT_FIELDS if f != "line"]
                con.execute(
                    f"INSERT INTO payments (fingerprint, source_line, {', '.join(cols)}, statement_id, created_at) "
                    f"SELECT f.fingerprint, a.line, {', '.join('a.' + c for c in cols)}, $1, $2 FROM _bank_arrow a "
                    f"JOIN _bank_fp f ON f.ord = a.ord WHERE f.known_id IS NULL ORDER BY a.ord", [statement_id, utcnow()])
                con.execute("INSERT INTO payment_sources (payment_id, statement_id, source_line) "
                            "SELECT known_id, $1, line FROM _bank_fp WHERE known_id IS NOT NULL "
                            "UNION ALL SELECT id, $1, source_line FROM payments WHERE statement_id = $1", [statement_id])
            finally:
                forget_table(con)
            audit.log(con, actor, "bank_statement_import", name, statement_id=statement_id, format=parsed.format,
                      new=result.new, already=result.already, outgoing=result.outgoing)
            keeping.result()   # a disk that cannot take the original fails the import before anything commits
    except BaseException:
        try:
            created = keeping.result()
        except Exception:   # the copy itself failed: nothing to take back
            created = None
        if created is not None:
            created.unlink(missing_ok=True)
        raise
    if progress:
        progress(1.0, f"Готово: {result.summary()}")
    return result


def _adopt_accounts(con, accounts: list[str], actor: str | None) -> None:
    """The first statement of a cooperative without accounts gives it its accounts (in the import's transaction)."""
    con.execute("INSERT INTO coop_settings VALUES ('bank_accounts', ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                [",".join(accounts), utcnow(), actor])
    audit.log(con, actor, "settings_changed", "cooperative", keys=["bank_accounts"], source="bank_statement_import",
              accounts=accounts)


def delete_statement(db: Database, statement_id: int, actor: str | None = None) -> dict[str, int]:
    """Delete a statement; its payments go with it unless another loaded statement still holds them."""
    with db.transaction() as con:
        row = con.execute("SELECT sha256, file_name FROM statements WHERE id = ?", [statement_id]).fetchone()
        if row is None:
            raise InputError(f"Выписка № {statement_id} не найдена")
        sha, file_name = row
        con.execute("CREATE TEMP TABLE _orphans AS SELECT DISTINCT payment_id FROM payment_sources s WHERE statement_id = ? "
                    "AND NOT EXISTS (SELECT 1 FROM payment_sources o WHERE o.payment_id = s.payment_id "
                    "AND o.statement_id <> ?)", [statement_id, statement_id])
        try:
            deleted = con.execute("SELECT count(*) FROM _orphans").fetchone()[0]
            kept = con.execute("SELECT count(DISTINCT payment_id) FROM payment_sources WHERE statement_id = ?",
                               [statement_id]).fetchone()[0] - deleted
            for table, key in (("match_splits", "payment_id"), ("matches", "payment_id"), ("payments", "id")):
                con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT payment_id FROM _orphans)")
        finally:
            con.execute("DROP TABLE _orphans")
        con.execute(
            "UPDATE payments SET statement_id = s.sid, source_line = s.line FROM ("
            " SELECT payment_id, min(statement_id) AS sid, arg_min(source_line, statement_id) AS line"
            " FROM payment_sources WHERE statement_id <> ? GROUP BY payment_id) s "
            "WHERE payments.id = s.payment_id AND payments.statement_id = ?", [statement_id, statement_id])
        con.execute("DELETE FROM payment_sources WHERE statement_id = ?", [statement_id])
        con.execute("DELETE FROM statements WHERE id = ?", [statement_id])
        from .matching import drop_orphans   # payer links learned from the deleted payments go with them

        drop_orphans(con)
        audit.log(con, actor, "bank_statement_delete", file_name, statement_id=statement_id,
                  payments_deleted=deleted, payments_kept=kept)
    (originals_dir(db) / sha).unlink(missing_ok=True)
    return {"deleted": deleted, "kept": kept}


def list_statements(db: Database) -> list[dict]:
    """Loaded statements, newest period first, with counts and totals of what each file contains."""
    rows = db.records(
        "SELECT id, file_name, format, our_account, period_from, period_to, imported_at, imported_by, docs_total, "
        "docs_new, docs_in, docs_out, total_in, total_out, opening_balance, closing_balance, warnings, file_size, "
        "coalesce(currency, 'RUB') AS currency, accounts FROM statements ORDER BY period_to DESC NULLS LAST, id DESC")
    for r in rows:
        r["format_label"] = FORMAT_LABELS.get(r["format"], r["format"])
        r["warnings"] = json.loads(r["warnings"]) if r["warnings"] else []
        r["foreign"] = [c for c in r["currency"].split(",") if c and c != "RUB"]
    return rows


def payment_totals(db: Database) -> dict[str, Any]:
    row = db.fetchone("SELECT count(*) FILTER (WHERE direction = 'in'), coalesce(sum(amount) FILTER (WHERE direction = 'in'), 0), "
                      "count(*) FILTER (WHERE direction = 'out'), coalesce(sum(amount) FILTER (WHERE direction = 'out'), 0) "
                      f"FROM payments WHERE {ROUBLES}")
    return {"in": row[0], "sum_in": Decimal(row[1]), "out": row[2], "sum_out": Decimal(row[3])}
