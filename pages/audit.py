"""Audit log (admin): filter, check integrity, export."""

from datetime import date, datetime, time, timedelta

import streamlit as st

from ledger import audit
import ui

user = ui.guard("audit")
db = ui.db()

st.title("Журнал действий")
verdict = ui.attempt(lambda: audit.verify(db))
if verdict is not None and not verdict.ok:
    st.error(verdict.message())
elif verdict is not None:
    st.caption("Целостность журнала проверена: записи не изменялись и не удалялись.")

c1, c2, c3 = st.columns(3)
action = c1.selectbox("Действие", [""] + list(audit.ACTIONS), format_func=lambda a: audit.ACTIONS.get(a, "все"),
                      key="action")
actor = c2.text_input("Пользователь", key="actor")
integration = c3.text_input("Интеграция", key="integration")
c4, c5, c6 = st.columns(3)
period = c4.date_input("Период", (date.today() - timedelta(days=30), date.today()), format="DD.MM.YYYY",
                       key="period")
text = c5.text_input("Поиск по тексту", key="text")
only_failed = c6.checkbox("Только неуспешные", key="only_failed")

since = until = None
if isinstance(period, (tuple, list)) and period:
    since = datetime.combine(period[0], time.min)
    until = datetime.combine(period[-1] + timedelta(days=1), time.min)
filters = dict(action=action or None, actor=actor.strip() or None, integration=integration.strip() or None,
               since=since, until=until, only_failed=only_failed, text=text)
rows = ui.attempt(lambda: audit.entries(db, limit=5000, **filters)) or []
st.caption(f"Записей: {len(rows)} (показаны последние 5000)")
ui.table([{
    "№": r["id"], "Когда (UTC)": r["happened_at"], "Кто": r["actor"], "Действие": audit.ACTIONS.get(r["action"], r["action"]),
    "Объект": audit.target_label(r["action"], r["target"]), "Успешно": "да" if r["ok"] else "нет", "Операция": r["operation"], "Сервер": r["host"],
    "Путь": r["path"], "Статус": r["status"], "мс": "" if r["duration_ms"] is None else str(r["duration_ms"]),
    "Байт": "" if r["bytes"] is None else str(r["bytes"]), "Ошибка": r["error"],
    "Подробности": audit.details_text(r["details"]),
} for r in rows])

fmt = st.radio("Формат выгрузки", ["xlsx", "csv"], horizontal=True, key="audit_fmt")
if st.button("Подготовить выгрузку", key="prepare_audit_export"):
    result = ui.attempt(lambda: audit.export_log(db, fmt, user["login"], **filters))
    st.session_state["audit_export"] = (result[0] if result else None, fmt)
ready = st.session_state.get("audit_export")
if ready and ready[0]:
    st.download_button("Скачать журнал", ready[0], file_name=f"журнал.{ready[1]}",
                       mime="text/csv" if ready[1] == "csv" else
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
