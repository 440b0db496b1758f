"""Telegram channel against a local fake Bot API written from the Bot API documentation."""

from __future__ import annotations

import pytest

from integrations import notify as sender
from integrations import registry
from ledger import members
from tests.telegram_server import BOT, TOKEN, FakeTelegram
from tests.test_notify import NOON, debt_rule, ledger_with_debtors


@pytest.fixture
def tg(monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    fake = FakeTelegram()
    yield fake
    fake.stop()


def telegram_on(db, fake, token=TOKEN):
    registry.configure(db, "telegram", {"token": token, "bot_name": BOT, "base_url": fake.base_url})
    registry.set_enabled(db, "telegram", True)


def test_deep_link_binds_the_chat_and_reminders_go_to_it(db, tg):
    ledger_with_debtors(db, 3)
    telegram_on(db, tg)
    channel = registry.build(db, "telegram")
    link = channel.link(1)
    assert link.startswith(f"https://t.me/{BOT}?start=")
    assert channel.link(1) == link                      # the same personal link every time
    tg.user_starts("5550001", link.rpartition("=")[2])
    tg.user_starts("5550009", "forged-token")
    debt_rule(db, channels="telegram,smtp", quiet_from=0, quiet_to=0)
    registry.set_schedule(db, "telegram", 10)
    (line,) = registry.run_due(db)
    assert line.startswith("telegram: привязано чатов 1, запланировано 1, Отправлено 1")
    assert members.get_member(db, 1)["telegram_chat_id"] == "5550001"
    (msg,) = tg.messages
    assert msg["chat_id"] == "5550001" and "задолженность 1 000,00 ₽" in msg["text"]
    assert registry.build(db, "telegram").bind_chats() == 0       # updates are read once (offset)


def test_blocked_bot_is_no_subscription_and_429_is_waited(db, tg):
    ledger_with_debtors(db, 3)
    telegram_on(db, tg)
    for i, chat in ((1, "7001"), (2, "7002")):
        members.update_member(db, i, {"telegram_chat_id": chat})
        tg.known.add(chat)
    tg.blocked.add("7002")
    tg.throttle = 1
    debt_rule(db, channels="telegram")
    sender.plan(db, now=NOON)
    result = sender.send(db, now=NOON)
    assert (result.sent, result.failed) == (1, 1)
    rows = dict(db.fetchall("SELECT member_id, detail FROM notify_outbox WHERE status = 'failed'"))
    assert "нет подписки" in rows[2]
    assert [m["chat_id"] for m in tg.messages] == ["7001"]


def test_one_message_a_second_per_chat(db, tg):
    telegram_on(db, tg)
    tg.known.add("42")
    channel = registry.build(db, "telegram")
    channel.open()
    try:
        channel.send("42", "", "первое")
        channel.send("42", "", "второе")
    finally:
        channel.close()
    first, second = tg.messages
    assert second["at"] - first["at"] >= 0.95


def test_wrong_token_is_named_without_the_token(db, tg):
    telegram_on(db, tg, token="999:WRONG-secret-token")
    with pytest.raises(Exception) as exc:
        registry.check(db, "telegram")
    assert "Unauthorized" in str(exc.value) and "WRONG-secret-token" not in str(exc.value)


def test_personal_links_in_e_mails_by_default_and_in_sms_only_when_the_template_asks(db):
    from ledger import notify

    ledger_with_debtors(db, 4)
    registry.configure(db, "telegram", {"token": TOKEN, "bot_name": BOT})
    registry.configure(db, "max", {"token": "max-token", "bot_name": "snt_max_bot"})
    registry.configure(db, "smtp", {"host": "127.0.0.1", "sender": "snt@snt.test"})
    registry.configure(db, "smsru", {"api_id": "key"})
    for name in ("telegram", "max", "smtp", "smsru"):
        registry.set_enabled(db, name, True)
    members.update_member(db, 2, {"emails": "", "phones": "+7 916 000-00-02"})
    members.update_member(db, 3, {"telegram_chat_id": "5550003"})       # joined Telegram already
    debt_rule(db, channels="smtp,smsru", quiet_from=0, quiet_to=0)
    debt_rule(db, name="SMS со ссылкой", channels="smsru", body="Долг {{ debt.total }} ₽. Бот: {{ link }}",
              statuses="member", quiet_from=0, quiet_to=0)
    sender.plan(db, now=NOON)
    bodies = {(r, m): b for r, m, b in db.fetchall("SELECT rule_id, member_id, body FROM notify_outbox")}
    tokens = {(m, ch): t for m, ch, t in db.fetchall("SELECT member_id, channel, token FROM notify_links")}
    tg1 = f"https://t.me/{BOT}?start={tokens[(1, 'telegram')]}"
    assert bodies[(1, 1)].count(tg1) == 1                                # e-mail: the link once
    assert "https://" not in bodies[(1, 2)]                              # SMS with the default text: no link
    assert bodies[(2, 2)].endswith(f"Бот: https://t.me/{BOT}?start={tokens[(2, 'telegram')]}")
    # member 3 has Telegram: the e-mail offers MAX instead
    assert f"https://max.ru/snt_max_bot?start={tokens[(3, 'max')]}" in bodies[(1, 3)] and "t.me" not in bodies[(1, 3)]
    assert registry.build(db, "telegram").link(1) == tg1                 # the same token as the card shows
    assert sender.member_links(db, 1) == {"telegram": tg1, "max": f"https://max.ru/snt_max_bot?start={tokens[(1, 'max')]}"}
    # the preview shows the real link of the member it uses
    _, _, text = notify.preview(db, "debt", notify.DEFAULT_DEBT_SUBJECT, notify.DEFAULT_DEBT_BODY,
                                bots=sender.bots(db), as_of=NOON.date())
    assert "https://t.me/" in text and "?start=" in text
    # without a messenger bot the default text has no link line at all
    registry.set_enabled(db, "telegram", False)
    registry.set_enabled(db, "max", False)
    _, _, plain = notify.preview(db, "debt", notify.DEFAULT_DEBT_SUBJECT, notify.DEFAULT_DEBT_BODY,
                                 bots=sender.bots(db), as_of=NOON.date())
    assert "мессенджере" not in plain
