"""End to end in real headless Chromium: the «Входящие остатки» tab loads a 1С ОСВ by account 76."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger import users
from tests.browser import chromium_page, sign_in, streamlit_server
from tests.test_opening import coop, osv_xlsx  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


def test_upload_an_osv_on_the_accruals_page(coop, db_path, tmp_path):  # noqa: F811
    users.add_user(coop, "olga", "пароль-бухгалтера", "accountant")
    osv = tmp_path / "осв76.xlsx"
    osv.write_bytes(osv_xlsx())
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Начисления").click()
        page.get_by_role("tab", name="Входящие остатки").click()
        page.locator("input[type=file][accept*=\".xlsx\"]").set_input_files([str(osv)])
        page.get_by_role("button", name="Загрузить остатки").click()
        page.get_by_text("Поле «Остатки на дату»: укажите дату").wait_for()
        page.get_by_role("spinbutton", name="day").click()   # a segmented date field: day, month, year
        page.keyboard.type("01012026")
        page.keyboard.press("Tab")
        page.get_by_role("button", name="Загрузить остатки").click()
        page.get_by_text("долг 13 000,00 ₽, аванс 2 250,00 ₽", exact=False).wait_for()
        page.get_by_text("Загружены остатки на 01.01.2026").wait_for()
        page.screenshot(path=str(tmp_path / "opening.png"), full_page=True)
    assert coop.scalar("SELECT sum(debt) FROM opening_balances") == Decimal("13000.00")
