"""Sign-in sessions, throttling and the anonymous visitor's view."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from integrations import monitoring
from ledger import audit, users
from ledger.db import utcnow
from ui import PAGES

ROOT = Path(__file__).resolve().parent.parent


# -- throttling ---------------------------------------------------------------------------------------------

def test_repeated_failures_lock_the_login_for_a_growing_time(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    for _ in range(users.LOGIN_FREE):
        assert users.authenticate(db, "olga", "неверно") is None
    with pytest.raises(users.SignInLocked, match="Повторите через 30 секунд"):
        users.authenticate(db, "OLGA", "пароль-бухгалтера")  # even the right password waits
    assert audit.entries(db, action="signin_throttled")[0]["target"] == "OLGA"
    later = utcnow() + timedelta(seconds=31)
    assert users.authenticate(db, "olga", "неверно", now=later) is None  # the sixth failure: a minute now
    with pytest.raises(users.SignInLocked, match="Повторите через (1[0-9]|2[0-9]) секунд"):
        users.authenticate(db, "olga", "пароль-бухгалтера", now=utcnow() + timedelta(seconds=40))
    assert users.authenticate(db, "olga", "пароль-бухгалтера", now=utcnow() + timedelta(seconds=62)) == \
        {"login": "olga", "role": "accountant"}
    assert users.authenticate(db, "olga", "неверно") is None  # after a success the count starts again
    assert users.authenticate(db, "olga", "пароль-бухгалтера") is not None


def test_one_client_trying_many_logins_is_locked_others_are_not(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    for i in range(users.CLIENT_FREE):
        users.authenticate(db, f"guess{i}", "неверно", client="203.0.113.7")
    with pytest.raises(users.SignInLocked):
        users.authenticate(db, "olga", "пароль-бухгалтера", client="203.0.113.7")
    assert users.authenticate(db, "olga", "пароль-бухгалтера", client="198.51.100.2") is not None


def test_the_hourly_alert_still_counts_failed_and_locked_sign_ins(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    for _ in range(users.LOGIN_FREE):
        users.authenticate(db, "olga", "неверно")
    with pytest.raises(users.SignInLocked):
        users.authenticate(db, "olga", "неверно")
    assert any("неудачных попыток входа" in a.text for a in monitoring.alerts(db))


def test_unknown_logins_cost_the_same_scrypt_work(db, monkeypatch):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    users.set_active(db, "olga", True, actor="olga")
    calls = []
    real = hashlib.scrypt

    def counted(password, **kw):
        calls.append((kw["n"], kw["r"], kw["p"]))
        return real(password, **kw)

    users._decoy_hash()  # made once per process, outside the measured sign-ins
    monkeypatch.setattr(hashlib, "scrypt", counted)
    users.authenticate(db, "olga", "неверно")
    known = list(calls)
    calls.clear()
    users.authenticate(db, "nobody-here", "неверно")
    assert known == calls == [(2**14, 8, 1)]


# -- sessions -----------------------------------------------------------------------------------------------

def test_sessions_store_only_a_hash_expire_when_idle_and_end_on_sign_out(db, monkeypatch):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    token = users.start_session(db, "olga")
    assert db.scalar("SELECT count(*) FROM sessions WHERE token_hash = ?", [token]) == 0
    assert db.scalar("SELECT count(*) FROM sessions WHERE token_hash = ?",
                     [hashlib.sha256(token.encode()).hexdigest()]) == 1
    assert users.resume_session(db, token) == {"login": "olga", "role": "accountant"}
    assert users.resume_session(db, token + "x") is None
    assert users.resume_session(db, token, now=utcnow() + timedelta(hours=8, minutes=1)) is None
    monkeypatch.setenv("COOP_SESSION_HOURS", "12")
    assert users.resume_session(db, token, now=utcnow() + timedelta(hours=8, minutes=1)) is not None
    users.end_session(db, token, actor="olga")
    assert users.resume_session(db, token) is None
    assert audit.entries(db, action="signout")[0]["actor"] == "olga"


def test_a_disabled_account_or_a_new_password_ends_its_sessions(db):
    users.add_user(db, "admin", "пароль-админа", "admin")
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    first, second = users.start_session(db, "olga"), users.start_session(db, "olga")
    users.set_active(db, "olga", False, actor="admin")
    assert users.resume_session(db, first) is None
    users.set_active(db, "olga", True, actor="admin")
    users.set_password(db, "olga", "новый-пароль-1", actor="admin")
    assert users.resume_session(db, second) is None


def test_a_bad_session_setting_is_a_russian_message(monkeypatch):
    monkeypatch.setenv("COOP_SESSION_HOURS", "много")
    with pytest.raises(users.InputError, match="COOP_SESSION_HOURS"):
        users.session_idle()


# -- the anonymous visitor ----------------------------------------------------------------------------------

def test_pages_folder_holds_only_pages():
    listed = {Path(p.path).name for p in PAGES}
    assert {f.name for f in (ROOT / "pages").glob("*.py")} == listed
    assert "ui.py" not in listed


def test_anonymous_visitor_gets_only_the_sign_in_page(db):
    users.add_user(db, "olga", "пароль-бухгалтера", "accountant")
    at = AppTest.from_file("../app.py", default_timeout=30).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Вход"]
    assert [b.label for b in at.button] == ["Войти"]


def test_busy_database_shows_only_busy_never_the_first_run_form(db_path, monkeypatch):
    from ledger.db import Database

    users.add_user(Database(db_path), "olga", "пароль-бухгалтера", "accountant")
    Database(db_path).release()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"),
        str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("COOP_DB_WAIT", "0.3")
        at = AppTest.from_file("../app.py", default_timeout=30).run()
        assert not at.exception
        assert [e.value for e in at.error] == ["База занята, повторите"]
        assert not at.title and not at.text_input
    finally:
        holder.kill()
        holder.wait()
