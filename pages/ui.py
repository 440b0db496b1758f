"""Shared bits of the Streamlit pages: the page registry, the signed-in user, role checks, messages.

Pages stay thin: they call ledger/integrations and render. This module holds no business logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, TypeVar

import streamlit as st

from ledger.db import Database
from ledger.errors import LedgerError
from ledger import users as users_
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
    Page("notifications", "pages/notifications.py", "Уведомления", ":material/notifications:", STAFF),
    Page("cooperative", "pages/cooperative.py", "Кооператив", ":material/apartment:", STAFF, "Настройки"),
    Page("users", "pages/users.py", "Пользователи", ":material/manage_accounts:", ("admin",), "Настройки"),
    Page("integrations", "pages/integration_settings.py", "Интеграции", ":material/extension:", ("admin",), "Настройки"),
    Page("monitoring", "pages/monitoring.py", "Мониторинг", ":material/monitor_heart:", ("admin",), "Администрирование"),
    Page("audit", "pages/audit.py", "Журнал действий", ":material/history:", ("admin",), "Администрирование"),
]
_BY_KEY = {p.key: p for p in PAGES}


def db() -> Database:
    return Database()


def current_user() -> dict | None:
    return st.session_state.get("user")


def guard(page_key: str) -> dict:
    """The signed-in user if their role may open this page; otherwise a Russian notice and stop."""
    user = current_user()
    if not user:
        st.warning("Войдите в систему, чтобы открыть эту страницу.")
        st.stop()
    page = _BY_KEY[page_key]
    try:
        fresh = users_.current_role(db(), user["login"])
    except LedgerError as exc:
        st.error(str(exc))
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
    return user


def can_see_personal_data(user: dict) -> bool:
    return user["role"] in PERSONAL_DATA_ROLES


def can_edit(user: dict) -> bool:
    return user["role"] in STAFF


def _display(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return value


def table(rows: list[dict], **kwargs: Any) -> None:
    """A read-only table with Russian date format and blanks instead of None."""
    shown = [{k: _display(v) for k, v in r.items()} for r in rows]
    st.dataframe(shown, hide_index=True, use_container_width=True, **kwargs)


T = TypeVar("T")


def attempt(action: Callable[[], T], success: str | None = None) -> T | None:
    """Run a ledger action; a LedgerError becomes a red message (never a traceback)."""
    try:
        result = action()
    except LedgerError as exc:
        st.error(str(exc))
        return None
    if success:
        st.success(success)
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
    st.caption(f"Сальдо на начало {s.opening:,.2f} ₽, начислено {s.charged:,.2f} ₽, пени {s.penalties:,.2f} ₽, "
               f"оплачено {s.paid:,.2f} ₽, сальдо на конец {s.closing:,.2f} ₽".replace(",", " "))
    name = f"акт-сверки-{member['reg_no']}-{end:%Y%m%d}"
    log = lambda: audit.record(db, user["login"], "export_personal_data", name,  # noqa: E731
                               what=f"акт сверки л/с {member['reg_no']}")
    d1, d2 = st.columns(2)
    d1.download_button("Акт сверки .xlsx", debts.statement_xlsx(s), file_name=f"{name}.xlsx", key="st_xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click=log)
    d2.download_button("Акт сверки PDF", debts.statement_pdf(s), file_name=f"{name}.pdf", key="st_pdf",
                       mime="application/pdf", on_click=log)


def done(action: Callable[[], object], success: str | None = None) -> bool:
    """Like attempt, for actions that return nothing: True when it succeeded."""
    try:
        action()
    except LedgerError as exc:
        st.error(str(exc))
        return False
    if success:
        st.success(success)
    return True
