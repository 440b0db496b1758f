"""Accruals and tariffs: contributions (file or form), running the accrual, manual charges and corrections
with a reason, the key-rate history; every change is logged."""

from datetime import date

import streamlit as st

from ledger import accruals, audit, cooperative, members, opening, tariffs
from ledger.formats import rub
import ui

user = ui.guard("accruals")
db = ui.db()
actor = user["login"]
words = ui.attempt(lambda: cooperative.objects_of(db)) or cooperative.object_words()  # участок, квартира, бокс…

st.title("Начисления")
tab_tariffs, tab_accrue, tab_manual, tab_opening, tab_key, tab_log = st.tabs(
    ["Взносы", "Начислить", "Ручные начисления", "Входящие остатки", "Ключевая ставка", "Журнал"])

# -- contributions ------------------------------------------------------------------------------
with tab_tariffs:
    items = ui.attempt(lambda: tariffs.contributions(db)) or []
    ui.table([{
        "Код": c.code, "Название": c.name, "Вид": tariffs.KINDS[c.kind], "База": tariffs.bases(words)[c.basis],
        "Ставка, ₽": c.rate, "Период": tariffs.PERIODS.get(c.period or "", "—"), "Срок": tariffs.due_text(c),
        "Начало": c.start, "Окончание": c.end, "Слова в назначении": ", ".join(c.keywords),
        "Пеня": tariffs.PENALTY_KINDS[c.penalty.kind]} for c in items])

    upload = st.file_uploader("Загрузить взносы из файла .toml", type=["toml"], key="tariff_file")
    if upload is not None and st.button("Загрузить файл", key="load_tariffs"):
        result = ui.attempt(lambda: tariffs.load_tariffs(db, upload.getvalue(), upload.name, actor=actor))
        if result:
            st.success(f"Загружено: новых {result[0]}, изменено {result[1]}")

    st.markdown("**Добавить или изменить взнос**")
    codes = [c.code for c in items]
    editing = st.selectbox("Взнос", ["(новый)"] + codes, key="edit_code")
    current = tariffs.as_form(next(c for c in items if c.code == editing)) if editing != "(новый)" else {
        "code": "", "name": "", "kind": "periodic", "basis": "member", "rate": "", "period": "year", "due": "",
        "start": date.today().replace(month=1, day=1).isoformat(), "end": "", "keywords": [],
        "penalty": {"kind": "none", "grace_days": 0}}
    with st.form(f"contribution_{editing}"):
        c1, c2, c3 = st.columns(3)
        values = {
            "code": c1.text_input("Код (латиницей)", current["code"]),
            "name": c2.text_input("Название", current["name"]),
            "kind": c3.selectbox("Вид", list(tariffs.KINDS), list(tariffs.KINDS).index(current["kind"]),
                                 format_func=tariffs.KINDS.get),
            "basis": c1.selectbox("База", list(tariffs.BASES), list(tariffs.BASES).index(current["basis"]),
                                  format_func=tariffs.bases(words).get),
            "rate": c2.text_input("Ставка, ₽ за единицу базы", current["rate"]),
            "period": c3.selectbox("Период", list(tariffs.PERIODS),
                                   list(tariffs.PERIODS).index(current.get("period") or "year"),
                                   format_func=tariffs.PERIODS.get),
            "due": c1.text_input("Срок оплаты (год: ММ-ДД, квартал: М-ДД, месяц: ДД, разовый: ГГГГ-ММ-ДД)",
                                 current["due"]),
            "start": c2.text_input("Начало (ГГГГ-ММ-ДД)", current["start"]),
            "end": c3.text_input("Окончание (необязательно)", current["end"]),
        }
        keywords = st.text_input("Слова в назначении платежа, через запятую", ", ".join(current["keywords"]))
        penalty = current["penalty"]
        p1, p2, p3 = st.columns(3)
        penalty_kind = p1.selectbox("Пеня", list(tariffs.PENALTY_KINDS),
                                    list(tariffs.PENALTY_KINDS).index(penalty["kind"]),
                                    format_func=tariffs.PENALTY_KINDS.get)
        penalty_rate = p2.text_input("% в день (для «% в день»)", penalty.get("rate", ""))
        grace = p3.number_input("Льготных дней", min_value=0, value=int(penalty.get("grace_days", 0)), step=1)
        q1, q2, q3 = st.columns(3)
        cap_rate = q1.text_input("Ограничение ставки, % годовых", penalty.get("cap_rate", ""))
        cap_from = q2.text_input("Ограничение с (ГГГГ-ММ-ДД)", penalty.get("cap_from", ""))
        cap_to = q3.text_input("Ограничение по", penalty.get("cap_to", ""))
        moratoriums = st.text_input("Мораторий, окна через «;»: ГГГГ-ММ-ДД..ГГГГ-ММ-ДД",
                                    "; ".join(f"{a}..{b}" for a, b in penalty.get("moratoriums", [])))
        if st.form_submit_button("Сохранить взнос", type="primary"):
            if values["kind"] == "one_off":
                values["period"] = None
            values["keywords"] = [k.strip() for k in keywords.split(",") if k.strip()]
            values["penalty"] = {"kind": penalty_kind, "grace_days": int(grace), "rate": penalty_rate or None,
                                 "cap_rate": cap_rate or None, "cap_from": cap_from or None, "cap_to": cap_to or None,
                                 "moratoriums": [w.split("..") for w in moratoriums.split(";") if w.strip()]}
            values["penalty"] = {k: v for k, v in values["penalty"].items() if v is not None}
            ui.done(lambda: tariffs.save_contribution_form(db, values, actor=actor),
                    f"Взнос «{values['name'] or values['code']}» сохранён", rerun=True)

