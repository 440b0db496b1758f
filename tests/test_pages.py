"""Every page under Streamlit's AppTest, for every role."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from ledger import members, users
from ledger.db import Database
from ui import PAGES
from tests.conftest import xlsx_bytes

TIMEOUT = 30


def page_test(path: str, role: str | None = "accountant") -> AppTest:
    """A page as a signed-in user of this role (the account exists in the ledger, as after sign-in)."""
    at = AppTest.from_file(f"../{path}", default_timeout=TIMEOUT)
    if role:
        login = f"test-{role}"
        db = Database()
        if users.current_role(db, login) is None:
            users.add_user(db, login, "пароль-для-тестов", role)
        at.session_state["user"] = {"login": login, "role": role}
    return at


def shown(dataframe) -> dict[str, list[str]]:
    """A table as the browser draws it: the display values ui.table's Styler sends (columns by name)."""
    import pyarrow as pa

    return pa.ipc.open_stream(dataframe.proto.arrow_data.styler.display_values).read_all().to_pydict()


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.error] + [e.value for e in at.warning] + \
            [e.value for e in at.success] + [e.value for e in at.info] + [e.value for e in at.title] + \
            [str(e.value) for e in at.caption]
    # As the reader sees them: data is escaped for Markdown (ui.plain), the backslashes are not shown.
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts)).replace("\u2060", "")


# -- app.py: first start and sign-in ------------------------------------------------------------

def test_first_start_asks_for_the_admin(db):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Первый запуск"
    at.text_input[0].set_value("chair")
    at.text_input[1].set_value("длинный-пароль")
    at.text_input[2].set_value("длинный-пароль")
    at.button[0].click().run()
    assert not at.exception
    assert users.list_users(db)[0]["login"] == "chair"
    assert users.list_users(db)[0]["role"] == "admin"
    assert at.session_state["user"] == {"login": "chair", "role": "admin"}


def test_a_database_missing_where_coop_db_points_is_named_not_created(db_path):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert not at.exception
    assert (f"База {db_path} не найдена. Создайте её командой `coop init` или проверьте путь (--db или COOP_DB)"
            in texts(at))
    assert at.error and not at.text_input and not db_path.exists()   # no first-run form for a mistyped path


def test_first_start_on_an_absent_default_database_creates_it(tmp_path, monkeypatch):
    from pathlib import Path

    app = Path(__file__).resolve().parent.parent / "app.py"
    monkeypatch.delenv("COOP_DB", raising=False)
    monkeypatch.delenv("COOP_MASTER_KEY", raising=False)
    monkeypatch.chdir(tmp_path)   # data/coop.duckdb of a new installation, as `streamlit run` without make run
    at = AppTest.from_file(str(app), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Первый запуск"
    assert (tmp_path / "data" / "coop.duckdb").is_file()


def test_first_start_password_mismatch(db):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    at.text_input[1].set_value("длинный-пароль")
    at.text_input[2].set_value("другой-пароль")
    at.button[0].click().run()
    assert "Пароли не совпадают" in texts(at)
    assert not users.has_users(db)


def test_sign_in(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert at.title[0].value == "Вход"
    at.text_input[0].set_value("olga")
    at.text_input[1].set_value("неверный")
    at.button[0].click().run()
    assert "Неверный логин или пароль" in texts(at)
    at.text_input[1].set_value("пароль-бухгалтера")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["user"] == {"login": "olga", "role": "accountant"}


# -- each page, each role -----------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
@pytest.mark.parametrize("role", ["admin", "accountant", "board"])
def test_each_page_checks_the_role(demo_db, page, role):
    at = page_test(page.path, role).run()
    assert not at.exception, at.exception
    denied = "недоступен для роли" in texts(at)
    assert denied == (role not in page.roles)


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_each_page_requires_sign_in(demo_db, page):
    at = page_test(page.path, role=None).run()
    assert not at.exception
    assert "Войдите в систему" in texts(at)


def test_overview_shows_counts(demo_db):
    at = page_test("pages/overview.py", "board").run()
    assert at.title[0].value == "СНТ «Рассвет»"
    member_count = demo_db.scalar("SELECT count(*) FROM members WHERE status = 'member'")
    assert at.metric[0].value == str(member_count)


def test_members_search_and_card(demo_db):
    target = members.list_members(demo_db)[10]
    at = page_test("pages/members.py", "accountant").run()
    at.text_input(key="search").set_value(target["full_name"]).run()
    assert not at.exception
    found = at.dataframe[0].value
    assert target["reg_no"] in list(found["Л/с"])
    at.selectbox(key="card_member").set_value(target["id"]).run()
    assert not at.exception
    assert any(f"л/с {target['reg_no']}" in s.value for s in at.subheader)


def test_members_edit_in_card(demo_db):
    target = members.list_members(demo_db)[3]
    at = page_test("pages/members.py", "accountant").run()
    at.selectbox(key="card_member").set_value(target["id"]).run()
    form_inputs = [t for t in at.text_input if t.label == "Примечание"]
    form_inputs[0].set_value("звонить вечером")
    next(b for b in at.button if b.label == "Сохранить").click().run()
    assert not at.exception
    assert members.get_member(demo_db, target["id"])["notes"] == "звонить вечером"


def test_members_add_shows_field_errors(db):
    at = page_test("pages/members.py", "accountant").run()
    form = [t for t in at.text_input if t.label in ("Номер л/с", "ФИО", "ИНН")]
    form[0].set_value("77")
    form[1].set_value("Новиков Олег")
    form[2].set_value("123")
    next(b for b in at.button if b.label == "Добавить").click().run()
    assert "Поле «ИНН»" in texts(at)
    assert members.find_by_reg_no(db, "77") is None


def test_members_export_is_hidden_from_board_and_logged_for_accountant(demo_db):
    at = page_test("pages/members.py", "accountant").run()
    at.button(key="prepare_export").click().run()
    assert not at.exception
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'export_personal_data' AND actor = 'test-accountant'") == 1


def test_cooperative_settings_validation(demo_db):
    at = page_test("pages/cooperative.py", "accountant").run()
    inn_input = next(t for t in at.text_input if t.label == "ИНН")
    inn_input.set_value("1234567890")
    at.button[0].click().run()
    assert "Поле «ИНН»" in texts(at)


def test_users_page_adds_user(db):
    at = page_test("pages/users.py", "admin").run()
    at.text_input[0].set_value("masha")
    at.text_input[1].set_value("пароль-маши-1")
    at.button[0].click().run()
    assert not at.exception
    assert "masha" in [u["login"] for u in users.list_users(db)]


def test_disabled_account_is_signed_out_at_once(db):
    at = page_test("pages/overview.py", "accountant")
    users.add_user(db, "root", "пароль-админа", "admin")
    users.set_active(db, "test-accountant", False, actor="root")
    at.run()
    assert "Учётная запись отключена" in texts(at)
    assert "user" not in at.session_state


def test_role_change_applies_without_new_sign_in(db):
    at = page_test("pages/users.py", "admin")
    users.add_user(db, "root", "пароль-админа", "admin")
    users.set_role(db, "test-admin", "board", actor="root")
    at.run()
    assert "недоступен для роли «Правление»" in texts(at)
