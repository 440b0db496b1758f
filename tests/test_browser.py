"""End to end in real headless Chromium: sign in, upload a register, find a member."""

from __future__ import annotations

import pytest

from ledger import users
from tests.browser import chromium_page, sign_in, streamlit_server
from tests.conftest import xlsx_bytes

pytestmark = pytest.mark.browser


def test_sign_in_upload_register_and_find_member(db, db_path, tmp_path):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    register = tmp_path / "reestr.xlsx"
    register.write_bytes(xlsx_bytes([
        ["Реестр членов СНТ «Ромашка»", None, None],
        ["№ л/с", "ФИО", "№ участка"],
        ["101", "Белоусова Зинаида Павловна", "31"],
        ["102", "Горшков Степан Ильич", "32, 33"],
    ], merges=["A1:C1"]))
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Реестр членов").click()
        page.get_by_role("tab", name="Загрузка из файла").click()
        page.locator("input[type=file]").set_input_files(str(register))
        page.get_by_role("button", name="Загрузить 2 членов").click()
        page.get_by_text("Готово: добавлено 2").wait_for()
        page.get_by_role("tab", name="Реестр").click()
        page.get_by_label("Поиск: ФИО, л/с, участок, телефон, e-mail").fill("горшков")
        page.keyboard.press("Enter")
        page.get_by_text("Найдено: 1").wait_for()
        page.screenshot(path=str(tmp_path / "found.png"))
    assert db.scalar("SELECT full_name FROM members WHERE reg_no = '102'") == "Горшков Степан Ильич"
