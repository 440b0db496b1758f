"""The member register: search, filters, member card with history, add and edit, import, export."""

from datetime import date

import streamlit as st

from integrations import notify as sender
from ledger import column_maps, consent, cooperative, formats, members, payqr, personal_data
from ledger.errors import InputError, LedgerError
from ledger.fields import optional_date
from ledger.members import MEMBER_FIELDS, PERSONAL_FIELDS, REGISTER_LABELS, REGISTER_SYNONYMS, STATUSES
from ledger.spreadsheets import HeaderNotFound
import ui

user = ui.guard("members")
db = ui.db()
editable = ui.can_edit(user)
show_pd = ui.can_see_personal_data(user)
words = ui.attempt(lambda: cooperative.objects_of(db)) or cooperative.object_words()  # участок, квартира, бокс…

st.title("Реестр членов")
is_admin = user["role"] == "admin"
tab_list, tab_add, tab_import, tab_export, *tab_retention = st.tabs(
    ["Реестр", "Добавить члена", "Загрузка из файла", "Выгрузка"] + (["Хранение"] if is_admin else []))

def consent_card(member: dict) -> None:
    """The member's consent to notices per channel, its history, and (staff) a consent or withdrawal to record."""
    st.markdown("**Согласия на уведомления**")
    states = ui.attempt(lambda: consent.current(db, member["id"])) or []
    ui.table([{"Канал": c["title"], "Согласие": "да" if c["granted"] else "нет",
               "С": members.date_text(c["since"]) if c["since"] else "—", "Основание": c["basis"],
               "Записал": c["recorded_by"] or "—"} for c in states])
    past = consent.history(db, member["id"])
    if past:
        with st.expander(f"История согласий ({len(past)})"):
            ui.table([{"Записано": r["recorded_at"], "Канал": r["title"], "Согласие": "дано" if r["granted"] else "отозвано",
                       "С": members.date_text(r["since"]) if r["since"] else "—", "Основание": r["basis_words"],
                       "Кто": r["recorded_by"]} for r in past])
    if not editable:
        return
    with st.form(f"consent_{member['id']}"):
        st.markdown("**Записать согласие или отзыв**")
        k1, k2, k3 = st.columns(3)
        channel = k1.selectbox("Канал", list(consent.CHANNELS), format_func=consent.CHANNELS.get,
                               key=f"consent_channel_{member['id']}")
        given = k2.radio("Согласие", ["да", "нет"], horizontal=True, key=f"consent_given_{member['id']}")
        basis = k3.selectbox("Основание", ["form", "other"], format_func=consent.BASES.get,
                             key=f"consent_basis_{member['id']}")
        text = st.text_input("Основание подробно (обязательно): № и дата заявления, слова члена",
                             key=f"consent_text_{member['id']}")
        since = st.text_input("Дата согласия или отзыва (ДД.ММ.ГГГГ; пусто — не указана)",
                              key=f"consent_since_{member['id']}")
        if st.form_submit_button("Записать"):
            def save():
                if not text.strip():
                    raise InputError("Согласие: укажите основание — № и дату заявления или слова члена")
                try:
                    day = optional_date(since)
                except ValueError as exc:
                    raise InputError(f"Дата согласия: {exc}") from None
                consent.record(db, member["id"], channel, given == "да", basis, text, day, actor=user["login"])
            ui.done(save, f"Согласие члена л/с {member['reg_no']} ({consent.CHANNELS[channel]}): "
                          f"{'дано' if given == 'да' else 'отозвано'}", rerun=True)


