"""The board's debt dashboard (read-only): totals, debt by contribution and aging, collection by month,
top debtors, filters, drill-down to a member; every table downloadable as .xlsx.

The board sees register numbers, plots, surname with initials and amounts; full names only for roles that
may see personal data (admin, accountant), whose downloads are logged.
"""

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import altair as alt
import pandas as pd
import streamlit as st

from ledger import audit, debts
from ledger.accruals import fmt_money
from ledger.members import STATUSES
from ledger.spreadsheets import Column
import ui

user = ui.guard("dashboard")
db = ui.db()
full_names = ui.can_see_personal_data(user)

st.title("Долги и собираемость")
c1, c2, c3, c4 = st.columns([1, 2, 1, 2])
as_of = c1.date_input("На дату", value=date.today(), format="DD.MM.YYYY", key="as_of")
data = ui.attempt(lambda: debts.dashboard(db, as_of))
if data is None:
    st.stop()
chosen_codes = c2.multiselect("Взнос", list(data.contributions), format_func=lambda c: data.contributions.get(c, c),
                              key="f_contribution", placeholder="все взносы")
plot = c3.text_input("Участок", key="f_plot", placeholder="все")
statuses = c4.multiselect("Статус", list(STATUSES), format_func=STATUSES.get, key="f_status", placeholder="все")
rows = data.filtered(chosen_codes, plot, statuses)


def name(full_name: str) -> str:
    return full_name if full_names else debts.short_name(full_name)


def rubles(value) -> str:
    """Whole rubles for the big numbers: 1 234 568."""
    return f"{Decimal(value).quantize(Decimal(1), ROUND_HALF_UP):,}".replace(",", "\u202f")


def show(columns: list[Column], table: list[dict]) -> None:
    """A table on screen with money as 1 234,56."""
    def cell(value, kind: str):
        if value is None:
            return ""
        if kind == "money":
            return fmt_money(value)
        return value.strftime("%d.%m.%Y") if kind == "date" else value

    frame = pd.DataFrame([{c.title: cell(r[c.key], c.kind) for c in columns} for r in table],
                         columns=[c.title for c in columns])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={c.title: st.column_config.TextColumn(c.title) for c in columns if c.kind == "money"})


def download(label: str, columns: list[Column], table: list[dict], file: str, key: str, personal: bool = False) -> None:
    """A formatted .xlsx of a table; downloads with full names are logged."""
    on_click = (lambda: audit.record(db, user["login"], "export_personal_data", file, rows=len(table),
                                     what="дашборд долгов")) if personal and full_names else "ignore"
    st.download_button(f"Скачать {label} (.xlsx)", debts.table_xlsx(columns, table, label), file_name=file,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=key,
                       on_click=on_click)


t = debts.totals(rows)
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric("Долг всего, ₽", rubles(t["principal"] + t["penalty"]))
m2.metric("Основной долг, ₽", rubles(t["principal"]))
m3.metric("Пени, ₽", rubles(t["penalty"]))
m4.metric("Должников", t["debtors"])
m5.metric("Давность > 3 лет, ₽", rubles(t["time_barred"]),
          help="Основной долг, просроченный более 3 лет: срок исковой давности")
st.caption(f"На {as_of:%d.%m.%Y}. Начислено, но срок ещё не наступил: {fmt_money(t['not_due'])} ₽.")

left, right = st.columns(2)
with left:
    st.subheader("По взносам")
    per_contribution = debts.by_contribution(rows, data.contributions)
    if per_contribution:
        frame = pd.DataFrame([{"Взнос": r["name"], "Основной долг": float(r["principal"]), "Пени": float(r["penalty"])}
                              for r in per_contribution]).melt("Взнос", var_name="Часть", value_name="₽")
        st.altair_chart(alt.Chart(frame).mark_bar().encode(
            x=alt.X("₽:Q", title="₽"), y=alt.Y("Взнос:N", title=None), color=alt.Color("Часть:N", title=None),
            tooltip=["Взнос", "Часть", alt.Tooltip("₽:Q", format=",.2f")]), width="stretch")
    contribution_columns = [Column("name", "Взнос"), Column("principal", "Основной долг", "money"),
                            Column("penalty", "Пени", "money"), Column("total", "Всего", "money"),
                            Column("debtors", "Должников", "int")]
    show(contribution_columns, per_contribution)
    download("долг по взносам", contribution_columns, per_contribution, "долг-по-взносам.xlsx", "dl_contribution")
