"""A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS or implicit TLS and LOGIN/PLAIN authentication."""

from __future__ import annotations

import socket
import ssl
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.certs import server_files

USER, PASSWORD = "sekretar@snt.test", "почтовый-Пароль-9"


def serve_wsgi(app):
    """A cheroot WSGI server for a local fake service on 127.0.0.1: (server, base_url), already accepting."""
    import threading
    import time

    from cheroot import wsgi

    port = free_port()
    server = wsgi.Server(("127.0.0.1", port), app, numthreads=4)
    threading.Thread(target=server.start, daemon=True).start()
    while not server.ready:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "message": message_from_bytes(envelope.content, policy=policy.default),
                              "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None, "login": session.auth_data})
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER \
        and auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self, folder: Path, mode: str = "starttls"):
        self.cert, key = server_files(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.inbox = Inbox()
        self.port = free_port()
        kwargs = dict(authenticator=_authenticator, auth_required=True)
        if mode == "ssl":
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, ssl_context=context,
                                         auth_require_tls=False, **kwargs)
        elif mode == "starttls":
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, tls_context=context,
                                         require_starttls=True, **kwargs)
        else:
            self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                         auth_require_tls=False, **kwargs)
        self.controller.start()

    def stop(self):
        self.controller.stop()
