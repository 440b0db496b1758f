"""152-ФЗ, a member's rights (issue 17): his copy of every record held about him (pd-report), the retention check,
and anonymisation that leaves no old value in the database file while money figures of past years stay the same."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from ledger import accruals, audit, cooperative, debts, matching, members, personal_data, statements
from ledger.cli import main
from ledger.db import utcnow
from ledger.errors import InputError
from tests import ledger_builders as build

OUR = "40703810800000001234"
NAME = "Кузнецова Мария Степановна"
INN = "500100732259"
PHONE, OLD_PHONE = "8 916 555-44-33", "+7 903 777-66-55"
EMAIL = "m.kuznetsova@example.ru"


def _doc(number: str, day: str, amount: str, payer: str, inn: str, account: str, purpose: str) -> str:
    return (f"СекцияДокумент=Платежное поручение\nНомер={number}\nДата={day}\nСумма={amount}\n"
            f"Плательщик={payer}\nПлательщикИНН={inn}\nПлательщикСчет={account}\nПлательщикРасчСчет={account}\n"
            f"ПлательщикБИК=044525225\nПолучательСчет={OUR}\nПолучательРасчСчет={OUR}\nДатаПоступило={day}\n"
            f"Получатель1=СНТ «Рассвет»\nНазначениеПлатежа={purpose}\nКонецДокумента\n")


def statement(start: str, end: str, *docs: str) -> bytes:
    """A 1C client-bank statement (the format banks hand to 1С) of the cooperative's account."""
    text = ("1CClientBankExchange\nВерсияФормата=1.03\nКодировка=Windows\nОтправитель=Банк\n"
            f"ДатаНачала={start}\nДатаКонца={end}\nРасчСчет={OUR}\nСекцияРасчСчет\nДатаНачала={start}\n"
            f"ДатаКонца={end}\nРасчСчет={OUR}\nКонецРасчСчет\n" + "".join(docs) + "КонецФайла\n")
    return text.replace("\n", "\r\n").encode("cp1251")


@pytest.fixture
def coop(db):
    """Three members: «7» left in 2015 and paid everything, «8» is a current member, «9» left owing money."""
    build.load(db, build.tariff(rate="3000", start="2010-01-01"))
    ids = {}
    for reg_no, name, status in (("7", NAME, "member"), ("8", "Орлов Пётр Ильич", "member"),
                                 ("9", "Зайцев Глеб Олегович", "member")):
        ids[reg_no] = members.add_member(db, {"reg_no": reg_no, "full_name": name, "status": status,
                                              "join_date": "01.01.2010"}, actor="admin")
    members.update_member(db, ids["7"], {"inn": INN, "phones": OLD_PHONE, "emails": EMAIL,
                                         "address": "ул. Садовая, 5", "notes": "звонить вечером"}, actor="admin")
    members.update_member(db, ids["7"], {"phones": PHONE}, actor="admin")
    members.set_plots(db, ids["7"], [{"number": "12"}], actor="admin")
    members.set_plots(db, ids["8"], [{"number": "13"}], actor="admin")
    for reg_no in ("7", "9"):
        members.update_member(db, ids[reg_no], {"status": "withdrawn", "exit_date": "30.06.2015"}, actor="admin")
    accruals.accrue(db, date(2016, 12, 31), actor="admin")
    # her payments: one statement with a neighbour's payment too (kept), one with hers only (her original)
    mixed = statement("01.01.2012", "31.12.2012",
                      _doc("1", "15.06.2012", "9000.00", NAME, INN, "40817810200000000101",
                           "Членский взнос 2010-2012 л/с 7 Кузнецова М.С."),
                      _doc("2", "16.06.2012", "3000.00", "Орлов Пётр Ильич", "", "40817810200000000202",
                           "Членский взнос 2012 л/с 8"))
    own = statement("01.01.2015", "31.12.2015",
                    _doc("3", "20.05.2015", "7479.45", NAME, INN, "40817810200000000101",
                         f"Взносы 2013-2015 л/с 7, тел. {PHONE}, Кузнецовой М.С."))
    statements.import_statement(db, mixed, "выписка-2012.txt", actor="admin")
    statements.import_statement(db, own, "выписка-2015.txt", actor="admin")
    matching.match_payments(db, actor="admin")
    for pid, in db.fetchall("SELECT id FROM payments WHERE doc_number IN ('1', '3')"):
        matching.confirm(db, pid, ids["7"], actor="admin")
    now = utcnow()
    with db.transaction() as con:   # a notice she was sent, and her Telegram deep link
        con.execute("INSERT INTO notify_rules (name, trigger, channels, subject, body, created_at, updated_at) "
                    "VALUES ('долг', 'debt', 'smtp', 'Долг', 'Текст', ?, ?)", [now, now])
        con.execute("INSERT INTO notify_outbox (key, rule_id, member_id, channel, recipient, subject, body, amount, "
                    "planned_at, not_before, status, sent_at) VALUES ('k7', 1, ?, 'smtp', 'm.***@example.ru', "
                    "'Напоминание', ?, 3000, ?, ?, 'sent', ?)",
                    [ids["7"], f"Уважаемая {NAME}! Долг 3000 ₽. Телефон правления для справок.", now, now, now])
        con.execute("INSERT INTO notify_links VALUES ('tok-7-secret', ?, 'telegram', ?, ?, '55501234')",
                    [ids["7"], now, now])
    members.log_reveal(db, "buh", "л/с 7", 1, member_ids=[ids["7"]])
    return db, ids


