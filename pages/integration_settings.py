"""Integrations (admin): which are on, their settings (secrets never shown), checks and schedules."""

import streamlit as st

from integrations import registry
import ui

user = ui.guard("integrations")
db = ui.db()

st.title("Интеграции")
rows = ui.attempt(lambda: registry.overview(db)) or []
ui.table([{
    "Имя": r["name"], "Вид": r["kind_label"], "Описание": r["title"], "Включена": "да" if r["enabled"] else "нет",
    "Расписание, мин": str(r["interval_minutes"] or ""), "Следующий запуск (UTC)": r["next_run_at"],
    "Замечания": r["error"] or (f"нужны пакеты: {', '.join(r['missing'])}" if r["missing"] else ""),
} for r in rows])

usable = [r["name"] for r in rows if not r["error"]]
if usable:
    name = st.selectbox("Интеграция", usable, key="integration",
                        format_func=lambda n: f"{n} — {next(r['title'] for r in rows if r['name'] == n)}")
    cls = registry.integration_class(name)
    row = next(r for r in rows if r["name"] == name)
    shown = dict((key, value) for key, _, value in ui.attempt(lambda: registry.show(db, name)) or [])
    stored = ui.attempt(lambda: registry.stored_settings(db, name)) or {}

    # Secret inputs get a fresh key after each save, so a typed secret does not stay in the browser.
    generation = st.session_state.setdefault("secret_inputs", 0)
    with st.form(f"settings_{name}"):
        st.markdown(f"**Параметры {ui.plain(name)}**. Секреты не показываются; пустое поле секрета — оставить как есть.")
        values = {}
        for f in cls.fields:
            label = f"{f.label} ({f.key})" + (" *" if f.required else "")
            if f.secret:
                hint = shown.get(f.key, "")
                secret_key = f"s_{name}_{f.key}_{generation}"
                if f.type == "pem":
                    values[f.key] = st.text_area(label, "", placeholder=hint, help=f.help or None, key=secret_key)
                else:
                    values[f.key] = st.text_input(label, "", type="password", placeholder=hint, help=f.help or None,
                                                  key=secret_key)
            elif f.type == "choice":
                current = stored.get(f.key) or f.default or f.choices[0]
                values[f.key] = st.selectbox(label, f.choices, index=f.choices.index(current), key=f"f_{name}_{f.key}")
            else:
                current = stored.get(f.key)
                values[f.key] = st.text_input(label, "" if current is None else str(current),
                                              placeholder="" if f.default is None else f"по умолчанию {f.default}",
                                              help=f.help or None, key=f"f_{name}_{f.key}")
        if st.form_submit_button("Сохранить", type="primary"):
            changed = {k: v for k, v in values.items() if not (cls.field(k).secret and not v)}
            st.session_state["secret_inputs"] = generation + 1   # kept only if the save fails below
            if not ui.done(lambda: registry.configure(db, name, changed, actor=user["login"]),
                           f"Параметры интеграции {name} сохранены", rerun=True):
                st.session_state["secret_inputs"] = generation

    c1, c2, c3 = st.columns(3)
    if row["enabled"]:
        if c1.button("Отключить", key="disable"):
            ui.done(lambda: registry.set_enabled(db, name, False, actor=user["login"]), f"Интеграция {name} отключена",
                    rerun=True)
    elif c1.button("Включить", key="enable", type="primary"):
        ui.done(lambda: registry.set_enabled(db, name, True, actor=user["login"]), f"Интеграция {name} включена",
                rerun=True)
    if c2.button("Проверить", key="check"):
        result = ui.attempt(lambda: registry.check(db, name, actor=user["login"]))
        if result:
            st.success(ui.plain(result))
    minutes = c3.number_input("Запуск каждые, мин (0 — без расписания)", min_value=0, step=5,
                              value=int(row["interval_minutes"] or 0), key="every")
    if c3.button("Сохранить расписание", key="schedule"):
        ui.done(lambda: registry.set_schedule(db, name, int(minutes) or None, actor=user["login"]),
                f"Расписание {name}: " + (f"каждые {int(minutes)} мин" if minutes else "без расписания"), rerun=True)
