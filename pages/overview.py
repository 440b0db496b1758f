"""Overview: the cooperative, its members and what needs attention."""

import streamlit as st

from ledger import cooperative, members
from ledger.formats import number
import ui

user = ui.guard("overview")
db = ui.db()

settings = ui.attempt(lambda: cooperative.get_settings(db)) or {}
st.title(ui.plain(settings.get("name") or "Кооператив"))
if settings.get("inn"):
    st.caption(ui.plain(f"ИНН {settings['inn']} · {settings.get('address') or ''}"))

by_status = ui.attempt(lambda: members.counts(db)) or {}
plots, area = ui.attempt(lambda: members.plot_totals(db)) or (0, 0)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Членов", by_status.get("member", 0))
c2.metric("Кандидатов", by_status.get("applicant", 0))
c3.metric("Участков", plots)
c4.metric("Площадь, м²", number(round(area or 0)))

st.subheader("Требует внимания")
items = ui.attempt(lambda: members.attention(db)) or []
if not items:
    st.success("Всё в порядке")
for text, n in items:
    st.write(f"- {text}: **{n}**")
