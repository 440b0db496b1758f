"""Notifications: planning debt reminders for 20,000 members; 10,000 e-mails to the local SMTP server (aiosmtpd,
one connection reused); 10,000 SMS through the local fake SMS.ru and the local fake SMSC.ru (100 texts per
request)."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from integrations import notify as sender
from integrations import registry
from ledger import members, notify
from ledger.db import Database, insert_rows, utcnow
from tests.conftest import xlsx_bytes
from tests.ledger_builders import load, tariff
from tests.sms_servers import API_ID, FakeSmsRu
from tests.smsc_server import LOGIN as SMSC_LOGIN, PSW as SMSC_PSW, FakeSmsc
from tests.smtp_server import PASSWORD, USER, SmtpServer

NOON = datetime(2025, 3, 1, 9, 0)


def ledger(folder: Path, n: int) -> Database:
    """n members with e-mail and phone, each owing 1000 ₽ due 10.01.2025 and agreeing to SMS (register column)."""
    rows = [["№ л/с", "ФИО", "Телефон", "Эл. почта", "Согласие на SMS"]]
    rows += [[str(i), f"Членов{i % 997} Иван Петрович", f"+7912{i:07d}", f"m{i}@snt.test", "да"]
             for i in range(1, n + 1)]
    db = Database(folder / "n.duckdb")
    db.schema_versions()
    members.import_register(db, xlsx_bytes(rows), "big.xlsx")
    load(db, tariff(code="member", keywords=["членск"]))
    ids = [r[0] for r in db.fetchall("SELECT id FROM members ORDER BY id")]
    with db.transaction() as con:
        insert_rows(con, "charges", [{"member_id": m, "contribution": "member", "period_start": date(2025, 1, 10),
                                      "period_end": date(2025, 1, 10), "due_date": date(2025, 1, 10),
                                      "amount": Decimal(1000), "kind": "accrual", "created_at": utcnow()} for m in ids])
    return db


def rule(db: Database, channels: str) -> None:
    notify.save_rule(db, {"name": f"Долг {channels}", "trigger": "debt", "channels": channels, "min_debt": "100",
                          "min_days_overdue": 10, "quiet_from": 0, "quiet_to": 0, "subject": notify.DEFAULT_DEBT_SUBJECT,
                          "body": notify.DEFAULT_DEBT_BODY})


def main(n_plan: int = 20_000, n_mail: int = 10_000, n_sms: int = 10_000) -> None:
    os.environ["COOP_ALLOW_INSECURE_LOOPBACK"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = ledger(folder, n_plan)
        registry.configure(db, "smtp", {"host": "127.0.0.1", "sender": "snt@snt.test"})
        registry.set_enabled(db, "smtp", True)
        rule(db, "smtp")
        t = time.perf_counter()
        planned = sender.plan(db, now=NOON)
        took = time.perf_counter() - t
        assert planned.planned == n_plan, planned
        print(f"Планирование напоминаний для {n_plan} членов: {took:.2f} с (цель ≤ 2 с)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = ledger(folder, n_mail)
        server = SmtpServer(folder, "none")
        try:
            registry.configure(db, "smtp", {"host": "127.0.0.1", "port": server.port, "tls": "none",
                                            "username": USER, "password": PASSWORD, "sender": "snt@snt.test"})
            registry.set_enabled(db, "smtp", True)
            rule(db, "smtp")
            sender.plan(db, now=NOON)
            t = time.perf_counter()
            result = sender.send(db, now=NOON)
            took = time.perf_counter() - t
            assert result.sent == n_mail and len(server.inbox.messages) == n_mail, result
        finally:
            server.stop()
        print(f"{n_mail} писем на локальный SMTP (aiosmtpd, одно соединение): {took:.1f} с, "
              f"{n_mail / took:.0f} писем/с (цель ≥ 100)")

    sms(n_sms, "smsru", "SMS.ru")
    sms(n_sms, "smsc", "SMSC.ru")


def sms(n: int, channel: str, title: str) -> None:
    """n SMS through the local fake of a provider, 100 texts per request."""
    os.environ["COOP_ALLOW_INSECURE_LOOPBACK"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        db = ledger(Path(tmp), n)
        if channel == "smsru":
            fake = FakeSmsRu()
            settings = {"api_id": API_ID, "base_url": fake.base_url}
        else:
            fake = FakeSmsc()
            settings = {"login": SMSC_LOGIN, "psw": SMSC_PSW, "base_url": fake.base_url}
        try:
            registry.configure(db, channel, settings)
            registry.set_enabled(db, channel, True)
            rule(db, channel)
            sender.plan(db, now=NOON)
            t = time.perf_counter()
            result = sender.send(db, now=NOON)
            took = time.perf_counter() - t
            assert result.sent == n and len(fake.sent) == n, result
        finally:
            fake.stop()
        print(f"{n} SMS через локальный {title} (по 100 в запросе): {took:.1f} с, {n / took:.0f} SMS/с (цель ≥ 200)")
