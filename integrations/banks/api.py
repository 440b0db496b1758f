"""What every bank API source shares: incremental sync with an overlap window, one run per source at a time,
each raw answer imported (and kept as the statement's original) through the bank-import code, matching on the
new payments, and the state the bank page shows (last sync, last error, token expiry).

A source implements `fetch(start, end)`: the raw answers (name, bytes) covering those days. Everything else is
here. A rerun after a failure midway loads exactly what is missing: payments are stored by fingerprint, so the
pages already imported add nothing.
"""

from __future__ import annotations

import abc
import base64
import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import quote

from ledger import audit
from ledger.db import Database, utcnow
from ledger.errors import LedgerError

from ..base import BankSource, Field, ImportOutcome, IntegrationError, StatementFile
from ..http import AuthorizationError, HttpClient, OAuth2

AUTH_EXPIRED = "авторизация в банке истекла: войдите заново"


@dataclass
class SyncResult:
    source: str
    start: date
    end: date
    new: int = 0
    already: int = 0
    outgoing: int = 0
    pending: int = 0
    statement_ids: list[int] = field(default_factory=list)
    matched: dict = field(default_factory=dict)

    def summary(self) -> str:
        from ledger.statements import counts_text

        text = counts_text(self.new, self.already, self.outgoing)
        if self.pending:
            text += f", {self.pending} ещё не проведены банком (загрузятся позже)"
        return text


def local_today() -> date:
    """Today in the cooperative's time zone (COOP_TIMEZONE, default Europe/Moscow)."""
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(os.environ.get("COOP_TIMEZONE", "Europe/Moscow"))).date()
    except Exception:  # no tz database: Moscow has been UTC+3 since 2014
        return (datetime.now(timezone.utc) + timedelta(hours=3)).date()


