"""Reports: NO_BOUPR against the official XSD and the extra checks, the register, debtors, the Sber registry."""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook
from pypdf import PdfReader

from ledger import cli, cooperative
from ledger.errors import InputError
from ledger.db import Database
from ledger.reports import boupr, debtors, load_form, members_register, sber_registry
from tests import ledger_builders as B

ROOT = Path(__file__).resolve().parent.parent
XSD_NAME = "fns/NO_BOUPR_1_159_00_05_04_01.xsd"
# ../shared beside the project; in a git worktree (…/wt/NAME) the shared folder sits beside the worktrees' parent.
XSD = next((p / XSD_NAME for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if (p / XSD_NAME).exists()),
           ROOT.parent / "shared" / XSD_NAME)


@pytest.fixture(scope="module")
def schema():
    if not XSD.exists():
        if os.environ.get("COOP_REQUIRE_SHARED") == "1":
            pytest.fail(f"{XSD} is missing and COOP_REQUIRE_SHARED=1")
        pytest.skip(f"{XSD} is not present (../shared)")
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid(schema, data: bytes) -> None:
    doc = etree.fromstring(data)
    assert schema.validate(doc), str(schema.error_log)


# -- NO_BOUPR -----------------------------------------------------------------------------------

def test_boupr_of_the_demo_is_valid_against_the_official_xsd(demo_db, schema):
    report, problems = boupr.build(demo_db, 2026, date(2026, 12, 8), guid="0b0c7a4e-9d8f-4c1e-a2b3-c4d5e6f7a8b9")
    assert problems == []
    assert report.data.startswith(b"<?xml version='1.0' encoding='windows-1251'?>")
    assert "Целевые взносы".encode("cp1251") in report.data     # not UTF-8
    assert_valid(schema, report.data)
    root = etree.fromstring(report.data)
    stem = report.name[:-4]
    assert root.get("ИдФайл") == stem
    settings = cooperative.get_settings(demo_db)
    assert stem == (f"NO_BOUPR_5007_5007_{settings['inn']}{settings['kpp']}_20261208_"
                    "0B0C7A4E-9D8F-4C1E-A2B3-C4D5E6F7A8B9")
    doc = root.find("Документ")
    assert (doc.get("КНД"), doc.get("ДатаДок"), doc.get("Период"), doc.get("ОтчетГод"), doc.get("ОКЕИ")) == \
        ("0710096", "08.12.2026", "34", "2026", "384")
    assert doc.find("Баланс") is not None and doc.find("ЦелИсп") is not None


def test_boupr_last_year_is_valid_too_and_balances(demo_db, schema):
    report, problems = boupr.build(demo_db, 2025, date(2026, 3, 20))
    assert problems == []
    assert_valid(schema, report.data)
    doc = etree.fromstring(report.data).find("Документ")
    assert doc.find("Баланс/Актив").get("СумОтч") == doc.find("Баланс/Пассив").get("СумОтч") == "2360"


def test_contributions_of_the_year_come_from_the_ledger(db):
    B.load(db, B.tariff("member", "Членский взнос", rate="3000", start="2025-01-01"),
           B.tariff("road", "Целевой взнос на дорогу", kind="one_off", period=None, due="2025-05-01", rate="2000",
                    start="2025-01-01"),
           B.tariff("entry", "Вступительный взнос", kind="one_off", period=None, due="2025-03-01", rate="1500",
                    start="2025-01-01"))
    B.member(db, 1)
    B.member(db, 2)
    from ledger import accruals
    accruals.accrue(db, date(2025, 12, 31))
    B.pay(db, 1, date(2025, 2, 1), "1500")       # entrance
    B.pay(db, 1, date(2025, 6, 1), "5000")       # road 2000 (due first) + membership 3000
    B.pay(db, 1, date(2025, 12, 1), "700")       # nothing due: an advance, counted as membership
    B.pay(db, 2, date(2025, 6, 10), "4500")      # entrance 1500, road 2000, membership 1000
    B.pay(db, 2, date(2026, 1, 10), "2000")      # the next year: not in 2025
    got = boupr.received_contributions(db, 2025)
    assert got == {"entrance": 3000, "targeted": 4000, "membership": 4700}
    form = boupr.prefill(db, 2025)
    assert form.contributions["membership"][0] == 5 and form.lines["6210"][0] == 12   # thousands of rubles