def test_report_covers_every_table_that_refers_to_a_member(coop):
    """The catalogue, read here independently: every base table with a member column, and every column whose
    name speaks of members, must be in the report; a new table with a member reference fails this test."""
    db, ids = coop
    catalogue = db.fetchall(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_schema, table_name) WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' "
        "AND (c.column_name = 'member_id' OR c.column_name ILIKE '%member%' OR c.column_name ILIKE '%reg_no%')")
    referring = {t for t, _ in catalogue if t != "members"}
    unknown = {(t, c) for t, c in catalogue if c not in personal_data.REFERENCE_COLUMNS and t != "members"}
    assert not unknown, f"columns that may refer to members, unknown to the report: {unknown}"
    report = personal_data.pd_report(db, "7", actor="buh")
    reported = {s["table"] for s in report["sections"]}
    assert referring | set(personal_data.INDIRECT) <= reported
    # each table's section holds exactly the member's rows of it
    for table in referring:
        (section,) = [s for s in report["sections"] if s["table"] == table]
        held = db.scalar(f'SELECT count(*) FROM "{table}" WHERE member_id = ?', [ids["7"]])
        assert len(section["rows"]) == held, table


def test_new_member_table_shows_up_in_the_report(coop):
    db, ids = coop
    with db.transaction() as con:
        con.execute("CREATE TABLE member_gate_passes (member_id BIGINT, gate VARCHAR, issued VARCHAR)")
        con.execute("INSERT INTO member_gate_passes VALUES (?, 'северные', 'пропуск № 5')", [ids["7"]])
    report = personal_data.pd_report(db, "7")
    (section,) = [s for s in report["sections"] if s["table"] == "member_gate_passes"]
    assert section["title"] == "Таблица «member_gate_passes»"
    assert section["rows"] == [{"gate": "северные", "issued": "пропуск № 5"}]


