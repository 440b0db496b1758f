"""End to end in real headless Chromium: the admin configures an integration; the secret never reaches the page."""

from __future__ import annotations

import pytest

from integrations import registry
from ledger import users
from ledger.vault import Vault
from tests.browser import chromium_page, sign_in, streamlit_server

pytestmark = pytest.mark.browser

SECRET = "Очень-Секретный-Пароль-77"


def secret_gone(page, seconds: float = 10) -> bool:
    """True once the page no longer holds the secret (Streamlit drops the previous run's elements a moment
    after the new run has drawn)."""
    for _ in range(int(seconds * 4)):
        if SECRET not in page.content():
            return True
        page.wait_for_timeout(250)
    return False


def test_admin_configures_smtp_and_sees_it_in_the_audit_log(db, db_path, tmp_path):
    users.add_user(db, "chair", "пароль-председателя", "admin")
    with streamlit_server(db_path) as url, chromium_page() as page:
        sign_in(page, url, "chair", "пароль-председателя")
        page.get_by_role("link", name="Интеграции").click()
        page.get_by_label("Интеграция", exact=True).click()
        page.get_by_role("option", name="smtp — Электронная почта (SMTP)").click()
        page.get_by_label("Сервер SMTP (host) *").fill("smtp.snt.test")
        page.get_by_label("Адрес отправителя (sender) *").fill("snt@snt.test")
        page.get_by_label("Пароль (password)").fill(SECRET)
        page.get_by_role("button", name="Сохранить").first.click()
        page.get_by_placeholder("•••••••• (задан)").wait_for()  # saved, and the page re-ran
        assert secret_gone(page), "the typed secret stayed in the page"
        page.get_by_role("link", name="Журнал действий").click()
        page.get_by_text("Целостность журнала проверена").wait_for()
        assert SECRET not in page.content()
        page.get_by_role("link", name="Мониторинг").click()
        page.get_by_text("Интеграции").first.wait_for()
        page.screenshot(path=str(tmp_path / "monitoring.png"))
    assert Vault(db).get("integration/smtp/password") == SECRET
    assert registry.stored_settings(db, "smtp") == {"host": "smtp.snt.test", "sender": "snt@snt.test", "tls": "starttls"}
