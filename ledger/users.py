"""Local accounts: scrypt password hashes, roles, sign-in with an audit trail."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
from datetime import datetime, timedelta

from . import audit
from .db import Database, utcnow
from .errors import InputError

ROLES = {"admin": "Администратор", "accountant": "Бухгалтер", "board": "Правление"}
# Roles allowed to see members' personal data (ФИО with contacts, INN, phones, e-mail) unmasked.
PERSONAL_DATA_ROLES = {"admin", "accountant"}

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8
_LOGIN = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InputError(f"Пароль должен быть не короче {MIN_PASSWORD} символов")


def has_users(db: Database) -> bool:
    return bool(db.scalar("SELECT count(*) FROM users"))


def add_user(db: Database, login: str, password: str, role: str, actor: str | None = None) -> None:
    login = login.strip()
    if not _LOGIN.match(login):
        raise InputError(f"Логин «{login}»: допустимы латинские буквы, цифры и . _ @ - (от 2 до 64 символов)")
    if role not in ROLES:
        raise InputError(f"Роль «{role}» неизвестна; допустимы: {', '.join(ROLES)}")
    check_new_password(password)
    with db.transaction() as con:
        if con.execute("SELECT 1 FROM users WHERE lower(login) = lower(?)", [login]).fetchone():
            raise InputError(f"Пользователь «{login}» уже есть")
        con.execute("INSERT INTO users (login, password_hash, role, active, created_at) VALUES (?, ?, ?, TRUE, ?)",
                    [login, hash_password(password), role, utcnow()])
        audit.log(con, actor or login, "user_added", login, role=role)


def create_first_admin(db: Database, login: str, password: str) -> None:
    """Only while there are no users at all (the first start of the app)."""
    if has_users(db):
        raise InputError("Администратор уже создан; войдите под своей учётной записью")
    add_user(db, login, password, "admin", actor=login)


# Throttling: after LOGIN_FREE failures in a row for a login (CLIENT_FREE for one client address, whatever
# the logins) every further failure locks sign-in for twice as long as the previous one, from LOCK_FIRST up
# to LOCK_MAX. Failures older than FAILURE_MEMORY are forgotten.
LOGIN_FREE, CLIENT_FREE = 5, 20
LOCK_FIRST, LOCK_MAX = timedelta(seconds=30), timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=24)


class SignInLocked(InputError):
    """Too many failed sign-ins: the message says when to try again."""


@functools.cache
def _decoy_hash() -> str:
    """A hash to check unknown logins against: the same scrypt work, so timing does not tell them apart."""
    return hash_password(secrets.token_urlsafe(16))


def _locked_until(con, who: str, value: str, free: int, now: datetime) -> datetime | None:
    """When sign-in for this login (who='login') or client address (who='client') opens again; None: open now."""
    if who == "login":
        match, value = "lower(target) = lower(?)", value
    else:
        match = "json_extract_string(details, '$.client') = ?"
    success = con.execute(f"SELECT max(happened_at) FROM audit_log WHERE action = 'signin' AND {match}",
                          [value]).fetchone()[0]
    since = max(success or datetime.min, now - FAILURE_MEMORY)
    n, last = con.execute(f"SELECT count(*), max(happened_at) FROM audit_log "
                          f"WHERE action = 'signin_failed' AND {match} AND happened_at > ?", [value, since]).fetchone()
    if n < free:
        return None
    until = last + min(LOCK_FIRST * 2 ** min(n - free, 20), LOCK_MAX)
    return until if until > now else None


def _wait_text(delta: timedelta) -> str:
    from .formats import plural

    seconds = max(1, int(delta.total_seconds() + 0.999))
    if seconds < 60:
        return f"{seconds} {plural(seconds, 'секунду', 'секунды', 'секунд')}"
    minutes = (seconds + 59) // 60
    return f"{minutes} {plural(minutes, 'минуту', 'минуты', 'минут')}"


def authenticate(db: Database, login: str, password: str, client: str | None = None,
                 now: datetime | None = None) -> dict | None:
    """The user's {login, role} when the password is right and the account active; every try is logged.

    Repeated failures lock the login (and the client address) for a growing time: SignInLocked says how long.
    Unknown logins and disabled accounts cost the same scrypt work as a wrong password.
    """
    login = login.strip()
    now = now or utcnow()
    extra = {"client": client} if client else {}
    with db.transaction() as con:
        locks = [_locked_until(con, "login", login, LOGIN_FREE, now)] if login else []
        if client:
            locks.append(_locked_until(con, "client", client, CLIENT_FREE, now))
        until = max((t for t in locks if t), default=None)
        if until:
            audit.log(con, login or None, "signin_throttled", login or None, ok=False, **extra)
    if until:
        raise SignInLocked(f"Слишком много неудачных попыток входа. Повторите через {_wait_text(until - now)}.")
    with db.transaction() as con:
        row = con.execute("SELECT login, password_hash, role, active FROM users WHERE lower(login) = lower(?)",
                          [login]).fetchone()
        right = verify_password(password, row[1] if row else _decoy_hash())
        if not (row and row[3] and right):
            audit.log(con, login or None, "signin_failed", login or None, ok=False, **extra)
            return None
        con.execute("UPDATE users SET last_login_at = ? WHERE login = ?", [utcnow(), row[0]])
        audit.log(con, row[0], "signin", row[0], **extra)
        return {"login": row[0], "role": row[2]}


# -- sessions that survive a reload -----------------------------------------------------------------------

def session_idle() -> timedelta:
    """Inactivity after which a session ends: COOP_SESSION_HOURS (default 8 hours)."""
    raw = os.environ.get("COOP_SESSION_HOURS", "8")
    try:
        hours = float(raw.replace(",", "."))
    except ValueError:
        raise InputError(f"COOP_SESSION_HOURS=«{raw}»: укажите число часов, например 8") from None
    if not 0 < hours <= 24 * 30:
        raise InputError(f"COOP_SESSION_HOURS=«{raw}»: допустимо от 0 до 720 часов")
    return timedelta(hours=hours)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(db: Database, login: str, client: str | None = None) -> str:
    """A new random session token for a signed-in user; the ledger keeps only its hash."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as con:
        con.execute("INSERT INTO sessions (token_hash, login, created_at, last_seen_at, client) VALUES (?, ?, ?, ?, ?)",
                    [_token_hash(token), login, now, now, client])
    return token