def test_json_report_holds_decrypted_fields_history_money_notices_and_viewers(coop, tmp_path):
    db, ids = coop
    out = tmp_path / "копия.json"
    assert main(["members", "pd-report", "7", "--out", str(out)]) == 0
    data = json.loads(out.read_text("utf-8"))
    sections = {s["table"]: s for s in data["sections"]}
    card = {r["field"]: r["value"] for r in sections["members"]["rows"]}
    assert card["ФИО"] == NAME and card["ИНН"] == INN and card["Телефоны"] == "+79165554433"
    assert card["Эл. почта"] == EMAIL and card["Адрес"] == "ул. Садовая, 5"
    phones = [(r["old_value"], r["new_value"]) for r in sections["member_changes"]["rows"] if r["field"] == "Телефоны"]
    assert phones == [(None, "+79037776655"), ("+79037776655", "+79165554433")]
    assert {r["number"] for r in sections["plot_owners"]["rows"]} == {"12"}
    # 2010-2014 in full, 2015 for the 180 days before she left (3000 × 180 / 365)
    assert sum(Decimal(r["amount"]) for r in sections["charges"]["rows"]) == Decimal("16479.45")
    assert sorted(Decimal(r["amount"]) for r in sections["payments"]["rows"]) == [Decimal("7479.45"),
                                                                                  Decimal("9000.00")]
    assert {r["status"] for r in sections["matches"]["rows"]} == {"manual"}
    assert sum(Decimal(r["amount"]) for r in sections["allocations"]["rows"]) == Decimal("16479.45")
    (notice,) = sections["notify_outbox"]["rows"]
    assert (notice["channel"], notice["status"]) == ("smtp", "sent") and NAME in notice["body"]
    assert "tok-7-secret" not in out.read_text("utf-8")   # the bot's link token is not data about her
    viewers = sections["audit_log"]["rows"]
    assert ("buh", "Показ персональных данных", "его сведения") in {(r["actor"], r["action"], r["scope"]) for r in viewers}
    made = audit.entries(db, action="pd_report_made")
    assert made[0]["target"] == "л/с 7" and made[0]["actor"].startswith("cli:")


