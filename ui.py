"""Shared bits of the Streamlit pages: the page registry, the signed-in user, role checks, messages.

Pages stay thin: they call ledger/integrations and render. This module holds no business logic.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, TypeVar

import streamlit as st

from ledger import formats
from ledger.db import Database
from ledger.errors import DatabaseBusy, InputError, LedgerError
from ledger import users as users_
from ledger import vault
from ledger.users import PERSONAL_DATA_ROLES, ROLES

ALL_ROLES = ("admin", "accountant", "board")
STAFF = ("admin", "accountant")


@dataclass(frozen=True)
class Page:
    key: str
    path: str
    title: str
    icon: str
    roles: tuple[str, ...]
    section: str = "Учёт"


# Navigation: each page is shown to, and checks, exactly these roles.
PAGES = [
    Page("overview", "pages/overview.py", "Обзор", ":material/home:", ALL_ROLES),
    Page("members", "pages/members.py", "Реестр членов", ":material/groups:", STAFF),
    Page("statements", "pages/statements.py", "Банковские выписки", ":material/account_balance:", STAFF),
    Page("matching", "pages/matching.py", "Разнесение платежей", ":material/rule:", STAFF),
    Page("accruals", "pages/accruals.py", "Начисления", ":material/request_quote:", STAFF),
    Page("dashboard", "pages/dashboard.py", "Долги", ":material/monitoring:", ALL_ROLES),
    Page("reports", "pages/reports.py", "Отчёты", ":material/description:", ALL_ROLES),
    Page("notifications", "pages/notifications.py", "Уведомления", ":material/notifications:", STAFF),
    Page("cooperative", "pages/cooperative.py", "Кооператив", ":material/apartment:", STAFF, "Настройки"),
    Page("users", "pages/users.py", "Пользователи", ":material/manage_accounts:", ("admin",), "Настройки"),
    Page("integrations", "pages/integration_settings.py", "Интеграции", ":material/extension:", ("admin",), "Настройки"),
    Page("monitoring", "pages/monitoring.py", "Мониторинг", ":material/monitor_heart:", ("admin",), "Администрирование"),
    Page("audit", "pages/audit.py", "Журнал действий", ":material/history:", ("admin",), "Администрирование"),
    Page("backups", "pages/backups.py", "Резервные копии", ":material/backup:", ("admin",), "Администрирование"),
]
_BY_KEY = {p.key: p for p in PAGES}


# Streamlit has no Russian for its file uploader («Upload», «200MB per file»): the words are replaced by CSS.
_RUSSIAN_WIDGETS = f"""<style>
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p {{ font-size: 0; }}
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p::after {{
  content: "Выбрать файл"; font-size: 0.875rem; }}
[data-testid="stFileUploaderDropzoneInstructions"] span {{ font-size: 0; }}
[data-testid="stFileUploaderDropzoneInstructions"] span::after {{
  content: "или перетащите сюда · до {st.get_option('server.maxUploadSize')} МБ"; font-size: 0.875rem; }}
