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


def peak_mb() -> float:
    """Peak resident memory of this process since exec (VmHWM; ru_maxrss would count the parent's pages at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(file: str, db_file: str, again_file: str) -> None:
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


def main(n: int = 100_000) -> None:
    from ledger import demo

    members = demo.build_members(300)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "kl_to_1c.txt"
        file.write_bytes(demo.demo_statement(members, count=n))
        again = Path(tmp) / "kl_to_1c_utf8.txt"   # the same payments in another encoding: a different file
        again.write_bytes(demo.demo_statement(members, count=n, encoding="utf-8", newline="\n"))
        size = file.stat().st_size / 2**20
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_bank", "--child", str(file),
                              str(Path(tmp) / "b.duckdb"), str(again)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"Выписка 1С, {n} документов ({size:.0f} МБ, cp1251): разбор {r['parse']:.1f} с "
          f"(процессор {r['cpu_parse']:.1f} с), отпечатки и запись (DuckDB) {r['import']:.1f} с; "
          f"всего {r['total']:.1f} с (процессор {r['cpu']:.1f} с, загрузка машины {r['load']:.1f}), "
          f"пик памяти {r['peak_mb']:.0f} МБ — {r['summary']}")
    print(f"Те же {n} платежей в UTF-8 (другой файл): {r['again']:.1f} с — {r['again_summary']}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main()