def test_pdf_report_and_bad_extension(coop, tmp_path, capsys):
    db, _ = coop
    out = tmp_path / "копия.pdf"
    assert main(["members", "pd-report", "7", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(out).pages)
    assert NAME in text and "Начисления (charges)" in text and "Уведомления (notify_outbox)" in text
    capsys.readouterr()
    assert main(["members", "pd-report", "7", "--out", str(tmp_path / "копия.docx")]) == 2
    assert "только в .pdf или .json" in capsys.readouterr().err
    assert not (tmp_path / "копия.docx").exists()
    assert main(["members", "pd-report", "999", "--out", str(tmp_path / "x.json")]) == 1
    made = len(audit.entries(db, action="pd_report_made"))
    (tmp_path / "папка.json").mkdir()      # the file cannot be written: no copy handed out, none logged
    assert main(["members", "pd-report", "7", "--out", str(tmp_path / "папка.json")]) == 1
    assert "папка.json: не удалось записать файл" in capsys.readouterr().err
    assert len(audit.entries(db, action="pd_report_made")) == made


def test_retention_lists_former_members_whose_period_is_over_and_who_owe_nothing(coop, capsys):
    db, ids = coop
    rows = {r["reg_no"]: r for r in personal_data.retention(db, date(2026, 12, 8))}
    assert set(rows) == {"7", "9"}   # «8» is a current member
    assert rows["7"]["keep_until"] == date(2020, 12, 31) and rows["7"]["due"]
    assert rows["9"]["debt"] == Decimal("16479.45") and not rows["9"]["due"]   # never paid
    assert not any(r["due"] for r in personal_data.retention(db, date(2020, 12, 31)))
    cooperative.save_settings(db, {"pd_retention_years": "15"})
    assert personal_data.due_for_anonymization(db, date(2026, 12, 8)) == []
    cooperative.save_settings(db, {"pd_retention_years": "5"})
    assert main(["members", "retention"]) == 0
    out = capsys.readouterr().out
    assert "7\tВыбыл\t30.06.2015" in out and "31.12.2020" in out and "\n9\t" not in out
    entry = audit.entries(db, action="retention_checked")[0]
    assert json.loads(entry["details"]) == {"due": 1, "reg_nos": ["7"]}


def test_anonymize_refused_for_current_member_debtor_and_without_reason(coop, capsys):
    db, _ = coop
    before = db.path.read_bytes()
    for reg_no, reason, words in (("8", "истёк срок", "действующий член"), ("9", "истёк срок", "открытый долг"),
                                  ("7", " ", "Укажите основание"),
                                  ("7", f"заявление {NAME}", "не должно содержать ФИО"),
                                  ("7", "истёк срок " * 60, r"длиннее 500 знаков \(659\)")):
        with pytest.raises(InputError, match=words):
            personal_data.anonymize(db, reg_no, reason, actor="admin")
    assert main(["members", "anonymize", "8", "--reason", "истёк срок"]) == 1
    assert "действующий член" in capsys.readouterr().err
    assert main(["members", "anonymize", "404", "--reason", "истёк срок"]) == 1
    assert members.find_by_reg_no(db, "7")["full_name"] == NAME
    assert not audit.entries(db, action="member_anonymized")
    with pytest.raises(InputError, match="хранятся до 31.12.2020"):
        personal_data.anonymize(db, "7", "истёк срок", actor="admin", today=date(2020, 6, 1))
    assert len(before) > 0


def _figures(db, ids) -> dict:
    """Money as of past dates and of past years, computed the ways the pages and reports compute it."""
    out = {}
    for day in (date(2012, 12, 31), date(2014, 12, 31), date(2016, 12, 31), date(2026, 12, 8)):
        out[f"debts {day}"] = [{k: v for k, v in r.items() if k != "full_name"} for r in debts.debts(db, day)]
    out["collection"] = debts.dashboard(db, date(2016, 12, 31)).collection
    s = debts.statement(db, ids["7"], date(2010, 1, 1), date(2016, 12, 31))
    out["statement"] = (s.opening, s.charged, s.penalties, s.paid, s.closing, [
        (r["day"], r["charged"], r["paid"]) for r in s.lines])
    out["sums"] = db.fetchall("SELECT (SELECT sum(amount) FROM charges), (SELECT sum(amount) FROM payments), "
                              "(SELECT sum(amount) FROM allocations), (SELECT count(*) FROM member_payments)")
    return out


def test_anonymize_leaves_no_old_value_in_the_file_and_keeps_the_money(coop, capsys):
    db, ids = coop
    before = _figures(db, ids)
    originals = {r[0]: r[1] for r in db.fetchall("SELECT file_name, sha256 FROM statements")}
    folder = statements.originals_dir(db)
    assert all((folder / sha).exists() for sha in originals.values())
    db.release()
    for old in (NAME, INN, PHONE, "Кузнецовой", "tok-7-secret"):   # in plaintext before (bank texts, links)
        assert old.encode("utf-8") in db.path.read_bytes(), old
    assert main(["members", "anonymize", "7", "--reason", "истёк срок хранения, заявление члена"]) == 0
    assert "Бывший член №7" in capsys.readouterr().out

    assert _figures(db, ids) == before
    member = members.find_by_reg_no(db, "7")
    assert member["full_name"] == "Бывший член №7"
    assert all(member[k] is None for k in ("inn", "phones", "emails", "telegram_chat_id", "address", "notes"))
    assert (member["status"], member["exit_date"]) == ("withdrawn", date(2015, 6, 30))
    assert not (folder / originals["выписка-2015.txt"]).exists()   # hers alone
    assert (folder / originals["выписка-2012.txt"]).exists()       # Орлов's payment is in it too
    entry = audit.entries(db, action="member_anonymized")[0]
    assert entry["target"] == "л/с 7" and "истёк срок хранения" in entry["details"]
    assert audit.verify(db).ok   # the chain and its head file still hold after the file was rewritten

    db.release()
    held = db.path.read_bytes()
    wal = db.path.with_name(db.path.name + ".wal")
    if wal.exists():
        held += wal.read_bytes()
    for old in (NAME, "Кузнецова", "Кузнецовой", INN, "9165554433", "9037776655", EMAIL, "ул. Садовая",
                "звонить вечером", "55501234", "tok-7-secret"):
        assert old.encode("utf-8") not in held, old
    assert "Орлов Пётр Ильич".encode("utf-8") in held   # the others are untouched
    # the ledger works on: a new member, a new accrual, the pd-report of the pseudonymous member
    members.add_member(db, {"reg_no": "10", "full_name": "Новый Член"})
    report = personal_data.pd_report(db, "7")
    (notice,) = [s for s in report["sections"] if s["table"] == "notify_outbox"][0]["rows"]
    assert notice["body"] == personal_data.WIPED_TEXT and notice["amount"] == Decimal("3000.00")
    assert main(["members", "anonymize", "7", "--reason", "повторно"]) == 0   # once more: only the file is rewritten
    assert "уже обезличен" in capsys.readouterr().out
    assert len(audit.entries(db, action="member_anonymized")) == 1


def test_reveals_log_member_ids_not_the_search_text(db):
    members.add_member(db, {"reg_no": "1", "full_name": NAME})
    members.log_reveal(db, "buh", "реестр", 1, member_ids=[1])
    entry = audit.entries(db, action="personal_data_revealed")[0]
    assert json.loads(entry["details"]) == {"rows": 1, "member_ids": [1]}


def test_scheduled_retention_check_runs_from_cron_and_raises_an_alert(coop, capsys):
    from integrations import monitoring

    db, _ = coop
    assert not [a for a in monitoring.alerts(db) if a.key.startswith("retention:")]
    assert main(["integrations", "enable", "retention"]) == 0
    assert main(["integrations", "schedule", "retention", "--every", "1440"]) == 0
    capsys.readouterr()
    assert main(["integrations", "run"]) == 0
    assert "retention: к обезличиванию 1 (л/с 7)" in capsys.readouterr().out
    (alert,) = [a for a in monitoring.alerts(db) if a.key.startswith("retention:")]
    assert "бывших членов: 1" in alert.text
    personal_data.anonymize(db, "7", "истёк срок хранения", actor="admin")
    assert main(["integrations", "run", "retention"]) == 0
    assert "обезличивать некого" in capsys.readouterr().out
    assert not [a for a in monitoring.alerts(db) if a.key.startswith("retention:")]


def test_card_button_makes_the_copy_for_staff_only(coop):
    from tests.test_pages import page_test

    db, ids = coop
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(ids["7"]).run()
    at.radio(key=f"pd_fmt_{ids['7']}").set_value("json").run()
    at.button(key=f"pd_make_{ids['7']}").click().run()
    assert not at.exception
    made = audit.entries(db, action="pd_report_made")
    assert [(e["actor"], e["target"]) for e in made] == [("test-accountant", "л/с 7")]
    assert "Скачать копию .json" in [b.label for b in at.get("download_button")]
    assert "Хранение" not in [t.label for t in at.tabs]   # retention is the admin's


def test_admin_sees_who_is_due_and_anonymizes_with_reason_and_confirmation(coop):
    from tests.test_pages import page_test, texts

    db, ids = coop
    at = page_test("pages/members.py", "admin").run()
    assert "Хранение" in [t.label for t in at.tabs]
    assert "л/с 7 —" not in texts(at)   # the list is made on request
    at.button(key="retention_check").click().run()
    assert "л/с 7 — Кузнецова Мария Степановна, выбыл 30.06.2015" in texts(at)
    assert "л/с 9" not in texts(at)   # owes money
    at.button(key=f"anon_pick_{ids['7']}").click().run()
    at.text_input(key="anon_reason").set_value("истёк срок хранения")
    next(b for b in at.button if b.label == "Обезличить безвозвратно").click().run()
    assert "Поставьте отметку" in texts(at)
    assert members.find_by_reg_no(db, "7")["full_name"] == NAME   # nothing done without the confirmation
    at.checkbox(key="anon_confirm").check()
    next(b for b in at.button if b.label == "Обезличить безвозвратно").click().run()
    assert not at.exception, at.exception
    assert members.find_by_reg_no(db, "7")["full_name"] == "Бывший член №7", texts(at)
    assert "Л/с 7 обезличен" in texts(at)
    assert audit.entries(db, action="member_anonymized")[0]["actor"] == "test-admin"


def test_rewrite_waits_for_other_threads_and_keeps_everything(db):
    """The file is swapped only while no thread of this process is inside the ledger; schema, data, sequences,
    the vault's key check and the audit chain come through."""
    import threading

    from ledger.errors import DatabaseBusy

    members.add_member(db, {"reg_no": "1", "full_name": NAME, "inn": INN}, actor="admin")
    inside, leave = threading.Event(), threading.Event()

    def reader():
        with db.connect():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=reader)
    thread.start()
    inside.wait(10)
    db.wait_seconds = 0.3
    with pytest.raises(DatabaseBusy):
        db.rewrite()
    leave.set()
    thread.join()
    def catalogue():
        tables = [r[0] for r in db.fetchall("SELECT table_name FROM duckdb_tables() ORDER BY 1")]
        return (tables, {t: db.scalar(f'SELECT count(*) FROM "{t}"') for t in tables},
                db.fetchall("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"),
                db.fetchall("SELECT sequence_name, last_value FROM duckdb_sequences() ORDER BY 1"),
                db.fetchall("SELECT table_name, constraint_text FROM duckdb_constraints() ORDER BY 1, 2"))

    versions, before = db.schema_versions(), catalogue()
    db.rewrite()
    assert catalogue() == before
    assert not db.path.with_name(db.path.name + ".wal").exists()
    assert not list(db.path.parent.glob(".*.tmp"))
    assert db.schema_versions() == versions
    assert members.find_by_reg_no(db, "1")["inn"] == INN   # decrypts: the key check and the data came through
    assert members.add_member(db, {"reg_no": "2", "full_name": "Второй"}) == 2   # the sequence went on
    assert audit.verify(db).ok


