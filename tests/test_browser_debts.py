"""End to end in real headless Chromium: the board opens the debt dashboard of the demo cooperative."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import debts, users
from tests.browser import chromium_page, sign_in, streamlit_server

pytestmark = pytest.mark.browser


def test_board_sees_the_debt_dashboard(demo_db, db_path, tmp_path):
    users.add_user(demo_db, "board1", "пароль-правления", "board")
    debtors = debts.totals(debts.dashboard(demo_db, date.today()).rows)["debtors"]
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "board1", "пароль-правления")
        assert page.get_by_role("link", name="Начисления").count() == 0  # not for the board
        page.get_by_role("link", name="Долги").click()
        page.get_by_text("Собираемость по месяцам").wait_for()
        metric = page.locator("[data-testid=stMetric]").filter(has_text="Должников")
        assert metric.locator("[data-testid=stMetricValue]").inner_text() == str(debtors)
        page.locator("[data-testid=stVegaLiteChart]").nth(2).wait_for()  # three charts drawn
        # At 1440 px every total is shown whole: no value is cut off or ellipsised.
        page.set_viewport_size({"width": 1440, "height": 900})
        page.wait_for_timeout(500)
        values = page.locator("[data-testid=stMetricValue]")
        assert values.count() == 5
        for i in range(values.count()):
            cut = values.nth(i).evaluate("e => [...e.querySelectorAll('*')].concat([e]).some("
                                        "x => x.scrollWidth > x.clientWidth + 1)")
            assert not cut, values.nth(i).inner_text()
        assert values.first.inner_text().endswith("₽")
        page.screenshot(path=str(tmp_path / "dashboard.png"))
