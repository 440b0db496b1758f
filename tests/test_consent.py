"""Consent to notices per member and channel (152-ФЗ): each channel is gated by it, a withdrawal cancels what is
queued, the bot's start is a consent, the register's consent columns, the member card, the CLI, minimal texts
for SMS and messengers — against the local SMTP server and the fake SMS.ru, Telegram and MAX."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime

import duckdb
import pytest

from integrations import notify as sender
from integrations import registry
from ledger import audit, consent, members, notify
from ledger.db import Database, migrate
from ledger.errors import InputError
from tests.max_server import BOT as MAX_BOT
from tests.max_server import TOKEN as MAX_TOKEN
from tests.max_server import FakeMax
from tests.sms_servers import API_ID, FakeSmsRu
from tests.smtp_server import PASSWORD, USER, SmtpServer
from tests.telegram_server import BOT as TG_BOT
from tests.telegram_server import TOKEN as TG_TOKEN
from tests.telegram_server import FakeTelegram
from tests.test_notify import NOON, debt_rule, ledger_with_debtors
from tests.test_pages import page_test, texts


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Every notification channel enabled against its local fake."""
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    smtp, sms, tg, mx = SmtpServer(tmp_path, "starttls"), FakeSmsRu(), FakeTelegram(), FakeMax()
    yield {"smtp": smtp, "smsru": sms, "telegram": tg, "max": mx}
    for server in (smtp, sms, tg, mx):
        server.stop()


def enable_all(db, fakes) -> None:
    registry.configure(db, "smtp", {"host": "127.0.0.1", "port": fakes["smtp"].port, "tls": "starttls",
                                    "username": USER, "password": PASSWORD, "sender": "snt@snt.test",
                                    "ca_file": str(fakes["smtp"].cert)})
    registry.configure(db, "smsru", {"api_id": API_ID, "base_url": fakes["smsru"].base_url})
    registry.configure(db, "telegram", {"token": TG_TOKEN, "bot_name": TG_BOT, "base_url": fakes["telegram"].base_url})
    registry.configure(db, "max", {"token": MAX_TOKEN, "bot_name": MAX_BOT, "base_url": fakes["max"].base_url})
    for name in ("smtp", "smsru", "telegram", "max"):
        registry.set_enabled(db, name, True)


def reachable_everywhere(db, fakes, ids) -> None:
    """Each member has a phone, a Telegram chat and a MAX chat (e-mail: ledger_with_debtors)."""
    for i in ids:
        members.update_member(db, i, {"phones": f"+7 916 000-00-{i:02d}", "telegram_chat_id": f"700{i}"})
        fakes["telegram"].known.add(f"700{i}")
        token = notify.link_token(db, i, "max")
        sql(db, "UPDATE notify_links SET chat_id = ?, used_at = ? WHERE token = ?", [str(900 + i), NOON, token])


def delivered_to(fakes, channel) -> list[str]:
    """Who each fake got a message for: e-mail addresses, phones, chat ids."""
    if channel == "smtp":
        return sorted(to for m in fakes["smtp"].inbox.messages for to in m["to"])
    if channel == "smsru":
        return sorted(m["phone"] for m in fakes["smsru"].sent.values())
    if channel == "telegram":
        return sorted(m["chat_id"] for m in fakes["telegram"].messages)
    return sorted(str(m["recipient"]["user_id"]) for m in fakes["max"].messages.values())


ADDRESS = {"smtp": "member1@snt.test", "smsru": "79160000001", "telegram": "7001", "max": "901"}


