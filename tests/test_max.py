"""MAX channel against a local fake written from the MAX Bot API documentation."""

from __future__ import annotations

import pytest

from integrations import notify as sender
from integrations import registry
from tests.max_server import BOT, TOKEN, FakeMax
from tests.test_notify import NOON, debt_rule, ledger_with_debtors


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server = FakeMax()
    yield server
    server.stop()


def max_on(db, fake, token=TOKEN):
    registry.configure(db, "max", {"token": token, "bot_name": BOT, "base_url": fake.base_url})
    registry.set_enabled(db, "max", True)


def test_link_binding_sending_429_blocked_and_status(db, fake):
    ledger_with_debtors(db, 4)
    max_on(db, fake)
    channel = registry.build(db, "max")
    assert registry.check(db, "max") == f"бот {BOT}"
    for member_id, user_id in ((1, 901), (2, 902), (3, 903)):
        link = channel.link(member_id)
        assert link.startswith(f"https://max.ru/{BOT}?start=")
        fake.user_starts(user_id, link.rpartition("=")[2])
    assert channel.bind_chats() == 3
    fake.blocked.add("902")
    fake.throttle = 1
    debt_rule(db, channels="max,smtp")
    assert sender.plan(db, now=NOON).by_channel == {"max": 3}
    result = sender.send(db, now=NOON)
    assert (result.sent, result.failed) == (2, 1)
    failed = db.scalar("SELECT detail FROM notify_outbox WHERE status = 'failed'")
    assert "нет подписки" in failed
    assert sorted(m["recipient"]["user_id"] for m in fake.messages.values()) == [901, 903]
    mid = db.scalar("SELECT message_id FROM notify_outbox WHERE member_id = 1")
    assert channel.status(mid).status == "delivered"


def test_wrong_token(db, fake):
    max_on(db, fake, token="wrong-max-token")
    with pytest.raises(Exception) as exc:
        registry.check(db, "max")
    assert "токен бота не принят" in str(exc.value) and "wrong-max-token" not in str(exc.value)


def test_updates_marker_is_kept_so_a_second_run_sees_only_new_updates(db, fake):
    ledger_with_debtors(db, 4)
    max_on(db, fake)
    channel = registry.build(db, "max")
    fake.user_starts(901, channel.link(1).rpartition("=")[2])
    fake.user_starts(902, "not-a-token-of-ours")
    assert channel.bind_chats() == 1
    assert "marker" not in fake.update_requests[-1]
    fake.user_starts(903, channel.link(2).rpartition("=")[2])
    again = registry.build(db, "max")                 # a new run: the marker comes from the database
    assert again.bind_chats() == 1
    assert fake.update_requests[-1]["marker"] == "2"
    assert db.fetchall("SELECT member_id, chat_id FROM notify_links WHERE chat_id IS NOT NULL ORDER BY 1") == [
        (1, "901"), (2, "903")]
    assert registry.build(db, "max").bind_chats() == 0 and fake.update_requests[-1]["marker"] == "3"
