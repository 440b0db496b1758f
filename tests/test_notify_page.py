"""The «Уведомления» page under AppTest: rules and template preview, what will be sent with cost, the log."""

from __future__ import annotations

from integrations import registry
from ledger import notify
from tests.test_notify import debt_rule, ledger_with_debtors
from tests.test_pages import page_test, texts


def test_rule_is_created_and_previewed_with_real_data(db):
    ledger_with_debtors(db, 3)
    at = page_test("pages/notifications.py").run()
    assert not at.exception, at.exception
    at.text_input(key="r_name").set_value("Долг от 500")
    at.text_input(key="r_min_debt").set_value("500")
    at.text_input(key="r_channels").set_value("smtp")
    next(b for b in at.button if b.label == "Предпросмотр").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Данные: л/с 1" in shown and "задолженность по л/с 1" in shown
    next(b for b in at.button if b.label == "Сохранить правило").click().run()
    (rule,) = notify.rules(db)
    assert (rule["name"], rule["min_debt"], rule["channels"]) == ("Долг от 500", 500, "smtp")


def test_bad_template_is_a_red_message(db):
    ledger_with_debtors(db, 2)
    at = page_test("pages/notifications.py").run()
    at.text_input(key="r_name").set_value("Кривое")
    at.text_area(key="r_body").set_value("{{ member.reg_no ")
    next(b for b in at.button if b.label == "Сохранить правило").click().run()
    assert not at.exception
    assert "«Текст», строка 1" in " ".join(e.value for e in at.error)
    assert notify.rules(db) == []


def test_what_will_be_sent_and_the_send_button(db, monkeypatch):
    import tests.test_notify as tn
    from tests.smtp_server import SmtpServer

    ledger_with_debtors(db, 3)
    server = SmtpServer(db.path.parent, "starttls")
    try:
        tn.smtp_on(db, server, db.path.parent)
        debt_rule(db, quiet_from=0, quiet_to=0)
        at = page_test("pages/notifications.py").run()
        at.button(key="plan").click().run()
        assert not at.exception, at.exception
        assert "Запланировано: 2 сообщений" in texts(at)
        assert "Всего к отправке сейчас: 2" in texts(at)
        at.button(key="send").click().run()
        assert not at.exception, at.exception
        assert "Отправлено 2" in texts(at) and len(server.inbox.messages) == 2
    finally:
        server.stop()
    at = page_test("pages/notifications.py").run()
    at.selectbox(key="log_status").set_value("sent").run()
    assert "Записей: 2" in texts(at)
    at.text_input(key="log_search").set_value("нет такого").run()
    assert "Записей: 0" in texts(at)
    assert registry.is_enabled(db, "smtp")


def test_board_cannot_open_it(db):
    at = page_test("pages/notifications.py", "board").run()
    assert "недоступен" in " ".join(e.value for e in at.error)


def test_member_card_shows_the_personal_bot_links_to_roles_that_see_contacts(db):
    from tests.telegram_server import BOT, TOKEN

    ledger_with_debtors(db, 2)
    registry.configure(db, "telegram", {"token": TOKEN, "bot_name": BOT})
    registry.set_enabled(db, "telegram", True)
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(1).run()
    assert not at.exception, at.exception
    token = db.scalar("SELECT token FROM notify_links WHERE member_id = 1 AND channel = 'telegram'")
    assert [c.value for c in at.code] == [f"https://t.me/{BOT}?start={token}"]
    (qr,) = at.get("image")                                               # and its QR code
    assert qr.captions == ["QR-код ссылки (telegram)"]
    registry.set_enabled(db, "telegram", False)
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(1).run()
    assert not at.exception and not at.code and "Бот Telegram или MAX не подключён" in texts(at)