@pytest.mark.parametrize("channel", ["smtp", "smsru", "telegram", "max"])
def test_consent_gates_each_channel(db, fakes, channel):
    ledger_with_debtors(db, 4, consents=False)          # members 1..3 owe, 4 paid
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1, 2, 3])
    kind = consent.of_address(registry.discover()[0][channel].address)
    consent.record(db, 1, kind, True, "form", "заявление №1 от 01.02.2025", date(2025, 2, 1), actor="test")
    consent.record(db, 2, kind, False, "other", "просил не писать", actor="test")
    debt_rule(db, channels=channel, quiet_from=0, quiet_to=0)
    plan = sender.plan(db, now=NOON)
    if kind == "email":           # e-mail goes by the charter until withdrawn: member 3 (no row) gets it too
        assert (plan.planned, plan.by_channel, plan.no_consent) == (2, {channel: 2}, {channel: 1})
    else:                         # SMS and messengers only with a recorded consent
        assert (plan.planned, plan.by_channel, plan.no_consent) == (1, {channel: 1}, {channel: 2})
    assert f"нет согласия на канал — {channel}: {plan.no_consent[channel]}" in plan.summary()
    assert sender.send(db, now=NOON).sent == plan.planned
    got = delivered_to(fakes, channel)
    assert ADDRESS[channel] in got and len(got) == plan.planned
    for other in {"smtp", "smsru", "telegram", "max"} - {channel}:
        assert delivered_to(fakes, other) == []


def test_without_consent_the_next_channel_of_the_rule_is_used(db, fakes):
    ledger_with_debtors(db, 3, consents=False)
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1, 2])
    consent.record(db, 1, "telegram", True, "form", "заявление №1", actor="test")
    debt_rule(db, channels="telegram,smsru,smtp", quiet_from=0, quiet_to=0)
    plan = sender.plan(db, now=NOON)
    # member 1: Telegram; member 2: no Telegram or SMS consent -> e-mail
    assert (plan.by_channel, plan.no_consent) == ({"telegram": 1, "smtp": 1}, {"telegram": 1, "smsru": 1})
    assert dict(db.fetchall("SELECT member_id, consent FROM notify_outbox")) == {1: "telegram", 2: "email"}


def test_withdrawal_cancels_the_queued_message_at_once_and_is_logged(db, fakes):
    ledger_with_debtors(db, 3)                           # consents to SMS, Telegram and MAX on a form
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1, 2])
    debt_rule(db, channels="smsru", quiet_from=0, quiet_to=0)
    assert sender.plan(db, now=NOON).planned == 2
    assert consent.record(db, 1, "sms", False, "other", "позвонил: не присылать SMS", actor="бухгалтер")
    assert dict(db.fetchall("SELECT member_id, status FROM notify_outbox")) == {1: "cancelled", 2: "planned"}
    result = sender.send(db, now=NOON)
    assert result.sent == 1 and delivered_to(fakes, "smsru") == ["79160000002"]
    (entry,) = audit.entries(db, "consent_withdrawn")
    assert entry["actor"] == "бухгалтер" and entry["target"] == "member:1"
    assert '"cancelled": 1' in entry["details"] and '"channel": "sms"' in entry["details"]
    assert "отменено" in [r["status"] for r in notify.log_rows(db)]
    # the same withdrawal again writes nothing; a new consent is a new row, the history keeps all three
    assert not consent.record(db, 1, "sms", False, "other", "ещё раз", actor="test")
    consent.record(db, 1, "sms", True, "form", "заявление №7", actor="test")
    assert [r["granted"] for r in consent.history(db, 1) if r["channel"] == "sms"] == [True, False, True]


def test_withdrawal_after_the_send_began_planning_is_not_sent(db, fakes):
    """A withdrawal that lands between planning and sending, by any path (here straight into the table, as a
    parallel import would), still stops the message: sending checks consent again."""
    ledger_with_debtors(db, 2)
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1])
    debt_rule(db, channels="telegram", quiet_from=0, quiet_to=0)
    assert sender.plan(db, now=NOON).planned == 1
    sql(db, "INSERT INTO member_consents (member_id, channel, granted, basis, basis_text, recorded_at) "
               "VALUES (1, 'telegram', FALSE, 'other', 'отзыв', ?)", [NOON])
    result = sender.send(db, now=NOON)
    assert (result.sent, result.cancelled) == (0, 1) and fakes["telegram"].messages == []
    assert "отменено (нет согласия на канал): 1" in result.summary()