def jwt_expiry(token: str | None) -> datetime | None:
    """The `exp` claim of a JWT (UTC, naive like utcnow()), read without checking the signature."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), timezone.utc).replace(tzinfo=None)
    except Exception:
        return None


@contextmanager
def run_lock(db: Database, name: str) -> Iterator[None]:
    """One sync per source at a time, across processes (the CLI, the app, cron)."""
    folder = db.path.parent / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"bank-sync-{name}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IntegrationError(f"Интеграция {name}: синхронизация уже идёт; дождитесь её окончания") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class ApiBankSource(BankSource):
    """A bank whose API gives statements; subclasses add their own settings to COMMON_FIELDS and `fetch`."""

    COMMON_FIELDS = (
        Field("start_date", "С какой даты загружать в первый раз", help="ГГГГ-ММ-ДД; дальше — с последней "
              "загруженной даты"),
        Field("overlap_days", "Сколько дней перечитывать заново", "int", default=3,
              help="окно перекрытия: банк может провести платёж задним числом"),
    )
    login_help: str = ""           # how a person signs in again (Russian), shown with AUTH_EXPIRED

    @abc.abstractmethod
    def fetch(self, start: date, end: date) -> Iterator[tuple[str, bytes]]:
        """Raw answers (a name for the statement list, the bytes as the bank sent them) for those days."""

    def our_account(self) -> str | None:
        return self.settings.get("account")

    def oauth(self) -> OAuth2 | None:
        """OAuth 2.0 settings when the source signs in that way (authorization code, refresh tokens)."""
        return None

    def token_expiry(self) -> datetime | None:
        """When the authorization ends: a JWT's exp, or the OAuth refresh token's (the access token's) expiry."""
        if self.settings.get("token"):
            return jwt_expiry(self.settings["token"])
        try:
            oauth = self.oauth()
        except IntegrationError:
            return None
        cached = HttpClient(self, oauth=oauth).cached_token() if oauth else None
        when = cached and (cached.get("refresh_expires_at") or cached.get("expires_at"))
        return datetime.fromisoformat(when) if when else None

    def login_url(self, redirect_uri: str, state: str) -> str:
        """The bank's consent page (authorization code grant); `coop bank login` prints it."""
        oauth = self.oauth()
        if oauth is None or not any(f.key == "authorize_url" for f in self.fields):
            raise IntegrationError(f"Интеграция {self.name}: вход по OAuth 2.0 не настроен (нужны client_id и "
                                   f"client_secret)")
        return (f"{self.setting('authorize_url')}?response_type=code&client_id={quote(oauth.client_id)}"
                f"&redirect_uri={quote(redirect_uri, safe='')}&scope={quote(oauth.scope or '')}&state={quote(state)}")

    def expiries(self) -> list[tuple[str, datetime]]:
        when = self.token_expiry()
        return [("авторизация в банке", when)] if when else []

    def auth_error(self) -> AuthorizationError:
        return AuthorizationError(f"Интеграция {self.name}: {AUTH_EXPIRED}. {self.login_help}".strip())

    def bearer(self, key: str = "token") -> dict[str, str]:
        """The Authorization header of a token setting; a token pasted with stray characters is named, not sent."""
        token = str(self.setting(key) or "").strip()
        if not token.isascii() or any(c.isspace() for c in token):
            raise IntegrationError(f"Интеграция {self.name}, параметр «{self.field(key).label}» ({key}): в токене есть "
                                   f"пробелы или не латинские символы — скопируйте его из интернет-банка заново")
        return {"Authorization": f"Bearer {token}"}

    def call(self, client, method: str, url: str, operation: str, **kw) -> bytes:
        """One request to the bank: 401/403 is an expired authorization, any other error status a Russian message.
        Reading a statement moves no money, so every request is safe to repeat (retries on 429/5xx)."""
        response = client.request(method, url, operation=operation, raise_for_status=False, retry_safe=True, **kw)
        if response.status_code in (401, 403):
            raise self.auth_error()
        if response.status_code >= 400:
            raise IntegrationError(f"Интеграция {self.name}, {operation}: банк ответил {response.status_code} "
                                   f"{response.reason_phrase}")
        return response.content

    def next_link(self, href: str | None) -> str | None:
        """A bank's «next page» link, refused when it leads off the bank's own address (the token goes along)."""
        if not href:
            return None
        from urllib.parse import urljoin, urlsplit

        base = str(self.setting("base_url"))
        target = urljoin(base.rstrip("/") + "/", href)
        if urlsplit(target).netloc != urlsplit(base).netloc:
            raise IntegrationError(f"Интеграция {self.name}: банк указал следующую страницу на другом сервере "
                                   f"({urlsplit(target).hostname}); выписка не загружена")
        return target

    # -- the window -------------------------------------------------------------------------------
    def start_from(self, since: date | None = None) -> date:
        """The first day to read: given, or the last booked day of our account minus the overlap (earlier if
        the bank still had operations not booked from before), or the start_date setting for the first run."""
        if since is not None:
            return since
        db = self.ctx.db
        account = self.our_account()
        last = db.scalar("SELECT max(doc_date) FROM payments WHERE our_account = ?", [account]) if account else None
        pending = db.scalar("SELECT pending_since FROM bank_sync_state WHERE integration = ?", [self.name])
        if last is None:
            configured = self.settings.get("start_date")
            if not configured:
                raise IntegrationError(f"Интеграция {self.name}: выписок счёта {account or '—'} ещё нет — укажите, с "
                                       f"какой даты загружать: coop bank sync --source {self.name} --since ГГГГ-ММ-ДД "
                                       f"или coop integrations configure {self.name} start_date=ГГГГ-ММ-ДД")
            try:
                last = date.fromisoformat(str(configured))
            except ValueError:
                raise IntegrationError(f"Интеграция {self.name}, параметр start_date: «{configured}» — нужна дата "
                                       f"ГГГГ-ММ-ДД") from None
        else:
            last = last - timedelta(days=int(self.setting("overlap_days") or 0))
        return min(last, pending) if pending else last

    def end_day(self) -> date:
        return local_today()

    # -- BankSource -------------------------------------------------------------------------------
    def statements_since(self, since: date) -> list[StatementFile]:
        return [StatementFile(name, data, utcnow()) for name, data in self.fetch(since, self.end_day())]

    def sync(self) -> list[ImportOutcome]:
        result = self.sync_payments()
        return [ImportOutcome(f"{self.name} {result.start:%d.%m.%Y}–{result.end:%d.%m.%Y}", True, result.summary())]

    def sync_payments(self, since: date | None = None) -> SyncResult:
        """Read the bank from the window's start to today, import what is new and match it; state recorded."""
        from ledger import matching, statements

        db, actor = self.ctx.db, self.ctx.actor or f"integration:{self.name}"
        try:
            with run_lock(db, self.name):
                start = self.start_from(since)
                result = SyncResult(self.name, start, self.end_day())
                pending_from = None
                for name, raw in self.fetch(result.start, result.end):
                    parsed = statements.parse(db, raw, name)
                    result.pending += parsed.pending
                    if parsed.pending_from and (pending_from is None or parsed.pending_from < pending_from):
                        pending_from = parsed.pending_from
                    if not len(parsed):
                        continue
                    imported = statements.import_statement(db, raw, name, actor=actor, parsed=parsed)
                    result.new += imported.new
                    result.already += imported.already
                    result.outgoing += imported.outgoing
                    if not imported.same_file and imported.new + imported.outgoing:
                        result.statement_ids.append(imported.statement_id)
                if result.new:
                    ids = [r[0] for r in db.fetchall(
                        f"SELECT id FROM payments WHERE direction = 'in' AND statement_id IN "
                        f"({', '.join('?' * len(result.statement_ids))})", result.statement_ids)]
                    result.matched = matching.match_payments(db, actor=actor, payment_ids=ids)
        except LedgerError as exc:
            expired = isinstance(exc, AuthorizationError)
            if expired and AUTH_EXPIRED not in str(exc):   # the token endpoint refused the refresh
                exc = self.auth_error()
            self._record(error=str(exc), auth_expired=expired)
            if expired:
                self._alert_admin()
            raise exc from None
        self._record(result=result.summary(), pending_since=pending_from)
        return result

    def _record(self, *, result: str | None = None, error: str | None = None, auth_expired: bool = False,
                pending_since: date | None = None) -> None:
        now = utcnow()
        with self.ctx.db.transaction() as con:
            con.execute("INSERT INTO bank_sync_state (integration) VALUES (?) ON CONFLICT DO NOTHING", [self.name])
            if error is None:
                con.execute("UPDATE bank_sync_state SET last_sync_at = ?, last_ok_at = ?, last_result = ?, "
                            "last_error = NULL, last_error_at = NULL, auth_expired = FALSE, pending_since = ? "
                            "WHERE integration = ?", [now, now, result, pending_since, self.name])
            else:
                con.execute("UPDATE bank_sync_state SET last_sync_at = ?, last_error = ?, last_error_at = ?, "
                            "auth_expired = ? WHERE integration = ?", [now, error[:1000], now, auth_expired, self.name])
            audit.log(con, self.ctx.actor, "bank_sync", self.name, ok=error is None, result=result, error=error)

    def _alert_admin(self) -> None:
        from .. import monitoring

        try:
            monitoring.notify_admin(self.ctx.db, actor=self.ctx.actor)
        except Exception:  # the alert also waits on the monitoring page; sending it must not hide the error
            pass


def source_names() -> list[str]:
    """Every installed integration that reads statements from a bank's API (enabled or not)."""
    from .. import registry

    found, _ = registry.discover()
    return sorted(n for n, cls in found.items() if isinstance(cls, type) and issubclass(cls, ApiBankSource))


def sync_sources(db: Database, source: str | None = None, since: date | None = None,
                 actor: str | None = None) -> list[tuple[str, SyncResult | None, str | None]]:
    """Sync one named source or every enabled bank API source: (name, result or None, error or None) each."""
    from .. import registry

    if source:
        names = [source]
    else:
        api_sources = set(source_names())
        names = [r[0] for r in db.fetchall("SELECT name FROM integrations WHERE enabled ORDER BY name")
                 if r[0] in api_sources]
        if not names:
            raise IntegrationError(
                f"Не настроен ни один банк: coop integrations configure БАНК … и coop integrations enable БАНК "
                f"(банки с выписками по API: {', '.join(sorted(api_sources)) or 'не установлены'})")
    out = []
    for name in names:
        try:
            integration = registry.build(db, name, actor)
            if not isinstance(integration, ApiBankSource):
                raise IntegrationError(f"Интеграция «{name}» не получает выписки из банка по API")
            out.append((name, integration.sync_payments(since), None))
            registry.mark_run(db, name)
        except LedgerError as exc:
            out.append((name, None, str(exc)))
    return out


def status(db: Database) -> list[dict]:
    """One row per bank API source (enabled or with a sync history): last sync, next run, last error, token expiry."""
    from .. import registry

    found, _ = registry.discover()
    state = {r["integration"]: r for r in db.records("SELECT * FROM bank_sync_state")}
    rows = []
    for row in registry.overview(db):
        cls = found.get(row["name"])
        if not (isinstance(cls, type) and issubclass(cls, ApiBankSource)):
            continue
        s = state.get(row["name"], {})
        if not row["enabled"] and not s:
            continue
        expiry = None
        try:
            expiry = registry.build(db, row["name"], require_enabled=False).token_expiry()
        except Exception:  # unset settings: no expiry to show
            pass
        rows.append({"name": row["name"], "title": row["title"], "enabled": row["enabled"],
                     "last_sync_at": s.get("last_sync_at"), "last_ok_at": s.get("last_ok_at"),
                     "last_result": s.get("last_result"), "last_error": s.get("last_error"),
                     "auth_expired": bool(s.get("auth_expired")), "next_run_at": row["next_run_at"],
                     "interval_minutes": row["interval_minutes"], "token_expires_at": expiry})
    return rows
