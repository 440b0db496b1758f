"""Notifications (staff): rules with their templates and a preview, what will be sent with counts and cost and
a send button with progress, and the delivery log with filters."""

import streamlit as st

from integrations import notify as sender
from ledger import notify
import ui

user = ui.guard("notifications")
db = ui.db()

st.title("Уведомления")
tab_rules, tab_send, tab_log = st.tabs(["Правила и шаблоны", "Что будет отправлено", "Журнал доставки"])

with tab_rules:
    rules = ui.attempt(lambda: notify.rules(db)) or []
    ui.table([{"№": r["id"], "Название": r["name"], "Событие": notify.TRIGGERS.get(r["trigger"], r["trigger"]),
               "Включено": "да" if r["enabled"] else "нет", "Долг больше, ₽": r["min_debt"],
               "Просрочка больше, дней": r["min_days_overdue"], "Каналы по порядку": r["channels"],
               "Повтор, дней": r["repeat_days"], "Не больше в месяц": r["max_per_month"],
               "Тихие часы": f"{r['quiet_from']:02d}:00–{r['quiet_to']:02d}:00"} for r in rules])
    options = {"new": "Новое правило"} | {str(r["id"]): f"{r['id']}. {r['name']}" for r in rules}
    chosen = st.selectbox("Правило", list(options), format_func=options.get, key="rule")
    current = next((r for r in rules if str(r["id"]) == chosen), None)
    trigger_default = current["trigger"] if current else "debt"
    with st.form("rule_form"):
        name = st.text_input("Название", value=current["name"] if current else "", key="r_name")
        trigger = st.selectbox("Событие", list(notify.TRIGGERS), format_func=notify.TRIGGERS.get,
                               index=list(notify.TRIGGERS).index(trigger_default), key="r_trigger")
        enabled = st.checkbox("Включено", value=bool(current["enabled"]) if current else True, key="r_enabled")
        c1, c2, c3 = st.columns(3)
        min_debt = c1.text_input("Долг больше, ₽", value=str(current["min_debt"]) if current else "0", key="r_min_debt")
        min_days = c2.number_input("Просрочка больше, дней", 0, 36500,
                                   value=int(current["min_days_overdue"]) if current else 0, key="r_min_days")
        contribution = c3.text_input("Только взнос (код)", value=(current or {}).get("contribution") or "",
                                     key="r_contribution")
        channels = st.text_input("Каналы по порядку (через запятую)", key="r_channels",
                                 value=current["channels"] if current else "telegram,smtp,smsru",
                                 help="smtp — почта, smsru и smsc — SMS, telegram — Telegram, max — MAX")
        statuses = st.text_input("Статусы членов", value=current["statuses"] if current else "member", key="r_statuses")
        c4, c5, c6, c7 = st.columns(4)
        repeat = c4.number_input("Повтор, дней", 1, 3650, value=int(current["repeat_days"]) if current else 14,
                                 key="r_repeat")
        per_month = c5.number_input("Не больше в месяц", 1, 31, value=int(current["max_per_month"]) if current else 2,
                                    key="r_per_month")
        quiet_from = c6.number_input("Тихие часы с", 0, 23, value=int(current["quiet_from"]) if current else 21,
                                     key="r_quiet_from")
        quiet_to = c7.number_input("до", 0, 23, value=int(current["quiet_to"]) if current else 9, key="r_quiet_to")
        default_subject = notify.DEFAULT_PAYMENT_SUBJECT if trigger_default == "payment" else notify.DEFAULT_DEBT_SUBJECT
        default_body = notify.DEFAULT_PAYMENT_BODY if trigger_default == "payment" else notify.DEFAULT_DEBT_BODY
        subject = st.text_input("Тема (шаблон Jinja2)", value=current["subject"] if current else default_subject,
                                key="r_subject")
        body = st.text_area("Текст (шаблон Jinja2)", value=current["body"] if current else default_body, height=180,
                            key="r_body", help="Поля: member.full_name, member.short_name, member.reg_no, debt.total, "
                                               "debt.principal, debt.penalty, debt.oldest_due, debt.days_overdue, "
                                               "payment.amount, payment.date, coop.name, purpose, as_of, "
                                               "channel, link (ссылка на бота, к которому член ещё не "
                                               "подключён), telegram_link, max_link")
        default_short = notify.DEFAULT_PAYMENT_SHORT if trigger_default == "payment" else notify.DEFAULT_DEBT_SHORT
        short_body = st.text_area("Короткий текст для SMS, Telegram и MAX (шаблон Jinja2)", height=80, key="r_short",
                                  value=(current.get("short_body") or "") if current else default_short,
                                  help="Только л/с, сумма и срок оплаты — без ФИО, адреса и разбивки долга "
                                       "(152-ФЗ). Пусто — уходит полный текст.")
        attach = st.checkbox("Прикладывать к письму акт сверки (PDF)",
                             value=bool(current["attach_statement"]) if current else False, key="r_attach")
        b1, b2 = st.columns(2)
        show_preview = b1.form_submit_button("Предпросмотр")
        save = b2.form_submit_button("Сохранить правило", disabled=not ui.can_edit(user))
    if show_preview:
        first_channel = (channels.split(",")[0].strip() or "smtp") if channels else "smtp"
        shown = ui.attempt(lambda: notify.preview(db, trigger, subject, body, bots=sender.bots(db),
                                                  channel=first_channel))
        if shown:
            st.caption(ui.plain(f"Данные: {shown[0]}"))
            st.markdown(f"**{ui.plain(shown[1])}**")
            st.text(shown[2])
            if short_body.strip():
                short = ui.attempt(lambda: notify.preview(db, trigger, subject, short_body))
                if short:
                    st.caption("SMS и мессенджеры:")
                    st.text(short[2])
        for warning in notify.template_warnings(channels, body, short_body):
            st.warning(ui.plain(warning))
    if save:
        values = {"name": name, "trigger": trigger, "enabled": enabled, "min_debt": min_debt,
                  "min_days_overdue": min_days, "contribution": contribution, "channels": channels,
                  "statuses": statuses, "repeat_days": repeat, "max_per_month": per_month, "quiet_from": quiet_from,
                  "quiet_to": quiet_to, "subject": subject, "body": body, "short_body": short_body,
                  "attach_statement": attach}
        saved = ui.attempt(lambda: notify.save_rule(db, values, None if current is None else current["id"],
                                                    actor=user["login"]))
        if saved:
            st.success(ui.plain(f"Правило {saved} сохранено"))
            for warning in notify.template_warnings(channels, body, short_body):
                st.warning(ui.plain(warning))