def test_opt_out_is_a_withdrawal(db):
    ledger_with_debtors(db, 2)
    notify.set_optout(db, 1, "*", actor="test")
    assert not any(c["granted"] for c in consent.current(db, 1))
    notify.set_optout(db, 1, "smtp", opted_out=False, actor="test")
    assert {c["channel"]: c["granted"] for c in consent.current(db, 1)} == \
        {"email": True, "sms": False, "telegram": False, "max": False}


def test_starting_the_bot_is_the_members_consent(db, fakes):
    ledger_with_debtors(db, 2, consents=False)
    enable_all(db, fakes)
    link = registry.build(db, "telegram").link(1)
    fakes["telegram"].user_starts("5550001", link.rpartition("=")[2])
    assert registry.build(db, "telegram").bind_chats() == 1
    (row,) = consent.history(db, 1)
    assert (row["channel"], row["granted"], row["basis"], row["recorded_by"]) == ("telegram", True, "bot", None)
    assert row["since"] is not None and "член сам запустил бота" in row["basis_words"]
    debt_rule(db, channels="telegram", quiet_from=0, quiet_to=0)
    assert sender.plan(db, now=NOON).by_channel == {"telegram": 1}


def test_existing_installation_upgrade(db_path):
    """An older ledger: its opt-outs become withdrawals, chats bound through the bot become consents, e-mail keeps
    going by the charter, SMS waits for a consent; a rule with the shipped text gets the shipped short text."""
    db = Database(db_path)
    ledger_with_debtors(db, 3, consents=False)
    old_rule = debt_rule(db, channels="telegram,smtp")
    own_rule = debt_rule(db, name="Своё", body="{{ member.full_name }}, долг {{ debt.total }}")
    token = notify.link_token(db, 2, "telegram")
    sql(db, "UPDATE notify_links SET chat_id = '777', used_at = ? WHERE token = ?", [datetime(2025, 1, 5), token])
    db.release()
    con = duckdb.connect(str(db_path))
    con.execute("DROP TABLE member_consents")
    con.execute("DROP SEQUENCE member_consent_id_seq")
    con.execute("ALTER TABLE notify_outbox DROP COLUMN consent")
    con.execute("ALTER TABLE notify_rules DROP COLUMN short_body")
    con.execute("CREATE TABLE notify_optouts (member_id BIGINT NOT NULL, channel VARCHAR NOT NULL, "
                "created_at TIMESTAMP NOT NULL, created_by VARCHAR, PRIMARY KEY (member_id, channel))")
    con.execute("INSERT INTO notify_optouts VALUES (1, 'smtp', '2024-06-01 10:00', 'бухгалтер'), "
                "(3, '*', '2024-07-01 10:00', NULL)")
    con.execute("DELETE FROM schema_version WHERE version = 190")
    assert 190 in migrate(con)
    con.close()
    db = Database(db_path)
    states = {(c["channel"]): c["granted"] for c in consent.current(db, 1)}
    assert states == {"email": False, "sms": False, "telegram": False, "max": False}
    assert {c["channel"]: c["granted"] for c in consent.current(db, 2)} == \
        {"email": True, "sms": False, "telegram": True, "max": False}
    assert not any(c["granted"] for c in consent.current(db, 3))
    bot = next(r for r in consent.history(db, 2))
    assert (bot["basis"], bot["since"]) == ("bot", date(2025, 1, 5))
    assert db.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'notify_optouts'") == 0
    assert notify.rule(db, old_rule)["short_body"] == notify.DEFAULT_DEBT_SHORT
    assert notify.rule(db, own_rule)["short_body"] is None


# -- minimal sending ------------------------------------------------------------------------------

