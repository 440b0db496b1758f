"""coop-ledger web app: sign-in and navigation by role. `make run` serves it through server.py."""

from __future__ import annotations

import streamlit as st

from ledger import cooperative, users
from ledger.db import Database
from ledger.errors import DatabaseBusy, LedgerError
import ui

BUSY = "База занята, повторите"


def page_title() -> str:
    """The browser tab: the cooperative's name once it is known."""
    try:
        quick = Database(wait_seconds=0.5)   # a busy database must not delay the page for the title
        if not quick.path.is_file():
            return "Учёт кооператива"   # nothing is created for the title (ui.db says why a file is missing)
        return (cooperative.get_settings(quick).get("name") or "").strip() or "Учёт кооператива"
    except LedgerError:
        return "Учёт кооператива"


st.set_page_config(page_title=page_title(), page_icon=":material/account_balance:", layout="wide")


def busy() -> None:
    st.error(BUSY)
    st.button("Повторить", key="retry_busy")


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
                ui.signed_in(db, {"login": login.strip(), "role": "admin"})
                st.rerun()


def sign_in(db) -> None:
    st.title("Вход")
    with st.form("signin"):
        login = st.text_input("Логин")
        password = st.text_input("Пароль", type="password")
        if st.form_submit_button("Войти", type="primary"):
            try:
                user = users.authenticate(db, login, password, client=ui.client_address())
            except DatabaseBusy:
                st.error(BUSY)
                return
            except LedgerError as exc:
                st.error(ui.plain(str(exc)))
                return
            if user:
                ui.signed_in(db, user)
                st.rerun()
            else:
                st.error("Неверный логин или пароль")


def anonymous() -> None:
    """The only page an anonymous visitor has: sign-in, or the first start while there are no users."""
    db = ui.db()
    notice = st.session_state.pop("signed_out", None)
    if notice:
        ui.forget_cookie()
        st.info(notice)
    try:
        has_users = users.has_users(db)
    except DatabaseBusy:
        busy()  # never the first-run form: the users are there, the file is only held by another program
        return
    except LedgerError as exc:
        st.error(ui.plain(str(exc)))
        return
    if has_users:
        sign_in(db)
    else:
        first_start(db)


def hidden_navigation() -> None:
    """Hand Streamlit a hidden navigation before the app stops early: without one it lists the files of pages/
    (accruals, audit, ...) in the sidebar."""
    st.navigation([st.Page(anonymous, title="Вход", url_path="signin", default=True)], position="hidden")


def main() -> None:
    ui.russian_widgets()
    try:
        db = ui.db(before_stop=hidden_navigation)
    except DatabaseBusy:
        hidden_navigation()
        busy()
        st.stop()
    ui.tidy_once(str(db.path))
    user = ui.current_user()
    if user is None:
        try:
            user = ui.resume(db)
        except DatabaseBusy:
            hidden_navigation()
            busy()
            st.stop()
        except LedgerError:
            user = None
    if user is None:
        # Always hand Streamlit the navigation, hidden: otherwise it lists the files of pages/ in the sidebar.
        st.navigation([st.Page(anonymous, title="Вход", url_path="signin", default=True)], position="hidden").run()
        return
    ui.deliver_cookie()
    sections: dict[str, list] = {}
    for page in ui.PAGES:
        if user["role"] in page.roles:
            sections.setdefault(page.section, []).append(
                st.Page(page.path, title=page.title, icon=page.icon, url_path=page.key))
    with st.sidebar:
        st.caption(ui.plain(f"{user['login']} · {users.ROLES.get(user['role'], user['role'])}"))
        if st.button("Выйти", key="signout"):
            ui.sign_out(db)
            st.rerun()
    st.navigation(sections, expanded=True).run()   # all pages: no Streamlit «View N more» (English) fold


main()
