"""Reports: FNS annual report (form, checks, XML, signing, submission), register of members, debtors, court
package, Sber registry, signature check and the submissions with their statuses and receipts.

The board sees the register and the debtors with surname and initials and no contacts; staff see full names
and everything else. Downloads carrying personal data are logged when clicked; a built report is logged once.
"""

from datetime import date

import pandas as pd
import streamlit as st

from integrations import registry
from ledger import members
from ledger.accruals import fmt_money
from ledger.reports import ReportFile, boupr, court, debtors, filing, members_register, sber_registry
import ui

user = ui.guard("reports")
db = ui.db()
staff = ui.can_edit(user)
personal = ui.can_see_personal_data(user)
login = user["login"]

st.title("Отчёты")


def download(label: str, make, file_name: str, key: str) -> None:
    """A one-click download generated (and logged, by the report's build) only when clicked."""
    st.download_button(label, lambda: make().data, file_name=file_name, mime=ReportFile(file_name, b"").mime, key=key,
                       on_click="ignore")


def whole(value) -> int:
    """A cell of the form's editor as thousands of rubles: an emptied cell is 0."""
    return 0 if value is None or pd.isna(value) else int(value)


def report_table(rows: list[dict], columns) -> None:
    """A report's rows in the report's own columns, in Russian formats (money sortable as numbers)."""
    ui.table([{c.title: r.get(c.key) for c in columns} for r in rows], columns=[c.title for c in columns],
             money=[c.title for c in columns if c.kind == "money"])


names = (["ФНС: бухотчётность НКО"] if staff else []) + ["Реестр членов", "Должники"] + \
    (["Пакет для суда", "Реестр для Сбербанка", "Отправки и подписи"] if staff else [])
tabs = dict(zip(names, st.tabs(names)))

# -- FNS ----------------------------------------------------------------------------------------------
if staff:
    with tabs["ФНС: бухотчётность НКО"]:
        year = int(st.number_input("Отчётный год", min_value=2000, max_value=2100, value=date.today().year - 1,
                                   key="boupr_year"))
        form = ui.attempt(lambda: boupr.prefill(db, year))
        if form is not None:
            st.caption("Суммы в тысячах рублей. Взносы за год (строка 6210) — из учёта; остальные строки заполняет "
                       "бухгалтер (подставлены из прошлогодней формы).")
            c1, c2, c3, c4 = st.columns(4)
            form.tax_office = c1.text_input("Код НО-получателя", form.tax_office, key="boupr_tax_office")
            form.final_recipient = c2.text_input("Код конечного получателя", form.final_recipient, key="boupr_final")
            form.okopf = c3.text_input("ОКОПФ", form.okopf, key="boupr_okopf")
            form.okpo = c4.text_input("ОКПО", form.okpo, key="boupr_okpo")
            balance = pd.DataFrame([{"Код": line.code, "Строка": line.title,
                                     "На отчётную дату": form.value(line.code, 0),
                                     "На 31.12 пред. года": form.value(line.code, 1),
                                     "На 31.12 позапрошлого года": form.value(line.code, 2)}
                                    for line in boupr.BALANCE_LINES])
            st.subheader("Баланс")
            edited = st.data_editor(balance, hide_index=True, disabled=["Код", "Строка"], key="boupr_balance")
            use = pd.DataFrame([{"Код": line.code, "Строка": line.title, "За отчётный год": form.value(line.code, 0),
                                 "За предыдущий год": form.value(line.code, 1)}
                                for line in [boupr.OPENING] + boupr.RECEIVED + boupr.SPENT])
            st.subheader("Целевое использование средств")
            edited_use = st.data_editor(use, hide_index=True, disabled=["Код", "Строка"], key="boupr_use")
            for _, row in edited.iterrows():
                form.lines[row["Код"]] = [whole(row["На отчётную дату"]), whole(row["На 31.12 пред. года"]),
                                          whole(row["На 31.12 позапрошлого года"])]
            for _, row in edited_use.iterrows():
                if row["Код"] != "6210":       # from the ledger
                    form.lines[row["Код"]] = [whole(row["За отчётный год"]), whole(row["За предыдущий год"])]
            st.caption("Взносы за отчётный год из учёта: " + ", ".join(
                f"{boupr.CONTRIBUTION_CLASSES[k].lower()} {v[0]} тыс. ₽" for k, v in form.contributions.items()))
            b1, b2 = st.columns(2)
            if b1.button("Сохранить форму", key="boupr_save"):
                ui.done(lambda: boupr.save(db, form, actor=login), "Форма сохранена")
            if b2.button("Сформировать отчёт", type="primary", key="boupr_build"):
                built = ui.attempt(lambda: boupr.build(db, year, date.today(), actor=login, form=form))
                if built:
                    st.session_state["boupr_report"] = built
                    st.session_state.pop("boupr_signature", None)
        built = st.session_state.get("boupr_report")
        if built:
            report, problems = built
            st.markdown(f"**{report.name}**")
            if problems:
                st.error("Отчёт не прошёл проверки — подписать и отправить его нельзя:\n\n" +
                         "\n".join(f"- {p}" for p in problems))
            else:
                st.success("Проверки пройдены: имя файла = ИдФайл, актив = пассив, итоги строк сходятся")
            with st.expander("Содержимое XML"):
                st.code(report.data.decode("cp1251"), language="xml")
            st.download_button("Скачать XML", report.data, file_name=report.name, mime=report.mime, key="boupr_dl")
            signers = [i.name for i in registry.enabled_of_kind(db, "signer", login)]
            s1, s2 = st.columns(2)
            signer = s1.selectbox("Подпись", signers, key="boupr_signer", placeholder="нет включённых подписей")
            if s2.button("Подписать", key="boupr_sign", disabled=bool(problems) or not signer):
                signed = ui.attempt(lambda: filing.sign_bytes(db, report.name, report.data, signer, actor=login))
                if signed:
                    st.session_state["boupr_signature"] = signed
            signature = st.session_state.get("boupr_signature")
            if signature:
                sig, ext = signature
                st.download_button("Скачать подпись", sig, file_name=report.name + ext, key="boupr_sig_dl")
                transports = [i.name for i in registry.enabled_of_kind(db, "transport", login)]
                t1, t2 = st.columns(2)
                transport = t1.selectbox("Отправка", transports, key="boupr_transport")
                if t2.button("Отправить", key="boupr_submit", disabled=not transport):
                    row = ui.attempt(lambda: filing.submit(db, report.name, report.data, sig, report.name + ext,
                                                           transport, actor=login))
                    if row:
                        st.success(f"Отправка № {row['id']}: {filing.STATUSES.get(row['status'], row['status'])}")

