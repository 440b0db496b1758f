"""Integrations, monitoring and audit pages under AppTest; a failing integration never breaks any page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from integrations import registry
from ledger import audit, users
from ledger.vault import Vault
from ui import PAGES
from tests.test_pages import page_test, texts

SECRET = "Секрет-Почты-42"


def admin(path: str) -> AppTest:
    return page_test(path, "admin")


def test_integrations_page_configures_without_showing_secrets(db):
    at = admin("pages/integration_settings.py").run()
    assert not at.exception
    at.selectbox(key="integration").set_value("smtp").run()
    at.text_input(key="f_smtp_host").set_value("smtp.snt.test")
    at.text_input(key="f_smtp_sender").set_value("snt@snt.test")
    at.text_input(key="s_smtp_password_0").set_value(SECRET)
    at.selectbox(key="f_smtp_tls").set_value("ssl")
    next(b for b in at.button if b.label == "Сохранить").click().run()
    assert not at.exception, at.exception
    assert Vault(db).get("integration/smtp/password") == SECRET
    assert registry.stored_settings(db, "smtp")["tls"] == "ssl"
    assert at.text_input(key="s_smtp_password_1").value == ""  # a fresh, empty input after saving
    assert "•••••••• (задан)" == at.text_input(key="s_smtp_password_1").placeholder
    assert SECRET not in str([e.value for e in at.text_input]) + texts(at)
    # saving again with the secret field empty keeps the secret
    at.text_input(key="f_smtp_host").set_value("smtp2.snt.test")
    next(b for b in at.button if b.label == "Сохранить").click().run()
    assert Vault(db).get("integration/smtp/password") == SECRET
    at.button(key="enable").click().run()
    assert registry.is_enabled(db, "smtp")


def test_integrations_page_check_shows_a_clear_error(db, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    registry.configure(db, "local", {"path": str(blocker / "sub")})
    at = admin("pages/integration_settings.py").run()
    at.selectbox(key="integration").set_value("local").run()
    at.button(key="check").click().run()
    assert not at.exception
    assert "Интеграция local: папка" in texts(at) and "недоступна" in texts(at)


def test_audit_page_filters_verifies_and_exports(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    users.authenticate(db, "olga", "неверно")
    at = admin("pages/audit.py").run()
    assert not at.exception
    assert "Целостность журнала проверена" in texts(at)
    at.checkbox(key="only_failed").check().run()
    table = at.dataframe[0].value
    assert list(table["Действие"]) == ["Неудачный вход"]
    at.button(key="prepare_audit_export").click().run()
    assert not at.exception
    assert audit.entries(db, action="audit_exported")[0]["actor"] == "test-admin"
    with db.transaction() as con:
        con.execute("UPDATE audit_log SET actor = 'x' WHERE action = 'signin_failed'")
    at = admin("pages/audit.py").run()
    assert "Журнал изменён в обход приложения" in texts(at)


def test_monitoring_page_shows_alerts_and_stats(db):
    for _ in range(3):
        audit.external_call(db, "smtp", "send", ok=False, host="smtp.snt.test", duration_ms=40,
                            error="нет соединения с сервером")
    at = admin("pages/monitoring.py").run()
    assert not at.exception
    assert "smtp: 3 обращений подряд" in texts(at)
    table = at.dataframe[0].value
    row = table[table["Интеграция"] == "smtp"].iloc[0]
    assert (row["Обращений за 24 ч"], row["Доля ошибок, %"], row["p95, мс"]) == ("3", "100.0", "40")
    at.button(key="notify").click().run()
    assert not at.exception and "не настроен канал" in texts(at)


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_a_failing_integration_never_breaks_a_page(demo_db, page, monkeypatch):
    from importlib.metadata import EntryPoint

    real = registry.entry_points
    bad = EntryPoint(name="tbank", value="integrations.no_such_module:TBank", group=registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [*real(group=group), bad])
    with demo_db.transaction() as con:  # enabled, with settings that cannot work
        con.execute("INSERT INTO integrations (name, enabled, settings, updated_at) VALUES "
                    "('cms', TRUE, '{}', now()), ('smtp', TRUE, '{\"host\": \"127.0.0.1\"}', now()), "
                    "('tbank', TRUE, NULL, now())")
    at = admin(page.path).run()
    assert not at.exception, at.exception


def test_success_messages_survive_the_reload_after_an_action(db):
    at = admin("pages/users.py").run()
    at.text_input[0].set_value("olga")
    at.text_input[1].set_value("пароль-бухгалтера")
    next(b for b in at.button if b.label == "Добавить").click().run()
    assert not at.exception
    assert "Пользователь olga добавлен (Администратор)" in texts(at)
    at.selectbox(key="target_user").set_value("olga").run()
    at.button(key="toggle_active").click().run()
    assert "Пользователь olga отключён" in texts(at)


def test_backups_page_sets_the_key_runs_verifies_and_restores(db, tmp_path):
    from ledger import backup

    phrase = "Рассвет-копии-2026 надёжно"
    at = admin("pages/backups.py").run()
    assert not at.exception
    at.text_input(key="phrase1").set_value(phrase)
    at.text_input(key="phrase2").set_value(phrase + "!")
    next(b for b in at.button if b.label == "Создать ключ").click().run()
    assert "Фразы не совпадают" in texts(at) and not backup.is_initialised(db)
    at.text_input(key="phrase2").set_value(phrase)
    next(b for b in at.button if b.label == "Создать ключ").click().run()
    assert not at.exception and backup.is_initialised(db)
    assert "Нет включённого хранилища" in texts(at)
    registry.configure(db, "local", {"path": str(tmp_path / "копии")})
    registry.set_enabled(db, "local", True)
    at = admin("pages/backups.py").run()
    at.button(key="run").click().run()
    assert not at.exception, at.exception
    (made,) = [v.name for v in backup.versions(db, registry.build(db, "local"))]
    assert f"Копия {made} сохранена" in texts(at)
    at.text_input(key="phrase").set_value("не та фраза вовсе")
    at.button(key="verify").click().run()
    assert "Неверная парольная фраза" in texts(at)
    at.text_input(key="phrase").set_value(phrase)
    at.button(key="verify").click().run()
    assert "проверена" in texts(at)
    shown = at.dataframe[0].value
    assert shown["ID"].tolist() == [made] and shown["Проверена (UTC)"].tolist() != ["нет"]
    target = tmp_path / "восстановлено" / "coop.duckdb"
    at.text_input(key="target").set_value(str(db.path)).run()
    at.button(key="restore").click().run()
    assert "Подтвердите замену" in texts(at)
    at.text_input(key="target").set_value(str(target)).run()
    at.button(key="restore").click().run()
    assert not at.exception and f"Восстановлено в {target}" in texts(at)
    assert target.exists()
