"""Opening balances (входящие остатки) from a 1С ОСВ by account 76 and from a spreadsheet: the worked example,
reconciliation, all or nothing, a second and a different file, and the balances as real ledger entries."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from ledger import accruals, cli, debts, opening
from ledger.errors import InputError
from tests import ledger_builders as lb
from tests.conftest import table_dump, xlsx_bytes

AS_OF = date(2026, 1, 1)
D = Decimal

HEAD = [["СНТ «Ромашка»"],
        ["Оборотно-сальдовая ведомость по счету 76 за 2025 г."],
        ["Выводимые данные: БУ (данные бухгалтерского учета)"],
        [],
        ["Счет", "Сальдо на начало периода", None, "Обороты за период", None, "Сальдо на конец периода", None],
        ["Субконто", "Дебет", "Кредит", "Дебет", "Кредит", "Дебет", "Кредит"]]
MERGES = ["B5:C5", "D5:E5", "F5:G5"]


def osv_rows(target_end: str = "13000") -> list[list]:
    """Plot 36: targeted 3 000 owed at the start, 10 000 charged → 13 000 debit at the end; membership 6 000
    charged, 8 250 paid → 2 250 credit. Plot 12: membership 6 000 charged and paid. Numbers as 1С writes them."""
    t_turn = str(D(target_end) - 3000)
    rows = [
        ["76", 3000, None, D(t_turn) + 12000, 14250, D(target_end), 2250],
        ["76.09", 3000, None, D(t_turn) + 12000, 14250, D(target_end), 2250],
        ["п уч.36", 3000, None, D(t_turn) + 6000, 8250, D(target_end), 2250],
        ["Целевые взносы", 3000, None, D(t_turn), None, D(target_end), None],
        ["Членские взносы", None, None, 6000, 8250, None, 2250],
        ["участок № 12", None, None, 6000, 6000, None, None],
        ["Членские взносы", None, None, 6000, 6000, None, None],
        ["Итого развернутое", 3000, None, D(t_turn) + 12000, 14250, D(target_end), 2250],
        ["Итого", 3000, None, D(t_turn) + 12000, 14250, D(target_end) - 2250, None],
    ]
    return rows


def osv_xlsx(rows=None) -> bytes:
    return xlsx_bytes(HEAD + (rows if rows is not None else osv_rows()), merges=MERGES)


def osv_csv(rows=None) -> bytes:
    """As 1С saves the ОСВ to CSV: semicolons, Windows-1251, amounts with a space and a comma."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";")
    for r in HEAD[:4] + [["Счет", "Сальдо на начало периода", "", "Обороты за период", "", "Сальдо на конец периода", ""],
                         HEAD[5]] + (rows if rows is not None else osv_rows()):
        w.writerow(["" if v is None else (f"{D(v):,.2f}".replace(",", " ").replace(".", ",")
                                          if isinstance(v, (int, D)) else v) for v in r])
    return buf.getvalue().encode("cp1251")


@pytest.fixture
def coop(db):
    lb.load(db, lb.tariff("member", "Членский взнос", rate="6000", due="07-01", keywords=["членск"]),
            lb.tariff("target", "Целевой взнос", kind="one_off", period=None, rate="10000", due="2025-06-01",
                      keywords=["целев"],
                      penalty='kind = "daily_percent"\nrate = "0.1"'))
    lb.member(db, 1, plots=[("36", "600", (1, 1))], name="Иванов Иван Иванович")
    lb.member(db, 2, plots=[("12", "600", (1, 1))], name="Петров Пётр Петрович")
    return db


def open_charges(db):
    return db.fetchall("SELECT member_id, contribution, amount, due_date FROM charges_effective "
                       "WHERE kind = 'opening' ORDER BY member_id, contribution")


