"""Statements a bank client program drops into a folder (BankSource), each file imported once.

The import itself is the bank-import code: ledger.statements.import_statement(db, data, name, actor).
Files already taken (by content hash) are skipped, so renaming or copying a file again does nothing;
a file that failed is not retried until its content changes.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

from ledger.db import utcnow
from ledger.errors import LedgerError

from ..base import BankSource, Field, ImportOutcome, IntegrationError, StatementFile

SUFFIXES = (".txt", ".xml", ".csv", ".xlsx")
MAX_FILE = 50 * 1024 * 1024


class StatementFolder(BankSource):
    name = "statement_folder"
    title = "Папка с выписками банк-клиента"
    fields = (
        Field("path", "Папка с выписками", "folder", required=True),
        Field("pattern", "Какие файлы брать (шаблон)", "pattern", default="*",
              help="например kl_to_1c*.txt; по умолчанию все .txt, .xml, .csv, .xlsx"),
    )

    @property
    def folder(self) -> Path:
        return Path(self.setting("path")).expanduser()

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            raise IntegrationError(f"Интеграция statement_folder: папки {self.folder} нет")
        return sorted(p for p in self.folder.glob(self.setting("pattern"))
                      if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith("."))

    def statements_since(self, since: date) -> list[StatementFile]:
        out = []
        with self.audited("list", path=str(self.folder)) as call:
            for p in self._files():
                received = datetime.fromtimestamp(p.stat().st_mtime)
                if received.date() >= since and p.stat().st_size <= MAX_FILE:
                    out.append(StatementFile(p.name, p.read_bytes(), received))
            call.nbytes = sum(len(s.data) for s in out)
        return out

    def sync(self) -> list[ImportOutcome]:
        import_statement = bank_import()
        db = self.ctx.db
        seen = {r[0] for r in db.fetchall("SELECT sha256 FROM integration_files WHERE integration = ?", [self.name])}
        outcomes = []
        for path in self._files():
            if path.stat().st_size > MAX_FILE:
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            try:
                with self.audited("import", path=path.name) as call:
                    call.nbytes = len(data)
                    result = import_statement(db, data, path.name, actor=self.ctx.actor or f"integration:{self.name}")
                outcome = ImportOutcome(path.name, True, _summary(result))
            except LedgerError as exc:
                outcome = ImportOutcome(path.name, False, str(exc))
            with db.transaction() as con:
                con.execute("INSERT INTO integration_files VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            [self.name, digest, path.name, utcnow(), outcome.ok, outcome.message[:1000]])
            outcomes.append(outcome)
        return outcomes

    def check(self) -> str:
        with self.audited("check", path=str(self.folder)):
            count = len(self._files())
        return f"в папке {self.folder} файлов выписок: {count}"


def bank_import():
    """ledger.statements.import_statement(db, data, name, actor) — the bank-import code (issue 3)."""
    try:
        from ledger.statements import import_statement
    except ImportError:
        raise IntegrationError("Интеграция statement_folder: загрузка банковских выписок (ledger.statements) "
                               "не установлена") from None
    return import_statement


def _summary(result) -> str:
    summary = getattr(result, "summary", None)
    return summary() if callable(summary) else str(result if result is not None else "загружено")
