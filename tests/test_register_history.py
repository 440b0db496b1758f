"""Register history that accrues right (issue 10, 19.5): unknown dates, transfers on an effective date, register
conflicts, ownership date corrections, and recalculation (перерасчёт) posted as visible corrections."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from ledger import accruals, audit, cli, debts, members
from ledger.db import Database
from ledger.errors import InputError
from tests.conftest import table_dump, xlsx_bytes
from tests.ledger_builders import load, pay, tariff

D = Decimal
FEE = tariff(code="member", name="Членский взнос", basis="plot_area", rate="10", due="03-31", start="2026-01-01")
HEAD = ["№ л/с", "ФИО", "№ участка", "Площадь, м2"]


def share_of_year(total: str, days: int, year_days: int = 365) -> Decimal:
    """An independent computation: total × days / year, rounded half up to kopecks."""
    return (D(total) * days / year_days).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def principal(db, reg_no: str, as_of: date) -> Decimal:
    return sum((r["principal"] for r in debts.debts(db, as_of) if r["member_id"] == reg_no), D(0))


def write(tmp_path, name: str, rows: list[list]) -> str:
    path = tmp_path / name
    path.write_bytes(xlsx_bytes(rows))
    return str(path)


# -- the worked example of issue 10, through the CLI as the accountant would run it ---------------

def test_worked_example_transfer_on_as_of_date_is_recalculated(db, tmp_path, capsys):
    load(db, FEE)
    first = write(tmp_path, "реестр.xlsx", [HEAD, ["3", "Третьяков Иван", "3", 1000]])
    assert cli.main(["members", "import", first]) == 0
    owned = db.fetchall("SELECT owned_from, owned_to FROM plot_owners")
    assert owned == [(None, None)]                         # no date in the file: the start is unknown
    assert cli.main(["accrue", "--through", "31.12.2026"]) == 0
    assert principal(db, "3", date(2026, 12, 31)) == D("10000.00")   # the year, not a few days

    second = write(tmp_path, "реестр-июль.xlsx", [HEAD, ["3", "Третьяков Иван", None, None],
                                                  ["5", "Пятаков Пётр", "3", 1000]])
    assert cli.main(["members", "import", second, "--as-of", "2026-07-01"]) == 0
    capsys.readouterr()
    charges_before = table_dump(db, "charges")
    assert cli.main(["accrue", "--through", "31.12.2026", "--dry-run"]) == 0
    preview = capsys.readouterr().out
    assert "перерасчёт: смена владельца участка 3 с 01.07.2026" in preview
    assert "-5 041,10 ₽" in preview and "Членский взнос" in preview and "Предварительно" in preview
    assert table_dump(db, "charges") == charges_before and db.scalar("SELECT count(*) FROM charge_corrections") == 0

    assert cli.main(["accrue", "--through", "31.12.2026"]) == 0
    as_of = date(2026, 12, 31)
    owes_3, owes_5 = principal(db, "3", as_of), principal(db, "5", as_of)
    assert owes_3 == share_of_year("10000", 181) == D("4958.90")
    assert owes_5 == share_of_year("10000", 184) == D("5041.10")
    assert owes_3 + owes_5 == D("10000.00")
    id5 = members.find_by_reg_no(db, "5")["id"]
    assert db.fetchall("SELECT due_date, amount FROM charges_effective WHERE member_id = ?", [id5]) == \
        [(date(2026, 7, 1), D("5041.10"))]
    # the posted charge of л/с 3 is not edited: a correction with its reason stands next to it
    id3 = members.find_by_reg_no(db, "3")["id"]
    assert db.fetchall("SELECT amount FROM charges WHERE member_id = ?", [id3]) == [(D("10000.00"),)]
    assert db.fetchall("SELECT delta, reason, kind FROM charge_corrections") == [
        (D("-5041.10"), "перерасчёт: смена владельца участка 3 с 01.07.2026", "recalc")]

    capsys.readouterr()
    assert cli.main(["accrue", "--through", "31.12.2026"]) == 0    # repeating posts nothing
    assert "новых начислений нет" in capsys.readouterr().out
    assert db.scalar("SELECT count(*) FROM charge_corrections") == 1 and db.scalar("SELECT count(*) FROM charges") == 2


def test_statement_and_dashboard_show_the_corrected_charge(db):
    load(db, FEE)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000]]), "r.xlsx")
    accruals.accrue(db, date(2026, 12, 31))
    assert debts.totals(debts.dashboard(db, date(2026, 12, 31)).rows)["principal"] == D("10000.00")
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", None, None], ["5", "Пятаков Пётр", "3", 1000]]),
                            "r2.xlsx", as_of=date(2026, 7, 1))
    accruals.accrue(db, date(2026, 12, 31))
    s = debts.statement(db, members.find_by_reg_no(db, "3")["id"], date(2026, 1, 1), date(2026, 12, 31))
    assert s.charged == D("4958.90") and s.closing == D("4958.90")
    assert [(r["document"], r["text"], r["charged"]) for r in s.lines] == [
        ("начисление", "Членский взнос за 01.01.2026–31.12.2026, участок 3", D("10000.00")),
        ("сторно", "Членский взнос, перерасчёт: смена владельца участка 3 с 01.07.2026", D("-5041.10"))]
    board = {r["reg_no"]: r["principal"] for r in debts.by_member(debts.dashboard(db, date(2026, 12, 31)).rows)}
    assert board == {"3": D("4958.90"), "5": D("5041.10")}


# -- dates ----------------------------------------------------------------------------------------

def test_dates_in_the_file_win_over_as_of(db):
    members.import_register(db, xlsx_bytes([HEAD, ["1", "Первов", "1", 600]]), "r.xlsx")
    rows = [HEAD + ["Дата начала владения", "Дата вступления"],
            ["1", "Первов", None, None, None, None],
            ["2", "Вторых", "1", 600, "15.03.2026", "01.02.2026"]]
    members.import_register(db, xlsx_bytes(rows), "r2.xlsx", as_of=date(2026, 7, 1))
    got = db.fetchall("SELECT m.reg_no, o.owned_from, o.owned_to FROM plot_owners o JOIN members m ON m.id = o.member_id "
                      "ORDER BY m.reg_no")
    assert got == [("1", None, date(2026, 3, 15)), ("2", date(2026, 3, 15), None)]
    assert members.find_by_reg_no(db, "2")["join_date"] == date(2026, 2, 1)


def test_withdrawn_without_exit_date_leaves_on_as_of_and_is_not_charged_after(db):
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="3650", due="12-31",
                    start="2026-01-01"))
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО"], ["7", "Седьмов"]]), "r.xlsx")
    result = members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Статус"], ["7", "Седьмов", "выбыл"]]),
                                     "r2.xlsx", as_of=date(2026, 4, 11))
    assert any("выбыл без «Дата выхода»" in w and "11.04.2026" in w for w in result.warnings)
    m = members.find_by_reg_no(db, "7")
    assert (m["status"], m["exit_date"]) == ("withdrawn", date(2026, 4, 11))
    accruals.accrue(db, date(2026, 12, 31))
    # 1 Jan – 10 Apr: 100 days of 365 of 3650 ₽
    assert principal(db, "7", date(2027, 1, 31)) == share_of_year("3650", 100) == D("1000.00")


def test_new_member_marked_withdrawn_without_date_leaves_on_as_of(db):
    result = members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Статус"], ["8", "Восьмов", "выбыл"]]),
                                     "r.xlsx", as_of=date(2026, 2, 1))
    assert result.warnings and members.find_by_reg_no(db, "8")["exit_date"] == date(2026, 2, 1)


# -- conflicts (19.5) -----------------------------------------------------------------------------

def _owner_299(db):
    members.import_register(db, xlsx_bytes([HEAD, ["299", "Старый Владелец", "321", 600]]), "r.xlsx")


def test_second_owner_without_shares_or_date_is_refused_with_the_row(db):
    _owner_299(db)
    tables = ["members", "plots", "plot_owners", "member_changes", "member_statuses"]
    before = {t: table_dump(db, t) for t in tables}
    partial = [HEAD, ["400", "Новый Владелец", "321", 600]]
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes(partial), "новые.xlsx", as_of=date(2026, 7, 1))
    assert "строка 2: участок 321 уже принадлежит л/с 299 — укажите доли или дату перехода" in str(err.value)
    assert {t: table_dump(db, t) for t in tables} == before


def test_old_owner_still_listing_the_plot_is_refused(db):
    _owner_299(db)
    both = [HEAD, ["299", "Старый Владелец", "321", 600], ["400", "Новый Владелец", "321", 600]]
    with pytest.raises(InputError, match="участок 321 указан у л/с 299, л/с 400, а доли в сумме больше 1"):
        members.import_register(db, xlsx_bytes(both), "r2.xlsx")


def test_a_date_of_transfer_makes_it_a_transfer(db):
    _owner_299(db)
    rows = [HEAD + ["Дата начала владения"], ["400", "Новый Владелец", "321", 600, "01.05.2026"]]
    members.import_register(db, xlsx_bytes(rows), "r2.xlsx")
    got = db.fetchall("SELECT m.reg_no, o.owned_from, o.owned_to FROM plot_owners o JOIN members m ON m.id = o.member_id "
                      "ORDER BY m.reg_no")
    assert got == [("299", None, date(2026, 5, 1)), ("400", date(2026, 5, 1), None)]


def test_shares_that_add_up_are_accepted(db):
    members.import_register(db, xlsx_bytes([HEAD + ["Доля"], ["299", "Старый Владелец", "321", 600, "1/2"]]), "r.xlsx")
    members.import_register(db, xlsx_bytes([HEAD + ["Доля"], ["400", "Новый Владелец", "321", 600, "1/2"]]), "r2.xlsx",
                            as_of=date(2026, 7, 1))
    assert db.fetchall("SELECT share_num, share_den, owned_from FROM plot_owners ORDER BY member_id") == \
        [(1, 2, None), (1, 2, date(2026, 7, 1))]


def test_a_new_share_holds_from_the_effective_date(db):
    _owner_299(db)
    rows = [HEAD + ["Доля"], ["299", "Старый Владелец", "321", 600, "1/2"], ["400", "Новый Владелец", "321", 600, "1/2"]]
    members.import_register(db, xlsx_bytes(rows), "r2.xlsx", as_of=date(2026, 7, 1))
    got = db.fetchall("SELECT m.reg_no, o.share_num, o.share_den, o.owned_from, o.owned_to FROM plot_owners o "
                      "JOIN members m ON m.id = o.member_id ORDER BY m.reg_no, o.owned_from NULLS FIRST")
    assert got == [("299", 1, 1, None, date(2026, 7, 1)), ("299", 1, 2, date(2026, 7, 1), None),
                   ("400", 1, 2, date(2026, 7, 1), None)]
    before = table_dump(db, "plot_owners")
    members.import_register(db, xlsx_bytes(rows), "r2.xlsx", as_of=date(2026, 8, 1))   # the same file: no change
    assert table_dump(db, "plot_owners") == before
    load(db, FEE)   # 10 ₽ × 600 m² a year: 299 owes 1/1 for 181 days and 1/2 for 184, 400 owes 1/2 for 184
    accruals.accrue(db, date(2026, 12, 31))
    owes = dict(db.fetchall("SELECT m.reg_no, sum(c.amount) FROM charges_effective c JOIN members m ON m.id = c.member_id "
                            "GROUP BY m.reg_no"))
    assert owes == {"299": share_of_year("6000", 181) + share_of_year("3000", 184), "400": share_of_year("3000", 184)}


def test_withdrawn_without_date_from_an_older_load_gets_the_effective_date(db):
    with db.transaction() as con:
        con.execute("INSERT INTO members (reg_no, full_name, status, created_at, updated_at) "
                    "VALUES ('9', 'Девятов', 'withdrawn', now(), now())")
    result = members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Статус"], ["9", "Девятов", "выбыл"]]),
                                     "r.xlsx", as_of=date(2026, 3, 1))
    assert result.warnings and members.find_by_reg_no(db, "9")["exit_date"] == date(2026, 3, 1)


# -- corrections of ownership dates ----------------------------------------------------------------

def test_corrected_date_is_logged_and_recalculated(db):
    load(db, FEE)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000]]), "r.xlsx")
    accruals.accrue(db, date(2026, 12, 31))
    mid = members.find_by_reg_no(db, "3")["id"]
    with pytest.raises(InputError, match="Основание"):
        members.correct_ownership(db, mid, "3", None, None, "01.10.2026", "", " ")
    members.correct_ownership(db, mid, "3", None, None, "01.10.2026", "", "договор купли-продажи от 01.10.2026",
                              actor="buh")
    history = members.member_history(db, mid)
    assert [(p["owned_from"], p["owned_to"]) for p in history["plots"]] == [(date(2026, 10, 1), None)]
    change = history["changes"][-1]
    assert (change["field"], change["old_value"], change["new_value"], change["changed_by"]) == \
        ("начало владения участком 3", "дата не указана", "01.10.2026", "buh")
    assert change["source"] == "исправление: договор купли-продажи от 01.10.2026"
    (logged,) = audit.entries(db, "ownership_corrected")
    assert logged["actor"] == "buh" and "договор купли-продажи" in logged["details"]
    preview = accruals.accrue(db, date(2026, 12, 31), dry_run=True)
    assert preview.corrections == 1 and preview.corrections_amount == share_of_year("10000", 92) - D("10000.00")
    assert not preview.posted and db.scalar("SELECT count(*) FROM charge_corrections") == 0
    done = accruals.accrue(db, date(2026, 12, 31), expect=preview.token)
    assert done.corrections == 1
    assert principal(db, "3", date(2026, 12, 31)) == share_of_year("10000", 92)   # 1 Oct – 31 Dec


def test_posting_a_stale_preview_is_refused(db):
    load(db, FEE)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000]]), "r.xlsx")
    preview = accruals.accrue(db, date(2026, 12, 31), dry_run=True)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000], ["4", "Четвертаков", "4", 500]]),
                            "r2.xlsx")
    with pytest.raises(InputError, match="Данные изменились"):
        accruals.accrue(db, date(2026, 12, 31), expect=preview.token)
    assert db.scalar("SELECT count(*) FROM charges") == 0


# -- recalculation after a tariff edit; the accountant's own corrections are kept ---------------------

def test_tariff_edit_is_recalculated_and_manual_corrections_are_kept(db):
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="1000", due="07-01", start="2025-01-01"))
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО"], ["1", "Первов"], ["2", "Вторых"]]), "r.xlsx")
    accruals.accrue(db, date(2025, 12, 31))
    id1, id2 = (members.find_by_reg_no(db, r)["id"] for r in ("1", "2"))
    charge1 = db.scalar("SELECT id FROM charges WHERE member_id = ?", [id1])
    accruals.correct_charge(db, charge1, "-100", "льгота по решению правления")
    assert accruals.accrue(db, date(2025, 12, 31)).empty          # a manual correction is not undone
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="1200", due="07-01", start="2025-01-01"))
    result = accruals.accrue(db, date(2025, 12, 31))
    assert result.corrections == 2 and result.corrections_amount == D("400.00")
    assert result.corrections_by_contribution == {"Членский взнос": (2, D("400.00"))}
    assert "Членский взнос" in result.summary() and "member:" not in result.summary()
    assert {r[0] for r in db.fetchall("SELECT reason FROM charge_corrections WHERE kind = 'recalc'")} == \
        {"перерасчёт: изменён взнос «Членский взнос»"}
    assert principal(db, "1", date(2025, 12, 31)) == D("1100.00") and principal(db, "2", date(2025, 12, 31)) == D("1200.00")
    assert accruals.accrue(db, date(2025, 12, 31)).empty


def test_periods_a_tariff_edit_removes_are_reversed(db):
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="1000", due="07-01", start="2025-01-01"),
         tariff(code="road", name="Ремонт дороги", kind="one_off", basis="member", rate="500", period=None,
                due="2025-08-01", start="2025-01-01"))
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО"], ["1", "Первов"]]), "r.xlsx")
    accruals.accrue(db, date(2026, 12, 31))
    assert db.scalar("SELECT sum(amount) FROM charges_effective") == D("2500.00")
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="1000", due="07-01", start="2026-01-01"),
         tariff(code="road", name="Ремонт дороги", kind="one_off", basis="member", rate="500", period=None,
                due="2025-09-15", start="2025-01-01"))
    result = accruals.accrue(db, date(2026, 12, 31))
    assert (result.added, result.corrections) == (1, 2)
    assert db.fetchall("SELECT contribution, due_date, amount FROM charges_effective WHERE amount <> 0 "
                       "ORDER BY due_date") == [("road", date(2025, 9, 15), D("500.00")),
                                                ("member", date(2026, 7, 1), D("1000.00"))]
    assert {r[0] for r in db.fetchall("SELECT reason FROM charge_corrections")} == \
        {"перерасчёт: изменён взнос «Членский взнос»", "перерасчёт: изменён взнос «Ремонт дороги»"}
    assert accruals.accrue(db, date(2026, 12, 31)).empty


def test_penalty_runs_from_the_original_due_date_on_the_corrected_amount(db):
    daily = 'kind = "daily_percent"\nrate = "0.1"\ngrace_days = 0'
    load(db, tariff(code="member", name="Членский взнос", basis="member", rate="1000", due="07-01", start="2025-01-01",
                    penalty=daily))
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО"], ["1", "Первов"]]), "r.xlsx")
    accruals.accrue(db, date(2025, 12, 31))
    mid = members.find_by_reg_no(db, "1")["id"]
    members.update_member(db, mid, {"join_date": "01.07.2025"})      # joined mid-year: half the year owed
    result = accruals.accrue(db, date(2025, 12, 31))
    assert result.corrections == 1
    owed = share_of_year("1000", 184)                                 # 1 Jul – 31 Dec
    assert db.fetchall("SELECT due_date, amount FROM charges_effective") == [(date(2025, 7, 1), owed)]
    pay(db, mid, date(2025, 7, 11), "100")
    as_of = date(2025, 7, 21)
    (row,) = [r for r in debts.debts(db, as_of) if r["member_id"] == "1"]
    # brute force, day by day: 0.1 % of what is unpaid at the end of each day after 1 Jul
    expected = sum((owed - (D(100) if day >= 11 else 0)) * D("0.001") for day in range(2, 22))
    assert row["principal"] == owed - 100
    assert row["penalty"] == expected.quantize(D("0.01"), rounding=ROUND_HALF_UP)


# -- migration: ownerships that started on the load day ---------------------------------------------

def test_migration_makes_load_day_ownership_starts_unknown(db_path, monkeypatch):
    from ledger import db as dbmod

    shipped = dbmod.available_migrations()
    monkeypatch.setattr(dbmod, "available_migrations", lambda: [m for m in shipped if m[0] != 70])
    con = duckdb.connect(str(db_path))
    dbmod.migrate(con)
    con.execute("INSERT INTO members (id, reg_no, full_name, status, join_date, created_at, updated_at) VALUES "
                "(1, '1', 'Первов', 'member', NULL, '2026-12-05 10:00', '2026-12-05 10:00'), "
                "(2, '2', 'Вторых', 'member', DATE '2015-03-01', '2026-12-05 10:00', '2026-12-05 10:00'), "
                "(3, '3', 'Третьяков', 'member', NULL, '2026-12-06 10:00', '2026-12-06 10:00')")
    con.execute("INSERT INTO plots (id, number, created_at) VALUES (1, '1', '2026-12-05 10:00'), "
                "(2, '2', '2026-12-05 10:00')")
    # the old import: plot 1 from the load day, plot 2 from the joining date; plot 1 sold to л/с 3 a day later
    con.execute("INSERT INTO plot_owners VALUES (1, 1, 1, 1, DATE '2026-12-05', DATE '2026-12-06'), "
                "(2, 2, 1, 1, DATE '2015-03-01', NULL), (1, 3, 1, 1, DATE '2026-12-06', NULL)")
    con.close()
    monkeypatch.setattr(dbmod, "available_migrations", lambda: shipped)
    con = duckdb.connect(str(db_path))
    assert dbmod.migrate(con) == [70]
    got = con.execute("SELECT member_id, owned_from, owned_to FROM plot_owners ORDER BY member_id").fetchall()
    assert got == [(1, None, date(2026, 12, 6)), (2, date(2015, 3, 1), None), (3, date(2026, 12, 6), None)]
    (change,) = con.execute("SELECT member_id, field, old_value, new_value FROM member_changes").fetchall()
    assert change == (1, "начало владения участком 1", "05.12.2026", None)
    con.close()
    assert Database(db_path).scalar("SELECT count(*) FROM charges") == 0


def test_card_refuses_a_withdrawal_without_exit_date(db):
    member_id = members.add_member(db, {"reg_no": "11", "full_name": "Одиннадцатов"})
    with pytest.raises(InputError, match="Поле «Дата выхода»: укажите дату"):
        members.update_member(db, member_id, {"status": "выбыл", "exit_date": ""})
    assert members.get_member(db, member_id)["status"] == "member"
    members.update_member(db, member_id, {"status": "выбыл", "exit_date": "01.05.2026"})
    assert members.get_member(db, member_id)["exit_date"] == date(2026, 5, 1)
    with pytest.raises(InputError, match="Поле «Дата выхода»"):
        members.add_member(db, {"reg_no": "12", "full_name": "Двенадцатов", "status": "выбыл"})


def test_cli_as_of_must_be_a_date(db, tmp_path, capsys):
    path = write(tmp_path, "реестр.xlsx", [HEAD, ["3", "Третьяков Иван", "3", 1000]])
    assert cli.main(["members", "import", path, "--as-of", "31.13.2026"]) == 1
    assert "Параметр --as-of" in capsys.readouterr().err
    assert db.scalar("SELECT count(*) FROM members") == 0