def resume_session(db: Database, token: str | None, now: datetime | None = None) -> dict | None:
    """The {login, role} of a live session (not revoked, used within the inactivity limit, account active)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    with db.transaction() as con:
        row = con.execute("""
            SELECT s.login, u.role, s.last_seen_at FROM sessions s JOIN users u ON u.login = s.login
            WHERE s.token_hash = ? AND s.revoked_at IS NULL AND u.active""", [_token_hash(token)]).fetchone()
        if row is None or row[2] < now - session_idle():
            return None
        con.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", [now, _token_hash(token)])
        return {"login": row[0], "role": row[1]}


def touch_session(db: Database, token: str | None) -> None:
    """Note activity (called at most once a minute per browser tab)."""
    if token:
        with db.transaction() as con:
            con.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                        [utcnow(), _token_hash(token)])


def end_session(db: Database, token: str | None, actor: str | None = None) -> None:
    """«Выйти»: the session is revoked on the server, whatever the browser keeps."""
    with db.transaction() as con:
        if token:
            con.execute("UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                        [utcnow(), _token_hash(token)])
        if actor:
            audit.log(con, actor, "signout", actor)


def current_role(db: Database, login: str) -> str | None:
    """The role of an active account, None when it is disabled or gone."""
    return db.scalar("SELECT role FROM users WHERE login = ? AND active", [login])


def list_users(db: Database) -> list[dict]:
    return db.records("SELECT login, role, active, created_at, last_login_at FROM users ORDER BY login")


def set_role(db: Database, login: str, role: str, actor: str) -> None:
    if role not in ROLES:
        raise InputError(f"Роль «{role}» неизвестна")
    with db.transaction() as con:
        _ensure_admin_remains(con, login, role=role)
        con.execute("UPDATE users SET role = ? WHERE login = ?", [role, login])
        audit.log(con, actor, "role_changed", login, role=role)


def set_active(db: Database, login: str, active: bool, actor: str) -> None:
    with db.transaction() as con:
        if not active:
            _ensure_admin_remains(con, login, active=False)
        con.execute("UPDATE users SET active = ? WHERE login = ?", [active, login])
        audit.log(con, actor, "user_enabled" if active else "user_disabled", login)


def set_password(db: Database, login: str, password: str, actor: str) -> None:
    check_new_password(password)
    with db.transaction() as con:
        con.execute("UPDATE users SET password_hash = ? WHERE login = ?", [hash_password(password), login])
        con.execute("UPDATE sessions SET revoked_at = ? WHERE login = ? AND revoked_at IS NULL", [utcnow(), login])
        audit.log(con, actor, "password_changed", login)


def _ensure_admin_remains(con, login: str, role: str = "admin", active: bool = True) -> None:
    admins = {r[0] for r in con.execute("SELECT login FROM users WHERE role = 'admin' AND active").fetchall()}
    if admins == {login} and (role != "admin" or not active):
        raise InputError("Нельзя оставить систему без администратора")