with right:
    st.subheader("По срокам просрочки")
    aging = debts.by_bucket(rows)
    frame = pd.DataFrame([{"Срок": b["bucket"], "Порядок": b["order"], "₽": float(b["amount"])} for b in aging])
    st.altair_chart(alt.Chart(frame).mark_bar().encode(
        x=alt.X("Срок:N", sort=alt.SortField("Порядок"), title=None), y=alt.Y("₽:Q"),
        tooltip=["Срок", alt.Tooltip("₽:Q", format=",.2f")]), width="stretch")
    aging_columns = [Column("bucket", "Срок просрочки"), Column("amount", "Основной долг", "money")]
    show(aging_columns, aging)
    download("долг по срокам", aging_columns, aging, "долг-по-срокам.xlsx", "dl_aging")

st.subheader("По участкам")
per_plot = debts.by_plot(rows)
plot_columns = [Column("plot", "Участок"), Column("owners", "Л/с владельцев"), Column("principal", "Основной долг", "money"),
                Column("penalty", "Пени", "money"), Column("total", "Всего", "money")]
st.caption(f"Участков с долгом по взносам с участка или с м²: {len(per_plot)}; первые 20 по сумме.")
show(plot_columns, per_plot[:20])
download("долг по участкам", plot_columns, per_plot, "долг-по-участкам.xlsx", "dl_plots")

st.subheader("Собираемость по месяцам")
st.caption("Оплачено ÷ начислено по взносам со сроком оплаты в этом месяце (все взносы, без фильтров).")
recent = [c for c in data.collection if c["month"] >= as_of.replace(day=1) - timedelta(days=730)]
if recent:
    frame = pd.DataFrame([{"Месяц": c["month"], "Собираемость": float(c["rate"] or 0)} for c in recent])
    st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("Месяц:T", title=None, axis=alt.Axis(format="%m.%Y")),
        y=alt.Y("Собираемость:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=[alt.Tooltip("Месяц:T", format="%m.%Y"), alt.Tooltip("Собираемость:Q", format=".1%")]),
        width="stretch")
collection_columns = [Column("month", "Месяц", "date"), Column("charged", "Начислено", "money"),
                      Column("paid", "Оплачено", "money"), Column("rate_pct", "Собираемость, %", "number")]
collection = [{**c, "rate_pct": round(float(c["rate"]) * 100, 1) if c["rate"] is not None else None}
              for c in data.collection]
download("собираемость", collection_columns, collection, "собираемость.xlsx", "dl_collection")

st.subheader("Должники")
debtors = debts.by_member(rows)
for d in debtors:
    d["name"] = name(d["full_name"])
    d["status_label"] = STATUSES.get(d["status"], d["status"])
debtor_columns = [Column("reg_no", "Л/с"), Column("name", "ФИО" if full_names else "Член"), Column("plots", "Участки"),
                  Column("status_label", "Статус"), Column("principal", "Основной долг", "money"),
                  Column("penalty", "Пени", "money"), Column("total", "Всего", "money"),
                  Column("oldest_due", "Самый ранний срок", "date"), Column("time_barred", "Давность > 3 лет", "money")]
st.caption(f"С долгом или неоплаченными пенями: {len(debtors)}; первые 20 по сумме.")
show(debtor_columns, debtors[:20])
download("должников", debtor_columns, debtors, "должники.xlsx", "dl_debtors", personal=True)

# -- drill-down ---------------------------------------------------------------------------------
if debtors:
    options = {d["member_id"]: f"{d['reg_no']} — {d['name']} — {fmt_money(d['total'])} ₽" for d in debtors}
    chosen = st.selectbox("Подробнее о должнике", list(options), format_func=options.get, index=None,
                          placeholder="Выберите члена", key="drill_member")
    if chosen is not None:
        detail = [r for r in data.rows if r["member_id"] == chosen]
        st.markdown(f"**{ui.plain(options[chosen])}**")
        show([Column("name", "Взнос"), Column("principal", "Основной долг", "money"), Column("penalty", "Пени", "money"),
              Column("not_due", "Срок не наступил", "money"), Column("oldest_due", "Самый ранний срок", "date")],
             [{**r, "name": data.contributions.get(r["contribution"], r["contribution"])} for r in detail])
        s = ui.attempt(lambda: debts.statement(db, chosen, as_of - timedelta(days=365), as_of))
        if s is not None:
            st.caption(f"Движение за год: сальдо на {s.date_from:%d.%m.%Y} {fmt_money(s.opening)} ₽, "
                       f"на {s.date_to:%d.%m.%Y} {fmt_money(s.closing)} ₽")
            show([Column("day", "Дата", "date"), Column("document", "Документ"), Column("text", "Содержание"),
                  Column("charged", "Начислено", "money"), Column("paid", "Оплачено", "money")],
                 [{**r, "text": r["text"] if full_names else r["text"].split(":")[0]} for r in s.lines])
        if ui.can_edit(user) and st.button("Открыть карточку члена", key="open_card"):
            st.session_state["card_member"] = chosen
            st.switch_page("pages/members.py")
