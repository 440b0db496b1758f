"""Payment matching: counters, the review queue, confirm / another member / reject / split, bulk confirm."""

import streamlit as st

from ledger import matching, members
from ledger.formats import day, rub
import ui

user = ui.guard("matching")
db = ui.db()
actor = user["login"]

st.title("Разнесение платежей")

counts = matching.counters(db)
cols = st.columns(5)
for col, (key, label) in zip(cols, [("auto", "Автоматически"), ("suggested", "Предложено"),
                                    ("unmatched", "Не разнесено"), ("manual", "Решено вручную"),
                                    ("new", "Новые")]):
    col.metric(label, counts.get(key, 0))

def done(action, message: str) -> None:
    """Run a decision; on success the page reloads with the message on top."""
    ui.done(action, message, rerun=True)


if st.button("Разнести новые платежи", key="run_match", type="primary"):
    bar = st.progress(0.0, text="Разнесение…")
    summary = ui.attempt(lambda: matching.match_payments(
        db, actor=actor, progress=lambda f, t: bar.progress(min(max(f, 0.0), 1.0), text=ui.plain(t))))
    if summary is not None:
        st.session_state["flash"] = (
            f"Разобрано {summary['total']}: автоматически {summary['auto']}, предложено {summary['suggested']}, "
            f"не разнесено {summary['unmatched']}")
        st.rerun()

# -- the queue ----------------------------------------------------------------------------------
st.subheader("Очередь на проверку")
c1, c2 = st.columns([2, 3])
statuses = c1.multiselect("Статус", list(matching.STATUSES), default=["suggested", "unmatched"],
                          format_func=matching.STATUSES.get, key="queue_statuses")
search = c2.text_input("Поиск: плательщик, назначение, № документа", key="queue_search")
queue = ui.attempt(lambda: matching.review_queue(db, statuses, search)) or []
st.caption(f"Платежей в очереди: {len(queue)}")


def _who(c: dict) -> str:
    return f"л/с {c['reg_no']} — {c['full_name']} ({float(c['confidence']):.0%})"


def _candidates(r: dict) -> str:
    """The proposed member; for a tie (unmatched with candidates) every tied candidate."""
    if not r["candidates"]:
        return "—"
    if r["member_id"] is None and len(r["candidates"]) > 1:
        return "несколько: " + " / ".join(_who(c) for c in r["candidates"])
    return _who(r["candidates"][0])


# The key columns first: at 1440 px the candidate and the reason are visible without scrolling sideways.
ui.table([{
    "Дата": r["doc_date"], "Сумма": r["amount"], "Кандидат": _candidates(r), "Причина": r["reason"],
    "Статус": matching.STATUSES.get(r["status"], r["status"]), "Плательщик": r["payer_name"],
    "Назначение": r["purpose"], "№": r["doc_number"],
} for r in queue], money=["Сумма"], columns=["Дата", "Сумма", "Кандидат", "Причина", "Статус", "Плательщик",
                                             "Назначение", "№"])

proposed = [r["payment_id"] for r in queue if r["status"] == "suggested" and r["member_id"] is not None]
if proposed and st.button(f"Подтвердить предложенных членов для всех показанных ({len(proposed)})",
                          key="bulk_confirm"):
    n = ui.attempt(lambda: matching.confirm_many(db, proposed, actor))
    if n is not None:
        st.session_state["flash"] = f"Подтверждено: {n}"
        st.rerun()

# -- one payment --------------------------------------------------------------------------------
if queue:
    labels = {r["payment_id"]: f"{day(r['doc_date'])} · {rub(r['amount'])} · {r['payer_name'] or '—'}" for r in queue}
    chosen = st.selectbox("Платёж", list(labels), format_func=labels.get, index=None,
                          placeholder="Выберите платёж из очереди", key="queue_payment")
    row = next((r for r in queue if r["payment_id"] == chosen), None)
    if row is not None:
        st.markdown(f"**Плательщик:** {ui.plain(row['payer_name'] or '—')}  \n"
                    f"**Назначение:** {ui.plain(row['purpose'] or '—')}  \n"
                    f"**Сумма:** {rub(row['amount'])}, документ № {ui.plain(row['doc_number'] or '—')} "
                    f"от {day(row['doc_date'])}  \n"
                    f"**Решение:** {matching.STATUSES.get(row['status'], row['status'])} — {ui.plain(row['reason'])}")
        st.markdown("**Кандидаты**")
        for i, c in enumerate(row["candidates"]):
            a, b = st.columns([4, 1])
            a.markdown(ui.plain(f"{_who(c)}: {c['reason']}"))
            if b.button("Подтвердить", key=f"confirm_{row['payment_id']}_{c['member_id']}", type="primary" if i == 0
                        else "secondary"):
                done(lambda: matching.confirm(db, row["payment_id"], c["member_id"], actor),
                     f"Платёж от {day(row['doc_date'])} на {rub(row['amount'])} разнесён на л/с {c['reg_no']}")
        if not row["candidates"]:
            st.info("Кандидатов нет: найдите члена ниже или отклоните платёж.")

        st.markdown("**Другой член**")
        who = st.text_input("Поиск члена: ФИО, л/с, участок", key="member_search")
        found = members.list_members(db, who) if who.strip() else []
        options = {m["id"]: f"л/с {m['reg_no']} — {m['full_name']}" for m in found[:50]}
        other = st.selectbox("Найденные члены", list(options), format_func=options.get, index=None,
                             placeholder="Выберите члена", key="member_pick")
        if other is not None and st.button("Разнести на выбранного члена", key="confirm_other"):
            done(lambda: matching.confirm(db, row["payment_id"], other, actor),
                 f"Платёж от {day(row['doc_date'])} на {rub(row['amount'])} разнесён: {options[other]}")

        with st.expander("Разделить платёж между членами"):
            parts_n = st.number_input("Сколько членов", min_value=2, max_value=6, value=2, key="split_n")
            with st.form(f"split_{row['payment_id']}"):
                parts = []
                for i in range(int(parts_n)):
                    p1, p2 = st.columns([3, 1])
                    reg_no = p1.text_input(f"Л/с члена {i + 1}", key=f"split_reg_{i}")
                    amount = p2.text_input(f"Сумма {i + 1}", key=f"split_amount_{i}")
                    parts.append((reg_no.strip(), amount))
                if st.form_submit_button("Разделить"):
                    resolved = []
                    for reg_no, amount in parts:
                        member = members.find_by_reg_no(db, reg_no) if reg_no else None
                        resolved.append((member["id"] if member else -1, amount))
                    if any(mid == -1 for mid, _ in resolved):
                        st.error("Укажите существующие номера л/с всех членов")
                    else:
                        done(lambda: matching.split(db, row["payment_id"], resolved, actor),
                             f"Платёж на {rub(row['amount'])} разделён между членами: {len(resolved)}")

        note = st.text_input("Причина отказа (необязательно)", key="reject_note")
        if st.button("Отклонить: платёж не от члена", key="reject"):
            done(lambda: matching.reject(db, row["payment_id"], actor, note or None),
                 f"Платёж от {day(row['doc_date'])} на {rub(row['amount'])} отклонён: не от члена")
        if row["status"] == "manual" and st.button("Вернуть на автоматическое разнесение", key="reopen"):
            done(lambda: matching.reopen(db, row["payment_id"], actor),
                 "Платёж возвращён на автоматическое разнесение")
