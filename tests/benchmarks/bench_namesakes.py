"""Matching memory with many full namesakes: 400 namesakes x 4,000 payments and 2,000 x 90,000.

Every payment names the namesakes' common name (in the payer, in the purpose or both), some with a register
number or a plot that tells one of them apart, so each payment's name keys reach hundreds or thousands of
members. Matched in a fresh process (tests.benchmarks.bench_matching speed_child): time and the peak memory
of the process and its forked helper together (PSS). Target: at most 1 GB whatever the register.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ledger.db import Database, insert_rows, utcnow

NAME = ("Кузнецов", "Андрей", "Викторович")
OTHERS = 1_000   # members with other names around them
TARGET_MB = 1024


def build(path: Path, namesakes: int, payments: int, seed: int = 12) -> None:
    from tests.benchmarks import matching_data as data

    rng = random.Random(seed)
    db = Database(path)
    people = data.build_coop(OTHERS, seed)
    data.store_coop(db, people)
    now = utcnow()
    first = OTHERS + 1
    with db.transaction() as con:
        ids = insert_rows(con, "members", [
            {"reg_no": str(first + i), "full_name": " ".join(NAME), "status": "member", "created_at": now,
             "updated_at": now} for i in range(namesakes)], returning="id")
        plots = insert_rows(con, "plots", [{"number": f"н{i}", "created_at": now} for i in range(namesakes)],
                            returning="id")
        insert_rows(con, "plot_owners", [{"plot_id": p[0], "member_id": m[0], "share_num": 1, "share_den": 1}
                                         for p, m in zip(plots, ids)])
        s, f, p = NAME
        forms = [(" ".join(NAME), "Членский взнос"), (" ".join(NAME), f"Взнос {s} {f[0]}.{p[0]}."),
                 ("ИП Смирнова О.О.", f"за {s}а {f}а {p}а"), (" ".join(NAME), "л/с {ls} членский взнос"),
                 (f"{s} {f[0]}.{p[0]}.", "взнос уч. н{plot}")]
        rows = []
        for i in range(payments):
            payer, purpose = forms[i % len(forms)]
            k = rng.randrange(namesakes)
            rows.append({"fingerprint": 10**9 + i, "doc_date": date(2025, 1, 1) + timedelta(days=i % 300),
                         "doc_number": str(i), "amount": Decimal("1500.00"), "direction": "in", "payer_name": payer,
                         "payer_inn": None, "payer_account": f"40817810{rng.randrange(10**12):012d}",
                         "purpose": purpose.format(ls=first + k, plot=k), "created_at": now})
        insert_rows(con, "payments", rows)
    db.release()


def run(namesakes: int, payments: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "namesakes.duckdb"
        build(path, namesakes, payments)
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_matching", "--speed-child", str(path)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    for namesakes, payments in ((400, 4_000), (2_000, 90_000)):
        r = run(namesakes, payments)
        verdict = "в пределах цели" if r["pss_mb"] <= TARGET_MB else "ВЫШЕ ЦЕЛИ"
        print(f"Тёзки: {namesakes} полных тёзок × {payments} платежей (и {OTHERS} других членов): "
              f"{r['seconds']:.1f} с, память вместе с помощником (PSS) в пике {r['pss_mb']:.0f} МБ "
              f"(цель ≤ {TARGET_MB} МБ: {verdict}); пик RSS процесса {r['peak_mb']:.0f} МБ, помощника "
              f"{r['helper_mb']:.0f} МБ; загрузка машины {r['load']:.1f}; {r['summary']}")


if __name__ == "__main__":
    main()
