"""Monitoring (admin): health of every integration and the current alerts."""

import streamlit as st

from integrations import monitoring
import ui

user = ui.guard("monitoring")
db = ui.db()

st.title("Мониторинг")
alerts = ui.attempt(lambda: monitoring.alerts(db)) or []
if alerts:
    for a in alerts:
        (st.error if a.level == "ошибка" else st.warning)(ui.plain(a.text))
    if st.button("Отправить оповещения администратору", key="notify"):
        sent = ui.attempt(lambda: monitoring.notify_admin(db, alerts, actor=user["login"]))
        if sent:
            st.success(f"Отправлено оповещений: {sent}")
        elif sent == 0:
            st.info("Новых оповещений нет или не настроен канал с получателем оповещений (admin_recipient).")
else:
    st.success("Оповещений нет")


def _num(value, digits: int = 0) -> str:
    return "" if value is None else f"{value:.{digits}f}"


stats = ui.attempt(lambda: monitoring.integration_stats(db)) or []
st.subheader("Интеграции")
ui.table([{
    "Интеграция": s["name"], "Вид": s["kind_label"], "Включена": "да" if s["enabled"] else "нет",
    "Последний успех (UTC)": s["last_success"], "Последняя ошибка (UTC)": s["last_error_at"],
    "Текст ошибки": s["last_error"] or s["error"], "Обращений за 24 ч": str(s["calls_24h"]),
    "Доля ошибок, %": _num(None if s["error_rate_24h"] is None else 100 * s["error_rate_24h"], 1),
    "p50, мс": _num(s["p50_ms"]), "p95, мс": _num(s["p95_ms"]), "Следующий запуск (UTC)": s["next_run_at"],
} for s in stats])
st.caption("Время — UTC. Плановые запуски выполняет `coop integrations run` из cron.")
