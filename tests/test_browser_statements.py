"""End to end in real headless Chromium: upload two statements of the same month, each payment lands once."""

from __future__ import annotations

import pytest

from ledger import users
from tests import bank_fixtures as F
from tests.browser import chromium_page, sign_in, streamlit_server

pytestmark = pytest.mark.browser


def test_upload_statements_in_two_formats(db, db_path, tmp_path):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    one = tmp_path / "kl_to_1c.txt"
    one.write_bytes(F.kl_to_1c())
    two = tmp_path / "sber.xlsx"
    two.write_bytes(F.sber_xlsx())
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Банковские выписки").click()
        page.locator("input[type=file]").set_input_files([str(one), str(two)])
        page.get_by_text("Excel: выписка Сбербанк Бизнес").wait_for()
        page.get_by_text("1С: обмен с банком (1CClientBankExchange)").wait_for()
        page.get_by_role("button", name="Загрузить выписки: 2").click()
        page.get_by_text("kl_to_1c.txt: 3 новых, 0 уже загружено, 2 исходящих").wait_for()
        page.get_by_text("sber.xlsx: 0 новых, 5 уже загружено, 0 исходящих").wait_for()
        page.get_by_text(f"счёт {F.OUR} из этой выписки записан в реквизиты кооператива").wait_for()
        page.screenshot(path=str(tmp_path / "imported.png"), full_page=True)
        page.get_by_role("tab", name="Загруженные выписки").click()
        page.get_by_text("Поступления по выпискам").wait_for()
        page.get_by_text("26 469,12 ₽", exact=True).wait_for()   # the two listed statements add up
        page.get_by_text("3 поступления на 13 234,56 ₽", exact=False).wait_for()   # each payment once
        page.screenshot(path=str(tmp_path / "list.png"), full_page=True)
    assert db.scalar("SELECT count(*) FROM payments") == 5
    assert db.scalar("SELECT count(*) FROM statements") == 2


def test_foreign_currency_statement_needs_the_checkbox(db, db_path, tmp_path):
    from ledger import cooperative
    from tests.test_bank_real_shapes import USD_C, _camt, _entry, _tx

    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    cooperative.save_settings(db, {"bank_accounts": f"{F.OUR},{USD_C}"})
    usd = tmp_path / "usd.xml"
    usd.write_bytes(_camt([(USD_C, "USD", [_entry("108.40", [_tx("100.00", "EUR")], ccy="USD")])]))
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Банковские выписки").click()
        page.locator("input[type=file]").set_input_files([str(usd)])
        page.get_by_text("usd.xml: выписка в валюте USD").wait_for()
        page.get_by_text("Загружать валютные выписки (их платежи").click()
        page.get_by_text("Валютная выписка (USD)").wait_for()
        page.get_by_role("button", name="Загрузить выписки: 1").click()
        page.get_by_text("usd.xml: 1 новый, 0 уже загружено, 0 исходящих; валюта USD").wait_for()
        page.screenshot(path=str(tmp_path / "usd.png"), full_page=True)
    assert db.scalar("SELECT currency FROM payments") == "USD"
