"""The shared HTTP client against a real local server on 127.0.0.1: HTTPS rule, retries with backoff and
Retry-After, no retry of non-idempotent requests, OAuth 2.0 tokens (cached encrypted, refreshed before
expiry and on 401), mTLS, and an audit entry per call with no secret in it."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from base64 import b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote

import pytest

from integrations.base import Context, IntegrationError
from integrations.http import HttpClient, OAuth2, check_url, parse_retry_after
from ledger import audit
from tests.certs import mtls_server
from tests.cloud_servers import send
from tests.fakes import FakeBank

CLIENT_SECRET = "s3cr3t-client-Пароль"


class Server:
    """Scripted responses per path; records every request."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.script: dict[str, list[tuple[int, dict, bytes]]] = {}
        self.requests: list[dict] = []
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.expires_in = 3600
        self.reject_all = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                send(self, *outer.respond(self.command, self.path, dict(self.headers), body))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def respond(self, method, path, headers, body):
        if path == "/token":
            auth = headers.get("Authorization", "")
            if b64decode(auth.removeprefix("Basic ")).decode() != f"client:{quote(CLIENT_SECRET)}":
                return 401, {"Content-Type": "application/json"}, b'{"error": "invalid_client"}'
            form = parse_qs(body.decode())
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid_tokens = {token}
            answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in,
                      "grant": form["grant_type"][0]}
            if form["grant_type"][0] in ("authorization_code", "refresh_token"):
                answer["refresh_token"] = f"ref-{self.tokens_issued}"
            return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()
        if path.startswith("/api"):
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.valid_tokens or self.reject_all:
                return 401, {}, b"unauthorized"
            return 200, {}, b"data"
        queue = self.script.get(path)
        if queue:
            return queue.pop(0)
        return 200, {}, b"ok"

    def hits(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def loopback(db_path, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")


@pytest.fixture
def bank(db):
    return FakeBank({"token": "bank-token-XYZ"}, Context(db, actor="test"))


def client(bank, **kw) -> HttpClient:
    kw.setdefault("backoff", 0.01)
    return HttpClient(bank, **kw)


def test_only_https_except_loopback_with_the_flag(monkeypatch, bank):
    with pytest.raises(IntegrationError, match="не защищён"):
        check_url("http://example.ru/x", "t")
    with pytest.raises(IntegrationError, match="не защищён"):
        check_url("http://127.0.0.1:8000/x", "t")
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    check_url("http://127.0.0.1:8000/x", "t")
    check_url("http://localhost/x", "t")
    with pytest.raises(IntegrationError, match="не защищён"):
        check_url("http://10.0.0.1/x", "t")
    check_url("https://example.ru/x", "t")


def test_retries_5xx_then_succeeds_and_audits_each_attempt(server, loopback, bank, db):
    server.script["/flaky?token=abc"] = [(503, {}, b""), (502, {}, b"")]
    with client(bank) as c:
        r = c.get(server.url("/flaky?token=abc"))
    assert r.text == "ok"
    assert len(server.hits("/flaky?token=abc")) == 3
    calls = audit.entries(db, integration="fake_bank")[::-1]
    assert [(e["status"], e["ok"]) for e in calls] == [("503", False), ("502", False), ("200", True)]
    assert all(e["host"] == "127.0.0.1" and e["path"] == "/flaky" and e["duration_ms"] is not None for e in calls)
    assert calls[-1]["bytes"] == 2


def test_gives_up_after_the_attempts(server, loopback, bank):
    server.script["/down"] = [(500, {}, b"")] * 10
    with client(bank, attempts=3) as c, pytest.raises(IntegrationError, match="500"):
        c.get(server.url("/down"))
    assert len(server.hits("/down")) == 3


def test_429_waits_what_retry_after_asks(server, loopback, bank):
    server.script["/limited"] = [(429, {"Retry-After": "1"}, b"")]
    started = time.monotonic()
    with client(bank) as c:
        assert c.get(server.url("/limited")).status_code == 200
    assert time.monotonic() - started >= 1.0
    assert len(server.hits("/limited")) == 2
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("7") == 7


def test_post_is_not_retried_without_an_idempotency_key(server, loopback, bank):
    server.script["/pay"] = [(503, {}, b""), (200, {}, b"ok")]
    with client(bank) as c, pytest.raises(IntegrationError, match="503"):
        c.post(server.url("/pay"), json={"amount": "100.00"})
    assert len(server.hits("/pay")) == 1
    server.script["/pay2"] = [(503, {}, b""), (200, {}, b"ok")]
    with client(bank) as c:
        assert c.post(server.url("/pay2"), json={"amount": "1"}, idempotency_key="k-1").status_code == 200
    hits = server.hits("/pay2")
    assert len(hits) == 2 and {h["headers"]["Idempotency-Key"] for h in hits} == {"k-1"}


def test_a_token_in_the_url_path_is_redacted_from_the_log(server, loopback, db, caplog):
    caplog.set_level(logging.DEBUG)
    bot = FakeBank({"token": "123456:ABC-bot-token"}, Context(db))
    with client(bot) as c:
        c.get(server.url("/bot123456:ABC-bot-token/sendMessage"))
    assert audit.entries(db, integration="fake_bank")[0]["path"] == "/bot***/sendMessage"
    assert "ABC-bot-token" not in caplog.text


def test_connection_refused_is_retried_then_reported(loopback, bank, db):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with client(bank, attempts=2) as c, pytest.raises(IntegrationError, match="нет соединения"):
        c.get(f"http://127.0.0.1:{port}/x")
    assert [e["error"] for e in audit.entries(db, integration="fake_bank")] == ["нет соединения с сервером"] * 2


def test_client_credentials_token_cached_encrypted_and_refreshed_on_401(server, loopback, bank, db, caplog):
    caplog.set_level(logging.DEBUG)
    oauth = OAuth2(server.url("/token"), "client", CLIENT_SECRET)
    with client(bank, oauth=oauth) as c:
        assert c.get(server.url("/api/a")).text == "data"
        assert c.get(server.url("/api/b")).text == "data"
        assert server.tokens_issued == 1                     # cached
        server.valid_tokens = {"rotated-by-server"}           # the server revokes the token
        assert c.get(server.url("/api/c")).text == "data"    # 401, one refresh, repeated
        assert server.tokens_issued == 2
        assert len(server.hits("/api/c")) == 2
        server.reject_all = True
        with pytest.raises(IntegrationError, match="401"):
            c.get(server.url("/api/d"))                       # refreshed once, still 401: no loop
        assert server.tokens_issued == 3
        assert len(server.hits("/api/d")) == 2
    token_request = server.hits("/token")[0]
    assert "grant_type=client_credentials" in token_request["body"].decode()
    assert token_request["headers"]["Authorization"].startswith("Basic ")
    assert db.scalar("SELECT count(*) FROM vault_secrets WHERE name = 'oauth/fake_bank/token'") == 1
    raw = db.path.read_bytes()
    assert b"tok-2" not in raw and CLIENT_SECRET.encode() not in raw
    dump = str(db.fetchall("SELECT * FROM audit_log"))
    assert "tok-" not in dump and CLIENT_SECRET not in dump and "bank-token-XYZ" not in dump
    assert CLIENT_SECRET not in caplog.text and "tok-1" not in caplog.text


def test_token_refreshed_before_expiry_with_refresh_token(server, loopback, bank, db):
    server.expires_in = 30  # inside the 60 s margin: renewed before each use
    oauth = OAuth2(server.url("/token"), "client", CLIENT_SECRET, grant="authorization_code")
    with client(bank, oauth=oauth) as c:
        with pytest.raises(IntegrationError, match="авторизацию"):
            c.get(server.url("/api/x"))                      # no code exchanged yet
        c.exchange_code("code-123", "https://coop.example/callback")
        assert server.tokens_issued == 1
        assert c.get(server.url("/api/x")).text == "data"
    grants = [parse_qs(r["body"].decode())["grant_type"][0] for r in server.hits("/token")]
    assert grants == ["authorization_code", "refresh_token"]
    assert parse_qs(server.hits("/token")[1]["body"].decode())["refresh_token"] == ["ref-1"]


def test_https_with_client_certificate(tmp_path, bank):
    tls, cert_path, client_cert, client_key = mtls_server(tmp_path)
    s = Server(tls)
    try:
        with client(bank, ca_file=cert_path, client_cert=(client_cert, client_key)) as c:
            assert c.get(s.url("/hello", "https")).text == "ok"
        with client(bank, ca_file=cert_path, attempts=1) as c, pytest.raises(IntegrationError):
            c.get(s.url("/hello", "https"))                   # no client certificate: refused
    finally:
        s.stop()