# -- register and card --------------------------------------------------------------------------
with tab_list:
    c1, c2, c3 = st.columns([3, 2, 1])
    search = c1.text_input(f"Поиск: ФИО, л/с, {words.one}, телефон, e-mail", key="search")
    statuses = c2.multiselect("Статус", list(STATUSES), format_func=STATUSES.get, key="statuses",
                              placeholder="Все статусы")
    plot = c3.text_input(words.One, key="plot_filter")
    rows = ui.attempt(lambda: members.list_members(db, search, statuses, plot)) or []
    # Personal data is masked by default; a role that may see it reveals it, and each reveal is logged.
    reveal = show_pd and st.toggle("Показать персональные данные (каждый показ записывается в журнал)",
                                   key="reveal_pd")

    def note_reveal(target: str, ids: list[int], shown: str) -> None:
        seen = st.session_state.setdefault("pd_revealed", set())
        if shown not in seen and ui.done(lambda: members.log_reveal(db, user["login"], target, len(ids), ids)):
            seen.add(shown)

    if reveal and rows:   # the search text itself is not logged: it may be a name or a phone
        note_reveal(f"реестр: статусы {statuses or 'все'}" + (f", {words.one} «{plot}»" if plot else "")
                    + (", с поиском" if search.strip() else ""), [r["id"] for r in rows],
                    f"{search}|{statuses}|{plot}")
    st.caption(f"Найдено: {len(rows)}")
    table = [{
        "Л/с": r["reg_no"], "ФИО": r["full_name"], "Статус": STATUSES.get(r["status"], r["status"]),
        words.Many: r["plots"], "Площадь, м²": r["area"], "Вступил": r["join_date"],
        "Телефоны": r["phones"] if reveal else members.mask(r["phones"]),
        "Эл. почта": r["emails"] if reveal else members.mask(r["emails"]),
    } for r in rows]
    ui.table(table)

    if rows:
        options = {r["id"]: f"{r['reg_no']} — {r['full_name']}" for r in rows}
        chosen = st.selectbox("Карточка члена", list(options), format_func=options.get, index=None,
                              placeholder="Выберите члена", key="card_member")
        member = members.get_member(db, chosen) if chosen is not None else None
        if member:
            st.subheader(ui.plain(f"{member['full_name']}, л/с {member['reg_no']}"))
            if reveal:
                note_reveal(f"л/с {member['reg_no']}", [member["id"]], f"л/с {member['reg_no']}")
            info = {MEMBER_FIELDS[k]: (member[k] if reveal or k not in PERSONAL_FIELDS else members.mask(member[k]))
                    for k in MEMBER_FIELDS if k != "status"}
            info["Статус"] = STATUSES.get(member["status"], member["status"])
            info[MEMBER_FIELDS["join_date"]] = members.date_text(member["join_date"])
            st.table({k: [ui.plain(v) if v is not None else "—"] for k, v in info.items()})
            history = members.member_history(db, member["id"])
            st.markdown(f"**{words.Many}: история владения**")
            ui.table([{words.One: p["number"], "Площадь, м²": p["area"], "Кадастровый номер": p["cadastral_no"],
                       "Доля": f"{p['share_num']}/{p['share_den']}", "С": members.date_text(p["owned_from"]),
                       "По": f"{p['owned_to']:%d.%m.%Y}" if p["owned_to"] else "по настоящее время"}
                      for p in history["plots"]])
            if editable and history["plots"]:
                with st.expander("Исправить даты владения"):
                    owned = {i: p for i, p in enumerate(history["plots"])}
                    pick = st.selectbox("Владение", list(owned), key=f"own_{member['id']}", format_func=lambda i: (
                        f"{words.one} {owned[i]['number']}: с {members.date_text(owned[i]['owned_from'])}"
                        + (f" по {owned[i]['owned_to']:%d.%m.%Y}" if owned[i]["owned_to"] else "")))
                    chosen_own = owned[pick]
                    with st.form(f"own_form_{member['id']}_{pick}"):
                        o1, o2 = st.columns(2)
                        new_from = o1.text_input("С (ДД.ММ.ГГГГ; пусто — дата не указана)",
                                                 f"{chosen_own['owned_from']:%d.%m.%Y}" if chosen_own["owned_from"] else "")
                        new_to = o2.text_input("По (ДД.ММ.ГГГГ, не включая; пусто — владеет сейчас)",
                                               f"{chosen_own['owned_to']:%d.%m.%Y}" if chosen_own["owned_to"] else "")
                        own_reason = st.text_input("Основание исправления (обязательно)")
                        if st.form_submit_button("Исправить даты"):
                            def correct():
                                members.correct_ownership(db, member["id"], chosen_own["number"],
                                                          chosen_own["owned_from"], chosen_own["owned_to"],
                                                          new_from, new_to, own_reason, actor=user["login"])
                            if ui.done(correct, "Даты владения исправлены; перерасчёт — при следующем начислении"):
                                st.rerun()
            st.markdown("**История статусов**")
            ui.table([{"Статус": STATUSES.get(s["status"], s["status"]), "С": s["valid_from"],
                       "Записано": s["recorded_at"], "Источник": s["source"]} for s in history["statuses"]])
            if history["changes"]:
                st.markdown("**Изменения**")
                ui.table([{"Когда": c["changed_at"], "Поле": MEMBER_FIELDS.get(c["field"], c["field"]),
                           "Было": c["old_value"] if reveal or c["field"] not in PERSONAL_FIELDS else "***",
                           "Стало": c["new_value"] if reveal or c["field"] not in PERSONAL_FIELDS else "***",
                           "Кто": c["changed_by"], "Источник": c["source"]} for c in history["changes"]])
            consent_card(member)
            with st.expander("Акт сверки"):
                ui.statement_downloads(db, member, user)
            if show_pd:
                links = ui.attempt(lambda: sender.member_links(db, member["id"])) or {}
                with st.expander("Подключить уведомления в мессенджере"):
                    if not links:
                        st.caption("Бот Telegram или MAX не подключён: Администрирование → Интеграции.")
                    for channel, link in links.items():
                        st.markdown(f"**{'Telegram' if channel == 'telegram' else 'MAX'}** — личная ссылка члена: "
                                    "откройте её и нажмите «Начать», чат привяжется к л/с")
                        st.code(link, language=None)
                        st.image(payqr.qr_png(link, scale=3), caption=f"QR-код ссылки ({channel})", width=160)
                with st.expander("Копия сведений о члене (152-ФЗ, ст. 14)"):
                    st.caption("Всё, что хранится о члене: сведения и их история, участки, начисления, платежи и "
                               "их разнесение, уведомления, согласия, кто смотрел и выгружал его данные. "
                               "Выдача копии записывается в журнал.")
                    pd_fmt = st.radio("Формат", ["pdf", "json"], horizontal=True, key=f"pd_fmt_{member['id']}")
                    if st.button("Подготовить копию сведений", key=f"pd_make_{member['id']}"):
                        made = ui.attempt(lambda: personal_data.pd_report_bytes(db, member["reg_no"], pd_fmt,
                                                                                user["login"]))
                        if made is not None:
                            st.session_state["pd_copy"] = (member["id"], pd_fmt, made[1])
                    ready = st.session_state.get("pd_copy")
                    if ready and ready[0] == member["id"]:
                        st.download_button(f"Скачать копию .{ready[1]}", ready[2],
                                           file_name=f"сведения-лс-{member['reg_no']}.{ready[1]}",
                                           mime="application/pdf" if ready[1] == "pdf" else "application/json",
                                           key=f"pd_get_{member['id']}")
            if editable:
                with st.form(f"edit_{member['id']}"):
                    st.markdown("**Изменить**")
                    values = {}
                    values["full_name"] = st.text_input("ФИО", member["full_name"])
                    values["status"] = st.selectbox("Статус", list(STATUSES), index=list(STATUSES).index(member["status"]),
                                                    format_func=STATUSES.get)
                    values["join_date"] = st.text_input("Дата вступления", member["join_date"].strftime("%d.%m.%Y")
                                                        if member["join_date"] else "")
                    values["exit_date"] = st.text_input("Дата выхода", member["exit_date"].strftime("%d.%m.%Y")
                                                        if member["exit_date"] else "")
                    for key in ("inn", "phones", "emails", "telegram_chat_id", "address", "notes"):
                        if reveal or key not in PERSONAL_FIELDS:  # hidden fields are left as they are
                            values[key] = st.text_input(MEMBER_FIELDS[key], member[key] or "")
                    if not reveal:
                        st.caption("ИНН, телефоны, e-mail, Telegram и адрес можно изменить, включив показ "
                                   "персональных данных.")
                    plots_text = st.text_input(f"{words.Many} (через запятую)", member["plots"] or "")
                    if st.form_submit_button("Сохранить", type="primary"):
                        saved = ui.done(lambda: members.update_member(db, member["id"], values, actor=user["login"]))
                        current = [p.strip() for p in (member["plots"] or "").split(",") if p.strip()]
                        wanted = [p.strip() for p in plots_text.split(",") if p.strip()]
                        if saved and wanted != current:
                            saved = ui.done(lambda: members.set_plots(db, member["id"], [{"number": n} for n in wanted],
                                                                      actor=user["login"]))
                        if saved:
                            st.session_state["flash"] = f"Изменения члена л/с {member['reg_no']} сохранены"
                            st.rerun()

