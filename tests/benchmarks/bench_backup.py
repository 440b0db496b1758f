"""Backups (issue 16): a ~1 GB ledger backed up to the local WebDAV server (wsgidav over HTTPS, in its own process)
and restored, each through the real `coop` CLI in a child process, so its CPU and peak memory are the backup's own.

Target: ≥ 100 MB/s of database for snapshot, compression, encryption and upload together, ≤ 200 MB peak memory;
restore at the same rate. Printed per stage: wall seconds, CPU seconds of the coop process (all its threads),
MB/s of database, peak memory (VmHWM, reset at each stage); the WebDAV server's CPU apart; the machine's load
average before and after (other jobs on the machine slow the wall figures, not the CPU ones).

Alone: `python -m tests.benchmarks backup` (COOP_BENCH_BACKUP_MB=256 for a quicker run).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from integrations import registry
from ledger import backup
from ledger.db import Database
from tests.webdav_server import PASSWORD, USER, WebDavProcess

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


# The child: the coop CLI with every backup.Meter it makes reported on stderr as JSON at exit, with the
# process's own peak. `pack` instead writes the archive to /dev/null (compression + encryption without upload).
_CHILD = """import atexit, dataclasses, json, sys
from ledger import backup
meters = []
class Meter(backup.Meter):
    def __init__(self):
        super().__init__()
        meters.append(self)
backup.Meter = Meter
def report():
    peak = next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:'))
    stages = [dataclasses.asdict(s) for m in meters for s in m.stages]
    sys.stderr.write('REPORT ' + json.dumps({'stages': stages, 'peak_mb': peak}) + '\\n')
atexit.register(report)
if sys.argv[1] == 'pack':
    from ledger.db import Database
    db = Database(sys.argv[2])
    meter = Meter()
    with backup.prepared(db) as parts, meter.stage('сжатие и шифрование (в /dev/null)') as stage, \\
            open('/dev/null', 'wb') as out:
        backup.write_archive(db, out, backup.recipient(db), parts=parts)
        stage.nbytes = parts[0][0][1].stat().st_size
    sys.exit(0)
from ledger.cli import main
sys.exit(main(sys.argv[1:]))
"""


def child(*args: str, stdin: str | None = None) -> dict:
    """Run one child; its wall and CPU seconds, peak memory and stages."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "COOP_ALLOW_INSECURE_LOOPBACK": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: {done.stderr}")
    report = json.loads(next(line[7:] for line in done.stderr.splitlines() if line.startswith("REPORT ")))
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {**report, "wall": wall, "cpu": cpu}


def unlock(sealed: bytes) -> None:
    """The passphrase unlock alone, in the same kind of child process restore uses: wall, CPU, peak memory."""
    work_factor = sealed.split(b"\n")[1].split()[-1].decode()
    code = ("import atexit, sys\n"
            "atexit.register(lambda: sys.stderr.write('PEAK ' + next(l.split()[1] for l in open('/proc/self/status')"
            " if l.startswith('VmHWM:')) + '\\n'))\n" + backup._UNLOCK)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], input=PASSPHRASE.encode() + b"\n" + sealed,
                          capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = next(int(line.split()[1]) // 1024 for line in done.stderr.decode().splitlines() if line.startswith("PEAK "))
    print(f"  открытие ключа (scrypt age, log2 N = {work_factor}, отдельный процесс): {wall:.1f} с, "
          f"CPU {after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime:.1f} с, пик {peak} МБ "
          f"(память освобождается до скачивания)")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def show(title: str, run: dict, size: int, server_cpu: float | None = None) -> None:
    extra = f", сервер WebDAV {server_cpu:.1f} с CPU" if server_cpu is not None else ""
    print(f"{title}: {run['wall']:.1f} с, CPU процесса {run['cpu']:.1f} с (с запуском Python), "
          f"пик {run['peak_mb']} МБ{extra}")
    for s in run["stages"]:
        rate = f"{size / 1e6 / s['seconds']:6.0f} МБ/с базы" if s["seconds"] > 0.05 and s["nbytes"] else " " * 16
        print(f"  {s['name']:<38} {s['seconds']:6.1f} с  CPU {s['cpu']:5.1f} с  {rate}  пик {s['peak_mb']} МБ")


def main() -> None:
    print(f"load average до замера: {loadavg()}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("COOP_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        db = Database(tmp / "data" / "coop.duckdb")
        t = time.perf_counter()
        build(db, SIZE_MB)
        size = db.path.stat().st_size
        print(f"База {size / 1e6:.0f} МБ построена за {time.perf_counter() - t:.0f} с")
        server = WebDavProcess(tmp)
        (server.root / "копии").mkdir()
        try:
            registry.configure(db, "webdav", {"url": server.url, "username": USER, "password": PASSWORD,
                                              "ca_file": str(server.cert)})
            registry.set_enabled(db, "webdav", True)
            backup.init_keys(db, PASSPHRASE)
            db.release()

            show("Только упаковка (снимок, tar, zstd, age → /dev/null)", child("pack", str(db.path)), size)

            cpu0 = server.cpu_seconds()
            made = child("--db", str(db.path), "backup", "run", "--to", "webdav")
            show("coop backup run --to webdav", made, size, server.cpu_seconds() - cpu0)
            stages = {s["name"]: s for s in made["stages"]}
            snap, upload = stages["снимок"], stages["сжатие, шифрование и отправка"]
            sent = snap["seconds"] + upload["seconds"]
            (name, stored), = [(v.name, v.size) for v in backup.versions(db, registry.build(db, "webdav"))]
            db.release()
            print(f"  ИТОГО снимок + сжатие + шифрование + отправка: {sent:.1f} с = {size / 1e6 / sent:.0f} МБ/с "
                  f"базы (цель ≥ 100), пик {max(snap['peak_mb'], upload['peak_mb'])} МБ (цель ≤ 200); "
                  f"объект {stored / 1e6:.0f} МБ; проверка обратным чтением отдельно: "
                  f"{stages['проверка']['seconds']:.1f} с")

            target = tmp / "restored" / "coop.duckdb"
            cpu0 = server.cpu_seconds()
            restored = child("--db", str(db.path), "backup", "restore", "--from", "webdav", name, "--to",
                             str(target), stdin=PASSPHRASE + "\n")
            show("coop backup restore", restored, size, server.cpu_seconds() - cpu0)
            stream = next(s for s in restored["stages"] if s["name"].startswith("загрузка"))
            print(f"  ИТОГО потоковое восстановление: {stream['seconds']:.1f} с = "
                  f"{size / 1e6 / stream['seconds']:.0f} МБ/с базы, пик {stream['peak_mb']} МБ")
            unlock(backup.sealed_identity(db))
        finally:
            server.stop()
    print(f"load average после замера: {loadavg()}")


if __name__ == "__main__":
    main()