@pytest.mark.parametrize("make", [osv_xlsx, osv_csv], ids=["xlsx", "csv"])
def test_worked_example_plot_36(coop, make):
    result = opening.import_balances(coop, make(), "осв76.xlsx", AS_OF, actor="t")
    assert result.rows == 3 and result.debt == D("13000.00") and result.advance == D("2250.00")
    # plot 36's owner owes 13 000,00 of the targeted contribution, due before the as-of date
    assert open_charges(coop) == [(1, "target", D("13000.00"), date(2025, 12, 31))]
    rows = debts.debts(coop, AS_OF)
    assert [(r["member_id"], r["contribution"], r["principal"]) for r in rows] == [("1", "target", D("13000.00"))]
    board = debts.dashboard(coop, AS_OF)
    assert debts.totals(board.rows)["principal"] == D("13000.00")
    assert [(r["reg_no"], r["plot"], r["contribution"]) for r in board.rows] == [("1", "36", "target")]
    # and has a 2 250,00 advance on the membership fee: money of his, designated to it
    adv = coop.fetchall("SELECT mp.member_id, mp.amount, mp.paid_on, op.contribution FROM member_payments mp "
                        "JOIN opening_payments op USING (payment_id)")
    assert adv == [(1, D("2250.00"), date(2025, 12, 31), "member")]
    # the акт сверки from the as-of date starts from the balance: 13 000 − 2 250
    s = debts.statement(coop, 1, AS_OF, date(2026, 1, 31))
    assert s.opening == D("10750.00")
    # over the period that holds the day before, the entries are lines «входящее сальдо»
    s = debts.statement(coop, 1, date(2025, 12, 1), date(2025, 12, 31))
    assert s.opening == 0 and s.closing == D("10750.00")
    assert [(r["document"], r["text"], r["charged"], r["paid"]) for r in s.lines] == [
        ("входящее сальдо", "Целевой взнос, участок 36", D("13000.00"), None),
        ("входящее сальдо", "Входящее сальдо на 01.01.2026: аванс, Членский взнос", None, D("2250.00"))]


def test_advance_pays_next_charges_of_its_contribution_and_a_payment_pays_the_opening_debt_first(coop):
    opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", AS_OF)
    accruals.accrue(coop, date(2026, 12, 31))
    # 2025 membership is inside the opening balance: not charged again; 2026 is
    got = coop.fetchall("SELECT member_id, contribution, due_date, amount FROM charges WHERE kind = 'accrual' "
                        "ORDER BY member_id, due_date")
    assert got == [(1, "member", date(2026, 7, 1), D("6000.00")), (2, "member", date(2026, 7, 1), D("6000.00"))]
    lb.pay(coop, 1, date(2026, 3, 1), "5000", purpose="Оплата")   # undesignated money: the oldest debt first
    rows = {r["contribution"]: r for r in debts.debts(coop, date(2026, 8, 1)) if r["member_id"] == "1"}
    assert rows["target"]["principal"] == D("8000.00")
    assert rows["member"]["principal"] == D("3750.00")          # 6 000 less the 2 250 advance
    # penalties of the opening targeted debt run from the as-of date: 13 000 × 0,1 % × 59 days (1.1–28.2),
    # then 8 000 × 0,1 % from 1.3 through the day of the report 1.8 (154 days)
    expected = (D("13000") * D("0.001") * 59 + D("8000") * D("0.001") * 154).quantize(D("0.01"))
    assert rows["target"]["penalty"] == expected


def test_same_file_again_changes_nothing_and_a_different_file_corrects(coop):
    opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", AS_OF)
    before = [table_dump(coop, t) for t in ("charges", "charge_corrections", "payments", "opening_balances")]
    again = opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", AS_OF)
    assert again.unchanged and "ничего не изменено" in again.summary()
    assert [table_dump(coop, t) for t in ("charges", "charge_corrections", "payments", "opening_balances")] == before
    # the same balances in another file (the ОСВ saved to CSV) change nothing either
    assert opening.import_balances(coop, osv_csv(), "осв76.csv", AS_OF).unchanged
    assert [table_dump(coop, t) for t in ("charges", "charge_corrections", "payments", "opening_balances",
                                          "opening_imports")] == before + [table_dump(coop, "opening_imports")]
    assert len(table_dump(coop, "opening_imports")) == 1
    # the corrected ОСВ: 12 500 of targeted debt instead of 13 000
    result = opening.import_balances(coop, osv_xlsx(osv_rows("12500")), "осв76 исправленная.xlsx", AS_OF, actor="t")
    assert result.changed == 1
    assert open_charges(coop) == [(1, "target", D("12500.00"), date(2025, 12, 31))]
    corr = coop.fetchall("SELECT delta, reason FROM charge_corrections")
    assert corr == [(D("-500.00"), "Входящее сальдо на 01.01.2026 заменено файлом осв76 исправленная.xlsx")]
    assert coop.fetchall("SELECT count(*) FROM charges WHERE kind = 'opening'") == [(1,)]   # not edited, corrected
    actions = [r[0] for r in coop.fetchall("SELECT action FROM audit_log ORDER BY id")]
    assert "opening_balances_replaced" in actions


def test_a_smaller_advance_in_the_second_file_is_taken_back_by_a_charge(coop):
    opening.import_balances(coop, table_csv([["1", "", "Членский взнос", "", "", "2250"]]), "остатки.csv", AS_OF)
    opening.import_balances(coop, table_csv([["1", "", "Членский взнос", "", "", "1000"]]), "остатки2.csv", AS_OF)
    accruals.accrue(coop, date(2026, 12, 31))
    rows = {r["contribution"]: r for r in debts.debts(coop, date(2026, 8, 1)) if r["member_id"] == "1"}
    assert rows["member"]["principal"] == D("5000.00")