</style>"""


def russian_widgets() -> None:
    st.html(_RUSSIAN_WIDGETS)


def db(before_stop: Callable[[], object] | None = None) -> Database:
    """The ledger; the page stops with the reason when its file is not where COOP_DB says or its master key is
    lost or wrong (nothing is created). Only the usual data/coop.duckdb may be absent: the first start creates it.
    before_stop runs first (app.py hides the navigation there, or Streamlit would list the files of pages/)."""
    database = Database()
    try:
        if not database.is_default():
            database.require_file()
        vault.check_key(database)
    except DatabaseBusy:
        pass   # the page's first query says «База занята» the way it always does
    except LedgerError as exc:
        if before_stop is not None:
            before_stop()
        st.error(plain(str(exc)))
        st.stop()
    return database


@st.cache_resource(show_spinner=False)
def tidy_once(path: str) -> int:
    """Once per server process and database: remove the temporary originals an import killed half-way left."""
    from ledger import statements

    return statements.remove_stale_originals(Database(path))


def current_user() -> dict | None:
    return st.session_state.get("user")


# -- sessions that survive a reload (see server.py) ------------------------------------------------------

COOKIE = "coop_session"
SESSION_ROUTE = "/coop-session"
_GRANTS: dict[str, tuple[str, float]] = {}   # one-time code -> (session token, monotonic deadline)
_GRANTS_LOCK = threading.Lock()
GRANT_SECONDS = 60


def grant(token: str) -> str:
    """A one-time code the browser exchanges for the HttpOnly cookie: the token itself never reaches page scripts."""
    code = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _GRANTS_LOCK:
        for old in [c for c, (_, deadline) in _GRANTS.items() if deadline < now]:
            del _GRANTS[old]
        _GRANTS[code] = (token, now + GRANT_SECONDS)
    return code


def redeem(code: str) -> str | None:
    with _GRANTS_LOCK:
        token, deadline = _GRANTS.pop(code, (None, 0.0))
    return token if token and deadline >= time.monotonic() else None


def cookie_max_age() -> float:
    """The browser may forget the cookie after a day of inactivity limit; the ledger decides validity."""
    try:
        return users_.session_idle().total_seconds()
    except LedgerError:
        return 8 * 3600


def _route(name: str) -> str:
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return ("/" + base if base else "") + f"{SESSION_ROUTE}/{name}"


def _post(name: str, body: str = "") -> None:
    """POST to a session route from the browser (same origin, so the answer's cookie is kept)."""
    st.html(f"<script>fetch({_route(name)!r}, {{method: 'POST', body: {body!r}, credentials: 'same-origin'}})"
            f"</script>", unsafe_allow_javascript=True)


def signed_in(db: Database, user: dict) -> None:
    """After a successful sign-in: a server-side session and its cookie in the browser."""
    token = users_.start_session(db, user["login"], client=client_address())
    st.session_state["user"] = user
    st.session_state["session_token"] = token
    st.session_state["seen_at"] = time.monotonic()
    st.session_state["cookie_grant"] = grant(token)


def forget_cookie() -> None:
    _post("close")


def deliver_cookie() -> None:
    """Send the pending one-time code to the browser once (called on the first run after sign-in)."""
    code = st.session_state.pop("cookie_grant", None)
    if code:
        _post("open", code)


def resume(db: Database) -> dict | None:
    """A new browser session (a reload): the user of the session cookie, if it is still valid."""
    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this run (tests, bare mode)
        token = None
    if not isinstance(token, str) or not token:
        return None
    user = users_.resume_session(db, token)
    if user:
        st.session_state["user"] = user
        st.session_state["session_token"] = token
        st.session_state["seen_at"] = time.monotonic()
    return user


def sign_out(db: Database, notice: str | None = None) -> None:
    """«Выйти» (or inactivity): the session is revoked in the ledger and the cookie deleted."""
    user = current_user()
    try:
        users_.end_session(db, st.session_state.get("session_token"), actor=user["login"] if user else None)
    except LedgerError:
        pass  # the cookie still goes; the session would expire on its own
    st.session_state.clear()
    st.session_state["signed_out"] = notice or "Вы вышли из системы."


def client_address() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:  # no browser behind this run
        return None
    return address if isinstance(address, str) else None


def _still_active(db: Database) -> bool:
    """False when the tab was idle longer than the session limit; notes activity at most once a minute."""
    seen = st.session_state.get("seen_at")
    now = time.monotonic()
    try:
        idle = users_.session_idle().total_seconds()
    except LedgerError:
        idle = 8 * 3600
    if seen is not None and now - seen > idle:
        return False
    if seen is None or now - seen > 60:
        try:
            users_.touch_session(db, st.session_state.get("session_token"))
        except LedgerError:
            pass
    if seen is None or now - seen > 60:
        st.session_state["seen_at"] = now
    return True


def guard(page_key: str) -> dict:
    """The signed-in user if their role may open this page; otherwise a Russian notice and stop."""
    user = current_user()
    if not user:
        st.warning("Войдите в систему, чтобы открыть эту страницу.")
        st.stop()
    page = _BY_KEY[page_key]
    if not _still_active(db()):
        sign_out(db(), "Сеанс завершён после долгого бездействия. Войдите снова.")
        st.rerun()
    try:
        fresh = users_.current_role(db(), user["login"])
    except LedgerError as exc:
        st.error(plain(str(exc)))
        st.stop()
    if fresh is None:
        # Disabled or removed since sign-in: the session ends now, not at the next sign-in.
        st.session_state.pop("user", None)
        st.warning("Учётная запись отключена. Войдите снова.")
        st.stop()
    if fresh != user["role"]:
        user = {**user, "role": fresh}
        st.session_state["user"] = user
    if user["role"] not in page.roles:
        st.error(f"Раздел «{page.title}» недоступен для роли «{ROLES.get(user['role'], user['role'])}».")
        st.stop()
    flash()
    return user


def can_see_personal_data(user: dict) -> bool:
    return user["role"] in PERSONAL_DATA_ROLES


def can_edit(user: dict) -> bool:
    return user["role"] in STAFF


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=^&])")
# Streamlit links bare addresses (https://…, www.…, name@host) even in escaped text: an invisible word joiner
# (U+2060) inside each keeps them text.
_AUTOLINK = re.compile(r"(?i)(?<=https)(?=:)|(?<=http)(?=:)|(?<=ftp)(?=:)|(?<=www)(?=\.)|(?=@)")