def test_sms_and_messengers_get_the_short_text_without_the_name(db, fakes):
    ledger_with_debtors(db, 2)
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1])
    notify.default_debt_rule(db)                            # telegram, smtp, smsru
    sql(db, "UPDATE notify_rules SET quiet_from = 0, quiet_to = 0")
    sender.plan(db, now=NOON)
    sender.send(db, now=NOON)
    (msg,) = fakes["telegram"].messages
    assert "л/с 1" in msg["text"] and "1 000,00 ₽" in msg["text"] and "10.01.2025" in msg["text"]
    name = members.get_member(db, 1)["full_name"]
    assert name.split()[0] not in msg["text"] and "пени" not in msg["text"]
    # the e-mail keeps its full text
    assert notify.short_text_warnings(notify.DEFAULT_DEBT_BODY)


def test_template_warnings_name_the_personal_fields():
    assert notify.short_text_warnings(notify.DEFAULT_DEBT_SHORT) == []
    assert notify.short_text_warnings(notify.DEFAULT_PAYMENT_SHORT) == []
    (warning,) = notify.short_text_warnings("{{ member.full_name }}: {{ debt.total }} (пени {{ debt['penalty'] }})")
    assert "member.full_name (ФИО)" in warning and "debt.penalty" in warning
    assert notify.template_warnings("smtp", "{{ member.full_name }}", None) == []      # e-mail only: fine
    assert notify.template_warnings("telegram,smtp", "{{ member.full_name }}", None)   # full text to Telegram
    assert notify.template_warnings("smsru", "{{ member.full_name }}", notify.DEFAULT_DEBT_SHORT) == []


def test_template_editor_warns_in_the_preview(db):
    ledger_with_debtors(db, 2)
    at = page_test("pages/notifications.py").run()
    at.text_input(key="r_name").set_value("SMS")
    at.text_input(key="r_channels").set_value("smsru")
    at.text_area(key="r_short").set_value("{{ member.full_name }}, долг {{ debt.total }} ₽")
    next(b for b in at.button if b.label == "Предпросмотр").click().run()
    assert not at.exception, at.exception
    assert any("member.full_name (ФИО)" in w.value.replace("\\", "") for w in at.warning)
    assert "SMS и мессенджеры:" in texts(at)
    at.text_area(key="r_short").set_value(notify.DEFAULT_DEBT_SHORT)
    next(b for b in at.button if b.label == "Предпросмотр").click().run()
    assert not [w for w in at.warning if "л/с, сумма и срок" in w.value]


# -- the register ---------------------------------------------------------------------------------

REGISTER = [["№ л/с", "ФИО", "Телефон", "Согласие на рассылку", "Согласие на SMS", "Согласие e-mail",
             "Согласие Telegram"],
            ["1", "Иванов Пётр Сергеевич", "+79160000001", "да", "15.03.2024", "", ""],
            ["2", "Петров Иван Ильич", "+79160000002", "", "нет", "нет", "да"],
            ["3", "Сидорова Анна Львовна", "+79160000003", "нет", "", "", ""],
            ["4", "Кузнецов Олег Петрович", "+79160000004", "", "", "", ""]]


def states_of(db, reg_no) -> dict[str, tuple[bool, date | None]]:
    mid = members.find_by_reg_no(db, reg_no)["id"]
    return {c["channel"]: (c["granted"], c["since"]) for c in consent.current(db, mid)}


