"""A real WebDAV server (wsgidav on cheroot) on 127.0.0.1 with HTTPS and basic authentication."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav.wsgidav_app import WsgiDAVApp

from tests.certs import server_files
from tests.smtp_server import free_port

USER, PASSWORD = "backup", "Пароль-Копий-7"
# wsgidav reads and writes bodies in blocks of 8 KB unless told otherwise (its "block_size" setting); servers in
# front of real WebDAV stores (nginx, Apache mod_dav, Nextcloud) move far larger blocks.
BLOCK_SIZE = 1 << 20


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
            "verbose": 0, "logging": {"enable_loggers": []}, "block_size": BLOCK_SIZE,
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


class WebDavProcess:
    """The same server in a child process (benchmarks: its CPU is not the measured process's, nor its GIL)."""

    def __init__(self, folder: Path, tls: bool = True):
        import subprocess
        import sys

        self.process = subprocess.Popen([sys.executable, "-m", "tests.webdav_server", str(folder)] +
                                        ([] if tls else ["--plain"]), stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().split("\t")
        if len(line) != 3:
            self.process.kill()
            raise RuntimeError("the WebDAV server process did not start")
        self.url, cert, self.pid = line[0], line[1], int(line[2])
        self.cert = Path(cert) if cert else None
        self.root = folder / "dav-root"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (from /proc, while it runs)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


if __name__ == "__main__":
    import signal
    import sys

    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])   # the server threads inherit it
    server = WebDavServer(Path(sys.argv[1]), tls="--plain" not in sys.argv)
    print(f"{server.url}\t{server.cert or ''}\t{os.getpid()}", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    server.stop()
