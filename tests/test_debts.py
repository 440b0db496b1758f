"""Debts as of a date, aging, the member statement (.xlsx, PDF), the dashboard aggregates and the CLI."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date
from decimal import Decimal

import openpyxl
import pypdf

from ledger import accruals, cli, debts
from tests.ledger_builders import charge, load, member, pay, tariff

D = Decimal
DAILY = 'kind = "daily_percent"\nrate = "0.1"\ngrace_days = 0'


def small_ledger(db) -> None:
    load(db, tariff(code="member", keywords=["членск"], penalty=DAILY),
         tariff(code="garbage", name="Вывоз мусора", keywords=["мусор"]))
    member(db, 1, name="Иванов Иван Петрович", plots=[("7", "600", (1, 1))])
    member(db, 2, name="Петрова Анна Сергеевна", plots=[("8", "600", (1, 1))])
    charge(db, 1, "member", date(2021, 1, 10), "1000")     # overdue > 3 years on 2025-03-01
    charge(db, 1, "member", date(2025, 1, 10), "1000")
    charge(db, 1, "garbage", date(2025, 2, 20), "300")
    charge(db, 1, "garbage", date(2025, 4, 20), "300")     # not yet due on 2025-03-01
    charge(db, 2, "member", date(2025, 1, 10), "1000")
    pay(db, 2, date(2025, 1, 10), "1000", "членский взнос")
    pay(db, 1, date(2025, 2, 1), "200", "Вывоз мусора")    # garbage advance: pays 200 of the 20.02 charge


def test_debts_as_of_a_date_with_aging_and_time_bar(db):
    small_ledger(db)
    rows = debts.debts(db, date(2025, 3, 1))
    # member 1: member 2000 principal; penalty 0.1 %/day: 1000 × (11.01.2021 … 01.03.2025 = 1511 days) = 1511.00
    # and 1000 × (11.01.2025 … 01.03.2025 = 50 days) = 50.00 → 1561.00. garbage: 100 left of 20.02, 9 days overdue.
    assert [(r["member_id"], r["contribution"], r["principal"], r["penalty"], r["total"], r["oldest_due"],
             r["days_overdue"]) for r in rows] == [
        ("1", "garbage", D("100.00"), D("0.00"), D("100.00"), date(2025, 2, 20), 9),
        ("1", "member", D("2000.00"), D("1561.00"), D("3561.00"), date(2021, 1, 10), 1511)]
    d = debts.dashboard(db, date(2025, 3, 1))
    buckets = {b["bucket"]: b["amount"] for b in debts.by_bucket(d.rows)}
    assert buckets == {"срок не наступил": D("300.00"), "1–30 дней": D("100.00"), "31–90 дней": D("1000.00"),
                       "91–180 дней": D(0), "181–365 дней": D(0), "более 365 дней": D("1000.00")}
    t = debts.totals(d.rows)
    assert (t["principal"], t["penalty"], t["debtors"], t["time_barred"]) == (D("2100.00"), D("1561.00"), 1, D("1000.00"))
    top = debts.by_member(d.rows)
    assert [(m["reg_no"], m["total"]) for m in top] == [("1", D("3661.00"))]
    by_month = {c["month"]: (c["charged"], c["paid"]) for c in d.collection}
    assert by_month[date(2025, 1, 1)] == (D("2000.00"), D("1000.00"))
    assert by_month[date(2025, 2, 1)] == (D("300.00"), D("200.00"))
    assert d.filtered(plot="8") == [] and len(d.filtered(plot="7")) == 2
    assert [r["contribution"] for r in d.filtered(contribution=["garbage"])] == ["garbage"]


def test_dashboard_snapshot_follows_the_ledger(db):
    small_ledger(db)
    assert debts.totals(debts.dashboard(db, date(2025, 3, 1)).rows)["principal"] == D("2100.00")
    pay(db, 1, date(2025, 2, 25), "100", "мусор")
    assert debts.totals(debts.dashboard(db, date(2025, 3, 1)).rows)["principal"] == D("2000.00")


def test_statement_balances_and_files(db):
    small_ledger(db)
    s = debts.statement(db, 1, date(2025, 1, 1), date(2025, 3, 1))
    # opening on 31.12.2024: 1000 charge + penalty 11.01.2021–31.12.2024 = 1451 days × 1.00 = 1451.00 → 2451.00
    assert s.opening == D("2451.00")
    assert (s.charged, s.paid) == (D("1300.00"), D("200.00"))
    # penalty in the period: 1561.00 − 1451.00 = 110.00 (60 days on the old charge, 50 on the new one)
    assert s.penalties == D("110.00")
    assert s.closing == D("3661.00")
    sheet = openpyxl.load_workbook(io.BytesIO(debts.statement_xlsx(s))).active
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert "Член: Иванов Иван Петрович, л/с 1" in values and D("3661.00") in [D(str(v)) for v in values
                                                                             if isinstance(v, (int, float))]
    text = pypdf.PdfReader(io.BytesIO(debts.statement_pdf(s))).pages[0].extract_text()
    assert "Иванов Иван Петрович" in text
    assert "Сальдо на 01.01.2025: 2 451,00 ₽ (задолженность члена)" in text
    assert "Сальдо на 01.03.2025: 3 661,00 ₽" in text
    assert "1 000,00" in text and "110,00" in text and "200,00" in text


def test_statement_shows_an_advance_as_overpayment(db):
    small_ledger(db)
    s = debts.statement(db, 2, date(2025, 1, 1), date(2025, 12, 31))
    assert (s.opening, s.charged, s.paid, s.closing) == (D(0), D("1000.00"), D("1000.00"), D("0.00"))
    pay(db, 2, date(2025, 5, 1), "250")
    s = debts.statement(db, 2, date(2025, 1, 1), date(2025, 12, 31))
    assert s.closing == D("-250.00")
    assert "250,00 ₽ (переплата, аванс)" in pypdf.PdfReader(io.BytesIO(debts.statement_pdf(s))).pages[0].extract_text()


def test_short_name():
    assert debts.short_name("Иванов Иван Петрович") == "Иванов И. П."
    assert debts.short_name("Ким") == "Ким"


# -- CLI ----------------------------------------------------------------------------------------

def coop(*args):
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], capture_output=True, text=True)


def test_cli_tariffs_accrue_debts_statement(db, db_path, tmp_path, capsys):
    db_path_s = str(db_path)
    toml = tmp_path / "тарифы.toml"
    toml.write_text(tariff(rate="1200", penalty=DAILY), "utf-8")
    assert cli.main(["tariffs", "load", str(toml)]) == 0
    assert "новых взносов 1" in capsys.readouterr().out
    from ledger.db import Database

    member(Database(db_path), 1, name="Иванов Иван Петрович")
    assert cli.main(["accrue", "--through", "31.12.2025"]) == 0
    assert "начислено 1 на 1 200,00 ₽" in capsys.readouterr().out
    assert cli.main(["accrue", "--through", "2025-12-31"]) == 0
    assert "новых начислений нет" in capsys.readouterr().out
    out = tmp_path / "долги.csv"
    assert cli.main(["debts", "--as-of", "2025-07-11", "--out", str(out)]) == 0
    rows = list(csv.reader(out.read_text("utf-8").splitlines()))
    # 10 days overdue (02.07–11.07): 1200 × 0.001 × 10 = 12.00
    assert rows == [["member_id", "full_name", "contribution", "principal", "penalty", "total", "oldest_due",
                     "days_overdue"],
                    ["1", "Иванов Иван Петрович", "member", "1200.00", "12.00", "1212.00", "2025-07-01", "10"]]
    xlsx = tmp_path / "долги.xlsx"
    assert cli.main(["debts", "--as-of", "2025-07-11", "--out", str(xlsx)]) == 0
    sheet = openpyxl.load_workbook(xlsx).active
    assert [c.value for c in sheet[1]] == [c.key for c in debts.DEBT_COLUMNS]
    pdf = tmp_path / "акт.pdf"
    assert cli.main(["statement", "1", "--from", "2025-01-01", "--to", "2025-07-11", "--out", str(pdf)]) == 0
    assert "1 212,00" in pypdf.PdfReader(pdf).pages[0].extract_text()
    result = coop("--db", db_path_s, "statement", "99", "--from", "2025-01-01", "--to", "2025-07-11", "--out",
                  str(tmp_path / "x.pdf"))
    assert result.returncode == 1 and "Ошибка: Член с л/с 99 не найден" in result.stderr


def test_cli_bad_input_is_one_russian_line(db, db_path, tmp_path):
    toml = tmp_path / "t.toml"
    toml.write_text(tariff(rate="abc"), "utf-8")
    result = coop("--db", str(db_path), "tariffs", "load", str(toml))
    assert result.returncode == 1
    assert "Ошибка: t.toml, взнос «member», поле «rate»: «abc» не число" in result.stderr
    result = coop("--db", str(db_path), "accrue", "--through", "31.13.2025")
    assert result.returncode == 1 and "Параметр --through" in result.stderr and "Traceback" not in result.stderr
    result = coop("--db", str(db_path), "debts", "--as-of", "2025-01-01", "--out", str(tmp_path / "d.txt"))
    assert result.returncode == 1 and "поддерживаются только файлы .xlsx и .csv" in result.stderr


def test_cli_key_rate(db, db_path, capsys):
    assert cli.main(["tariffs", "key-rate", "01.01.2031", "12,5"]) == 0
    assert "01.01.2031\t12.50 %" in capsys.readouterr().out


def test_debts_per_plot_with_co_owners(db):
    load(db, tariff(code="road", basis="plot", rate="5000", kind="one_off", period=None, due="2025-09-01", start=""),
         tariff(code="member", rate="1000"))
    member(db, 1, plots=[("5", "600", (1, 2)), ("6", "400", (1, 1))])
    member(db, 2, plots=[("5", "600", (1, 2))])
    accruals.accrue(db, date(2025, 12, 31))
    pay(db, 2, date(2025, 8, 1), "3500")     # member 2: 1000 membership + 2500 road (his half of plot 5)
    d = debts.dashboard(db, date(2025, 10, 1))
    assert [(p["plot"], p["owners"], p["principal"]) for p in debts.by_plot(d.rows)] == [
        ("6", "1", D("5000.00")), ("5", "1", D("2500.00"))]
    # filter by plot 5: its road charge of member 1 and the per-member charge of both owners' membership
    assert sorted((r["reg_no"], r["contribution"], r["principal"]) for r in d.filtered(plot="5")) == [
        ("1", "member", D("1000.00")), ("1", "road", D("2500.00"))]
    assert debts.debts(db, date(2025, 10, 1))[0]["principal"] == D("1000.00")
    assert [(r["contribution"], r["principal"]) for r in debts.debts(db, date(2025, 10, 1))] == [
        ("member", D("1000.00")), ("road", D("7500.00"))]
