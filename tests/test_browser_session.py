"""Sessions in real headless Chromium: nothing but the sign-in form before sign-in, a reload keeps the user
signed in through an HttpOnly cookie, «Выйти» ends the session on the server."""

from __future__ import annotations

import pytest

from ledger import users
from tests.browser import chromium_page, sign_in, streamlit_server

pytestmark = pytest.mark.browser


def test_anonymous_sees_only_the_sign_in_form_then_reload_keeps_the_session_until_sign_out(db, db_path):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    with streamlit_server(db_path) as url, chromium_page() as page:
        page.goto(url)
        page.get_by_role("button", name="Войти").wait_for()
        # No listing of pages/ files, no «ui» page: no navigation links at all.
        assert page.locator("[data-testid=stSidebarNav]").count() == 0
        links = [a.get_attribute("href") or "" for a in page.locator("a").all()]
        assert not [h for h in links if any(p in h for p in ("/ui", "/members", "/audit", "/users", "/accruals"))]

        sign_in(page, url, "olga", "пароль-бухгалтера")
        page.get_by_role("link", name="Реестр членов").wait_for()
        page.wait_for_timeout(1000)  # the cookie answer arrives right after the first page of the session
        cookie = next(c for c in page.context.cookies() if c["name"] == "coop_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie").find("coop_session") == -1  # invisible to page scripts
        assert db.scalar("SELECT count(*) FROM sessions WHERE token_hash = ?", [cookie["value"]]) == 0  # hash only

        page.reload()
        page.get_by_role("link", name="Реестр членов").wait_for()
        assert page.get_by_role("button", name="Войти").count() == 0

        page.get_by_role("link", name="Банковские выписки").click()
        words = page.locator("[data-testid=stFileUploaderDropzone] button p").first
        assert words.evaluate("e => getComputedStyle(e, '::after').content") == '"Выбрать файл"'
        assert words.evaluate("e => getComputedStyle(e).fontSize") == "0px"  # «Upload» not shown

        page.get_by_role("button", name="Выйти").click()
        page.get_by_role("button", name="Войти").wait_for()
        assert db.scalar("SELECT count(*) FROM sessions WHERE login = 'olga' AND revoked_at IS NOT NULL") == 1
        assert users.resume_session(db, cookie["value"]) is None  # revoked on the server, not only forgotten
        page.reload()
        page.get_by_role("button", name="Войти").wait_for()
        assert page.get_by_role("link", name="Реестр членов").count() == 0


def test_a_lost_master_key_stops_the_app_without_listing_the_files_of_pages(demo_db):
    demo_db.release()
    (demo_db.path.parent / "vault.key").unlink()  # the key file is lost; the ledger holds sealed personal data
    with streamlit_server(demo_db.path) as url, chromium_page() as page:
        page.goto(url)
        page.get_by_text("ключ шифрования не подходит к базе").wait_for()
        page.wait_for_timeout(1000)
        # Streamlit lists pages/*.py under their English file names when the run never called st.navigation
        assert page.locator("[data-testid=stSidebarNav]").count() == 0
        body = page.inner_text("body")
        assert not [w for w in ("accruals", "integration settings", "dashboard") if w in body]


def test_the_admin_sees_every_page_in_the_sidebar_without_streamlits_english_view_more(db, db_path):
    users.add_user(db, "root", "пароль-администратора", "admin")
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "root", "пароль-администратора")
        nav = page.locator("[data-testid=stSidebarNav]")
        nav.get_by_role("link", name="Реестр членов").wait_for()
        page.wait_for_timeout(500)
        assert "View" not in nav.inner_text()
        for title in ("Мониторинг", "Журнал действий", "Резервные копии"):
            assert nav.get_by_role("link", name=title).is_visible()
