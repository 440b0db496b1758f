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


def test_register_errors_are_a_list_one_per_row_and_a_pdf_is_named(db, db_path, tmp_path):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    bad = tmp_path / "плохой.xlsx"
    bad.write_bytes(xlsx_bytes([
        ["№ л/с", "ФИО", "№ участка", "ИНН"],
        ["101", "Белоусова Зинаида Павловна", "31", None],
        ["101", "Горшков Степан Ильич", "32", None],             # row 3: the same л/с again
        ["103", "", "33", None],                                 # row 4: no name
        ["104", "Лебедев Игорь", "34", "123"],                   # row 5: bad INN
    ]))
    pdf = tmp_path / "реестр.xlsx"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Реестр членов").click()
        page.get_by_role("tab", name="Загрузка из файла").click()
        page.locator("input[type=file]").set_input_files(str(bad))
        alert = page.get_by_role("alert").filter(has_text="плохой.xlsx")
        alert.wait_for()
        items = alert.locator("li").all_inner_texts()
        page.screenshot(path=str(tmp_path / "errors.png"))
        assert [i.split(":")[0] for i in items] == ["плохой.xlsx, строка 3", "плохой.xlsx, строка 4",
                                                    "плохой.xlsx, строка 5"]
        assert "л/с 101 повторяется (уже в строке 2)" in items[0]
        page.locator("input[type=file]").set_input_files(str(pdf))
        page.get_by_text("реестр.xlsx: это не файл Excel и не таблица CSV (PDF)").wait_for()
    assert db.scalar("SELECT count(*) FROM members") == 0