def test_no_consent_is_recorded_for_an_anonymized_member(coop, capsys):
    from ledger import consent

    db, _ = coop
    personal_data.anonymize(db, "7", "истёк срок хранения", actor="admin")
    mid = members.find_by_reg_no(db, "7")["id"]
    before = db.scalar("SELECT count(*) FROM member_consents")
    capsys.readouterr()
    assert main(["members", "consent", "7", "--channel", "sms", "--yes", "--basis", "заявление Иванова И. И."]) != 0
    assert "л/с 7 обезличен" in capsys.readouterr().err
    with pytest.raises(InputError, match="согласие на уведомления не записывается"):
        consent.record(db, mid, "telegram", True, "other", "слова члена")
    assert db.scalar("SELECT count(*) FROM member_consents") == before


def test_register_import_brings_no_personal_data_back_to_an_anonymized_member(coop):
    db, _ = coop
    personal_data.anonymize(db, "7", "истёк срок хранения", actor="admin")
    pseudonym = members.find_by_reg_no(db, "7")["full_name"]
    before = db.scalar("SELECT count(*) FROM member_consents")
    for data, words in (("Л/с;ФИО\r\n7;" + NAME + "\r\n", "строка 2: л/с 7 обезличен"),
                        ("Л/с;ФИО;Согласие на SMS\r\n7;" + pseudonym + ";да\r\n",
                         "строка 2, столбец «Согласие на SMS»: л/с 7 обезличен")):
        with pytest.raises(InputError, match=words):
            members.import_register(db, data.encode("cp1251"), "реестр.csv")
    assert members.find_by_reg_no(db, "7")["full_name"] == pseudonym
    assert db.scalar("SELECT count(*) FROM member_consents") == before
    # the same values as the card (an export loaded back) change nothing and are let through
    assert members.import_register(db, f"Л/с;ФИО\r\n7;{pseudonym}\r\n".encode("cp1251"), "реестр.csv").updated == 0