def test_register_consent_columns(db, make_xlsx):
    data = make_xlsx(REGISTER)
    result = members.import_register(db, data, "реестр.xlsx")
    assert not [w for w in result.warnings if "Согласие" in w]          # the columns are read, not «не распознан»
    assert states_of(db, "1") == {"email": (True, None), "sms": (True, date(2024, 3, 15)),
                                  "telegram": (True, None), "max": (True, None)}
    assert states_of(db, "2") == {"email": (False, None), "sms": (False, None), "telegram": (True, None),
                                  "max": (False, None)}
    assert not any(g for g, _ in states_of(db, "3").values())
    assert states_of(db, "4") == {"email": (True, None), "sms": (False, None), "telegram": (False, None),
                                  "max": (False, None)}                # nothing said: the defaults
    rows = db.scalar("SELECT count(*) FROM member_consents")
    assert result.consents == rows == 4 + 3 + 4           # member 2: three columns filled, MAX not said
    basis = db.scalar("SELECT basis_text FROM member_consents WHERE member_id = 1 AND channel = 'sms'")
    assert basis == "реестр.xlsx, строка 2, «Согласие на SMS»"
    assert members.import_register(db, data, "реестр.xlsx").consents == 0      # the same file again: nothing
    assert db.scalar("SELECT count(*) FROM member_consents") == rows
    changed = [row[:] for row in REGISTER]
    changed[1][4] = "нет"
    assert members.import_register(db, make_xlsx(changed), "реестр-2.xlsx").consents == 1
    assert states_of(db, "1")["sms"] == (False, None)


def test_register_export_carries_consents_and_loads_back_unchanged(db, make_xlsx, tmp_path):
    members.import_register(db, make_xlsx(REGISTER), "реестр.xlsx")
    rows = {r["reg_no"]: r for r in members.export_rows(db)}
    # what the card says, in the words the import reads: a date when the consent has one, else да / нет;
    # nothing recorded stays empty (the default of the channel applies)
    assert [rows["1"][f"consent_{c}"] for c in ("email", "sms", "telegram", "max")] == ["да", "15.03.2024", "да", "да"]
    assert [rows["2"][f"consent_{c}"] for c in ("email", "sms", "telegram", "max")] == ["нет", "нет", "да", None]
    assert [rows["4"][f"consent_{c}"] for c in ("email", "sms", "telegram", "max")] == [None] * 4
    out = tmp_path / "выгрузка.xlsx"
    members.export_register(db, out)
    before = db.scalar("SELECT count(*) FROM member_consents")
    again = members.import_register(db, out.read_bytes(), out.name)
    assert again.consents == 0 and again.updated == 0
    assert db.scalar("SELECT count(*) FROM member_consents") == before


def test_register_with_a_bad_consent_cell_changes_nothing(db, make_xlsx):
    bad = [row[:] for row in REGISTER]
    bad[3][4] = "может быть"
    with pytest.raises(InputError) as caught:
        members.import_register(db, make_xlsx(bad), "реестр.xlsx")
    assert "строка 4, столбец «Согласие на SMS»: «может быть»: ожидается да, нет или дата" in str(caught.value)
    assert db.scalar("SELECT count(*) FROM members") == 0
    assert db.scalar("SELECT count(*) FROM member_consents") == 0


def test_register_member_over_several_rows_reads_consent_from_every_row(db, make_xlsx):
    # One plot per row: the consent may be written on the member's second row only; rows that disagree are refused.
    spread = [REGISTER[0], ["5", "Орлов Ян", "", "", "", "", ""], ["5", "Орлов Ян", "", "", "01.02.2024", "", ""]]
    members.import_register(db, make_xlsx(spread), "реестр.xlsx")
    assert states_of(db, "5")["sms"] == (True, date(2024, 2, 1))
    basis = db.scalar("SELECT basis_text FROM member_consents WHERE channel = 'sms'")
    assert basis == "реестр.xlsx, строка 3, «Согласие на SMS»"
    before = db.scalar("SELECT count(*) FROM member_consents")
    clash = [REGISTER[0], ["6", "Белов Ян", "", "да", "", "", ""], ["6", "Белов Ян", "", "", "нет", "", ""]]
    with pytest.raises(InputError) as caught:
        members.import_register(db, make_xlsx(clash), "реестр-2.xlsx")
    assert "строки 2 и 3, столбец «Согласие на рассылку» и «Согласие на SMS»: л/с 6 — согласие на SMS указано " \
           "по-разному (да и нет), оставьте одно" in str(caught.value)
    assert members.find_by_reg_no(db, "6") is None
    assert db.scalar("SELECT count(*) FROM member_consents") == before


