"""The board's debt dashboard (read-only): totals, debt by contribution and aging, collection by month,
top debtors, filters, drill-down to a member; every table downloadable as .xlsx.

The board sees register numbers, plots, surname with initials and amounts; full names only for roles that
may see personal data (admin, accountant), whose downloads are logged.
"""

from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from ledger import audit, cooperative, debts
from ledger.formats import day, money, rub
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


coop_name = (ui.attempt(lambda: cooperative.get_settings(db)) or {}).get("name") or "Кооператив"


def show(columns: list[Column], table: list[dict]) -> None:
    """A table on screen: money «1 234,56 ₽» and dates ДД.ММ.ГГГГ, sortable by value."""
    ui.table([{c.title: r[c.key] for c in columns} for r in table], money=[c.title for c in columns if c.kind == "money"],
             columns=[c.title for c in columns])


def download(label: str, columns: list[Column], table: list[dict], file: str, key: str, personal: bool = False) -> None:
    """A formatted .xlsx of a table, built only when the button is pressed, with the cooperative's name and
    the as-of date above the table; downloads with full names are logged."""
    def build() -> bytes:
        if personal and full_names:
            audit.record(db, user["login"], "export_personal_data", file, rows=len(table), what="дашборд долгов")
        return debts.table_xlsx(columns, table, label, heading=f"{coop_name}: {label}", as_of=as_of)

    st.download_button(f"Скачать {label} (.xlsx)", build, file_name=file, key=key, on_click="ignore",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


t = debts.totals(rows)
m1, m2, m3 = st.columns(3)
m1.metric("Долг всего", rub(t["principal"] + t["penalty"], 0))
m2.metric("Основной долг", rub(t["principal"], 0))
m3.metric("Пени", rub(t["penalty"], 0))
m4, m5, _ = st.columns(3)
m4.metric("Должников", t["debtors"], help="Члены с долгом или неоплаченными пенями — столько же строк в таблице «Должники»")
m5.metric("Давность > 3 лет", rub(t["time_barred"], 0),
          help="Основной долг, просроченный более 3 лет: срок исковой давности")
st.caption(f"На {day(as_of)}. Суммы в рублях, округлены до рубля. Начислено, но срок ещё не наступил: "
           f"{rub(t['not_due'])}.")

RUB_AXIS = alt.Axis(labelExpr="replace(format(datum.value, ',.0f'), /,/g, ' ') + ' ₽'")

left, right = st.columns(2)
with left:
    st.subheader("По взносам")
    per_contribution = debts.by_contribution(rows, data.contributions)
    if per_contribution:
        frame = pd.DataFrame([{"Взнос": r["name"], "Часть": part, "₽": float(r[key]), "Сумма": rub(r[key])}
                              for r in per_contribution
                              for key, part in (("principal", "Основной долг"), ("penalty", "Пени"))])
        st.altair_chart(alt.Chart(frame).mark_bar().encode(
            x=alt.X("₽:Q", title=None, axis=RUB_AXIS), y=alt.Y("Взнос:N", title=None),
            color=alt.Color("Часть:N", title=None), tooltip=["Взнос", "Часть", "Сумма"]), width="stretch")
    contribution_columns = [Column("name", "Взнос"), Column("principal", "Основной долг", "money"),
                            Column("penalty", "Пени", "money"), Column("total", "Всего", "money"),
                            Column("debtors", "Должников", "int")]
    show(contribution_columns, per_contribution)
    download("долг по взносам", contribution_columns, per_contribution, "долг-по-взносам.xlsx", "dl_contribution")
with right:
    st.subheader("По срокам просрочки")
    aging = debts.by_bucket(rows)
    frame = pd.DataFrame([{"Срок": b["bucket"], "Порядок": b["order"], "₽": float(b["amount"]),
                           "Сумма": rub(b["amount"])} for b in aging])
    st.altair_chart(alt.Chart(frame).mark_bar().encode(
        x=alt.X("Срок:N", sort=alt.SortField("Порядок"), title=None), y=alt.Y("₽:Q", title=None, axis=RUB_AXIS),
        tooltip=["Срок", "Сумма"]), width="stretch")
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
    # A month without charges has no collection rate: the line breaks there instead of jumping across it.
    by_month = {c["month"]: c for c in recent}
    points, segment, month = [], 0, recent[0]["month"]
    while month <= recent[-1]["month"]:
        c = by_month.get(month)
        if c is None or c["rate"] is None:
            segment += 1
        else:
            points.append({"Месяц": month, "Собираемость": float(c["rate"]), "Отрезок": segment,
                           "Месяц, собрано": f"{month:%m.%Y}: {float(c['rate']) * 100:.1f} %".replace(".", ",", 2)
                           .replace(",", ".", 1), "Начислено": rub(c["charged"]), "Оплачено": rub(c["paid"])})
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    frame = pd.DataFrame(points)
    st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("Месяц:T", title=None, axis=alt.Axis(format="%m.%Y")),
        y=alt.Y("Собираемость:Q", title=None, axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        detail="Отрезок:N", tooltip=["Месяц, собрано", "Начислено", "Оплачено"]), width="stretch")
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
    by_id = {d["member_id"]: d for d in debtors}
    label = lambda mid: f"{by_id[mid]['reg_no']} — {by_id[mid]['name']}"  # noqa: E731
    chosen = st.selectbox("Подробнее о должнике", list(by_id), format_func=label, index=None,
                          placeholder="Выберите члена", key="drill_member")
    if chosen is not None:
        detail = [r for r in data.rows if r["member_id"] == chosen]
        st.markdown(f"**{ui.plain(label(chosen))}** — долг {rub(by_id[chosen]['total'])}")
        plots_of = by_id[chosen]["plots"]
        st.caption(ui.plain(f"Участки: {plots_of or 'нет'}"))
        show([Column("name", "Взнос"), Column("plot_label", "Участок"), Column("principal", "Основной долг", "money"),
              Column("penalty", "Пени", "money"), Column("not_due", "Срок не наступил", "money"),
              Column("oldest_due", "Самый ранний срок", "date")],
             [{**r, "name": data.contributions.get(r["contribution"], r["contribution"]),
               "plot_label": r["plot"] or "с члена"} for r in detail])
        s = ui.attempt(lambda: debts.statement(db, chosen, as_of - timedelta(days=365), as_of))
        if s is not None:
            st.caption(f"Движение за год: сальдо на {day(s.date_from)} {rub(s.opening)}, "
                       f"на {day(s.date_to)} {rub(s.closing)}")
            show([Column("day", "Дата", "date"), Column("document", "Документ"), Column("text", "Содержание"),
                  Column("charged", "Начислено", "money"), Column("paid", "Оплачено", "money")],
                 [{**r, "text": r["text"] if full_names else r["text"].split(":")[0]} for r in s.lines])
        if ui.can_edit(user) and st.button("Открыть карточку члена", key="open_card"):
            st.session_state["card_member"] = chosen
            st.switch_page("pages/members.py")