def table_csv(rows: list[list[str]]) -> bytes:
    text = "л/с;участок;взнос;долг;пени;аванс\n" + "\n".join(";".join(r) for r in rows) + "\n"
    return text.encode("utf-8")


def test_spreadsheet_with_plot_numbers_and_penalties(coop):
    data = table_csv([["", "36", "Целевой взнос", "13 000,00", "150,00", ""], ["2", "", "member", "", "", "500"]])
    opening.import_balances(coop, data, "остатки.csv", AS_OF)
    assert open_charges(coop) == [(1, "target", D("13000.00"), date(2025, 12, 31)),
                                  (1, "target" + opening.PENALTY_SUFFIX, D("150.00"), date(2025, 12, 31))]
    board = debts.dashboard(coop, AS_OF)
    assert {board.contributions[r["contribution"]]: r["principal"] for r in board.rows} == {
        "Целевой взнос": D("13000.00"), "Пени: Целевой взнос": D("150.00")}
    assert coop.fetchall("SELECT member_id, advance FROM opening_balances WHERE advance > 0") == [(2, D("500.00"))]


def test_a_row_that_does_not_reconcile_is_refused_with_the_row_named(coop):
    rows = osv_rows()
    rows[3] = ["Целевые взносы", 3000, None, 10000, None, 13000.01, None]
    with pytest.raises(InputError) as exc:
        opening.import_balances(coop, osv_xlsx(rows), "осв76.xlsx", AS_OF)
    assert "строка 10" in str(exc.value) and "не сходится" in str(exc.value)
    assert coop.fetchall("SELECT count(*) FROM charges") == [(0,)]
    assert coop.fetchall("SELECT count(*) FROM opening_imports") == [(0,)]


def test_rows_must_add_up_to_the_totals(coop):
    rows = osv_rows()
    rows[7] = ["Итого развернутое", 3000, None, 23000, 14250, 14000, 2250]   # reconciles, but is not the sum
    with pytest.raises(InputError) as exc:
        opening.import_balances(coop, osv_xlsx(rows), "осв76.xlsx", AS_OF)
    assert "строка 14: «Итого развернутое» не равно сумме строк" in str(exc.value)
    assert coop.fetchall("SELECT count(*) FROM charges") == [(0,)]


def test_columns_told_apart_by_the_equations_when_captions_disagree(coop):
    head = [r[:] for r in HEAD]
    head[4] = ["Счет", "Сальдо на конец", None, "Обороты", None, "Сальдо на начало", None]   # hand-edited captions
    data = xlsx_bytes(head + osv_rows(), merges=MERGES)
    result = opening.import_balances(coop, data, "осв76.xlsx", AS_OF)
    assert open_charges(coop) == [(1, "target", D("13000.00"), date(2025, 12, 31))]
    assert "по суммам" in result.summary()


def test_unknown_contributions_are_listed_for_a_mapping(coop, tmp_path, capsys):
    rows = osv_rows()
    rows[3][0] = "Взнос на дорогу"
    path = tmp_path / "осв76.xlsx"
    path.write_bytes(osv_xlsx(rows))
    assert cli.main(["balances", "import", str(path), "--as-of", "01.01.2026"]) == 1
    err = capsys.readouterr().err
    assert "«Взнос на дорогу» (строки 10)" in err and "--map" in err and "Traceback" not in err
    assert table_dump(coop, "charges") == []
    assert cli.main(["balances", "import", str(path), "--as-of", "01.01.2026", "--map", "Взнос на дорогу=target"]) == 0
    assert "долг 13 000,00 ₽, аванс 2 250,00 ₽" in capsys.readouterr().out
    assert open_charges(coop) == [(1, "target", D("13000.00"), date(2025, 12, 31))]


def test_a_second_opening_date_is_refused(coop):
    opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", AS_OF)
    with pytest.raises(InputError, match="уже загружены на 01.01.2026"):
        opening.import_balances(coop, table_csv([["1", "", "member", "100", "", ""]]), "остатки.csv", date(2026, 2, 1))


def test_plot_captions_as_1c_writes_them():
    assert [opening.plot_of(t) for t in ("п уч.36", "уч. 36", "участок № 36", "пользователь (уч №) 36",
                                         "Участок 36а", "Членские взносы", "76.09")] == \
        ["36", "36", "36", "36", "36а", None, None]