# -- add ----------------------------------------------------------------------------------------
with tab_add:
    if not editable:
        st.info("Добавлять членов может бухгалтер или администратор.")
    else:
        with st.form("add_member", clear_on_submit=False):
            values = {
                "reg_no": st.text_input("Номер л/с"),
                "full_name": st.text_input("ФИО"),
                "status": st.selectbox("Статус", list(STATUSES), format_func=STATUSES.get),
                "join_date": st.text_input("Дата вступления (ДД.ММ.ГГГГ)"),
                "inn": st.text_input("ИНН"),
                "phones": st.text_input("Телефон"),
                "emails": st.text_input("Эл. почта"),
                "address": st.text_input("Адрес"),
            }
            plots_text = st.text_input(f"{words.Many} (через запятую)")
            if st.form_submit_button("Добавить", type="primary"):
                member_id = ui.attempt(lambda: members.add_member(db, values, actor=user["login"]))
                if member_id is not None:
                    wanted = [p.strip() for p in plots_text.split(",") if p.strip()]
                    if wanted:
                        ui.done(lambda: members.set_plots(db, member_id, [{"number": n} for n in wanted],
                                                          actor=user["login"]))
                    st.success(ui.plain(f"Член л/с {values['reg_no']} добавлен"))

# -- import -------------------------------------------------------------------------------------
with tab_import:
    if not editable:
        st.info("Загружать реестр может бухгалтер или администратор.")
    else:
        def forget_mapping() -> None:
            """A new file (or none): its column mapping choices start afresh."""
            for k in [k for k in st.session_state if str(k).startswith("regmap:")]:
                del st.session_state[k]

        upload = st.file_uploader("Реестр членов (.xlsx или .csv)", type=["xlsx", "csv"], key="register_file",
                                  on_change=forget_mapping)
        if upload is not None:
            file_name, data = upload.name, upload.getvalue()
            # The choices made in the select boxes below (for this file): header -> field, "" not loaded.
            mapping = {k.split(":", 1)[1]: v for k, v in st.session_state.items()
                       if str(k).startswith("regmap:") and v is not None}
            remembered = column_maps.load(db, "register")
            register, header = None, None
            try:
                register = members.parse_register(data, file_name, mapping, remembered)
                header = register.header
            except HeaderNotFound as exc:
                ui.show_error(exc)
                header = exc.header
            except LedgerError as exc:
                ui.show_error(exc)
            if header is not None:
                if header.remembered:
                    st.info(ui.plain(f"Для файлов с такими заголовками запомнено сопоставление столбцов: "
                                     f"{column_maps.describe(header, header.remembered, REGISTER_LABELS)}. "
                                     f"Его можно изменить ниже."))
                choices = column_maps.choices(header, REGISTER_SYNONYMS)
                if choices:
                    st.markdown("**Сопоставление столбцов.** Укажите, что в столбцах, которые не распознаны "
                                "(запомнится для файлов с такими же заголовками):")
                    options = [column_maps.SKIP, *REGISTER_LABELS]
                    cols = st.columns(min(len(choices), 3))
                    for i, (norm, text, current) in enumerate(choices):
                        cols[i % len(cols)].selectbox(
                            ui.plain(f"«{text}»"), options, index=options.index(current), key=f"regmap:{norm}",
                            format_func=lambda f: REGISTER_LABELS.get(f, column_maps.SKIP_LABEL))
            if register is not None:
                header = register.header
                st.markdown(f"Строка заголовков: **{header.row}**. Распознаны столбцы:")
                labels = {**REGISTER_LABELS, "plots": words.Many, "row_no": "№ п/п (не загружается)"}
                st.table({"Столбец в файле": [ui.plain(t) for t in header.titles.values()],
                          "Поле реестра": [labels.get(f, f) for f in header.titles]})
                for w in register.warnings:
                    st.warning(ui.plain(w))
                st.markdown(f"Членов в файле: **{len(register.members)}**. Первые строки:")
                ui.table([{"Строка": ", ".join(map(str, m.rows)), "Л/с": m.reg_no or "будет присвоен",
                           "ФИО": m.values.get("full_name"), words.Many: ", ".join(p.number for p in m.plots or [])}
                          for m in register.members[:10]])
                numbering = "plot"
                if "reg_no" not in header.columns:
                    st.info(f"В файле нет номеров л/с: строки одного человека (то же ФИО и телефон) станут одним "
                            f"членом, все его {words.many} — в одной карточке; уже известные члены будут найдены по "
                            f"{words.dat_many}, ФИО и телефону и сохранят свои номера.")
                    numbering = st.radio("Номера л/с новым членам", list(members.NUMBERING), horizontal=True,
                                         key="register_numbering",
                                         format_func=lambda k: {"plot": f"по наименьшему номеру {words.gen}",
                                                                "sequential": "по порядку после наибольшего"}[k])
                effective = st.date_input("Изменения действуют с", value=date.today(), format="DD.MM.YYYY",
                                          key="register_as_of",
                                          help=f"С этого дня {words.one} переходит к новому владельцу, а член без "
                                               "«Дата выхода» считается выбывшим; даты в файле важнее.")
                if st.button(f"Загрузить {len(register.members)} членов", type="primary", key="do_import"):
                    bar = st.progress(0.0, text="Загрузка…")
                    result = ui.attempt(lambda: members.import_register(
                        db, data, file_name, actor=user["login"],
                        progress=lambda f, t: bar.progress(min(f, 1.0), text=ui.plain(t)), as_of=effective,
                        numbering=numbering, mapping=mapping))
                    if result is not None:
                        st.success(ui.plain(f"Готово: {result.summary()}"))
                        for w in result.warnings:
                            st.warning(ui.plain(w))
                        if result.not_in_file:
                            st.info(f"В файле нет {result.not_in_file} членов из базы: они не изменены.")

