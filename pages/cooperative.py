"""Settings of the cooperative: name, type, requisites, bank account, chairman."""

import streamlit as st

from ledger import cooperative
import ui

user = ui.guard("cooperative")
db = ui.db()

st.title("Кооператив")
current = ui.attempt(lambda: cooperative.get_settings(db)) or {}
with st.form("coop_settings"):
    values = {}
    for key, (label, _) in cooperative.SETTINGS.items():
        if key == "type":
            options = [""] + cooperative.COOP_TYPES
            value = current.get(key) or ""
            values[key] = st.selectbox(label, options, index=options.index(value) if value in options else 0)
        elif key == "object_kind":
            options = [""] + list(cooperative.OBJECT_WORDS)
            value = current.get(key) or ""
            values[key] = st.selectbox(label, options, index=options.index(value) if value in options else 0,
                                       format_func=lambda k: k or "по типу кооператива")
        else:
            values[key] = st.text_input(label, current.get(key) or "")
    if st.form_submit_button("Сохранить", type="primary", disabled=not ui.can_edit(user)):
        ui.done(lambda: cooperative.save_settings(db, values, actor=user["login"]), "Настройки кооператива сохранены")
