"""Payment matching: accuracy on a labelled synthetic cooperative, and speed on 100,000 x 20,000.

Accuracy: 1,600 members, 6,000 payments (tests/benchmarks/matching_data.py). Printed:
- auto precision: right `auto` / all `auto` (an `auto` on an ambiguous or non-member payment is wrong);
- auto recall: right `auto` / payments whose member the statement alone tells;
- top-1 of suggested: suggested payments whose proposed member is (one of) the true member(s);
- unmatched with candidates: ties (namesakes, co-owners, conflicts) left to a person, and how often the true
  member is among the listed candidates.
Speed: 20,000 members, 100,000 payments, matched in a fresh process (time, its peak memory and that of
the forked helper that decides half of the payments).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from ledger.db import Database
from tests.benchmarks import RUNS, spread
from tests.benchmarks import matching_data as data


def build(path: Path, n_members: int, n_payments: int, seed: int):
    db = Database(path)
    members = data.build_coop(n_members, seed)
    data.store_coop(db, members)
    samples = data.generate(members, n_payments, seed)
    ids = data.store_payments(db, samples)
    return db, dict(zip(ids, samples))


def accuracy(db: Database, samples: dict) -> dict:
    from ledger import matching

    started = time.perf_counter()
    matching.match_payments(db, actor="bench")
    seconds = time.perf_counter() - started
    reg_of = dict(db.fetchall("SELECT id, reg_no FROM members"))
    decided = {pid: (status, reg_of.get(mid), [reg_of.get(c["member_id"]) for c in json.loads(cands or "[]")])
               for pid, status, mid, cands in
               db.fetchall("SELECT payment_id, status, member_id, candidates FROM matches")}
    autos = right_autos = telling = right_telling = suggested = right_top = clear = right_clear = 0
    tied = tied_right = 0
    by_cat: dict[str, Counter] = defaultdict(Counter)
    wrong_examples = []
    for pid, s in samples.items():
        status, reg, cands = decided[pid]
        single = len(s.truth) == 1
        c = by_cat[s.category]
        c["n"] += 1
        c[status] += 1
        if status == "auto":
            autos += 1
            ok = single and reg in s.truth
            right_autos += ok
            if not ok:
                c["auto_wrong"] += 1
                if len(wrong_examples) < 15:
                    wrong_examples.append((s.category, s.row["payer_name"], s.row["purpose"], sorted(s.truth), reg))
        if s.determinable:
            telling += 1
            c["telling"] += 1
            if status == "auto" and reg in s.truth:
                right_telling += 1
                c["telling_auto"] += 1
        if status == "suggested" and s.truth:
            suggested += 1
            right_top += reg in s.truth
            c["sugg_right"] += reg in s.truth
            if s.fits == 1:
                clear += 1
                right_clear += reg in s.truth
        if status == "unmatched" and cands:
            tied += 1
            tied_right += bool(s.truth & set(cands))
            c["tied"] += 1
    return {"seconds": seconds, "payments": len(samples), "autos": autos,
            "precision": right_autos / autos if autos else 1.0, "telling": telling,
            "recall": right_telling / telling if telling else 0.0, "suggested": suggested,
            "top1": right_top / suggested if suggested else 1.0, "clear": clear,
            "top1_clear": right_clear / clear if clear else 1.0, "tied": tied,
            "tied_right": tied_right / tied if tied else 1.0, "by_category": by_cat, "wrong": wrong_examples}


def _pss_mb(pid: int | str) -> float:
    """Proportional set size: pages shared between the process and its forked helper count half in each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def speed_child(db_file: str) -> None:
    """In a fresh process: match, sampling the memory of this process and its helper (PSS, summed)."""
    import os
    import resource
    import threading

    from ledger import matching

    db = Database(db_file)
    db.schema_versions()
    peak, done = [0.0], threading.Event()
    children = Path(f"/proc/self/task/{os.getpid()}/children")

    def sample() -> None:
        while not done.wait(0.05):
            total = _pss_mb("self") + sum(_pss_mb(c) for c in children.read_text().split())
            peak[0] = max(peak[0], total)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t, c = time.perf_counter(), time.process_time()
    summary = matching.match_payments(db, actor="bench")
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    done.set()
    sampler.join()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "load": os.getloadavg()[0],
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "helper_mb": kids.ru_maxrss / 1024, "helper_cpu": kids.ru_utime + kids.ru_stime,
                      "pss_mb": peak[0], "summary": summary}))


def speed(n_members: int = 20_000, n_payments: int = 100_000) -> list[dict]:
    """RUNS runs, each on a fresh copy of one generated ledger."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "built" / "speed.duckdb"
        source.parent.mkdir()
        build(source, n_members, n_payments, seed=7)[0].release()
        runs = []
        for k in range(RUNS):
            copy = Path(tmp) / f"run{k}"
            shutil.copytree(source.parent, copy)
            out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_matching", "--speed-child",
                                  str(copy / "speed.duckdb")], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            shutil.rmtree(copy)
        return runs


def main(verbose: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, samples = build(Path(tmp) / "acc.duckdb", 1_600, 6_000, seed=2026)
        r = accuracy(db, samples)
    print(f"Точность разнесения (1 600 членов, {r['payments']} платежей): auto-точность {r['precision']:.2%} "
          f"({r['autos']} auto), auto-полнота {r['recall']:.2%} (из {r['telling']} определимых), "
          f"top-1 предложенных {r['top1']:.2%} (из {r['suggested']}); не разнесено с кандидатами (ничья: тёзки, "
          f"совладельцы, конфликт л/с и участка, несколько членов) {r['tied']}, верный член среди кандидатов "
          f"{r['tied_right']:.2%}; разнесение {r['seconds']:.1f} с")
    if verbose:
        for cat, c in sorted(r["by_category"].items()):
            print(f"  {cat:18} {dict(c)}")
        for w in r["wrong"]:
            print("  WRONG", w)
    runs = speed()
    print(f"Скорость: 100 000 платежей × 20 000 членов, {RUNS} запуска, лучший: {spread([r['seconds'] for r in runs])}; "
          f"процессорное время {spread([r['cpu'] for r in runs])} + у помощника "
          f"{spread([r['helper_cpu'] for r in runs])}; память вместе с помощником (PSS) в пике "
          f"{spread([r['pss_mb'] for r in runs], 'МБ')}; пик RSS процесса {spread([r['peak_mb'] for r in runs], 'МБ')}, "
          f"помощника {spread([r['helper_mb'] for r in runs], 'МБ')} (общие страницы в RSS посчитаны в обоих); "
          f"загрузка машины {max(r['load'] for r in runs):.1f}; {runs[0]['summary']}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--speed-child"]:
        speed_child(sys.argv[2])
    else:
        main(verbose="-v" in sys.argv)
