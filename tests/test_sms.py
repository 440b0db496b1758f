"""SMS.ru channel against a local fake written from the SMS.ru API documentation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from integrations import notify as sender
from integrations import registry
from integrations.base import IntegrationError, OutgoingMessage
from integrations.channels import sms_segments
from ledger import members, notify
from tests.sms_servers import API_ID, NO_ROUTE, FakeSmsRu
from tests.test_notify import NOON, debt_rule, ledger_with_debtors


@pytest.fixture
def smsru(monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    fake = FakeSmsRu()
    yield fake
    fake.stop()


def smsru_on(db, fake, api_id=API_ID):
    registry.configure(db, "smsru", {"api_id": api_id, "base_url": fake.base_url})
    registry.set_enabled(db, "smsru", True)


def with_phones(db, n):
    ledger_with_debtors(db, n)
    for i in range(1, n + 1):
        members.update_member(db, i, {"phones": f"+7 916 000-00-{i:02d}"})


def test_cyrillic_texts_count_in_segments_of_70_and_67():
    assert [sms_segments("Ж" * n) for n in (1, 70, 71, 134, 135, 201, 202)] == [1, 1, 2, 2, 3, 3, 4]
    assert [sms_segments("a" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    assert sms_segments("Долг 100 ₽") == 1 and sms_segments("") == 0


def test_reminders_go_in_one_request_with_status_and_cost(db, smsru):
    with_phones(db, 4)
    smsru_on(db, smsru)
    debt_rule(db, channels="smsru", body="{{ member.short_name }}, долг {{ debt.total }} ₽, л/с {{ member.reg_no }}")
    assert sender.plan(db, now=NOON).by_channel == {"smsru": 3}
    channel = registry.build(db, "smsru")
    rows = notify.due(db, NOON, ["smsru"])
    total, count = channel.cost([OutgoingMessage(r["key"], "+79160000001", r["subject"], r["body"]) for r in rows])
    assert (total, count) == (Decimal("10.47"), 3)
    before = smsru.requests
    result = sender.send(db, now=NOON)
    assert (result.sent, result.failed) == (3, 0)
    assert smsru.requests - before == 1                      # three recipients, one request
    assert sorted(m["phone"] for m in smsru.sent.values()) == ["79160000001", "79160000002", "79160000003"]
    assert "долг 1 000,00 ₽, л/с 1" in next(m["text"] for m in smsru.sent.values() if m["phone"] == "79160000001")
    sms_id = db.scalar("SELECT message_id FROM notify_outbox WHERE member_id = 1")
    assert channel.status(sms_id).status == "delivered"


def test_a_number_without_route_fails_with_a_russian_status(db, smsru):
    with_phones(db, 2)
    members.update_member(db, 1, {"phones": "+" + NO_ROUTE})
    smsru_on(db, smsru)
    debt_rule(db, channels="smsru")
    sender.plan(db, now=NOON)
    result = sender.send(db, now=NOON)
    assert result.failed == 1
    status, detail = db.fetchone("SELECT status, detail FROM notify_outbox")
    assert status == "failed" and "на этот номер нельзя отправлять" in detail and NO_ROUTE not in detail


def test_a_wrong_key_is_retried_later_and_never_shown(db, smsru):
    with_phones(db, 2)
    smsru_on(db, smsru, api_id="WRONG-KEY-123")
    debt_rule(db, channels="smsru")
    sender.plan(db, now=NOON)
    assert sender.send(db, now=NOON).retry == 1
    detail = db.scalar("SELECT detail FROM notify_outbox")
    assert "Неправильный api_id" in detail and "WRONG-KEY-123" not in detail
    with pytest.raises(IntegrationError, match="Неправильный api_id"):
        registry.check(db, "smsru")


def test_429_is_waited_out(db, smsru):
    with_phones(db, 2)
    smsru_on(db, smsru)
    assert registry.check(db, "smsru") == "баланс 4122.56 ₽"
    smsru.throttle = 1
    debt_rule(db, channels="smsru")
    sender.plan(db, now=NOON)
    # a send is a POST without an idempotency key: the 429 is not repeated blindly, the row is retried later
    assert sender.send(db, now=NOON).retry == 1 and smsru.sent == {}
    later = datetime(2025, 3, 1, 9, 5)
    assert sender.send(db, now=later).sent == 1 and len(smsru.sent) == 1

# the crash-and-rerun check for SMS.ru runs with SMSC's in test_smsc.py
