"""Integrations through the `coop` CLI and the registry: entry points, configure (secrets only from stdin),
show (masked), enable/disable, schedules, and alerts sent to the admin through a real SMTP server."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from integrations import monitoring, registry
from integrations.base import INTERFACES, PLANNED, IntegrationError
from ledger import audit, users
from ledger.db import utcnow
from ledger.errors import InputError
from ledger.vault import Vault
from tests import fakes
from tests.smtp_server import PASSWORD, USER, SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def coop(db, *args, stdin=None, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), *args], input=stdin,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_builtins_come_from_the_entry_point_group():
    found, broken = registry.discover()
    assert broken == []
    assert set(found) >= {"smtp", "cms", "file_drop", "local", "statement_folder"}
    for name, cls in found.items():
        assert cls.name == name and issubclass(cls, INTERFACES[cls.kind])
        assert name in PLANNED[cls.kind]


def test_list_and_unknown_or_planned_names(db, monkeypatch):
    result = coop(db, "integrations", "list")
    assert result.returncode == 0, result.stderr
    lines = {line.split("\t")[0]: line for line in result.stdout.splitlines()}
    assert "отключена" in lines["smtp"] and "Канал уведомлений" in lines["smtp"]
    assert "Канал уведомлений" in lines["smsc"]
    monkeypatch.setitem(PLANNED, "channel", [*PLANNED["channel"], "viber"])
    with pytest.raises(InputError, match="пока не реализована"):
        registry.integration_class("viber")
    result = coop(db, "integrations", "enable", "nonsense")
    assert result.returncode == 1 and "неизвестна" in result.stderr


def test_configure_secret_only_from_stdin_and_show_masks_it(db):
    secret = "Пароль-Почты-2026"
    result = coop(db, "integrations", "configure", "smtp", f"password={secret}")
    assert result.returncode == 1 and "password=@-" in result.stderr and secret not in result.stderr
    assert Vault(db).get("integration/smtp/password") is None
    result = coop(db, "integrations", "configure", "smtp", "host=smtp.yandex.ru", "port=465", "tls=ssl",
                  "username=snt@yandex.ru", "sender=snt@yandex.ru", "password=@-", stdin=secret + "\n")
    assert result.returncode == 0, result.stderr
    assert Vault(db).get("integration/smtp/password") == secret
    shown = coop(db, "integrations", "show", "smtp")
    assert shown.returncode == 0
    assert "host\tsmtp.yandex.ru" in shown.stdout and "tls\tssl" in shown.stdout
    assert "password\t•••••••• (задан)" in shown.stdout and secret not in shown.stdout
    assert secret.encode() not in db.path.read_bytes()
    entry = audit.entries(db, action="integration_configured")[0]
    assert secret not in str(entry) and "password" in entry["details"]


def test_configure_reports_every_bad_value_and_changes_nothing(db):
    result = coop(db, "integrations", "configure", "smtp", "port=abc", "tls=tls13", "colour=red", "host=x")
    assert result.returncode == 1
    assert "«Порт» (port): нужно целое число" in result.stderr
    assert "допустимы: none, starttls, ssl" in result.stderr and "«colour» неизвестен" in result.stderr
    assert registry.stored_settings(db, "smtp") == {}


def test_enable_needs_required_settings_then_disable(db, tmp_path):
    result = coop(db, "integrations", "enable", "local")
    assert result.returncode == 1 and "«Папка для копий» (path)" in result.stderr
    assert coop(db, "integrations", "configure", "local", f"path={tmp_path / 'копии'}").returncode == 0
    assert coop(db, "integrations", "enable", "local").returncode == 0
    assert registry.is_enabled(db, "local")
    assert coop(db, "integrations", "check", "local").stdout.strip().endswith("доступна для записи")
    assert coop(db, "integrations", "disable", "local").returncode == 0
    assert not registry.is_enabled(db, "local")
    assert [e["action"] for e in audit.entries(db)[:2]] == ["integration_disabled", "external_call"]


def test_cms_key_from_stdin_and_sign_through_registry(db):
    from tests.certs import cert_pem, key_pem, make_key, self_signed

    key = make_key("ec")
    assert coop(db, "integrations", "configure", "cms", "certificate=@-", stdin=cert_pem(self_signed(key))).returncode == 0
    assert coop(db, "integrations", "configure", "cms", "private_key=@-", stdin=key_pem(key)).returncode == 0
    assert coop(db, "integrations", "enable", "cms").returncode == 0
    signer = registry.build(db, "cms")
    assert signer.sign(b"report")[:1] == b"\x30"  # DER SEQUENCE
    assert "PRIVATE KEY" not in coop(db, "integrations", "show", "cms").stdout


def test_disabled_integration_cannot_be_built(db):
    with pytest.raises(Exception, match="отключена"):
        registry.build(db, "local")


def test_schedule_and_run_due(db, tmp_path):
    registry.configure(db, "local", {"path": str(tmp_path / "b")})
    registry.set_enabled(db, "local", True)
    result = coop(db, "integrations", "schedule", "local", "--every", "60")
    assert result.returncode == 0 and "каждые 60 мин" in result.stdout
    (row,) = [r for r in registry.overview(db) if r["name"] == "local"]
    assert row["next_run_at"] is not None and row["next_run_at"] <= utcnow()
    from ledger import backup

    backup.init_keys(db, "парольная фраза копий")
    (line,) = registry.run_due(db)   # a backup storage's scheduled run makes a backup (issue 16)
    assert line.startswith("local: копия coop-") and line.endswith(".tar.zst.age сохранена")
    (row,) = [r for r in registry.overview(db) if r["name"] == "local"]
    assert row["next_run_at"] - row["last_run_at"] == timedelta(minutes=60)
    assert registry.run_due(db) == []  # not due again yet


def test_a_broken_plugin_is_reported_not_fatal(db, monkeypatch):
    from importlib.metadata import EntryPoint

    real = registry.entry_points
    bad = EntryPoint(name="sber", value="integrations.does_not_exist:Sber", group=registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [*real(group=group), bad])
    found, broken = registry.discover()
    assert "smtp" in found and [b.name for b in broken] == ["sber"]
    assert any(r["name"] == "sber" and r["error"] for r in registry.overview(db))


def test_monitoring_stats_and_alerts_sent_to_admin_over_smtp(db, tmp_path):
    server = SmtpServer(tmp_path, "starttls")
    try:
        registry.configure(db, "smtp", {"host": "127.0.0.1", "port": server.port, "tls": "starttls",
                                        "username": USER, "password": PASSWORD, "sender": "snt@snt.test",
                                        "ca_file": str(server.cert), "admin_recipient": "chair@snt.test"})
        registry.set_enabled(db, "smtp", True)
        for ms, ok in ((100, True), (200, True), (300, False), (400, False), (500, False)):
            audit.external_call(db, "sber", "GET", ok=ok, host="api.sber.ru", duration_ms=ms,
                                error=None if ok else "сервер ответил 503")
        users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
        for _ in range(5):
            users.authenticate(db, "olga", "неверно")
        stats = {s["name"]: s for s in monitoring.integration_stats(db)}
        assert stats["smtp"]["enabled"] and stats["smtp"]["calls_24h"] == 0
        texts = [a.text for a in monitoring.alerts(db)]
        assert any("sber: 3 обращений подряд" in t for t in texts)
        assert any("5 неудачных попыток входа" in t for t in texts)
        result = coop(db, "monitoring", "alerts", "--send")
        assert result.returncode == 0, result.stderr
        assert "Отправлено оповещений: " in result.stdout
        (mail,) = server.inbox.messages
        assert mail["to"] == ["chair@snt.test"]
        body = mail["message"].get_content()
        assert "sber: 3 обращений подряд" in body and "неудачных попыток входа" in body
        assert coop(db, "monitoring", "alerts", "--send").stdout.endswith("Отправлено оповещений: 0\n")
        assert len(server.inbox.messages) == 1  # each alert once a day
        smtp_stats = {s["name"]: s for s in monitoring.integration_stats(db)}["smtp"]
        assert smtp_stats["calls_24h"] == 1 and smtp_stats["error_rate_24h"] == 0
    finally:
        server.stop()


def test_latency_percentiles_and_error_rate(db):
    registry.register(fakes.FakeChannel)
    try:
        for ms in range(1, 101):
            audit.external_call(db, "fake_channel", "send", ok=ms % 10 != 0, duration_ms=ms)
        s = {r["name"]: r for r in monitoring.integration_stats(db)}["fake_channel"]
        assert s["calls_24h"] == 100 and s["error_rate_24h"] == pytest.approx(0.10)
        # linear interpolation by hand: p50 of 1..100 = 50.5, p95 = 1 + 0.95 * 99 = 95.05
        assert s["p50_ms"] == pytest.approx(50.5) and s["p95_ms"] == pytest.approx(95.05)
    finally:
        registry.unregister("fake_channel")


def test_alerts_for_large_exports_night_activity_and_expiring_certificates(db):
    from tests.certs import cert_pem, key_pem, make_key, self_signed

    with db.transaction() as con:
        night = utcnow().replace(hour=0, minute=30) - timedelta(days=0)  # 03:30 in Moscow
        if night > utcnow():
            night -= timedelta(days=1)
        audit._append(con, {"happened_at": night, "actor": "olga", "action": "signin", "ok": True})
        audit.log(con, "olga", "export_personal_data", "реестр.xlsx", rows=1500)
    key = make_key("rsa")
    registry.configure(db, "cms", {"certificate": cert_pem(self_signed(key, days=5)), "private_key": key_pem(key)})
    registry.set_enabled(db, "cms", True)
    texts = [a.text for a in monitoring.alerts(db)]
    assert any("olga за сутки выгрузил" in t and "1500" in t for t in texts)
    assert any("нерабочее время: olga" in t for t in texts)
    assert any(t.startswith("Интеграция cms: сертификат") and "истекает" in t for t in texts)


def test_alert_when_an_oauth_authorization_is_about_to_expire(db):
    import json

    soon = (utcnow() + timedelta(days=3)).isoformat()
    Vault(db).put("oauth/sber/token", json.dumps({"access_token": "a", "refresh_token": "r", "expires_at": None,
                                                  "refresh_expires_at": soon}))
    Vault(db).put("oauth/tbank/token", json.dumps({"access_token": "a", "refresh_token": "r", "expires_at": None,
                                                   "refresh_expires_at": (utcnow() + timedelta(days=90)).isoformat()}))
    texts = [a.text for a in monitoring.alerts(db)]
    assert [t for t in texts if "авторизации" in t] == [
        f"Интеграция sber: срок авторизации истекает {utcnow() + timedelta(days=3):%d.%m.%Y}; пройдите авторизацию заново"]


# -- settings are validated (issue 12, item 12) ----------------------------------------------------

def _problems(db, name: str, **values) -> str:
    with pytest.raises(InputError) as err:
        registry.configure(db, name, values)
    assert registry.stored_settings(db, name) == {}
    return str(err.value)


@pytest.mark.parametrize("port", ["0", "65536", "-1", "99999999999999999999"])
def test_smtp_port_outside_1_65535_is_refused(db, port):
    assert "smtp, параметр «Порт» (port): " in _problems(db, "smtp", host="smtp.example.ru", port=port)


def test_port_and_timeout_bounds_accept_the_edges(db):
    registry.configure(db, "smtp", {"port": "1", "timeout": "600"})
    registry.configure(db, "smtp", {"port": "65535", "timeout": "1"})
    assert registry.stored_settings(db, "smtp") == {"port": 65535, "timeout": 1}


@pytest.mark.parametrize("timeout", ["0", "601", "86400000"])
def test_smtp_timeout_is_bounded(db, timeout):
    assert "«Тайм-аут, с» (timeout): " in _problems(db, "smtp", timeout=timeout)
    assert "от 1 до 600" in _problems(db, "smtp", timeout=timeout)


def test_text_settings_are_bounded_in_length(db):
    assert "«Сервер SMTP» (host): длиннее 1000 символов" in _problems(db, "smtp", host="a" * 1001)
    assert "управляющие символы" in _problems(db, "smtp", sender="a@b.ru\r\nBcc: x@y.ru")


@pytest.mark.parametrize("url", ["https://user:secret@webdav.yandex.ru/coop/", "https://user@webdav.yandex.ru/"])
def test_credentials_inside_a_url_are_refused(db, url):
    text = _problems(db, "webdav", url=url)
    assert "webdav, параметр «Адрес папки WebDAV» (url): логин и пароль в адресе не указывайте — используйте " \
           "поля логина и пароля" in text
    assert "secret" not in text


@pytest.mark.parametrize("url", ["ftp://example.ru/", "https://", "https://host:99999/"])
def test_bad_urls_are_refused(db, url):
    assert "«Адрес папки WebDAV» (url): " in _problems(db, "webdav", url=url)


@pytest.mark.parametrize("pattern", ["../*.txt", "/etc/*", "sub/../../x*", "~/x*", "C:\\\\x\\\\*.txt", "..\\\\*.txt"])
def test_statement_folder_pattern_cannot_leave_its_folder(db, tmp_path, pattern):
    text = _problems(db, "statement_folder", path=str(tmp_path), pattern=pattern)
    assert "statement_folder, параметр «Какие файлы брать (шаблон)» (pattern): шаблон должен выбирать файлы " \
           "внутри папки" in text


def test_statement_folder_pattern_inside_the_folder_is_taken(db, tmp_path):
    registry.configure(db, "statement_folder", {"path": str(tmp_path), "pattern": "kl_to_1c*.txt"})
    assert registry.stored_settings(db, "statement_folder")["pattern"] == "kl_to_1c*.txt"


@pytest.mark.parametrize("name, folder", [("statement_folder", "/proc/self"), ("statement_folder", "/sys"),
                                          ("local", "/etc"), ("local", "/etc/cron.d"), ("file_drop", "/dev/shm"),
                                          ("local", "/boot"), ("local", "/"), ("local", "/tmp/../etc")])
def test_system_folders_are_refused(db, name, folder):
    text = _problems(db, name, path=folder)
    assert f"{name}, параметр «" in text and "системная папка" in text


def test_a_ca_file_under_etc_is_still_allowed(db):
    registry.configure(db, "smtp", {"ca_file": "/etc/ssl/certs/ca-certificates.crt"})
    assert registry.stored_settings(db, "smtp")["ca_file"] == "/etc/ssl/certs/ca-certificates.crt"


def test_settings_stored_before_validation_are_checked_when_built(db):
    import json

    with db.transaction() as con:
        con.execute("INSERT INTO integrations (name, enabled, settings, updated_at) VALUES ('local', true, ?, now())",
                    [json.dumps({"path": "/etc"})])
    with pytest.raises(IntegrationError, match="«Папка для копий» \\(path\\): системная папка /etc"):
        registry.build(db, "local")


def test_schedule_every_is_bounded_in_russian(db):
    result = coop(db, "integrations", "schedule", "local", "--every", "99999999999999999999")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Интервал запуска 99999999999999999999 мин — больше года" in result.stderr
    result = coop(db, "integrations", "schedule", "local", "--every", str(366 * 24 * 60))
    assert result.returncode == 0, result.stderr


def test_configure_from_the_command_line_names_the_field(db):
    result = coop(db, "integrations", "configure", "webdav", "url=https://u:p4ss@dav.example.ru/")
    assert result.returncode == 1 and "используйте поля логина и пароля" in result.stderr
    assert "p4ss" not in result.stderr
