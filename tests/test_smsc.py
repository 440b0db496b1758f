"""SMSC.ru channel against a local fake written from the SMSC.ru HTTP API documentation; delivery-status polling
(`coop notify status`) against the fake SMSC and SMS.ru."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from integrations import notify as sender
from integrations import registry
from integrations.base import IntegrationError, OutgoingMessage
from ledger import members, notify
from tests.sms_servers import API_ID, FakeSmsRu
from tests.smsc_server import LOGIN, NO_ROUTE, PRICE, PSW, UNDELIVERED, FakeSmsc
from tests.test_notify import NOON, coop, debt_rule
from tests.test_sms import with_phones


@pytest.fixture
def smsc(monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    fake = FakeSmsc()
    yield fake
    fake.stop()


def smsc_on(db, fake, psw=PSW):
    registry.configure(db, "smsc", {"login": LOGIN, "psw": psw, "base_url": fake.base_url})
    registry.set_enabled(db, "smsc", True)


def test_several_recipients_in_one_request_priced_first_without_sending(db, smsc):
    with_phones(db, 4)
    smsc_on(db, smsc)
    debt_rule(db, channels="smsc", body="{{ member.short_name }}, долг {{ debt.total }} ₽,\nл/с {{ member.reg_no }}")
    assert sender.plan(db, now=NOON).by_channel == {"smsc": 3}
    forecast = sender.forecast(db, now=NOON)
    assert forecast == [{"channel": "smsc", "title": "SMS через SMSC.ru", "messages": 3, "segments": 3,
                         "cost": Decimal(PRICE) * 3}]
    assert smsc.sent == {}                                       # cost=1 sends nothing
    before = smsc.requests
    result = sender.send(db, now=NOON)
    assert (result.sent, result.failed) == (3, 0)
    assert smsc.requests - before == 1                           # three texts, one request (list=)
    texts = {phone: m["text"] for (_, phone), m in smsc.sent.items()}
    assert sorted(texts) == ["79160000001", "79160000002", "79160000003"]
    assert texts["79160000001"].endswith("долг 1 000,00 ₽,\nл/с 1")  # the line break went through the list form
    assert len({mid for mid, _ in smsc.sent}) == 1
    # the phone a status call needs is kept, but only encrypted
    assert db.scalar("SELECT count(*) FROM channel_messages WHERE address LIKE '%7916%'") == 0
    message_id = db.scalar("SELECT message_id FROM notify_outbox WHERE member_id = 2")
    assert registry.build(db, "smsc").status(message_id).status == "delivered"


def test_a_long_cyrillic_text_is_priced_in_67_character_parts(db, smsc):
    smsc_on(db, smsc)
    channel = registry.build(db, "smsc")
    assert channel.cost([OutgoingMessage("k", "+79160000001", "", "Ж" * 135)]) == (Decimal(PRICE) * 3, 3)
    assert channel.segments("Ж" * 135) == 3


def test_a_number_that_cannot_be_reached_fails_with_a_russian_reason(db, smsc):
    with_phones(db, 3)
    members.update_member(db, 1, {"phones": "+" + NO_ROUTE})
    smsc_on(db, smsc)
    debt_rule(db, channels="smsc")
    sender.plan(db, now=NOON)
    result = sender.send(db, now=NOON)
    assert (result.sent, result.failed) == (1, 1)
    detail = db.scalar("SELECT detail FROM notify_outbox WHERE status = 'failed'")
    assert "не может быть доставлено" in detail and NO_ROUTE not in detail


def test_a_single_unreachable_number_gets_the_documented_error_with_an_id(db, smsc):
    smsc_on(db, smsc)
    with pytest.raises(IntegrationError, match="не может быть доставлено") as exc:
        registry.build(db, "smsc").send("+" + NO_ROUTE, "", "Долг")
    assert getattr(exc.value, "final", False) and NO_ROUTE not in str(exc.value)


def test_a_wrong_password_is_retried_later_and_never_shown(db, smsc):
    with_phones(db, 2)
    smsc_on(db, smsc, psw="WRONG-PASSWORD-123")
    debt_rule(db, channels="smsc")
    sender.plan(db, now=NOON)
    assert sender.send(db, now=NOON).retry == 1
    detail = db.scalar("SELECT detail FROM notify_outbox")
    assert "неверный логин или пароль" in detail and "WRONG-PASSWORD-123" not in detail
    with pytest.raises(IntegrationError, match="неверный логин или пароль"):
        registry.check(db, "smsc")


def test_balance_check_and_secrets_masked_in_the_printed_config(db, smsc):
    smsc_on(db, smsc)
    assert registry.check(db, "smsc") == "баланс 512.40 ₽"
    shown = dict((k, v) for k, _, v in registry.show(db, "smsc"))
    assert PSW not in str(registry.show(db, "smsc")) and shown["login"] == LOGIN
    assert shown["base_url"] == smsc.base_url
    assert registry.integration_class("smsc").field("base_url").default == "https://smsc.ru"
    out = coop(db, "integrations", "show", "smsc")
    assert PSW not in out.stdout and "psw" in out.stdout


@pytest.mark.parametrize("answer", ["http 429", "error 9"])
def test_too_many_requests_is_retried_later_and_sent_once(db, smsc, answer):
    with_phones(db, 2)
    smsc_on(db, smsc)
    if answer == "http 429":
        smsc.throttle = 1
    else:
        smsc.busy = 1
    debt_rule(db, channels="smsc")
    sender.plan(db, now=NOON)
    assert sender.send(db, now=NOON).retry == 1 and smsc.sent == {}
    assert ("429" if answer == "http 429" else "повторите позже") in db.scalar("SELECT detail FROM notify_outbox")
    assert sender.send(db, now=datetime(2025, 3, 1, 9, 5)).sent == 1 and len(smsc.sent) == 1


@pytest.mark.parametrize("provider", ["smsru", "smsc"])
def test_crash_after_the_service_took_the_messages_is_recovered_by_status_call(db, monkeypatch, provider):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    fake = FakeSmsRu() if provider == "smsru" else FakeSmsc()
    try:
        with_phones(db, 3)
        if provider == "smsru":
            registry.configure(db, "smsru", {"api_id": API_ID, "base_url": fake.base_url})
            registry.set_enabled(db, "smsru", True)
        else:
            smsc_on(db, fake)
        debt_rule(db, channels=provider)
        sender.plan(db, now=NOON)

        def crash(row):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            sender.send(db, now=NOON, _after_send=crash)
        assert len(fake.sent) == 2
        again = sender.send(db, now=NOON)
        assert again.recovered == 2 and again.sent == 0 and len(fake.sent) == 2
        assert db.fetchall("SELECT DISTINCT status FROM notify_outbox") == [("delivered",)]
    finally:
        fake.stop()


# -- delivery statuses polled -----------------------------------------------------------------------

def test_status_polling_records_delivered_and_not_delivered_with_the_reason(db, smsc):
    with_phones(db, 4)
    members.update_member(db, 3, {"phones": "+" + UNDELIVERED})
    smsc_on(db, smsc)
    smsc.deliver_after = 3600                     # the operator has not reported yet
    debt_rule(db, channels="smsc")
    sender.plan(db, now=NOON)
    assert sender.send(db).sent == 3                             # sent now: polled for a week from now
    first = sender.poll_statuses(db)
    assert (first.asked, first.delivered, first.undelivered, first.pending) == (3, 0, 0, 3)
    assert db.fetchall("SELECT DISTINCT status, detail FROM notify_outbox") == [("sent", "передано оператору")]
    smsc.deliver_after = 0
    out = coop(db, "notify", "status")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "доставлено 2; не доставлено 1; ещё в пути 0" in out.stdout
    rows = dict(db.fetchall("SELECT member_id, status || ': ' || detail FROM notify_outbox"))
    assert rows[1] == rows[2] == "delivered: доставлено"
    assert rows[3] == "undelivered: не доставлено: невозможно доставить (абонент не существует)"
    log = {r["reg_no"]: r["status"] for r in notify.log_rows(db)}
    assert log["3"] == "не доставлено"
    assert sender.poll_statuses(db).asked == 0                   # final states are not asked again


def test_scheduled_run_of_an_sms_channel_polls_sms_ru_statuses(db, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    fake = FakeSmsRu()
    try:
        with_phones(db, 3)
        registry.configure(db, "smsru", {"api_id": API_ID, "base_url": fake.base_url})
        registry.set_enabled(db, "smsru", True)
        registry.set_schedule(db, "smsru", 15)
        debt_rule(db, channels="smsru", quiet_from=0, quiet_to=0)
        out = coop(db, "integrations", "run")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Отправлено 2" in out.stdout and "Проверено статусов 2; доставлено 2" in out.stdout
        assert db.fetchall("SELECT DISTINCT status, detail FROM notify_outbox") == [
            ("delivered", "Сообщение доставлено")]
    finally:
        fake.stop()