# -- the member card and the CLI ------------------------------------------------------------------

def test_card_shows_and_edits_consents(db):
    ledger_with_debtors(db, 2, consents=False)
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(1).run()
    assert not at.exception, at.exception
    assert "Согласия на уведомления" in texts(at)
    at.selectbox(key="consent_channel_1").set_value("sms")
    at.radio(key="consent_given_1").set_value("да")
    at.selectbox(key="consent_basis_1").set_value("form")
    next(b for b in at.button if b.label == "Записать").click().run()
    assert "укажите основание" in " ".join(e.value for e in at.error)        # reason required
    assert consent.history(db, 1) == []
    at.text_input(key="consent_text_1").set_value("заявление №12 от 02.03.2025")
    at.text_input(key="consent_since_1").set_value("02.03.2025")
    next(b for b in at.button if b.label == "Записать").click().run()
    assert not at.exception, at.exception
    (row,) = consent.history(db, 1)
    assert (row["channel"], row["granted"], row["basis"], row["since"], row["recorded_by"]) == \
        ("sms", True, "form", date(2025, 3, 2), "test-accountant")
    assert "(SMS): дано" in texts(at)


def sql(db, text, params=None) -> None:
    with db.transaction() as con:
        con.execute(text, params)


def cli(db, *args):
    return subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), *args],
                          capture_output=True, text=True)


def test_cli_consent(db):
    ledger_with_debtors(db, 2, consents=False)
    db.release()
    done = cli(db, "members", "consent", "1", "--channel", "sms", "--yes", "--basis", "заявление №3",
               "--kind", "form", "--date", "01.02.2025")
    assert done.returncode == 0, done.stderr
    assert "л/с 1, SMS: согласие записано" in done.stdout
    assert cli(db, "members", "consent", "1", "--channel", "sms", "--yes", "--basis", "x").stdout.endswith(
        "ничего не изменено\n")
    shown = cli(db, "members", "consent", "1")
    assert "sms\tда\tс 01.02.2025\tподписанное заявление: заявление №3" in shown.stdout
    withdrawn = cli(db, "members", "consent", "1", "--channel", "sms", "--no", "--basis", "письмо от 03.03.2025")
    assert withdrawn.returncode == 0 and "согласие отозвано" in withdrawn.stdout
    for args, words in ((["1", "--channel", "sms", "--yes"], "Укажите основание"),
                        (["1", "--channel", "fax", "--yes", "--basis", "x"], "Канал «fax» неизвестен"),
                        (["1", "--channel", "sms", "--no", "--yes", "--basis", "x"], "что-то одно: --yes"),
                        (["99", "--channel", "sms", "--yes", "--basis", "x"], "л/с 99 не найден"),
                        (["1", "--channel", "telegram", "--yes", "--basis", "слова " * 200],
                         "Основание согласия длиннее 500 знаков (1199)")):
        bad = cli(db, "members", "consent", *args)
        assert bad.returncode != 0 and words in bad.stdout + bad.stderr and "Traceback" not in bad.stderr
    assert [r["granted"] for r in consent.history(Database(db.path), 1)] == [False, True]


def test_cli_plan_names_the_channels_without_consent(db):
    ledger_with_debtors(db, 3, consents=False)
    for i in (1, 2):
        members.update_member(db, i, {"phones": f"+7 916 000-00-0{i}"})
    registry.configure(db, "smsru", {"api_id": API_ID, "base_url": "http://127.0.0.1:9"})
    registry.set_enabled(db, "smsru", True)
    debt_rule(db, channels="smsru")
    debt_rule(db, name="Долг ещё раз", channels="smsru")          # a member is counted once, whatever the rules
    db.release()
    done = cli(db, "notify", "plan")
    assert done.returncode == 0, done.stderr
    assert "0 сообщений" in done.stdout and "Нет согласия на канал smsru (пропущено членов): 2" in done.stdout


