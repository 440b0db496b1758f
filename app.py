"""coop-ledger web app: sign-in and navigation by role. Run with `make run`."""

from __future__ import annotations

import streamlit as st

from ledger import users
from pages import ui

st.set_page_config(page_title="coop-ledger", page_icon=":material/account_balance:", layout="wide")


def first_start(db) -> None:
    st.title("Первый запуск")
    st.write("Создайте учётную запись администратора. Остальных пользователей он добавит сам.")
    with st.form("first_admin"):
        login = st.text_input("Логин", value="admin")
        password = st.text_input("Пароль", type="password")
        again = st.text_input("Пароль ещё раз", type="password")
        if st.form_submit_button("Создать администратора", type="primary"):
            if password != again:
                st.error("Пароли не совпадают")
            elif ui.done(lambda: users.create_first_admin(db, login, password)):
                st.session_state["user"] = {"login": login.strip(), "role": "admin"}
                st.rerun()


def sign_in(db) -> None:
    st.title("Вход")
    with st.form("signin"):
        login = st.text_input("Логин")
        password = st.text_input("Пароль", type="password")
        if st.form_submit_button("Войти", type="primary"):
            user = ui.attempt(lambda: users.authenticate(db, login, password))
            if user:
                st.session_state["user"] = user
                st.rerun()
            else:
                st.error("Неверный логин или пароль")


def main() -> None:
    db = ui.db()
    user = ui.current_user()
    if user is None:
        if ui.attempt(lambda: users.has_users(db)):
            sign_in(db)
        else:
            first_start(db)
        return
    sections: dict[str, list] = {}
    for page in ui.PAGES:
        if user["role"] in page.roles:
            sections.setdefault(page.section, []).append(
                st.Page(page.path, title=page.title, icon=page.icon, url_path=page.key))
    with st.sidebar:
        st.caption(f"{user['login']} · {users.ROLES.get(user['role'], user['role'])}")
        if st.button("Выйти", key="signout"):
            st.session_state.clear()
            st.rerun()
    st.navigation(sections).run()


main()