# -- accrue -------------------------------------------------------------------------------------
with tab_accrue:
    st.write("Создаёт все начисления со сроком оплаты по выбранную дату включительно и пересчитывает уже "
             "начисленные периоды, если изменились реестр, даты владения или тарифы (разница проводится "
             "исправлением — доначислением или сторно — с основанием). Сначала показывается, что будет "
             "проведено; проводится после подтверждения. Повторный запуск ничего не добавляет.")
    through = st.date_input("Начислить по дату", value=date.today(), format="DD.MM.YYYY", key="through")
    if st.button("Рассчитать", type="primary", key="run_accrue"):
        st.session_state["accrual_preview"] = ui.attempt(
            lambda: accruals.accrue(db, through, actor=actor, dry_run=True))
    preview = st.session_state.get("accrual_preview")
    if preview is not None and preview.through == through:
        if preview.empty:
            st.info(preview.summary().capitalize())
        else:
            m1, m2, m3 = st.columns(3)
            m1.metric("Новые начисления", f"{preview.added}", rub(preview.amount), delta_color="off")
            m2.metric("Перерасчёт (исправления)", f"{preview.corrections}", rub(preview.corrections_amount),
                      delta_color="off")
            m3.metric(f"За годы до {through.year}", rub(preview.past_years))
            names = sorted(set(preview.by_contribution) | set(preview.corrections_by_contribution))
            ui.table([{"Взнос": name,
                       "Новых начислений": preview.by_contribution.get(name, (0, 0))[0],
                       "Сумма, ₽": preview.by_contribution.get(name, (0, 0))[1],
                       "Исправлений": preview.corrections_by_contribution.get(name, (0, 0))[0],
                       "Сумма исправлений, ₽": preview.corrections_by_contribution.get(name, (0, 0))[1]}
                      for name in names], money=["Сумма, ₽", "Сумма исправлений, ₽"])
            if preview.lines:
                st.markdown("**Исправления (перерасчёт)**")
                ui.table([{"Л/с": r["reg_no"], "ФИО": r["full_name"], "Взнос": r["contribution"],
                           "Период": f"{r['period_start']:%d.%m.%Y}–{r['period_end']:%d.%m.%Y}",
                           words.One: r["plot"], "Изменение, ₽": r["delta"], "Основание": r["reason"]}
                          for r in preview.lines], money=["Изменение, ₽"])
                if preview.corrections > len(preview.lines):
                    st.caption(f"Показаны первые {len(preview.lines)} из {preview.corrections}")
            if st.button("Подтвердить и провести", type="primary", key="confirm_accrue"):
                result = ui.attempt(lambda: accruals.accrue(db, through, actor=actor, expect=preview.token))
                st.session_state.pop("accrual_preview", None)
                if result is not None:
                    st.success(ui.plain(f"Проведено: {result.summary()}"))

