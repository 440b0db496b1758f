"""Bank import: a 100,000-document 1C statement (the demo generator), parse + fingerprint + set-based insert.

The import runs in a fresh child process so its peak memory is the import's own, not the generator's.
Target (issue 3): ≤ 3 s and ≤ 500 MB peak on the 2-core machine.
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

from tests.benchmarks import RUNS, spread


def peak_mb() -> float:
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss would count the parent's pages at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(file: str, db_file: str, again_file: str) -> None:
    """One import as the upload page does it: the app process already has the libraries loaded (Streamlit
    imports pandas and pyarrow), so they are imported before the clock starts; `coop bank import` is timed
    separately, whole, from the start of Python."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401

    from ledger import statements
    from ledger.db import Database

    db = Database(db_file)
    db.schema_versions()
    data = Path(file).read_bytes()
    cpu, wall = time.process_time(), time.perf_counter()
    parsed = statements.parse(db, data, Path(file).name)
    t_parse, cpu_parse = time.perf_counter() - wall, time.process_time() - cpu
    t0 = time.perf_counter()
    result = statements.import_statement(db, data, Path(file).name, parsed=parsed)
    t_import = time.perf_counter() - t0
    total, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del parsed, data
    peak = peak_mb()
    again = Path(again_file).read_bytes()
    t0 = time.perf_counter()
    second = statements.import_statement(db, again, Path(again_file).name)
    t_again = time.perf_counter() - t0
    print(json.dumps({"parse": t_parse, "cpu_parse": cpu_parse, "import": t_import, "total": total, "cpu": cpu,
                      "load": os.getloadavg()[0],
                      "peak_mb": peak, "summary": result.summary(), "again": t_again, "again_summary": second.summary()}))


# `coop` as its console script runs it, reporting its own peak memory when it ends (the peak of the process
# itself: ru_maxrss of a child would also count the pages it had from this process before exec).
_COOP = ("import atexit, sys\n"
         "atexit.register(lambda: sys.stderr.write(next(l for l in open('/proc/self/status') "
         "if l.startswith('VmHWM:')).split()[1] + ' kB peak\\n'))\n"
         "from ledger.cli import run\n"
         "sys.argv[0] = 'coop'\n"
         "run()\n")


def cli_run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one `coop` process, Python start included."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _COOP, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    seconds = time.perf_counter() - started
    peak = [int(line.split()[0]) / 1024 for line in out.stderr.splitlines() if line.endswith(" kB peak")]
    return seconds, peak[-1] if peak else float("nan"), out.returncode


def main(n: int = 100_000) -> None:
    from ledger import demo

    members = demo.build_members(300)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "kl_to_1c.txt"
        file.write_bytes(demo.demo_statement(members, count=n))
        again = Path(tmp) / "kl_to_1c_utf8.txt"   # the same payments in another encoding: a different file
        again.write_bytes(demo.demo_statement(members, count=n, encoding="utf-8", newline="\n"))
        size = file.stat().st_size / 2**20
        runs = []
        for k in range(RUNS):
            out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_bank", "--child", str(file),
                                  str(Path(tmp) / f"b{k}.duckdb"), str(again)], capture_output=True, text=True,
                                 check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        cli = []
        for k in range(RUNS):   # the ledger made first (coop init, not timed): import refuses a missing file
            target = str(Path(tmp) / f"c{k}.duckdb")
            subprocess.run([sys.executable, "-m", "ledger.cli", "--db", target, "init"], capture_output=True, check=True)
            cli.append(cli_run(["--db", target, "bank", "import", str(file)]))
    r = runs[0]
    print(f"Выписка 1С, {n} документов ({size:.0f} МБ, cp1251), в приложении (библиотеки загружены), {RUNS} запуска, лучший: "
          f"всего {spread([x['total'] for x in runs])}; разбор {spread([x['parse'] for x in runs])}, "
          f"отпечатки и запись (DuckDB) {spread([x['import'] for x in runs])}; процессорное время "
          f"{spread([x['cpu'] for x in runs])}; пик памяти {spread([x['peak_mb'] for x in runs], 'МБ')}; "
          f"загрузка машины {max(x['load'] for x in runs):.1f} — {r['summary']}")
    print(f"Те же {n} платежей в UTF-8 (другой файл): {spread([x['again'] for x in runs])} — {r['again_summary']}")
    codes = {c for _, _, c in cli}
    print(f"coop bank import из командной строки целиком (с запуском Python и загрузкой библиотек): "
          f"{spread([w for w, _, _ in cli])}, пик памяти {spread([m for _, m, _ in cli], 'МБ')}, код выхода "
          f"{', '.join(map(str, sorted(codes)))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main()
