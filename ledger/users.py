"""Local accounts: scrypt password hashes, roles, sign-in with an audit trail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

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


def authenticate(db: Database, login: str, password: str) -> dict | None:
    """The user's {login, role} when the password is right and the account active; every try is logged."""
    login = login.strip()
    with db.transaction() as con:
        row = con.execute("SELECT login, password_hash, role, active FROM users WHERE lower(login) = lower(?)",
                          [login]).fetchone()
        ok = bool(row) and row[3] and verify_password(password, row[1])
        if not ok:
            audit.log(con, login or None, "signin_failed", login or None, ok=False)
            return None
        con.execute("UPDATE users SET last_login_at = ? WHERE login = ?", [utcnow(), row[0]])
        audit.log(con, row[0], "signin", row[0])
        return {"login": row[0], "role": row[2]}


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
        audit.log(con, actor, "password_changed", login)


def _ensure_admin_remains(con, login: str, role: str = "admin", active: bool = True) -> None:
    admins = {r[0] for r in con.execute("SELECT login FROM users WHERE role = 'admin' AND active").fetchall()}
    if admins == {login} and (role != "admin" or not active):
        raise InputError("Нельзя оставить систему без администратора")
