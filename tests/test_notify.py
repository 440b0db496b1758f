"""Notifications: rules, templates, the outbox (each message once), quiet hours, the monthly cap, opt-outs,
retries, payment receipts, the CLI — sent to a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from integrations import notify as sender
from integrations import registry
from ledger import consent, members, notify
from ledger.errors import InputError
from tests.ledger_builders import charge, load, member, pay, tariff
from tests.smtp_server import PASSWORD, USER, SmtpServer, free_port

NOON = datetime(2025, 3, 1, 9, 0)          # 12:00 in Moscow, outside the quiet hours


def coop(db, *args):
    return subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), *args],
                          capture_output=True, text=True)


def ledger_with_debtors(db, n: int = 4, consents: bool = True) -> None:
    """Members 1..n, each owing 1000 ₽ due 10.01.2025 (50 days overdue on 01.03.2025); member n paid his.
    With `consents`, each signed a form agreeing to notices by SMS, Telegram and MAX (e-mail needs none)."""
    load(db, tariff(code="member", keywords=["членск"]))
    for i in range(1, n + 1):
        member(db, i, name=f"Иванов{'а' * (i % 2)} Пётр Сергеевич")
        charge(db, i, "member", date(2025, 1, 10), "1000")
        members.update_member(db, i, {"emails": f"member{i}@snt.test"})
        for channel in ("sms", "telegram", "max") if consents else ():
            consent.record(db, i, channel, True, "form", f"заявление №{i}", since=date(2024, 12, 1), actor="test")
    pay(db, n, date(2025, 1, 5), "1000", "членский взнос")


def debt_rule(db, **over) -> int:
    values = {"name": "Долг", "trigger": "debt", "min_debt": "500", "min_days_overdue": 30, "channels": "smtp",
              "repeat_days": 14, "max_per_month": 2, "subject": notify.DEFAULT_DEBT_SUBJECT,
              "body": notify.DEFAULT_DEBT_BODY, **over}
    return notify.save_rule(db, values, actor="test")


def smtp_on(db, server, tmp_path) -> None:
    registry.configure(db, "smtp", {"host": "127.0.0.1", "port": server.port, "tls": "starttls", "username": USER,
                                    "password": PASSWORD, "sender": "snt@snt.test", "ca_file": str(server.cert)})
    registry.set_enabled(db, "smtp", True)


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path, "starttls")
    yield server
    server.stop()


def test_planning_twice_plans_nothing_new_and_follows_the_rule(db, smtp, tmp_path):
    ledger_with_debtors(db)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db)
    notify.set_optout(db, 3, "smtp", actor="test")
    first = sender.plan(db, now=NOON)
    # members 1 and 2 owe 1000 ₽ for 50 days; 3 opted out of e-mail; 4 paid
    assert (first.planned, first.by_channel, first.no_address) == (2, {"smtp": 2}, 1)
    assert sender.plan(db, now=NOON).planned == 0
    assert sender.plan(db, now=NOON + timedelta(days=1)).planned == 0     # same 14-day period
    rows = db.records("SELECT member_id, subject, body, amount, recipient FROM notify_outbox ORDER BY member_id")
    assert [r["member_id"] for r in rows] == [1, 2]
    assert rows[0]["amount"] == Decimal("1000.00")
    assert "л/с 1" in rows[0]["subject"] and "задолженность 1 000,00 ₽" in rows[0]["body"]
    assert "10.01.2025" in rows[0]["body"] and "member1@snt.test" not in rows[0]["recipient"]


def test_a_rule_with_a_higher_threshold_chooses_nobody(db):
    ledger_with_debtors(db)
    registry.configure(db, "smtp", {"host": "127.0.0.1", "sender": "snt@snt.test"})
    registry.set_enabled(db, "smtp", True)
    debt_rule(db, min_debt="1000")          # debt must be over 1000 ₽
    debt_rule(db, name="Давно", min_debt="0", min_days_overdue=60)
    assert sender.plan(db, now=NOON).planned == 0


def test_quiet_hours_in_the_cooperatives_time_zone():
    from zoneinfo import ZoneInfo

    msk = ZoneInfo("Europe/Moscow")
    # 19:30 UTC is 22:30 in Moscow: quiet until 09:00 Moscow = 06:00 UTC next day
    assert notify.not_before(datetime(2025, 3, 1, 19, 30), msk, 21, 9) == datetime(2025, 3, 2, 6, 0)
    # 03:00 UTC is 06:00 in Moscow: quiet until 09:00 the same day
    assert notify.not_before(datetime(2025, 3, 1, 3, 0), msk, 21, 9) == datetime(2025, 3, 1, 6, 0)
    assert notify.not_before(NOON, msk, 21, 9) == NOON
    vlad = ZoneInfo("Asia/Vladivostok")       # 09:00 UTC is 19:00 in Vladivostok
    assert notify.not_before(NOON, vlad, 18, 8) == datetime(2025, 3, 1, 22, 0)


def test_nothing_goes_out_in_quiet_hours(db, smtp, tmp_path):
    ledger_with_debtors(db, 2)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db)
    night = datetime(2025, 3, 1, 20, 0)      # 23:00 Moscow
    assert sender.plan(db, now=night).planned == 1
    assert sender.send(db, now=night).sent == 0 and smtp.inbox.messages == []
    assert sender.send(db, now=datetime(2025, 3, 2, 6, 0)).sent == 1
    assert len(smtp.inbox.messages) == 1


def test_monthly_cap_per_member(db):
    ledger_with_debtors(db, 2)
    registry.configure(db, "smtp", {"host": "127.0.0.1", "sender": "snt@snt.test"})
    registry.set_enabled(db, "smtp", True)
    debt_rule(db, repeat_days=1, max_per_month=2)
    planned = [sender.plan(db, now=NOON + timedelta(days=d)) for d in range(4)]
    assert [p.planned for p in planned] == [1, 1, 0, 0]
    assert planned[2].capped == 1
    assert sender.plan(db, now=datetime(2025, 4, 2, 9, 0)).planned == 1   # a new month


def test_crash_between_sending_and_recording_then_rerun_sends_each_once(db, smtp, tmp_path):
    ledger_with_debtors(db, 5)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db)
    assert sender.plan(db, now=NOON).planned == 4

    def crash(row):
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        sender.send(db, now=NOON, _after_send=crash)
    assert len(smtp.inbox.messages) == 4
    assert db.fetchall("SELECT DISTINCT status FROM notify_outbox") == [("sending",)]
    again = sender.send(db, now=NOON)
    assert (again.recovered, again.sent) == (4, 0)
    assert len(smtp.inbox.messages) == 4
    assert db.fetchall("SELECT DISTINCT status FROM notify_outbox") == [("sent",)]


def test_crash_in_the_middle_of_a_batch_then_rerun_sends_each_once(db, smtp, tmp_path, monkeypatch):
    from integrations.channels.smtp import SmtpChannel

    ledger_with_debtors(db, 5)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db)
    sender.plan(db, now=NOON)
    original = SmtpChannel.journal_sent
    calls = []

    def journal_then_die(self, delivery, recipient, key):
        original(self, delivery, recipient, key)
        calls.append(key)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed right after the server took the 2nd message")

    monkeypatch.setattr(SmtpChannel, "journal_sent", journal_then_die)
    with pytest.raises(KeyboardInterrupt):
        sender.send(db, now=NOON)
    monkeypatch.setattr(SmtpChannel, "journal_sent", original)
    assert len(smtp.inbox.messages) == 2
    assert db.scalar("SELECT count(*) FROM channel_messages") == 0      # nothing recorded in the database yet
    again = sender.send(db, now=NOON)
    assert (again.recovered, again.sent) == (2, 2)
    assert sender.send(db, now=NOON + timedelta(hours=1)).sent == 0
    recipients = sorted(m["to"][0] for m in smtp.inbox.messages)
    assert recipients == ["member1@snt.test", "member2@snt.test", "member3@snt.test", "member4@snt.test"]
    assert len({m["message"]["Message-ID"] for m in smtp.inbox.messages}) == 4
    assert db.fetchall("SELECT DISTINCT status FROM notify_outbox") == [("sent",)]
    assert not list(tmp_path.glob("*.sent"))


def test_a_crash_before_the_server_took_the_message_sends_it_on_rerun(db, smtp, tmp_path):
    ledger_with_debtors(db, 2)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db)
    sender.plan(db, now=NOON)
    row_id = db.scalar("SELECT id FROM notify_outbox")
    assert notify.mark_sending(db, [row_id]) == {row_id}        # claimed, then the process died before the SMTP dialogue
    result = sender.send(db, now=NOON)
    assert (result.recovered, result.sent) == (0, 1)
    assert len(smtp.inbox.messages) == 1


def test_failures_are_retried_with_backoff_then_failed_with_the_reason(db):
    ledger_with_debtors(db, 2)
    registry.configure(db, "smtp", {"host": "127.0.0.1", "port": free_port(), "tls": "none",
                                    "sender": "snt@snt.test", "timeout": 2})
    registry.set_enabled(db, "smtp", True)
    import os
    os.environ["COOP_ALLOW_INSECURE_LOOPBACK"] = "1"
    try:
        debt_rule(db)
        sender.plan(db, now=NOON)
        now = NOON
        first = sender.send(db, now=now)
        assert (first.sent, first.retry, first.failed) == (0, 1, 0)
        assert sender.send(db, now=now + timedelta(seconds=30)).retry == 0      # backoff: not yet
        for wait in notify.BACKOFF_MINUTES:
            now += timedelta(minutes=wait)
            last = sender.send(db, now=now)
        assert last.failed == 1
        status, attempts, detail = db.fetchone("SELECT status, attempts, detail FROM notify_outbox")
        assert (status, attempts) == ("failed", notify.MAX_ATTEMPTS)
        assert "нет соединения с 127.0.0.1" in detail
    finally:
        del os.environ["COOP_ALLOW_INSECURE_LOOPBACK"]


def test_payment_received_after_matching(db, smtp, tmp_path):
    ledger_with_debtors(db, 2)
    smtp_on(db, smtp, tmp_path)
    notify.save_rule(db, {"name": "Платёж", "trigger": "payment", "channels": "smtp",
                          "subject": notify.DEFAULT_PAYMENT_SUBJECT, "body": notify.DEFAULT_PAYMENT_BODY})
    assert sender.plan(db, now=NOON).planned == 0          # the payment before the rule existed: no receipt
    pay(db, 1, date(2025, 2, 28), "700.50", "членский взнос")
    assert sender.plan(db, now=NOON).planned == 1
    assert sender.plan(db, now=NOON).planned == 0
    assert sender.send(db, now=NOON).sent == 1
    (mail,) = smtp.inbox.messages
    assert "Получен ваш платёж 700,50 ₽ от 28.02.2025" in mail["message"].get_body(("plain",)).get_content()


def test_templates_are_sandboxed_and_bad_ones_are_named():
    ctx = {"member": {"reg_no": "7", "short_name": "Иванов И. П."}}
    assert notify.render("Здравствуйте, {{ member.short_name }}! Л/с {{ member.reg_no }}", ctx) == \
        "Здравствуйте, Иванов И. П.! Л/с 7"
    with pytest.raises(InputError, match="шаблон"):
        notify.render("{{ ''.__class__.__mro__[1].__subclasses__() }}", ctx)
    with pytest.raises(InputError, match="строка 2"):
        notify.render("строка\n{{ member.reg_no ", ctx)
    with pytest.raises(InputError, match="поле «{{ debt }}» неизвестно"):
        notify.render("{{ debt.total }}", ctx)
    with pytest.raises(InputError) as bad:
        notify.validate_rule({"trigger": "birthday", "min_debt": "abc", "body": "{% if %}"})
    text = str(bad.value)
    assert "«Событие»" in text and "«Долг больше, ₽»" in text and "«Текст», строка 1" in text


def test_plan_with_no_channel_enabled_says_so_instead_of_counting_everyone_unreachable(db):
    ledger_with_debtors(db, 3)
    debt_rule(db, quiet_from=0, quiet_to=0)
    db.release()
    plan = coop(db, "notify", "plan")
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == "0 сообщений"
    assert "Внимание: не включён ни один канал уведомлений" in lines[1] and "coop integrations enable smtp" in lines[1]


def test_template_errors_are_russian_and_runtime_failures_are_input_errors():
    ctx = {"debt": {"total": "1 500,00"}, "member": {"short_name": "Иванов И. П."}}
    # A failed operation while rendering (arithmetic on a text field) was a bare TypeError / ZeroDivisionError.
    for template in ("{{ debt.total + 1 }}", "{{ 1 / 0 }}"):
        with pytest.raises(InputError, match="^Текст: выражение в шаблоне не вычисляется"):
            notify.render(template, ctx, "Текст")
    cases = {"{{ member.short_name ": "шаблон оборван", "{{ member.nope }}": "поле «nope» неизвестно",
             "{{ member.short_name|shout }}": "фильтр «shout» неизвестен", "{% foo %}": "неизвестный тег «foo»",
             "{{ ''.__class__ }}": "запрещено"}
    for template, words in cases.items():
        with pytest.raises(InputError) as bad:
            notify.render(template, ctx)
        assert words in str(bad.value) and not any(w in str(bad.value) for w in ("undefined", "unexpected", "unsafe",
                                                                                  "No filter", "tag"))
    with pytest.raises(InputError) as bad:
        notify.validate_rule({"subject": "{{ a", "body": "{{ b }", "short_body": "{% if %}"})
    assert bad.value.problems == ["«Тема», строка 1: шаблон оборван: не закрыт тег {{ … }} или {% … %}",
                                  "«Текст», строка 1: лишний символ «}»",
                                  "«Короткий текст», строка 1: ошибка в записи шаблона (проверьте скобки {{ }} и {% %})"]


def test_cli_plan_send_and_log(db, smtp, tmp_path):
    ledger_with_debtors(db, 3)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db, quiet_from=0, quiet_to=0)
    db.release()
    plan = coop(db, "notify", "plan")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[:2] == ["2 сообщений", "smtp\t2"]
    dry = coop(db, "notify", "send", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("Будет отправлено 2") and smtp.inbox.messages == []
    sent = coop(db, "notify", "send")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("Отправлено 2") and len(smtp.inbox.messages) == 2
    out = tmp_path / "журнал.csv"
    log = coop(db, "notify", "log", "--out", str(out))
    assert log.returncode == 0, log.stderr
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["Статус"] for r in rows] == ["отправлено", "отправлено"]
    bad = coop(db, "notify", "log", "--out", str(tmp_path / "журнал.txt"))
    assert bad.returncode == 1 and "журнал.txt" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "папка.csv").mkdir()      # a folder where the file should go: a message, not an internal error
    bad = coop(db, "notify", "log", "--out", str(tmp_path / "папка.csv"))
    assert bad.returncode == 1 and "папка.csv: не удалось записать файл" in bad.stderr, bad.stderr


def test_scheduled_channel_run_plans_and_sends(db, smtp, tmp_path):
    ledger_with_debtors(db, 2)
    smtp_on(db, smtp, tmp_path)
    debt_rule(db, quiet_from=0, quiet_to=0)
    registry.set_schedule(db, "smtp", 60)
    results = registry.run_due(db)
    assert results == ["smtp: запланировано 1, Отправлено 1; smtp: 1"]
    assert len(smtp.inbox.messages) == 1


def test_demo_has_an_enabled_default_debt_rule(demo_db):
    (rule,) = notify.rules(demo_db)
    assert rule["enabled"] and rule["trigger"] == "debt"


def test_email_has_html_the_payment_qr_the_statement_and_list_unsubscribe(db, smtp, tmp_path):
    import io

    import zxingcpp
    from PIL import Image

    from ledger import cooperative, payqr

    ledger_with_debtors(db, 2)
    from ledger.demo import account_for_bik
    cooperative.save_settings(db, {"name": "СНТ «Рассвет»", "bik": "044525225", "bank_name": "ПАО Сбербанк",
                                   "bank_account": account_for_bik("044525225", "40703810040000012345"),
                                   "corr_account": "30101810400000000225"})
    smtp_on(db, smtp, tmp_path)
    debt_rule(db, attach_statement=True)
    sender.plan(db, now=NOON)
    assert sender.send(db, now=NOON).sent == 1
    (mail,) = smtp.inbox.messages
    msg = mail["message"]
    assert msg["Subject"] == "СНТ «Рассвет»: задолженность по л/с 1"
    key = db.scalar("SELECT key FROM notify_outbox")
    from integrations.channels.smtp import SmtpChannel
    assert msg["Message-ID"] == SmtpChannel({"sender": "snt@snt.test"}, None).message_id(key)
    assert msg["List-Unsubscribe"].startswith("<mailto:snt@snt.test?subject=")
    plain = msg.get_body(("plain",)).get_content()
    html_part = msg.get_body(("html",)).get_content()
    assert "задолженность 1 000,00 ₽" in plain and "задолженность 1 000,00 ₽" in html_part and "<p>" in html_part
    files = {a.get_filename(): a for a in msg.iter_attachments()}
    assert set(files) == {"qr-oplata.png", "akt-sverki-1.pdf"}
    assert files["akt-sverki-1.pdf"].get_content_type() == "application/pdf"
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(files["qr-oplata.png"].get_content())))
    fields = payqr.parse(code.text)
    assert (fields["Sum"], fields["PersAcc"]) == ("100000", "1")
