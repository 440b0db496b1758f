"""The one HTTP client every integration uses (httpx).

- HTTPS only. Plain http goes only to 127.0.0.1/localhost/::1 and only when COOP_ALLOW_INSECURE_LOOPBACK=1
  (tests, local relays). The same rule is offered to non-HTTP integrations (SMTP without TLS).
- Timeouts on every request; retries with exponential backoff and full jitter (tenacity) on connection
  errors, 5xx and 429, waiting at least what Retry-After asks (seconds or an HTTP date) up to a cap.
  A non-idempotent request (POST, PATCH) is retried only when it carries an idempotency key.
- OAuth 2.0: client credentials, and authorization code with refresh tokens. Tokens are cached encrypted
  in the vault, refreshed shortly before they expire, and once more when the service answers 401.
- Optional client certificate (mTLS) and extra CA file.
- Every attempt is appended to the audit log: integration, operation, host, path (without the query
  string), status, duration, bytes, error. Secrets never reach the log or an exception.
The transport is injectable (httpx.MockTransport, a WSGI app, …) so tests need no network.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import re
import ssl
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from ledger import audit
from ledger.db import utcnow

from .base import Integration, IntegrationError, redact

# httpx logs every request's full URL at INFO; some services carry a token in the URL (Telegram's /bot<token>/),
# so those lines are kept out of the application's logs. Our own record of each call is the audit log.
logging.getLogger("httpx").setLevel(logging.WARNING)


class _UrlRedactingFilter(logging.Filter):
    """Should someone turn httpx's logging up anyway: its lines lose URL query strings (MAX's ?user_id=…, keys
    some services take there) and the token in Telegram's /bot<token>/ path."""

    _QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
    _BOT = re.compile(r"/bot[^/\s\"']+/")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self._BOT.sub("/bot***/", self._QUERY.sub(r"\1?***", text))
        if clean != text:
            record.msg, record.args = clean, None
        return True


logging.getLogger("httpx").addFilter(_UrlRedactingFilter())

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
INSECURE_ENV = "COOP_ALLOW_INSECURE_LOOPBACK"
IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = {429, 500, 502, 503, 504}
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def insecure_allowed(host: str | None) -> bool:
    """Plain (unencrypted) traffic is allowed only to loopback, and only when the env flag is set."""
    return os.environ.get(INSECURE_ENV) == "1" and (host or "").strip("[]").lower() in LOOPBACK_HOSTS


def check_url(url: str | httpx.URL, integration: str) -> None:
    parsed = urlsplit(str(url))
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and insecure_allowed(parsed.hostname):
        return
    raise IntegrationError(f"Интеграция {integration}: адрес {parsed.scheme}://{parsed.hostname or ''} не защищён; "
                           f"допускается только https")