with tab_send:
    if st.button("Запланировать по правилам", key="plan", disabled=not ui.can_edit(user)):
        planned = ui.attempt(lambda: sender.plan(db, actor=user["login"]))
        if planned is not None:
            st.success(f"Запланировано: {planned.summary()}")
            if planned.no_consent:
                st.info("Пропущены из-за отсутствия согласия на канал (члены): "
                        + ", ".join(f"{ch} — {n}" for ch, n in sorted(planned.no_consent.items()))
                        + ". Согласия вносятся в карточке члена или колонками реестра.")
    forecast = ui.attempt(lambda: sender.forecast(db, actor=user["login"])) or []
    if forecast:
        ui.table([{"Канал": f["title"], "Сообщений": f["messages"],
                   "SMS-частей": "" if f["segments"] is None else f["segments"],
                   "Стоимость, ₽": "" if f["cost"] is None else f"{f['cost']:.2f}",
                   "Примечание": f.get("error", "")} for f in forecast])
        total = sum(f["messages"] for f in forecast)
        st.caption(f"Всего к отправке сейчас: {total}")
        if st.button(f"Отправить {total}", key="send", type="primary", disabled=not ui.can_edit(user)):
            bar = st.progress(0.0, text="Отправка…")
            result = ui.attempt(lambda: sender.send(
                db, actor=user["login"], progress=lambda done, all_: bar.progress(done / all_, text=f"{done} из {all_}")))
            if result is not None:
                bar.progress(1.0, text="Готово")
                st.success(result.summary())
    else:
        st.info("Сейчас отправлять нечего (или идут тихие часы, или не включён ни один канал).")

with tab_log:
    c1, c2, c3 = st.columns(3)
    status_filter = c1.selectbox("Статус", ["", *notify.STATUSES], key="log_status",
                                 format_func=lambda s: notify.STATUSES.get(s, "все"))
    channel_filter = c2.selectbox("Канал", ["", "smtp", "smsru", "telegram", "max"], key="log_channel",
                                  format_func=lambda c: c or "все")
    search = c3.text_input("Л/с или тема", key="log_search")
    rows = ui.attempt(lambda: notify.log_rows(db, status_filter or None, channel_filter or None, search)) or []
    ui.table([{c.title: r.get(c.key) for c in notify.LOG_COLUMNS} for r in rows])
    st.caption(f"Записей: {len(rows)}")