# -- no personal data in logs or the audit --------------------------------------------------------

def test_a_full_run_leaves_no_personal_data_in_debug_logs_or_the_audit(db, fakes, caplog):
    """Bank sync, chat binding, planning and sending through every channel with logging at DEBUG (httpx and
    httpcore included): no member's name, phone, e-mail or INN in any log record, nor in the audit log."""
    import logging

    from ledger.fields import make_person_inn
    from tests.bank_servers import TochkaServer, transaction
    from tests.test_bank_api import JWT, setup

    ledger_with_debtors(db, 4)
    people = {1: ("Иванов Иван Иванович", "500100732259")}
    for i in (2, 3, 4):
        people[i] = (f"Смирнов{'а' * (i % 2)} Ольга{i} Петровна", make_person_inn(f"77010{i:05d}"))
    for i, (name, inn) in people.items():
        members.update_member(db, i, {"full_name": name, "inn": inn, "address": f"ул. Садовая, д. {i}",
                                      "phones": f"+7 916 000-00-{i:02d}"})
    enable_all(db, fakes)
    reachable_everywhere(db, fakes, [1, 2])
    for channel in ("smtp", "smsru", "telegram", "max"):
        debt_rule(db, name=f"Долг {channel}", channels=channel, quiet_from=0, quiet_to=0)
    notify.save_rule(db, {"name": "Платёж", "trigger": "payment", "channels": "smtp,smsru", "quiet_from": 0,
                          "quiet_to": 0, "subject": notify.DEFAULT_PAYMENT_SUBJECT, "body": notify.DEFAULT_PAYMENT_BODY,
                          "short_body": notify.DEFAULT_PAYMENT_SHORT})
    bank = TochkaServer(jwt=JWT)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "integrations", "ledger"):
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        bank.transactions = [transaction("101", date.today().isoformat(), "1000.00",
                                         payer=(people[1][0], people[1][1], "40817810099910004312"),
                                         purpose="Членский взнос, л/с 1")]
        setup(db, bank, start_date=date.today().isoformat())
        assert registry.build(db, "open_banking", "test").sync_payments().new == 1
        link = registry.build(db, "telegram").link(3)
        fakes["telegram"].user_starts("7003", link.rpartition("=")[2])
        assert registry.build(db, "telegram").bind_chats() == 1
        now = datetime.utcnow().replace(hour=9)
        sender.forecast(db, now=now)
        plan = sender.plan(db, now=now)
        result = sender.send(db, now=now)
    finally:
        bank.close()
    # member 1 paid through the bank (a receipt by e-mail); 2 and 3 owe: e-mail, SMS, Telegram; 2 also MAX
    assert plan.by_channel == {"smtp": 3, "smsru": 2, "telegram": 2, "max": 1}
    assert result.sent == plan.planned and not result.failed
    assert all(delivered_to(fakes, ch) for ch in ("smtp", "smsru", "telegram", "max"))
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]    # aiosmtpd: the fake provider's side
    assert any(r.name.startswith("httpcore") for r in ours)                    # DEBUG really was captured
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in ours)
    audit_text = str(db.fetchall("SELECT * FROM audit_log"))
    assert "AAE-fake-telegram-token" not in logged and "user_id=90" not in logged      # nor secrets, nor chat ids
    for i, (name, inn) in people.items():
        person = members.get_member(db, i)
        values = [name, inn, person["emails"], person["phones"], person["phones"].replace(" ", "").replace("-", ""),
                  person["phones"].replace("+", "").replace(" ", "").replace("-", ""), person["address"]]
        for value in values:
            assert value not in logged, f"{value} in the debug log"
            assert value not in audit_text, f"{value} in the audit log"
