"""The bank statements page under AppTest (uploads are covered by the browser test)."""

from __future__ import annotations

from decimal import Decimal

from ledger import statements
from tests import bank_fixtures as F
from tests.test_pages import page_test, texts


def test_list_shows_loaded_statements_with_totals(db):
    statements.import_statement(db, F.kl_to_1c(), "kl_to_1c.txt")
    at = page_test("pages/statements.py", "accountant").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Файл"]) == ["kl_to_1c.txt"]
    assert list(table["Поступлений"]) == [3]
    assert list(table["На сумму"]) == [Decimal("13234.56")]   # a number: sorts as one, shown «13 234,56 ₽»
    assert at.metric[0].value == "1"
    assert at.metric[1].value == "13 234,56 ₽"


def test_delete_needs_confirmation(db):
    first = statements.import_statement(db, F.kl_to_1c(), "kl_to_1c.txt")
    at = page_test("pages/statements.py", "admin").run()
    at.selectbox(key="delete_statement").set_value(first.statement_id).run()
    assert at.button(key="do_delete").disabled
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="do_delete").click().run()
    assert not at.exception
    assert "платежей удалено 5" in texts(at)
    assert statements.list_statements(db) == []
    assert db.scalar("SELECT count(*) FROM payments") == 0


def test_empty_list(db):
    at = page_test("pages/statements.py", "accountant").run()
    assert not at.exception
    assert "Выписок пока нет" in texts(at)


def test_foreign_currency_statement_is_marked_and_out_of_the_rouble_totals(db):
    from ledger import cooperative
    from tests.test_bank_real_shapes import USD_C, _camt, _entry, _tx

    cooperative.save_settings(db, {"bank_accounts": f"{F.OUR},{USD_C}"})
    statements.import_statement(db, F.kl_to_1c(), "kl_to_1c.txt")
    usd = _camt([(USD_C, "USD", [_entry("108.40", [_tx("100.00", "EUR")], ccy="USD")])])
    statements.import_statement(db, usd, "usd.xml", allow_currency=True)
    at = page_test("pages/statements.py", "accountant").run()
    assert not at.exception
    table = at.dataframe[0].value
    marks = dict(zip(table["Файл"], table["Валюта"]))
    assert marks["kl_to_1c.txt"] == "₽"
    assert marks["usd.xml"] == "USD — не разносится; поступления 108,40, списания 0,00 USD"
    sums = dict(zip(table["Файл"], table["На сумму"]))
    assert sums["kl_to_1c.txt"] == Decimal("13234.56") and sums["usd.xml"] is None   # no dollars under ₽
    assert at.metric[1].value == "13 234,56 ₽"   # the dollars are not roubles
    assert at.checkbox(key="allow_currency").value is False
