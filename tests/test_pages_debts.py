"""AppTest of the accruals page, the debt dashboard and the statement in the member card (every role is also
covered by tests/test_pages.py's role checks)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger import audit, debts, members
from tests.test_pages import page_test, texts


def test_dashboard_for_the_board_hides_full_names(demo_db):
    at = page_test("pages/dashboard.py", "board").run()
    assert not at.exception, at.exception
    total = debts.totals(debts.dashboard(demo_db, date.today()).rows)
    whole = int((total["principal"] + total["penalty"] + Decimal("0.5")) // 1)  # rubles, half up
    assert at.metric[0].value == f"{whole:,} ₽".replace(",", " ")
    assert int(at.metric[3].value) == total["debtors"] > 0
    debtors = at.dataframe[-1].value
    assert f"С долгом или неоплаченными пенями: {total['debtors']};" in texts(at)  # the count agrees with the table
    full = {m["reg_no"]: m["full_name"] for m in members.list_members(demo_db)}
    for reg_no, shown in zip(debtors["Л/с"], debtors["Член"]):
        assert shown != full[reg_no] and shown == debts.short_name(full[reg_no])
    assert len(at.get("vega_lite_chart")) == 3  # by contribution, by aging, collection by month


def test_dashboard_filters_and_drill_down(demo_db):
    at = page_test("pages/dashboard.py", "accountant").run()
    at.multiselect(key="f_contribution").set_value(["garbage"]).run()
    assert not at.exception
    table = at.dataframe[0].value  # debt by contribution
    assert list(table["Взнос"]) == ["Вывоз мусора"]
    top = debts.by_member(debts.dashboard(demo_db, date.today()).filtered(["garbage"]))[0]
    at.selectbox(key="drill_member").set_value(top["member_id"]).run()
    assert not at.exception
    assert any(top["full_name"] in m.value for m in at.markdown)
    assert "Движение за год" in texts(at)


def test_dashboard_filter_by_plot(demo_db):
    at = page_test("pages/dashboard.py", "admin").run()
    at.text_input(key="f_plot").set_value("no-such-plot").run()
    assert not at.exception
    assert at.metric[3].value == "0"


def test_accruals_page_runs_the_accrual_once(demo_db):
    before = demo_db.scalar("SELECT count(*) FROM charges")
    at = page_test("pages/accruals.py", "accountant").run()
    assert not at.exception, at.exception
    at.button(key="run_accrue").click().run()
    assert not at.exception
    assert "новых начислений нет" in texts(at).lower()
    assert demo_db.scalar("SELECT count(*) FROM charges") == before


def test_accruals_page_manual_charge_needs_a_reason(demo_db):
    at = page_test("pages/accruals.py", "accountant").run()
    at.text_input(key="manual_reg_no").set_value("5").run()
    amount = next(t for t in at.text_input if t.label == "Сумма, ₽")
    amount.set_value("750")
    next(b for b in at.button if b.label == "Начислить" and b.key != "run_accrue").click().run()
    assert "Поле «Основание»" in texts(at)
    reason = next(t for t in at.text_input if t.label == "Основание (обязательно)")
    reason.set_value("Ремонт шлагбаума")
    next(b for b in at.button if b.label == "Начислить" and b.key != "run_accrue").click().run()
    assert not at.exception
    member_id = members.find_by_reg_no(demo_db, "5")["id"]
    row = demo_db.fetchone("SELECT amount, reason, created_by FROM charges WHERE kind = 'manual' AND member_id = ?",
                           [member_id])
    assert row == (Decimal("750.00"), "Ремонт шлагбаума", "test-accountant")
    assert any(e["action"] == "charge_added" for e in audit.entries(demo_db))


def test_accruals_page_saves_a_contribution_and_reports_bad_fields(demo_db):
    at = page_test("pages/accruals.py", "admin").run()
    form = {t.label: t for t in at.text_input}
    form["Код (латиницей)"].set_value("water")
    form["Название"].set_value("Вода")
    form["Ставка, ₽ за единицу базы"].set_value("abc")
    form["Срок оплаты (год: ММ-ДД, квартал: М-ДД, месяц: ДД, разовый: ГГГГ-ММ-ДД)"].set_value("07-01")
    next(b for b in at.button if b.label == "Сохранить взнос").click().run()
    assert "поле «rate»: «abc» не число" in texts(at)
    form = {t.label: t for t in at.text_input}
    form["Ставка, ₽ за единицу базы"].set_value("150")
    next(b for b in at.button if b.label == "Сохранить взнос").click().run()
    assert not at.exception
    assert demo_db.scalar("SELECT rate FROM contributions WHERE code = 'water'") == Decimal("150")


def test_accruals_page_key_rate(demo_db):
    at = page_test("pages/accruals.py", "accountant").run()
    next(t for t in at.text_input if t.label == "Ставка, % годовых").set_value("15,5")
    next(b for b in at.button if b.label == "Сохранить ставку").click().run()
    assert not at.exception
    assert demo_db.scalar("SELECT rate FROM key_rates WHERE valid_from = ?", [date.today()]) == Decimal("15.50")


@pytest.mark.parametrize("role", ["admin", "accountant"])
def test_member_card_statement(demo_db, role):
    target = members.find_by_reg_no(demo_db, "5")
    at = page_test("pages/members.py", role).run()
    at.selectbox(key="card_member").set_value(target["id"]).run()
    assert not at.exception, at.exception
    s = debts.statement(demo_db, target["id"], date.today().replace(month=1, day=1), date.today())
    assert f"сальдо на конец {s.closing:,.2f} ₽".replace(",", " ").replace(".", ",") in texts(at)


def test_dashboard_builds_no_download_until_asked_and_drill_down_shows_the_plots(demo_db, monkeypatch):
    built = []
    real = debts.table_xlsx
    monkeypatch.setattr(debts, "table_xlsx", lambda *a, **kw: built.append(a[2]) or real(*a, **kw))
    at = page_test("pages/dashboard.py", "accountant").run()
    assert not at.exception
    assert len(at.get("download_button")) == 5 and built == []   # rendering the page builds no file
    top = debts.by_member(debts.dashboard(demo_db, date.today()).rows)[0]
    at.selectbox(key="drill_member").set_value(top["member_id"]).run()
    assert f"Участки: {top['plots']}" in texts(at)
    assert "Участок" in at.dataframe[-2].value.columns
    assert built == []


def test_dashboard_xlsx_has_the_cooperative_and_the_date_above_the_table():
    import io

    from openpyxl import load_workbook

    from ledger.spreadsheets import Column

    data = debts.table_xlsx([Column("reg_no", "Л/с"), Column("total", "Всего", "money")],
                            [{"reg_no": "12", "total": Decimal("1234.56")}], "должников",
                            heading="СНТ «Ромашка»: должников", as_of=date(2026, 11, 30))
    ws = load_workbook(io.BytesIO(data)).active
    assert (ws["A1"].value, ws["A2"].value) == ("СНТ «Ромашка»: должников", "на 30.11.2026")
    assert [c.value for c in ws[4]] == ["Л/с", "Всего"]
    assert ws["B5"].value == Decimal("1234.56") or ws["B5"].value == 1234.56
    assert ws.freeze_panes == "A5" and ws.auto_filter.ref == "A4:B5"


def test_collection_line_breaks_at_months_without_charges(demo_db):
    import json

    at = page_test("pages/dashboard.py", "board").run()
    chart = at.get("vega_lite_chart")[2].proto
    spec = json.loads(chart.spec)
    assert spec["encoding"]["detail"]["field"] == "Отрезок"
    import pyarrow as pa

    values = [v for d in chart.datasets for v in pa.ipc.open_stream(d.data.data).read_all().to_pylist()]
    if not chart.datasets:  # inline data
        values = [v for d in spec.get("datasets", {}).values() for v in d]
    values = [v for v in values if "Отрезок" in v]
    points = sorted((v["Месяц"], v["Отрезок"]) for v in values)
    assert len(points) > 2
    months = [date.fromisoformat(str(m)[:10]) for m, _ in points]
    for (m1, s1), (m2, s2), d1, d2 in zip(points, points[1:], months, months[1:]):
        next_month = (d1.year + (d1.month == 12), d1.month % 12 + 1)
        # consecutive months share a line; across a month without charges the line is broken
        assert (s1 == s2) == ((d2.year, d2.month) == next_month), (m1, m2)
    assert len({s for _, s in points}) > 1   # the demo has months without charges (e.g. 2026 before July)


def test_accruals_page_contributions_show_due_dates_in_russian(demo_db):
    from tests.test_pages import shown

    at = page_test("pages/accruals.py", "accountant").run()
    assert not at.exception
    table = shown(at.dataframe[0])
    due = dict(zip(table["Код"], table["Срок"]))
    assert due["road"] == "01.06.2026" and due["member"] == "01.07"   # demo-tariffs.toml: 2026-06-01, 07-01
    assert due["garbage"] == "25"
