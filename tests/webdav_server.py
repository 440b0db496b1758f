"""A real WebDAV server (wsgidav on cheroot) on 127.0.0.1 with HTTPS and basic authentication."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.wsgidav_app import WsgiDAVApp

from tests.certs import server_files
from tests.smtp_server import free_port

USER, PASSWORD = "backup", "Пароль-Копий-7"


class WebDavServer:
    def __init__(self, folder: Path, tls: bool = True):
        self.root = folder / "dav-root"
        self.root.mkdir()
        self.port = free_port()
        config = {
            "host": "127.0.0.1", "port": self.port, "provider_mapping": {"/dav": str(self.root)},
            "http_authenticator": {"domain_controller": None, "accept_basic": True, "accept_digest": False,
                                   "default_to_digest": False},
            "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
            "verbose": 0, "logging": {"enable_loggers": []},
        }
        self.server = wsgi.Server(("127.0.0.1", self.port), WsgiDAVApp(config))
        self.cert = None
        if tls:
            self.cert, key = server_files(folder)
            self.server.ssl_adapter = BuiltinSSLAdapter(str(self.cert), str(key))
        self.thread = threading.Thread(target=self.server.start, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.ready and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/dav/копии/"

    def stop(self):
        self.server.stop()
