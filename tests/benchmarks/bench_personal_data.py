"""Encrypted personal data and the audit log: register import with INN/phone/e-mail, search by phone (decrypt
then filter), vault rotation, audited calls per second, audit-chain verification, monitoring statistics."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from integrations import monitoring
from ledger import audit, members, vault
from ledger.db import Database, insert_rows, utcnow
from tests.conftest import xlsx_bytes
from tests.test_register import inn


def main(n: int = 20_000) -> None:
    rows = [["№ л/с", "ФИО", "№ участка", "ИНН", "Телефон", "Эл. почта"]]
    rows += [[str(i), f"Членов{i % 997} Иван", f"{i}", inn(f"50{i:08d}"), f"+7912{i:07d}", f"m{i}@snt.test"]
             for i in range(1, n + 1)]
    data = xlsx_bytes(rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "b.duckdb")
        db.schema_versions()
        t = time.perf_counter()
        members.import_register(db, data, "big.xlsx")
        imported = time.perf_counter() - t
        t = time.perf_counter()
        found = members.list_members(db, "79120001234")
        search = time.perf_counter() - t
        assert [m["reg_no"] for m in found] == ["1234"], found
        t = time.perf_counter()
        members.list_members(db, "членов12")
        by_name = time.perf_counter() - t
        t = time.perf_counter()
        members.list_members(db)
        listing = time.perf_counter() - t
        t = time.perf_counter()
        vault.rotate(db)
        rotated = time.perf_counter() - t
        print(f"{n} членов с ИНН, телефоном и e-mail: загрузка {imported:.1f} с; поиск по телефону {search:.2f} с; "
              f"поиск по ФИО {by_name:.2f} с; весь список {listing:.2f} с; смена ключа (перешифровка) {rotated:.1f} с")

        calls = 500
        t = time.perf_counter()
        for i in range(calls):
            audit.external_call(db, "smtp", "send", ok=True, host="smtp.snt.test", duration_ms=i % 300, nbytes=1000)
        per_call = (time.perf_counter() - t) / calls * 1000
        t = time.perf_counter()
        assert audit.verify_chain(db) == []
        verify = time.perf_counter() - t
        total = db.scalar("SELECT count(*) FROM audit_log")
        now = utcnow()
        bulk = [{"happened_at": now - timedelta(seconds=i), "actor": None, "action": "external_call", "ok": i % 7 != 0,
                 "integration": f"svc{i % 5}", "operation": "GET", "duration_ms": i % 1000} for i in range(200_000)]
        with db.transaction() as con:
            insert_rows(con, "audit_log", bulk)
        t = time.perf_counter()
        monitoring.integration_stats(db)
        monitoring.alerts(db)
        stats = time.perf_counter() - t
        print(f"Журнал: запись обращения {per_call:.1f} мс; проверка цепочки {total} записей {verify:.2f} с; "
              f"мониторинг по 200 000 записям {stats:.2f} с")


if __name__ == "__main__":
    main()