def test_accruals_page_shows_the_opening_balances_and_asks_for_file_and_date(coop):
    from tests.test_pages import page_test, shown, texts

    opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", AS_OF, actor="t")
    at = page_test("pages/accruals.py", "accountant").run()
    assert not at.exception
    assert "Загружены остатки на 01.01.2026" in texts(at)
    table = [shown(d) for d in at.dataframe if "Аванс, ₽" in d.value.columns][0]   # as the browser draws it
    assert [list(row) for row in zip(*(table[c] for c in ("Л/с", "Участок", "Взнос", "Долг, ₽", "Аванс, ₽")))] == [
        ["1", "36", "member", "0,00", "2 250,00"], ["1", "36", "target", "13 000,00", "0,00"],
        ["2", "12", "member", "0,00", "0,00"]]
    assert "Иванов Иван Иванович" in table["ФИО"]
    at.button(key="FormSubmitter:opening_balances-Загрузить остатки").click().run()
    assert "Выберите файл" in texts(at)
    log = [d.value for d in at.dataframe if "Что" in d.value.columns][0]
    assert "Загрузка входящих остатков" in log["Что"].tolist()


def test_the_date_must_follow_the_period_the_osv_states(coop):
    with pytest.raises(InputError, match="по 31.12.2025, её сальдо на конец — остатки на 01.01.2026, а указана "
                                         "дата 31.12.2025"):
        opening.import_balances(coop, osv_xlsx(), "осв76.xlsx", date(2025, 12, 31))
    head = [r[:] for r in HEAD]
    head[1] = ["Оборотно-сальдовая ведомость по счету 76"]
    head[2] = ["Период: 01.01.2025 - 30.06.2025"]
    data = xlsx_bytes(head + osv_rows(), merges=MERGES)
    with pytest.raises(InputError, match="по 30.06.2025"):
        opening.import_balances(coop, data, "осв76.xlsx", AS_OF)
    opening.import_balances(coop, data, "осв76.xlsx", date(2025, 7, 1))
    assert coop.fetchall("SELECT DISTINCT as_of FROM opening_balances") == [(date(2025, 7, 1),)]


def test_table_plots_written_as_the_register_writes_them(coop):
    """«Уч. 36» and «12А» are the register's plots 36 and 12а; the plot was looked up as written and not found."""
    lb.member(coop, 3, plots=[("12а", "600", (1, 1))], name="Сидоров Сидор")
    data = table_csv([["", "Уч. 36", "member", "100,00", "", ""], ["", "12А", "member", "200,00", "", ""]])
    opening.import_balances(coop, data, "остатки.csv", AS_OF)
    assert [(m, a) for m, _, a, _ in open_charges(coop)] == [(1, D("100.00")), (3, D("200.00"))]
    bad = table_csv([["", "36, 12а", "member", "100,00", "", ""]])
    with pytest.raises(InputError, match="остатки.csv, строка 2, столбец «участок»: «36, 12а» — несколько участков"):
        opening.import_balances(coop, bad, "остатки.csv", AS_OF)


def test_every_row_whose_member_is_not_found_is_listed(coop):
    """Only the first unknown plot or л/с was reported: a file with ten of them took ten runs."""
    data = table_csv([["", "999", "member", "100,00", "", ""], ["77", "", "member", "100,00", "", ""],
                      ["", "36", "member", "100,00", "", ""]])
    with pytest.raises(InputError) as err:
        opening.import_balances(coop, data, "остатки.csv", AS_OF)
    assert err.value.problems == ["остатки.csv, строка 2: участок 999 не найден в реестре",
                                  "остатки.csv, строка 3: л/с 77 не найден в реестре"]
    assert open_charges(coop) == []


def test_a_totals_row_under_the_table_is_checked_not_loaded(coop):
    """«Итого» under the balances was refused as a row with no contribution."""
    rows = [["", "36", "member", "100,00", "", ""], ["2", "", "member", "50,00", "", ""]]
    opening.import_balances(coop, table_csv(rows + [["Итого", "", "", "150,00", "", ""]]), "остатки.csv", AS_OF)
    assert [a for _, _, a, _ in open_charges(coop)] == [D("100.00"), D("50.00")]
    with pytest.raises(InputError) as err:
        opening.read_balances(table_csv(rows + [["", "Итого:", "", "160,00", "", ""]]), "остатки.csv")
    assert err.value.problems == ["остатки.csv, строка 4, столбец «долг»: итог 160,00 не равен сумме строк выше 150,00"]


def test_a_plot_of_co_owners_goes_to_the_largest_share(coop):
    """The owners of every plot are read once per file (not three queries a row): the largest share still wins."""
    lb.member(coop, 3, plots=[("50", "600", (1, 3))], name="Малая Доля")
    lb.member(coop, 4, plots=[("50", "600", (2, 3))], name="Большая Доля")
    opening.import_balances(coop, table_csv([["", "50", "member", "100,00", "", ""]]), "остатки.csv", AS_OF)
    assert [m for m, _, _, _ in open_charges(coop)] == [coop.scalar("SELECT id FROM members WHERE reg_no = '4'")]
