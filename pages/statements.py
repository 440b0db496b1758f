"""Bank statements: upload several files, see format, period and first rows, import; the loaded list, delete;
statements straight from the bank's API: a sync button and a status line per source."""

import hashlib

import streamlit as st

from integrations.banks import api as bank_api
from integrations.monitoring import local_offset
from ledger import statements
from ledger.bankformats import MAX_STATEMENT_BYTES
from ledger.formats import count, day, money as rub, rub as rub_sign
import ui

user = ui.guard("statements")
db = ui.db()


def period(r) -> str:
    if r["period_from"] and r["period_to"]:
        return f"{day(r['period_from'])} – {day(r['period_to'])}"
    return "—"


st.title("Банковские выписки")
tab_upload, tab_list, tab_bank = st.tabs(["Загрузка", "Загруженные выписки", "Из банка"])

# -- upload -------------------------------------------------------------------------------------------
with tab_upload:
    st.caption("1С (kl_to_1c.txt), Excel Сбербанк Бизнес, ВТБ и других банков (.xlsx, .xls), CSV, camt.053 (XML), "
               f"MT940 — до {MAX_STATEMENT_BYTES // 2**20} МБ. Формат определяется по содержимому файла. "
               "Платёж, который уже есть в базе (из этого же файла или из выписки в другом формате), "
               "второй раз не добавляется.")
    allow_currency = st.checkbox("Загружать валютные выписки (их платежи не разносятся по членам и не входят в долги)",
                                 key="allow_currency")
    uploads = st.file_uploader("Файлы выписок", accept_multiple_files=True, key="statement_files")
    cache = st.session_state.setdefault("parsed_statements", {})
    ready = []
    for upload in uploads or []:
        data = upload.getvalue()
        sha = (hashlib.sha256(data).hexdigest(), allow_currency)
        parsed = cache.get(sha)
        if parsed is None:
            reading = st.progress(0.0, text=ui.plain(f"Чтение {upload.name}…"))
            parsed = ui.attempt(lambda: statements.parse(
                db, data, upload.name, progress=lambda f, t: reading.progress(min(f / 0.6, 1.0), text=ui.plain(t)),
                allow_currency=allow_currency))
            reading.empty()
            if parsed is None:
                continue
            cache[sha] = parsed
        with st.container(border=True):
            st.markdown(f"**{ui.plain(upload.name)}** — {parsed.format_label}")
            accounts = statements.statement_accounts(parsed)
            currency = ", ".join(parsed.currencies) or "RUB"
            unit = "₽" if currency == "RUB" else currency
            total_in = rub_sign(parsed.total("in")) if unit == "₽" else f"{rub(parsed.total('in'))} {unit}"
            total_out = rub_sign(parsed.total("out")) if unit == "₽" else f"{rub(parsed.total('out'))} {unit}"
            st.markdown(f"{'Счета' if len(accounts) > 1 else 'Счёт'} **{ui.plain(', '.join(accounts) or '—')}**, "
                        f"период **{period(vars(parsed))}**; "
                        f"поступлений {parsed.incoming} на {total_in}, списаний {parsed.outgoing} на {total_out}")
            if parsed.foreign:
                st.info(f"Валютная выписка ({', '.join(parsed.foreign)}): платежи сохраняются, но не разносятся по "
                        f"членам и не входят в долги.")
            for warning in parsed.warnings:
                st.warning(ui.plain(warning))
            ui.table([{
                "Строка": p.line, "Дата": p.doc_date, "№": p.doc_number,
                "Приход": p.amount if p.direction == "in" else None, "Расход": p.amount if p.direction == "out" else None,
                "Плательщик / получатель": p.payer_name if p.direction == "in" else p.payee_name,
                "Назначение": p.purpose,
            } for p in parsed.head(10)], money=["Приход", "Расход"])
            if len(parsed) > 10:
                st.caption(f"Показаны первые 10 из {len(parsed)} платежей")
        ready.append((upload.name, data, parsed))
    if ready and st.button(f"Загрузить выписки: {len(ready)}", type="primary", key="do_import"):
        bar = st.progress(0.0, text="Загрузка…")
        for i, (name, data, parsed) in enumerate(ready):
            result = ui.attempt(lambda: statements.import_statement(
                db, data, name, actor=user["login"], parsed=parsed, allow_currency=allow_currency,
                progress=lambda f, t: bar.progress(min((i + f) / len(ready), 1.0), text=ui.plain(f"{name}: {t}"))))
            if result is not None:
                st.success(ui.plain(f"{name}: {result.summary()}"))
                if result.notice():
                    st.info(result.notice())
        bar.progress(1.0, text="Готово")
        cache.clear()