class AuthorizationError(IntegrationError):
    """The service no longer accepts our authorization (token revoked or expired, refresh refused): a person has
    to sign in again; retrying will not help."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, response: httpx.Response | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.response = response


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass
class OAuth2:
    """OAuth 2.0 settings of one integration; tokens are kept in the vault under oauth/<integration>/token."""
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    grant: str = "client_credentials"      # or "authorization_code"
    refresh_margin: float = 60.0           # seconds before expiry at which a token is renewed


class HttpClient:
    def __init__(self, integration: Integration, *, base_url: str = "", transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT, attempts: int = 4, backoff: float = 0.5,
                 max_backoff: float = 30.0, max_retry_after: float = 120.0, oauth: OAuth2 | None = None,
                 client_cert: tuple[str, str] | None = None, ca_file: str | None = None,
                 basic_auth: tuple[str, str] | None = None, auth: httpx.Auth | None = None):
        if base_url:
            check_url(base_url, integration.name)
        self.integration = integration
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.oauth = oauth
        self._secrets = list(integration.secrets()) + ([oauth.client_secret] if oauth else [])
        self._client = httpx.Client(base_url=base_url, transport=transport, timeout=timeout,
                                    auth=auth or (httpx.BasicAuth(*basic_auth) if basic_auth else None),
                                    verify=_ssl_context(ca_file, client_cert), follow_redirects=False,
                                    headers={"User-Agent": "coop-ledger"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str, url: str, *, operation: str | None = None, idempotency_key: str | None = None,
                headers: dict[str, str] | None = None, raise_for_status: bool = True, bearer: bool = True,
                retry_safe: bool = False, sink: BinaryIO | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request (kwargs as for httpx: params, json, data, content, files).

        retry_safe marks a POST that has no side effects (e.g. fetching a token) as safe to repeat.
        A streamed body (content an iterator of bytes) is sent once: it cannot be read again.
        With a sink, a successful (2xx) response body is written to it piece by piece instead of kept
        in memory; a connection cut after the first piece is not retried.
        """
        method = method.upper()
        headers = dict(headers or {})
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        streamed = kwargs.get("content") is not None and not isinstance(kwargs["content"], (bytes, str))
        retry_safe = not streamed and (retry_safe or method in IDEMPOTENT_METHODS or bool(idempotency_key))
        if sink is not None:
            kwargs["sink"] = sink
        operation = operation or method
        refreshed = False
        while True:
            if bearer and self.oauth:
                headers["Authorization"] = f"Bearer {self._token()}"
            response = self._with_retries(method, url, operation, headers, retry_safe, kwargs)
            if response.status_code == 401 and bearer and self.oauth and not refreshed:
                self._token(force=True)
                refreshed = True
                continue
            break
        if raise_for_status and response.status_code >= 400:
            raise IntegrationError(f"Интеграция {self.integration.name}, {operation}: сервер ответил "
                                   f"{response.status_code} {response.reason_phrase}")
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def _wait(self, state: RetryCallState) -> float:
        jitter = wait_random_exponential(multiplier=self.backoff, max=self.max_backoff)(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return max(jitter, min(retry_after, self.max_retry_after))
        return jitter

    def _with_retries(self, method: str, url: str, operation: str, headers: dict, retry_safe: bool,
                      kwargs: dict) -> httpx.Response:
        retrying = Retrying(stop=stop_after_attempt(self.attempts if retry_safe else 1), wait=self._wait,
                            retry=retry_if_exception_type(_Retryable), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(method, url, operation, headers, kwargs, attempt.retry_state.attempt_number)
        except _Retryable as exc:
            if exc.response is not None:
                return exc.response
            raise IntegrationError(f"Интеграция {self.integration.name}, {operation}: {exc.reason}") from None
        raise AssertionError("unreachable")

    def _attempt(self, method: str, url: str, operation: str, headers: dict, kwargs: dict,
                 number: int) -> httpx.Response:
        kwargs = dict(kwargs)
        sink = kwargs.pop("sink", None)
        sent = [0]
        if kwargs.get("content") is not None and not isinstance(kwargs["content"], (bytes, str)):
            kwargs["content"] = _counted(kwargs["content"], sent)
        request = self._client.build_request(method, url, headers=headers, **kwargs)
        check_url(request.url, self.integration.name)
        host, path = request.url.host, redact(request.url.path, self._secrets)
        started = time.perf_counter()

        def log(ok: bool, status=None, nbytes=None, error=None):
            audit.external_call(self.integration.ctx.db, self.integration.name, operation, ok=ok, host=host, path=path,
                                status=status, duration_ms=round((time.perf_counter() - started) * 1000),
                                nbytes=nbytes, error=redact(error, self._secrets) if error else None,
                                actor=self.integration.ctx.actor, method=method, attempt=number)

        received = 0
        try:
            response = self._client.send(request, stream=sink is not None)
            if sink is not None and 200 <= response.status_code < 300:
                try:
                    for piece in response.iter_bytes():   # as received: no re-chunking copies
                        sink.write(piece)
                        received += len(piece)
                finally:
                    response.close()
                response._content = b""
            else:
                response.read()
                received = len(response.content)
        except httpx.TransportError as exc:
            reason = _transport_reason(exc)
            log(False, nbytes=sent[0] + received or None, error=reason)
            if received or sent[0]:
                raise IntegrationError(f"Интеграция {self.integration.name}, {operation}: {reason} "
                                       f"(передача прервана)") from None
            raise _Retryable(reason) from None
        nbytes = (sent[0] if isinstance(kwargs.get("content"), _CountedStream) else len(request.content or b"")) + received
        if response.status_code in RETRY_STATUSES:
            log(False, response.status_code, nbytes, f"{response.status_code} {response.reason_phrase}")
            raise _Retryable(f"сервер ответил {response.status_code} {response.reason_phrase}",
                             parse_retry_after(response.headers.get("Retry-After")), response)
        log(response.status_code < 400, response.status_code, nbytes,
            None if response.status_code < 400 else f"{response.status_code} {response.reason_phrase}")
        return response

    # -- OAuth 2.0 -----------------------------------------------------------------------------
    @property
    def _token_slot(self) -> str:
        return f"oauth/{self.integration.name}/token"

    def cached_token(self) -> dict | None:
        text = self.integration.ctx.vault.get(self._token_slot)
        return json.loads(text) if text else None

    def _token(self, force: bool = False) -> str:
        assert self.oauth is not None
        cached = self.cached_token()
        if cached and not force:
            expires = cached.get("expires_at")
            if expires is None or datetime.fromisoformat(expires) - timedelta(seconds=self.oauth.refresh_margin) > utcnow():
                return cached["access_token"]
        if cached and cached.get("refresh_token"):
            return self._fetch_token({"grant_type": "refresh_token", "refresh_token": cached["refresh_token"]},
                                     keep_refresh=cached["refresh_token"])
        if self.oauth.grant == "client_credentials":
            data = {"grant_type": "client_credentials"}
            if self.oauth.scope:
                data["scope"] = self.oauth.scope
            return self._fetch_token(data)
        raise AuthorizationError(f"Интеграция {self.integration.name}: нет действующего токена; пройдите авторизацию заново")

    def seed_refresh_token(self, refresh_token: str | None) -> None:
        """Start from a refresh token the admin obtained (a setting) when no token is cached yet."""
        if refresh_token and self.cached_token() is None:
            self._secrets.append(refresh_token)
            self.integration.ctx.vault.put(self._token_slot, json.dumps(
                {"access_token": "", "refresh_token": refresh_token, "expires_at": "2000-01-01T00:00:00"}),
                actor=self.integration.ctx.actor)

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str | None = None) -> None:
        """Authorization-code grant: trade the code the user brought back for tokens (cached in the vault)."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            data["code_verifier"] = code_verifier
        self._secrets.append(code)
        self._fetch_token(data)

    def _fetch_token(self, data: dict, keep_refresh: str | None = None) -> str:
        assert self.oauth is not None
        if keep_refresh:
            self._secrets.append(keep_refresh)
        basic = base64.b64encode(f"{quote(self.oauth.client_id)}:{quote(self.oauth.client_secret)}".encode()).decode()
        response = self.request("POST", self.oauth.token_url, operation="oauth token", bearer=False,
                                raise_for_status=False, retry_safe=True, data=data,
                                headers={"Accept": "application/json", "Authorization": f"Basic {basic}"})
        return self._store_token(response, keep_refresh)

    def _store_token(self, response: httpx.Response, keep_refresh: str | None) -> str:
        name = self.integration.name
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            error = body.get("error") if isinstance(body, dict) else None
            if keep_refresh and error == "invalid_grant":
                self.integration.ctx.vault.delete(self._token_slot)
                raise AuthorizationError(f"Интеграция {name}: сервер авторизации отказал ({response.status_code}, "
                                         f"{error}): срок авторизации истёк или она отозвана")
            raise IntegrationError(f"Интеграция {name}: сервер авторизации отказал ({response.status_code}"
                                   f"{', ' + str(error) if error else ''})")
        now = utcnow()
        token = {"access_token": body["access_token"], "refresh_token": body.get("refresh_token") or keep_refresh,
                 "expires_at": (now + timedelta(seconds=int(body["expires_in"]))).isoformat()
                 if body.get("expires_in") else None,
                 "refresh_expires_at": (now + timedelta(seconds=int(body["refresh_expires_in"]))).isoformat()
                 if body.get("refresh_expires_in") else None}
        self._secrets += [token["access_token"]] + ([token["refresh_token"]] if token["refresh_token"] else [])
        self.integration.ctx.vault.put(self._token_slot, json.dumps(token), actor=self.integration.ctx.actor)
        return token["access_token"]


class _CountedStream:
    def __init__(self, pieces, sent: list[int]):
        self.pieces, self.sent = pieces, sent

    def __iter__(self):
        for piece in self.pieces:
            self.sent[0] += len(piece)
            yield piece


def _counted(content, sent: list[int]):
    """A streamed body that counts what was sent (for the audit log and resumption)."""
    pieces = iter(lambda: content.read(1 << 20), b"") if hasattr(content, "read") else content
    return _CountedStream(pieces, sent)


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "нет соединения: истекло время ожидания"
    if isinstance(exc, httpx.ConnectError):
        return "нет соединения с сервером"
    if isinstance(exc, httpx.TimeoutException):
        return "сервер не ответил вовремя"
    return f"сбой связи ({type(exc).__name__})"


def _ssl_context(ca_file: str | None, client_cert: tuple[str, str] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if client_cert:
        cert_pem, key_pem = client_cert
        with tempfile.TemporaryDirectory(prefix="coop-mtls-") as tmp:
            cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            for path, text in ((cert_path, cert_pem), (key_path, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
            try:
                ctx.load_cert_chain(cert_path, key_path)
            except ssl.SSLError:
                raise IntegrationError("Клиентский сертификат или ключ не читается (нужен PEM без пароля)") from None
    return ctx