def plain(value: Any) -> str:
    """Text from data (purposes, names, file names, messages quoting them) as literal characters inside
    Streamlit's Markdown: no links, images, emphasis, colours or formulas can come out of it."""
    text = _AUTOLINK.sub("\u2060", "" if value is None else str(value))
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", "  \n")


BLANK = "—"          # what an empty cell of ui.table shows
STYLED_ROWS = 5000   # larger tables get Streamlit's own column formats (a Styler renders every cell in Python)


def _kind(values: list) -> str | None:
    sample = next((v for v in values if v is not None and v == v and v != ""), None)
    if isinstance(sample, datetime):
        return "moment"
    if isinstance(sample, date):
        return "day"
    if isinstance(sample, (Decimal, float)) and not isinstance(sample, bool):
        return "number"
    return None


def table(rows: list[dict], money: tuple[str, ...] | list[str] = (), columns: list[str] | None = None,
          **kwargs: Any) -> None:
    """A read-only table in Russian formats that still sorts by value: dates ДД.ММ.ГГГГ, money «1 234,56 ₽»
    (the `money` columns) right-aligned, other decimals with a decimal comma, «—» instead of None."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        st.dataframe(frame, hide_index=True, width="stretch", **kwargs)
        return
    kinds = {c: "money" if c in money else _kind(frame[c].tolist()) for c in frame.columns}
    for c, kind in kinds.items():
        if kind == "money":
            frame[c] = [None if v is None or v == "" else Decimal(v) for v in frame[c]]
    if len(frame) <= STYLED_ROWS:
        show = {"day": formats.day, "moment": formats.moment, "number": formats.number}
        fmt = {c: (formats.money if "₽" in str(c) else formats.rub) if kind == "money" else show[kind]
               for c, kind in kinds.items() if kind}
        # A blank is «—»: the browser draws a null cell as a grey «None» whatever its display value says, so
        # text and date columns get "" there (dates then sort as their ISO text, which is the same order).
        for c, kind in kinds.items():
            if kind in (None, "day", "moment") and frame[c].isna().any():
                frame[c] = ["" if v is None or v != v else v for v in frame[c]]
        blank = lambda f: (lambda v: BLANK if v is None or v != v or v == "" else f(v))  # noqa: E731
        data = frame.style.format({c: blank(fmt.get(c, str)) for c in frame.columns}, na_rep=BLANK)
        st.dataframe(data, hide_index=True, width="stretch", **kwargs)
        return
    config = {}
    for c, kind in kinds.items():
        if kind == "money":
            config[c] = st.column_config.NumberColumn(c, format=formats.MONEY_COLUMN_FORMAT)
        elif kind == "day":
            config[c] = st.column_config.DateColumn(c, format=formats.DATE_COLUMN_FORMAT)
        elif kind == "moment":
            config[c] = st.column_config.DatetimeColumn(c, format=formats.MOMENT_COLUMN_FORMAT)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config, **kwargs)


T = TypeVar("T")


def show_error(exc: LedgerError) -> None:
    """A red message in plain text; the problems of a bad file as a list, one per line (each names its row)."""
    problems = exc.problems if isinstance(exc, InputError) else [str(exc)]
    lines = [plain(line) for line in problems[:50]]
    if len(problems) > 50:
        lines.append(f"… и ещё {len(problems) - 50}")
    st.error("\n".join(f"- {line}" for line in lines) if len(lines) > 1 else lines[0])
    if getattr(exc, "hint", None):
        st.info(plain(exc.hint))


def attempt(action: Callable[[], T], success: str | None = None) -> T | None:
    """Run a ledger action; a LedgerError becomes a red message (never a traceback)."""
    try:
        result = action()
    except LedgerError as exc:
        show_error(exc)
        return None
    if success:
        st.success(plain(success))
    return result


def statement_downloads(db: Database, member: dict, user: dict) -> None:
    """The member card's акт сверки: a period and .xlsx / PDF downloads (each logged as a personal-data export)."""
    from datetime import date

    from ledger import audit, debts

    c1, c2 = st.columns(2)
    start = c1.date_input("С", value=date.today().replace(month=1, day=1), format="DD.MM.YYYY", key="st_from")
    end = c2.date_input("По", value=date.today(), format="DD.MM.YYYY", key="st_to")
    s = attempt(lambda: debts.statement(db, member["id"], start, end))
    if s is None:
        return
    st.caption(f"Сальдо на начало {formats.rub(s.opening)}, начислено {formats.rub(s.charged)}, "
               f"пени {formats.rub(s.penalties)}, оплачено {formats.rub(s.paid)}, "
               f"сальдо на конец {formats.rub(s.closing)}")
    name = f"акт-сверки-{member['reg_no']}-{end:%Y%m%d}"

    def built(make: Callable[[Any], bytes]) -> Callable[[], bytes]:
        """The file is made (and the personal-data export logged) only when its button is pressed."""
        def build() -> bytes:
            audit.record(db, user["login"], "export_personal_data", name, what=f"акт сверки л/с {member['reg_no']}")
            return make(s)
        return build

    d1, d2 = st.columns(2)
    d1.download_button("Акт сверки .xlsx", built(debts.statement_xlsx), file_name=f"{name}.xlsx", key="st_xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore")
    d2.download_button("Акт сверки PDF", built(debts.statement_pdf), file_name=f"{name}.pdf", key="st_pdf",
                       mime="application/pdf", on_click="ignore")


def done(action: Callable[[], object], success: str | None = None, rerun: bool = False) -> bool:
    """Like attempt, for actions that return nothing: True when it succeeded. rerun: reload the page after
    success, the message shown at the top of the reloaded page (see flash)."""
    try:
        action()
    except LedgerError as exc:
        show_error(exc)
        return False
    if rerun:
        if success:
            st.session_state["flash"] = success
        st.rerun()
    if success:
        st.success(plain(success))
    return True


def flash() -> None:
    """The success message of the action that reloaded the page."""
    message = st.session_state.pop("flash", None)
    if message:
        st.success(plain(message))