# -- loaded statements ------------------------------------------------------------------------------
with tab_list:
    rows = ui.attempt(lambda: statements.list_statements(db)) or []
    totals = statements.payment_totals(db)
    # The metrics add up the listed statements; the ledger's own count (each payment once, however many
    # statements brought it) is said below.
    roubles = [r for r in rows if not r["foreign"]]   # a currency account's amounts are no roubles
    listed_in, listed_out = sum(r["docs_in"] or 0 for r in roubles), sum(r["docs_out"] or 0 for r in roubles)
    c1, c2, c3 = st.columns(3)
    c1.metric("Выписок", len(rows))
    c2.metric("Поступления по выпискам", rub_sign(sum((r["total_in"] or 0 for r in roubles), 0)),
              help=count(listed_in, "поступление", "поступления", "поступлений") + " (рублёвые выписки)")
    c3.metric("Списания по выпискам", rub_sign(sum((r["total_out"] or 0 for r in roubles), 0)),
              help=count(listed_out, "списание", "списания", "списаний") + " (рублёвые выписки)")
    if rows:
        st.caption(f"В базе каждый платёж один раз, даже если он есть в нескольких выписках: "
                   f"{count(totals['in'], 'поступление', 'поступления', 'поступлений')} на {rub_sign(totals['sum_in'])}, "
                   f"{count(totals['out'], 'списание', 'списания', 'списаний')} на {rub_sign(totals['sum_out'])}.")
    if not rows:
        st.info("Выписок пока нет. Загрузите их на вкладке «Загрузка».")
    else:
        ui.table([{
            "№": r["id"], "Файл": r["file_name"], "Формат": r["format_label"],
            "Счёт": (r["accounts"] or r["our_account"] or "").replace(",", ", "),
            # a currency statement's sums are not roubles: they stand in its «Валюта» cell, not the ₽ columns
            "Валюта": (f"{', '.join(r['foreign'])} — не разносится; поступления {rub(r['total_in'] or 0)}, "
                       f"списания {rub(r['total_out'] or 0)} {', '.join(r['foreign'])}") if r["foreign"] else "₽",
            "Период": period(r), "Поступлений": r["docs_in"], "На сумму": None if r["foreign"] else r["total_in"],
            "Списаний": r["docs_out"], "На сумму ": None if r["foreign"] else r["total_out"],
            "Новых платежей": r["docs_new"],
            "Загружена": r["imported_at"], "Кем": r["imported_by"],
        } for r in rows], money=["На сумму", "На сумму "])
        options = {r["id"]: f"№ {r['id']} — {r['file_name']} ({period(r)})" for r in rows}
        chosen = st.selectbox("Удалить выписку", list(options), format_func=options.get, index=None,
                              placeholder="Выберите выписку", key="delete_statement")
        if chosen is not None:
            st.warning("Платежи выписки удаляются вместе с ней, кроме тех, что есть и в другой загруженной выписке; "
                       "разнесение удалённых платежей тоже удаляется.")
            sure = st.checkbox(ui.plain(f"Да, удалить {options[chosen]}"), key="confirm_delete")
            if st.button("Удалить выписку", disabled=not sure, key="do_delete"):
                outcome = ui.attempt(lambda: statements.delete_statement(db, chosen, user["login"]))
                if outcome is not None:
                    st.session_state["flash"] = (
                        f"Выписка удалена: платежей удалено {outcome['deleted']}, "
                        f"оставлено (есть в другой выписке) {outcome['kept']}")
                    st.rerun()

# -- straight from the bank (API) -------------------------------------------------------------------------


def when(value) -> str:
    """A stored UTC moment in the cooperative's time."""
    if value is None:
        return "—"
    from datetime import timezone

    return value.replace(tzinfo=timezone.utc).astimezone(local_offset()).strftime("%d.%m.%Y %H:%M")


with tab_bank:
    notice = st.session_state.pop("bank_sync_notice", None)
    if notice:
        st.success(notice)
    sources = ui.attempt(lambda: bank_api.status(db)) or []
    if not sources:
        st.info("Банк с API не подключён. Администратор подключает его на странице «Интеграции» (open_banking — "
                "Точка) или командой coop integrations configure open_banking account=… bic=… token=…")
    for row in sources:
        with st.container(border=True):
            st.markdown(f"**{row['title']}** ({row['name']}){'' if row['enabled'] else ' — отключена'}")
            parts = [f"последняя синхронизация: {when(row['last_sync_at'])}"]
            if row["last_result"] and not row["last_error"]:
                parts.append(row["last_result"])
            if row["interval_minutes"]:
                parts.append(f"следующая: {when(row['next_run_at'])} (каждые {row['interval_minutes']} мин)")
            else:
                parts.append("по расписанию не запускается")
            if row["token_expires_at"]:
                parts.append(f"авторизация действует до {when(row['token_expires_at'])}")
            st.markdown("; ".join(parts), help="Время — по часовому поясу кооператива")
            if row["last_error"]:
                st.error(ui.plain(f"Последняя ошибка: {row['last_error']}"))
            if st.button("Загрузить из банка", key=f"bank_sync_{row['name']}", disabled=not row["enabled"]):
                with st.spinner("Запрос выписки в банке…"):
                    results = bank_api.sync_sources(db, row["name"], actor=user["login"])
                for name, result, error in results:
                    if result is not None:
                        st.session_state["bank_sync_notice"] = (
                            f"{name}: {result.summary()}. Новые поступления ждут проверки на странице «Разнесение».")
                st.rerun()   # a failure is recorded and shown as the source's last error
