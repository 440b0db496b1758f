"""Backups (issue 16): a ~1 GB ledger backed up to the local WebDAV server (wsgidav over HTTPS) and restored,
each through the real `coop` CLI in a child process, so its peak memory (ru_maxrss) is the backup's own.
Target: ≥ 100 MB/s of database (snapshot, compression, encryption and upload together), ≤ 200 MB peak memory;
restore at the same rate."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from integrations import registry
from ledger import backup
from ledger.db import Database
from tests.webdav_server import PASSWORD, USER, WebDavServer

PASSPHRASE = "замер-резервных-копий"
SIZE_MB = int(os.environ.get("COOP_BENCH_BACKUP_MB", "1024"))


def build(db: Database, size_mb: int) -> None:
    """Payments-like rows (ids, amounts, dates, hex text that compresses as poorly as real names and purposes)."""
    rows = size_mb * 17_500
    with db.connect() as con:
        con.execute(f"""CREATE TABLE bench_payments AS
            SELECT range AS id, DATE '2020-01-01' + (range % 2000)::INTEGER AS paid_on,
                   (hash(range) % 10000000 / 100)::DECIMAL(18,2) AS amount,
                   md5(range::VARCHAR) || md5((range * 31)::VARCHAR) AS purpose, md5((range * 7)::VARCHAR) AS payer
            FROM range({rows})""")
        con.execute("CHECKPOINT")
    db.release()


_PEAK = ("import atexit, sys\n"
         "def peak():\n"
         "    for line in open('/proc/self/status'):\n"
         "        if line.startswith('VmHWM:'):\n"
         "            sys.stderr.write('PEAK ' + line.split()[1] + '\\n')\n"
         "atexit.register(peak)\n"
         "from ledger.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def child(db_path: Path, *args: str, stdin: str | None = None) -> tuple[float, int]:
    """Seconds and peak memory (MB, VmHWM of the child's own address space) of one `coop` command."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, "--db", str(db_path), *args], input=stdin,
                          capture_output=True, text=True, env={**os.environ, "COOP_ALLOW_INSECURE_LOOPBACK": "1"})
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"coop {' '.join(args)}: {done.stderr}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK "))
    return elapsed, peak // 1024


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("COOP_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        db = Database(tmp / "data" / "coop.duckdb")
        t = time.perf_counter()
        build(db, SIZE_MB)
        size = db.path.stat().st_size
        print(f"База {size / 1e6:.0f} МБ построена за {time.perf_counter() - t:.0f} с")
        server = WebDavServer(tmp)
        (server.root / "копии").mkdir()
        try:
            registry.configure(db, "webdav", {"url": server.url, "username": USER, "password": PASSWORD,
                                              "ca_file": str(server.cert)})
            registry.set_enabled(db, "webdav", True)
            backup.init_keys(db, PASSPHRASE)
            db.release()
            seconds, peak = child(db.path, "backup", "run", "--to", "webdav")
            (name, stored), = [(v.name, v.size) for v in backup.versions(db, registry.build(db, "webdav"))]
            db.release()
            print(f"Копия (снимок + zstd + age + WebDAV, с проверкой загруженного): {seconds:.1f} с, "
                  f"{size / 1e6 / seconds:.0f} МБ/с базы; объект {stored / 1e6:.0f} МБ; пик памяти {peak} МБ")
            target = tmp / "restored" / "coop.duckdb"
            seconds, peak2 = child(db.path, "backup", "restore", "--from", "webdav", name, "--to", str(target),
                                   stdin=PASSPHRASE + "\n")
            print(f"Восстановление (ключ: scrypt age; WebDAV → age → zstd → tar, проверка сумм, открытие базы): "
                  f"{seconds:.1f} с, {size / 1e6 / seconds:.0f} МБ/с базы; пик памяти {peak2} МБ")
            t = time.perf_counter()
            backup.unlock(backup.sealed_identity(db), PASSPHRASE)
            print(f"  из них открытие ключа парольной фразой (scrypt age): {time.perf_counter() - t:.1f} с")
        finally:
            server.stop()
