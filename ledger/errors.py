"""Errors a user may see. Every message is Russian and names the file, row or field at fault."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error meant for the user: its str() is a readable Russian sentence."""

    exit_code = 1  # of the CLI; 2 for a usage error (an option that does not fit)


class DatabaseBusy(LedgerError):
    """The database file is held by another process for longer than we were willing to wait."""


class DatabaseMissing(LedgerError):
    """The database file named by --db / COOP_DB (or the default one) does not exist. Only `coop init` creates
    one: a mistyped path must not silently start an empty ledger. A usage error, hence exit code 2."""

    exit_code = 2

    def __init__(self, path) -> None:
        super().__init__(f"База {path} не найдена. Создайте её командой `coop init` или проверьте путь "
                         f"(--db или COOP_DB)")


class InputError(LedgerError):
    """Bad input (a file, a setting, an answer). Carries the problems found, each naming its place."""

    def __init__(self, problems: list[str] | str, source: str | None = None, hint: str | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        self.hint = hint          # what to do about it: not a problem of its own (CLI «Подсказка:», page note)
        super().__init__(self.summary())

    def summary(self, limit: int = 20) -> str:
        shown = self.problems[:limit]
        more = len(self.problems) - len(shown)
        text = "\n".join(shown)
        if more > 0:
            text += f"\n… и ещё {more} ошибок"
        return text


class AccessDenied(LedgerError):
    """The signed-in user's role does not allow the action."""