# -- register and debtors (every role) ----------------------------------------------------------------
with tabs["Реестр членов"]:
    columns = members_register.FULL_COLUMNS if personal else members_register.BOARD_COLUMNS
    rows = ui.attempt(lambda: members_register.rows(db, personal)) or []
    # Contacts are masked on screen by default, as in the register page; each reveal is logged once.
    reveal = personal and st.toggle("Показать персональные данные (каждый показ записывается в журнал)",
                                    key="reg_reveal")
    if reveal and rows and not st.session_state.get("reg_revealed"):
        st.session_state["reg_revealed"] = ui.done(lambda: members.log_reveal(db, login, "отчёт: реестр членов",
                                                                                len(rows)))
    shown = rows if reveal else [{**r, **{k: members.mask(r[k]) for k in ("phones", "emails", "address")}}
                                 for r in rows]
    report_table(shown, columns)
    st.caption(f"Членов: {len(rows)}" + ("" if personal else ". Полные ФИО и контакты видят бухгалтер и администратор."))
    today = date.today()
    d1, d2 = st.columns(2)
    for col, fmt, label in ((d1, "xlsx", "Реестр .xlsx"), (d2, "pdf", "Реестр PDF")):
        with col:
            download(label, lambda fmt=fmt: members_register.build(db, fmt, personal, actor=login, day=today),
                     f"реестр-членов-{today:%Y%m%d}.{fmt}", f"reg_{fmt}")