def test_this_years_form_is_prefilled_from_last_years(demo_db):
    last = load_form(demo_db, "boupr", 2025)
    form = boupr.prefill(demo_db, 2026)
    assert form.lines["1150"][1:] == last["lines"]["1150"][:2]
    assert form.lines["6310"][1] == last["lines"]["6310"][0]
    last_closing = last["lines"]["6100"][0] + sum(last["lines"].get(c, [0])[0] for c in ("6210", "6240", "6250")) \
        - sum(last["lines"].get(c, [0])[0] for c in ("6310", "6320", "6330", "6350"))
    assert form.lines["6100"][0] == last_closing
    assert form.tax_office == last["tax_office"]


def test_checks_explain_an_unbalanced_report_in_russian(demo_db, schema):
    form = boupr.prefill(demo_db, 2026)
    form.lines["1250"] = [900, 620, 400]        # assets grow, liabilities do not
    report, problems = boupr.build(demo_db, 2026, date(2026, 12, 8), form=form)
    assert_valid(schema, report.data)           # the XSD cannot see it …
    assert any("актив (строка 1600) 900 не равен пассиву (строка 1700) 0" in p for p in problems), problems


def test_checks_on_a_file_renamed_or_with_wrong_totals(demo_db):
    report, _ = boupr.build(demo_db, 2025, date(2026, 3, 20))
    assert boupr.check_xml(report.data, report.name) == []
    assert any("не совпадает с ИдФайл" in p for p in boupr.check_xml(report.data, "отчёт.xml"))
    text = report.data.decode("cp1251")
    tampered = re.sub(r'(<Актив [^>]*)СумОтч="2360"', r'\1СумОтч="2361"', text).encode("cp1251")
    assert tampered != report.data
    problems = boupr.check_xml(tampered, report.name)
    assert any("строка 1600 (Актив) на отчётную дату: итог 2361 не равен сумме строк 2360" in p for p in problems)
    audited = report.data.replace('ПрАудит="0"'.encode("cp1251"), 'ПрАудит="1"'.encode("cp1251"))
    assert any("укажите аудиторскую организацию" in p for p in boupr.check_xml(audited, report.name))


