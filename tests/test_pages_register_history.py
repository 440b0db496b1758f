"""Pages of issue 10 / 19.6: «Начислить» previews and posts on confirmation; the card's ownership history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger import accruals, members
from tests.conftest import xlsx_bytes
from tests.ledger_builders import load, tariff
from tests.test_pages import page_test, shown, texts

FEE = tariff(code="member", name="Членский взнос", basis="plot_area", rate="10", due="03-31", start="2026-01-01")
HEAD = ["№ л/с", "ФИО", "№ участка", "Площадь, м2"]


def frame(at, column: str):
    """The table that has this column, as the browser draws it."""
    return next(shown(d) for d in at.dataframe if column in d.value.columns)


def test_accrue_shows_the_preview_and_posts_only_on_confirmation(db):
    load(db, FEE)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000], ["4", "Четвертаков", "4", 500]]),
                            "r.xlsx")
    at = page_test("pages/accruals.py", "accountant").run()
    at.date_input(key="through").set_value(date(2026, 12, 31)).run()
    at.button(key="run_accrue").click().run()
    assert not at.exception, at.exception
    assert db.scalar("SELECT count(*) FROM charges") == 0                 # nothing posted yet
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["Новые начисления"] == ("2", "15 000,00 ₽")
    table = frame(at, "Новых начислений")
    assert list(table["Взнос"]) == ["Членский взнос"] and "member" not in texts(at)
    at.button(key="confirm_accrue").click().run()
    assert not at.exception
    assert db.scalar("SELECT count(*) FROM charges") == 2
    assert "Проведено: начислено 2 на 15 000,00 ₽ (Членский взнос: 2 на 15 000,00 ₽)" in texts(at)


def test_accrue_preview_lists_corrections_with_reasons(db):
    load(db, FEE)
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000]]), "r.xlsx")
    accruals.accrue(db, date(2026, 12, 31))
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", None, None], ["5", "Пятаков Пётр", "3", 1000]]),
                            "r2.xlsx", as_of=date(2026, 7, 1))
    at = page_test("pages/accruals.py", "accountant").run()
    at.date_input(key="through").set_value(date(2026, 12, 31)).run()
    at.button(key="run_accrue").click().run()
    assert not at.exception, at.exception
    corrections = frame(at, "Основание")
    assert list(corrections["Основание"]) == ["перерасчёт: смена владельца участка 3 с 01.07.2026"]
    assert list(corrections["Изменение, ₽"]) == ["-5 041,10"]   # as shown
    assert db.scalar("SELECT count(*) FROM charge_corrections") == 0
    at.button(key="confirm_accrue").click().run()
    assert db.scalar("SELECT sum(delta) FROM charge_corrections") == Decimal("-5041.10")


def test_card_shows_unknown_dates_and_corrects_an_ownership_date(db):
    members.import_register(db, xlsx_bytes([HEAD, ["3", "Третьяков Иван", "3", 1000]]), "r.xlsx")
    member = members.find_by_reg_no(db, "3")
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(member["id"]).run()
    assert not at.exception, at.exception
    plots = next(d.value for d in at.dataframe if "С" in d.value.columns)
    assert list(plots["С"]) == ["дата не указана"] and list(plots["По"]) == ["по настоящее время"]
    assert date.today().strftime("%d.%m.%Y") not in list(plots["С"])
    next(t for t in at.text_input if t.label.startswith("С (ДД.ММ.ГГГГ")).set_value("01.10.2026")
    next(t for t in at.text_input if t.label.startswith("Основание исправления")).set_value("договор от 01.10.2026")
    next(b for b in at.button if b.label == "Исправить даты").click().run()
    assert not at.exception, at.exception
    history = members.member_history(db, member["id"])
    assert [p["owned_from"] for p in history["plots"]] == [date(2026, 10, 1)]
    assert history["changes"][-1]["source"] == "исправление: договор от 01.10.2026"