with tabs["Должники"]:
    as_of = st.date_input("На дату", value=date.today(), format="DD.MM.YYYY", key="debtors_as_of")
    rows = ui.attempt(lambda: debtors.rows(db, as_of, personal)) or []
    report_table(rows, debtors.COLUMNS)
    st.caption(f"Должников: {len(rows)}; всего {fmt_money(sum(r['total'] for r in rows))} ₽")
    d1, d2 = st.columns(2)
    for col, fmt, label in ((d1, "xlsx", "Должники .xlsx"), (d2, "pdf", "Должники PDF")):
        with col:
            download(label, lambda fmt=fmt: debtors.build(db, as_of, fmt, personal, actor=login),
                     f"должники-{as_of:%Y%m%d}.{fmt}", f"debt_{fmt}")

if staff:
    with tabs["Пакет для суда"]:
        c1, c2 = st.columns(2)
        court_as_of = c1.date_input("На дату", value=date.today(), format="DD.MM.YYYY", key="court_as_of")
        candidates = ui.attempt(lambda: debtors.rows(db, court_as_of, True)) or []
        reg_no = c2.selectbox("Должник", [r["reg_no"] for r in candidates], key="court_member",
                              format_func=lambda n: next(f"{r['reg_no']} — {r['full_name']} ({fmt_money(r['total'])} ₽)"
                                                         for r in candidates if r["reg_no"] == n))
        if reg_no and st.button("Сформировать пакет", type="primary", key="court_build"):
            package = ui.attempt(lambda: court.build(db, reg_no, court_as_of, actor=login))
            if package:
                st.session_state["court_package"] = package
        package = st.session_state.get("court_package")
        if package:
            c = package.claim
            st.markdown(f"**{ui.plain(c.member['full_name'])}**, л/с {ui.plain(c.member['reg_no'])}: долг {fmt_money(c.principal)} ₽, "
                        f"пени {fmt_money(c.penalty)} ₽, госпошлина {fmt_money(c.fee)} ₽")
            report_table(c.periods, court.PERIOD_COLUMNS)
            for i, f in enumerate(package.files):
                st.download_button(f.name, f.data, file_name=f.name, mime=f.mime, key=f"court_file_{i}")

    with tabs["Реестр для Сбербанка"]:
        c1, c2 = st.columns(2)
        sber_as_of = c1.date_input("На дату", value=date.today(), format="DD.MM.YYYY", key="sber_as_of")
        number = int(c2.number_input("Номер реестра в месяце", 1, 999, 1, key="sber_number"))
        report = ui.attempt(lambda: sber_registry.build(db, sber_as_of, number, log=False))
        if report:
            lines = report.data.decode("cp1251").splitlines()
            st.caption(f"{report.name}: строк {len(lines)} (л/с; ФИО; адрес; сумма), кодировка Windows-1251")
            st.code("\n".join(lines[:10]) + ("\n…" if len(lines) > 10 else ""), language=None)
            download("Скачать реестр", lambda: sber_registry.build(db, sber_as_of, number, actor=login), report.name,
                     "sber_dl")

    with tabs["Отправки и подписи"]:
        st.subheader("Проверить подпись")
        v1, v2 = st.columns(2)
        checked = v1.file_uploader("Файл отчёта", key="verify_file")
        sig_file = v2.file_uploader("Файл подписи", key="verify_sig")
        if checked and sig_file and st.button("Проверить", key="verify_run"):
            result = ui.attempt(lambda: filing.verify(checked.getvalue(), sig_file.getvalue()))
            if result:
                st.success(ui.plain(f"Подпись верна; {result}"))
        st.subheader("Отправки")
        sent = ui.attempt(lambda: filing.submissions(db)) or []
        ui.table([{"№": r["id"], "Файл": r["file_name"], "Куда": r["transport"],
                   "Статус": filing.STATUSES.get(r["status"], r["status"]), "Подробности": r["detail"],
                   "Отправлен": r["submitted_at"], "Изменён": r["updated_at"]} for r in sent])
        if sent:
            chosen = st.selectbox("Отправка", [r["id"] for r in sent], key="submission")
            if st.button("Обновить статус", key="submission_refresh"):
                ui.attempt(lambda: filing.refresh(db, chosen, actor=login))
            ui.table([{"Когда": e["happened_at"] or e["recorded_at"],
                       "Статус": filing.STATUSES.get(e["status"], e["status"]), "Подробности": e["detail"]}
                      for e in filing.events(db, chosen)])
            for i, r in enumerate(filing.receipts(db, chosen)):
                st.download_button(f"Квитанция: {r['name']}", r["content"], file_name=r["name"], key=f"receipt_{i}")