def test_missing_requisites_are_named_and_nothing_is_written(db, tmp_path, capsys):
    B.member(db, 1)
    B.pay(db, 1, date(2025, 3, 1), "100")     # the ledger has 2025: the year is fine, the requisites are not
    out = tmp_path / "out"
    assert cli.main(["report", "build", "boupr", "--year", "2025", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "не задано поле «ИНН»" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_builds_the_boupr_of_the_demo(demo_db, tmp_path, capsys, schema):
    out = tmp_path / "fns"
    assert cli.main(["report", "build", "boupr", "--year", "2026", "--out", str(out), "--date", "2026-12-08"]) == 0
    files = list(out.glob("NO_BOUPR_*.xml"))
    assert len(files) == 1
    assert_valid(schema, files[0].read_bytes())
    actions = [r[0] for r in demo_db.fetchall("SELECT action FROM audit_log WHERE action = 'report_built'")]
    assert actions


# -- register, debtors, Sber registry ---------------------------------------------------------------

def test_register_staff_and_board(demo_db):
    full = members_register.build(demo_db, "xlsx", personal=True, day=date(2026, 12, 8))
    ws = load_workbook(io.BytesIO(full.data)).active
    header = [c.value for c in ws[1]]
    assert "ФИО" in header and "Телефон" in header
    expected = demo_db.scalar("SELECT count(*) FROM members WHERE status = 'member'")
    assert ws.max_row - 1 == expected
    names = {r[header.index("ФИО")] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert any(len(n.split()) == 3 and "." not in n for n in names)
    board = members_register.build(demo_db, "pdf", personal=False, day=date(2026, 12, 8))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(board.data)).pages)
    assert "Реестр членов" in text and "Телефон" not in text
    one = demo_db.fetchone("SELECT full_name FROM members WHERE status = 'member' ORDER BY id LIMIT 1")[0]
    assert one not in text
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'export_personal_data'") >= 1


def test_debtors_match_the_debts_of_the_ledger(demo_db):
    from ledger import debts

    as_of = date(2026, 12, 1)
    report = debtors.build(demo_db, as_of, "csv", personal=True)
    rows = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    by_contribution = debts.debts(demo_db, as_of)
    members_with_debt = {r["member_id"] for r in by_contribution if r["principal"] + r["penalty"] > 0}
    assert {r[0] for r in rows[1:]} == members_with_debt


def test_sber_registry_layout(demo_db, tmp_path, capsys):
    as_of = date(2026, 12, 1)
    settings = cooperative.get_settings(demo_db)
    assert cli.main(["report", "build", "sber-registry", "--as-of", "2026-12-01", "--out", str(tmp_path)]) == 0
    path = tmp_path / f"{settings['inn']}_{settings['bank_account']}_001_1226.txt"
    lines = path.read_bytes().decode("cp1251").splitlines()
    assert lines
    for line in lines:
        reg_no, name, address, amount = line.split(";")
        assert re.fullmatch(r"\d+\.\d{2}", amount) and float(amount) > 0
        assert len(name.split()) >= 2
    from ledger import debts
    totals = {}
    for r in debts.debts(demo_db, as_of):
        totals[r["member_id"]] = totals.get(r["member_id"], 0) + r["total"]
    assert {l.split(";")[0]: l.split(";")[3] for l in lines} == \
        {k: f"{v:.2f}" for k, v in totals.items() if v > 0}


# -- court package --------------------------------------------------------------------------------

@pytest.mark.parametrize("claim, fee", [("50000", "2000"), ("100000", "2000"), ("200000", "3500"),
                                        ("400000", "6250"), ("1000000", "12500"), ("1000000000", "450000")])
def test_court_order_fee_by_the_tax_code(claim, fee):
    from decimal import Decimal

    from ledger.reports import court

    assert court.court_order_fee(Decimal(claim)) == Decimal(fee)


def test_court_package_of_a_debtor(demo_db, tmp_path, capsys):
    from decimal import Decimal

    from docx import Document

    from ledger import debts
    from ledger.reports import court

    as_of = date(2026, 12, 1)
    top = debtors.rows(demo_db, as_of, personal=True)[0]
    out = tmp_path / "court"
    assert cli.main(["report", "build", "court", top["reg_no"], "--as-of", "2026-12-01", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert [n.split("-")[0] for n in names] == ["акт", "акт", "заявление", "заявление", "расчёт"]
    claim = court.claim(demo_db, top["reg_no"], as_of)
    assert claim.principal == top["principal"] and claim.penalty == top["penalty"]
    assert claim.fee == court.court_order_fee(top["principal"] + top["penalty"]) >= Decimal(2000)
    docx = Document(str(next(out.glob("заявление-*.docx"))))
    text = "\n".join(p.text for p in docx.paragraphs)
    assert "о вынесении судебного приказа" in text and top["full_name"] in text
    from ledger.accruals import fmt_money
    assert fmt_money(top["total"]) in text
    pdf_text = "".join(p.extract_text() for p in PdfReader(str(next(out.glob("заявление-*.pdf")))).pages)
    assert "судебного приказа" in pdf_text


def test_court_package_for_a_member_without_debt(demo_db, capsys, tmp_path):
    as_of = date(2026, 12, 1)
    debtors_now = {r["reg_no"] for r in debtors.rows(demo_db, as_of, personal=True)}
    clean = next(r[0] for r in demo_db.fetchall("SELECT reg_no FROM members ORDER BY id") if r[0] not in debtors_now)
    assert cli.main(["report", "build", "court", clean, "--as-of", "2026-12-01", "--out", str(tmp_path / "c")]) == 1
    assert "нет просроченного долга" in capsys.readouterr().err


def test_every_report_of_the_demo_builds_from_the_command_line(demo_db, tmp_path, capsys, schema):
    as_of = "2026-12-01"
    top = debtors.rows(demo_db, date(2026, 12, 1), personal=True)[0]["reg_no"]
    runs = [["report", "build", "boupr", "--year", "2026", "--out", str(tmp_path / "fns")],
            ["report", "build", "register", "--out", str(tmp_path / "реестр.xlsx")],
            ["report", "build", "register", "--out", str(tmp_path / "реестр.pdf")],
            ["report", "build", "debtors", "--as-of", as_of, "--out", str(tmp_path / "должники.xlsx")],
            ["report", "build", "debtors", "--as-of", as_of, "--out", str(tmp_path / "должники.pdf")],
            ["report", "build", "court", top, "--as-of", as_of, "--out", str(tmp_path / "суд")],
            ["report", "build", "sber-registry", "--as-of", as_of, "--out", str(tmp_path / "sber.txt")]]
    for args in runs:
        assert cli.main(args) == 0, (args, capsys.readouterr().err)
    assert_valid(schema, next((tmp_path / "fns").glob("*.xml")).read_bytes())
    assert load_workbook(tmp_path / "реестр.xlsx").active.max_row > 100
    assert len(PdfReader(str(tmp_path / "должники.pdf")).pages) >= 1
    assert "Внимание: Сбербанк ждёт имя файла" in capsys.readouterr().out
    built = demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'report_built'")
    assert built == len(runs)


def test_a_wrong_extension_is_refused_in_russian(demo_db, tmp_path, capsys):
    assert cli.main(["report", "build", "register", "--out", str(tmp_path / "r.docx")]) == 1
    assert "выгружается в .xlsx, .pdf" in capsys.readouterr().err
    assert not (tmp_path / "r.docx").exists()


# -- the reporting year must lie within the cooperative's accounting -------------------------------

def test_boupr_refuses_a_year_before_the_data_or_in_the_future(db, tmp_path, capsys):
    B.member(db, 1)
    B.pay(db, 1, date(2023, 3, 1), "100")
    B.pay(db, 1, date(2025, 3, 1), "100")
    next_year = date.today().year + 1
    for year, why in ((1990, "раньше начала учёта"), (2022, "раньше начала учёта"), (next_year, "ещё не наступил")):
        out = tmp_path / str(year)
        assert cli.main(["report", "build", "boupr", "--year", str(year), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (f"Ошибка: Отчётный год {year} {why}: данные в учёте есть за 2023–2025 гг.; отчёт формируется "
                       f"за 2023–{date.today().year} гг."), err
        assert not out.exists()
    assert "report_built" not in [r[0] for r in db.fetchall("SELECT action FROM audit_log")]
    with pytest.raises(InputError, match="Отчётный год 1990 раньше начала учёта"):
        boupr.prefill(db, 1990)                     # what the «Отчёты» page asks first


def test_boupr_years_start_at_the_registration_when_the_ogrn_is_known(db):
    cooperative.save_settings(db, {"ogrn": "1155007001236"})        # entered in ЕГРЮЛ in 2015
    with pytest.raises(InputError, match=r"в учёте ещё нет данных ни за один год; кооператив зарегистрирован в 2015 г"
                                         r"\. \(по ОГРН\); отчёт формируется за 2015–"):
        boupr.check_year(db, 2014)
    boupr.check_year(db, 2015)                      # a year without data after the registration: filled in by hand
    with pytest.raises(InputError, match="Отчётный год 2024 не подходит: в учёте ещё нет данных"):
        boupr.check_year(Database(db.path.with_name("other.duckdb")), 2024)


def test_register_pdf_repeats_its_header_on_every_page_and_wraps_long_values_whole():
    long_address = "Московская обл., Дмитровский р-н, с/п Костинское, СНТ «Рассвет», ул. Центральная, д. 125, корп. 2"
    email = "очень.длинный.адрес.электронной.почты@example.com"
    rows = [{"no": i, "reg_no": f"Л{i:03d}", "full_name": f"Членов{i} Иван Петрович", "join_date": date(2010, 1, i % 28 + 1),
             "plots": str(i), "cadastral_nos": f"50:20:0010101:{i}", "area": "600.00",
             "address": long_address if i == 7 else f"ул. Садовая, д. {i}", "phones": f"+7912{i:07d}",
             "emails": email if i == 8 else f"m{i}@mail.ru"} for i in range(1, 121)]
    data = members_register.pdf_bytes("Реестр членов", members_register.FULL_COLUMNS, rows)
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    assert len(pages) >= 3
    for page in pages:                                   # each page starts with the column titles
        assert "№ л/с" in page and "Кадастровый номер" in page and "Эл. почта" in page
    text = "\n".join(pages)
    for r in rows:
        assert r["reg_no"] in text and r["cadastral_nos"] in text and f"{r['join_date']:%d.%m.%Y}" in text
    squeezed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", long_address) in squeezed and email in squeezed   # wrapped, nothing lost
    assert "Всего членов: 120" in pages[-1]