# -- manual charges and corrections -------------------------------------------------------------
with tab_manual:
    reg_no = st.text_input("Номер л/с члена", key="manual_reg_no")
    found = members.find_by_reg_no(db, reg_no.strip()) if reg_no.strip() else None
    if reg_no.strip() and found is None:
        st.warning(f"Член с л/с {ui.plain(reg_no)} не найден")
    if found:
        st.markdown(f"**{ui.plain(found['full_name'])}**, л/с {ui.plain(found['reg_no'])}")
        charges = accruals.member_charges(db, found["id"])
        names = {c.code: c.name for c in tariffs.contributions(db)}
        ui.table([{"№": c["id"], "Взнос": names.get(c["contribution"], c["contribution"]), "Срок": c["due_date"],
                   "Сумма, ₽": c["amount"], "Исходная, ₽": c["original_amount"],
                   "Как рассчитано / основание": c["reason"] or c["basis_note"], words.One: c["plot"],
                   "Исправления": c["corrections"]}
                  for c in charges], money=["Сумма, ₽", "Исходная, ₽"])
        codes = list(names)
        with st.form("manual_charge"):
            st.markdown("**Разовое начисление**")
            m1, m2, m3 = st.columns(3)
            code = m1.selectbox("Взнос", codes, format_func=names.get)
            amount = m2.text_input("Сумма, ₽")
            due = m3.date_input("Срок оплаты", value=date.today(), format="DD.MM.YYYY")
            reason = st.text_input("Основание (обязательно)")
            if st.form_submit_button("Начислить"):
                ui.attempt(lambda: accruals.add_manual_charge(db, found["id"], code, amount, due, reason, actor=actor),
                           "Начисление добавлено")
        if charges:
            with st.form("correction"):
                st.markdown("**Корректировка начисления**")
                k1, k2 = st.columns(2)
                charge_id = k1.selectbox("Начисление №", [c["id"] for c in charges])
                delta = k2.text_input("Изменение, ₽ (минус — уменьшить)")
                why = st.text_input("Основание корректировки (обязательно)")
                if st.form_submit_button("Скорректировать"):
                    ui.done(lambda: accruals.correct_charge(db, charge_id, delta, why, actor=actor),
                            "Корректировка записана")

# -- opening balances ---------------------------------------------------------------------------
with tab_opening:
    st.write("Долги и авансы членов по взносам на дату перехода: оборотно-сальдовая ведомость 1С по счёту 76 (86), "
             "выгруженная в Excel или CSV, или таблица «л/с | участок | взнос | долг | пени | аванс». "
             "Начисления за периоды до этой даты для этих членов не повторяются.")
    with st.form("opening_balances"):
        o1, o2 = st.columns(2)
        opening_file = o1.file_uploader("Файл .xlsx или .csv", type=["xlsx", "csv"], key="opening_file")
        as_of = o2.date_input("Остатки на дату (день после конца периода ОСВ)", value=None, format="DD.MM.YYYY",
                              key="opening_as_of")
        mapping = st.text_area("Соответствие взносов тарифам, по строке «Название в файле=код»", key="opening_map")
        if st.form_submit_button("Загрузить остатки"):
            if opening_file is None:
                st.error("Выберите файл")
            elif as_of is None:
                st.error("Поле «Остатки на дату»: укажите дату")
            else:
                loaded = ui.attempt(lambda: opening.import_balances(
                    db, opening_file.getvalue(), opening_file.name, as_of,
                    opening.parse_mapping([x for x in mapping.splitlines() if x.strip()]), actor=actor))
                if loaded:
                    st.success(ui.plain(loaded.summary()))
    current = opening.balances(db)
    if current:
        st.caption(f"Загружены остатки на {current[0]['as_of']:%d.%m.%Y}")
    ui.table([{"Л/с": r["reg_no"], "ФИО": r["full_name"] if ui.can_see_personal_data(user) else "", words.One: r["plot"],
               "Взнос": r["contribution"], "Долг, ₽": r["debt"], "Пени, ₽": r["penalty"],
               "Аванс, ₽": r["advance"]} for r in current], money=["Долг, ₽", "Пени, ₽", "Аванс, ₽"])

# -- key rate -----------------------------------------------------------------------------------
with tab_key:
    st.write("Ключевая ставка Банка России (для пени по ЖК РФ: 1/300 с 31-го дня просрочки, 1/130 с 91-го).")
    rates = tariffs.key_rates(db)
    ui.table([{"С даты": r["valid_from"], "Ставка, %": r["rate"], "Изменил": r["updated_by"]} for r in reversed(rates)],
             height=250)
    with st.form("key_rate"):
        r1, r2 = st.columns(2)
        since = r1.date_input("Действует с", value=date.today(), format="DD.MM.YYYY")
        rate = r2.text_input("Ставка, % годовых")
        if st.form_submit_button("Сохранить ставку"):
            ui.done(lambda: tariffs.set_key_rate(db, since, rate, actor=actor),
                    f"Ключевая ставка {rate} % с {since:%d.%m.%Y} сохранена", rerun=True)

# -- log ----------------------------------------------------------------------------------------
with tab_log:
    actions = ("accrue", "charge_added", "charge_corrected", "tariffs_saved", "key_rate_set", "key_rate_deleted",
               "opening_balances_imported", "opening_balances_replaced")
    entries = [e for e in audit.entries(db, limit=2000) if e["action"] in actions][:200]
    ui.table([{"Когда (UTC)": e["happened_at"], "Кто": e["actor"], "Что": audit.ACTIONS[e["action"]],
               "Объект": audit.target_label(e["action"], e["target"]), "Подробности": audit.details_text(e["details"])}
              for e in entries])
    st.caption(f"Всего начислено в базе: {rub(db.scalar('SELECT coalesce(sum(amount), 0) FROM charges_effective'))}")