# -- export -------------------------------------------------------------------------------------
with tab_export:
    if not show_pd:
        st.info("Выгрузка реестра с персональными данными недоступна для вашей роли.")
    else:
        st.write("Выгрузка содержит персональные данные; каждая выгрузка записывается в журнал.")
        fmt = st.radio("Формат", ["xlsx", "csv"], horizontal=True, key="export_fmt")
        if st.button("Подготовить выгрузку", key="prepare_export"):
            st.session_state["export_data"] = ui.attempt(lambda: members.export_register_bytes(db, fmt, user["login"]))
            st.session_state["export_fmt_ready"] = fmt
        if st.session_state.get("export_data"):
            ready = st.session_state["export_fmt_ready"]
            st.download_button("Скачать реестр", st.session_state["export_data"], file_name=f"реестр.{ready}",
                               mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                               if ready == "xlsx" else "text/csv")

# -- retention and anonymisation (admin) ----------------------------------------------------------
for tab in tab_retention:
    with tab:
        years = ui.attempt(lambda: personal_data.retention_years(db)) or personal_data.DEFAULT_RETENTION_YEARS
        st.caption(f"Документы бывшего члена хранятся {formats.count(years, 'год', 'года', 'лет')} после года его "
                   f"последнего документа (402-ФЗ ст. 29; срок меняется на странице «Кооператив»). Потом его ФИО, "
                   f"контакты, ИНН, адрес и заметки можно обезличить: деньги и отчёты прошлых лет не меняются.")
        # computed on request: it reads every former member's debt, too slow to repeat on each click of the page
        if st.button("Проверить, кого пора обезличить", key="retention_check"):
            st.session_state["retention_shown"] = True
        due = (ui.attempt(lambda: personal_data.due_for_anonymization(db)) or []) \
            if st.session_state.get("retention_shown") else []
        if st.session_state.get("retention_shown") and not due:
            st.info("Обезличивать некого: у всех бывших членов срок хранения ещё не истёк или есть долг.")
        for r in due:
            c1, c2 = st.columns([4, 1])
            c1.write(ui.plain(f"л/с {r['reg_no']} — {r['full_name']}, {r['status_label'].lower()} "
                              f"{formats.day(r['exit_date']) or '(дата выхода не указана)'}, последний документ "
                              f"{formats.day(r['last_document'])}, хранить до {formats.day(r['keep_until'])}"))
            if c2.button("Обезличить", key=f"anon_pick_{r['id']}"):
                st.session_state["anon_member"] = r["id"]
        chosen = next((r for r in due if r["id"] == st.session_state.get("anon_member")), None)
        if chosen:
            with st.form(f"anon_form_{chosen['id']}"):
                st.warning(ui.plain(f"Обезличивание л/с {chosen['reg_no']} необратимо: ФИО заменится на "
                                    f"«{personal_data.PSEUDONYM.format(reg_no=chosen['reg_no'])}», контакты, ИНН, "
                                    f"адрес, заметки, тексты уведомлений и его исходные выписки будут удалены."))
                anon_reason = st.text_input("Основание (обязательно; без ФИО и контактов)", key="anon_reason")
                confirmed = st.checkbox("Подтверждаю обезличивание", key="anon_confirm")
                if st.form_submit_button("Обезличить безвозвратно", type="primary"):
                    if not confirmed:
                        st.error("Поставьте отметку «Подтверждаю обезличивание».")
                    else:
                        result = ui.attempt(lambda: personal_data.anonymize(db, chosen["reg_no"], anon_reason,
                                                                            actor=user["login"]))
                        if result is not None:
                            st.session_state.pop("anon_member", None)
                            left = result["audit_entries_with_old_values"]
                            st.session_state["flash"] = f"Л/с {result['reg_no']} обезличен" + (
                                f"; в журнале действий остались записи с его прежними данными: {left} (журнал "
                                f"не изменяется)" if left else "")
                            st.rerun()
