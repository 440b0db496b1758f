"""AppTest of the «Отчёты» page: the board's view without full names, the FNS report built, checked, signed
and packed, a failed check blocking the signature, the court package, the Sber registry preview."""

from __future__ import annotations

from datetime import date

from integrations import registry
from ledger import debts, members
from ledger.reports import debtors, filing
from tests import certs
from tests import ledger_builders as B
from tests.test_pages import page_test, texts


def test_board_sees_register_and_debtors_without_full_names(demo_db):
    at = page_test("pages/reports.py", "board").run()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == ["Реестр членов", "Должники"]
    register = at.dataframe[0].value
    full = {m["reg_no"]: m["full_name"] for m in members.list_members(demo_db)}
    assert "Телефон" not in register.columns
    for reg_no, shown in zip(register["№ л/с"], register["ФИО"]):
        assert shown == debts.short_name(full[reg_no]) != full[reg_no]
    owing = at.dataframe[1].value
    expected = debtors.rows(demo_db, date.today(), personal=False)
    assert list(owing["№ л/с"]) == [r["reg_no"] for r in expected]


def test_accountant_builds_signs_and_packs_the_fns_report(demo_db, tmp_path):
    key = certs.make_key("ec")
    registry.configure(demo_db, "cms", {"certificate": certs.cert_pem(certs.self_signed(key)),
                                        "private_key": certs.key_pem(key)})
    registry.set_enabled(demo_db, "cms", True)
    registry.configure(demo_db, "file_drop", {"path": str(tmp_path / "drop")})
    registry.set_enabled(demo_db, "file_drop", True)
    at = page_test("pages/reports.py", "accountant").run()
    assert not at.exception, at.exception
    at.number_input(key="boupr_year").set_value(2026).run()
    at.button(key="boupr_build").click().run()
    assert not at.exception, at.exception
    assert "Проверки пройдены" in texts(at)
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'report_built' AND target = 'boupr'") == 1
    at.selectbox(key="boupr_signer").set_value("cms").run()
    at.button(key="boupr_sign").click().run()
    assert not at.exception, at.exception
    at.selectbox(key="boupr_transport").set_value("file_drop").run()
    at.button(key="boupr_submit").click().run()
    assert not at.exception, at.exception
    assert "упакован" in texts(at)
    row = filing.submissions(demo_db)[0]
    assert row["transport"] == "file_drop" and row["file_name"].startswith("NO_BOUPR_")
    assert list((tmp_path / "drop" / "outbox").glob("*.zip"))


def test_a_report_failing_its_checks_cannot_be_signed(demo_db):
    at = page_test("pages/reports.py", "accountant").run()
    at.number_input(key="boupr_year").set_value(2026).run()
    # the editor's state is set as a user would edit a cell: line 1250 (row 3), reporting date
    at.session_state["boupr_balance"] = {"edited_rows": {3: {"На отчётную дату": 900}}, "added_rows": [],
                                         "deleted_rows": []}
    at.run()
    at.button(key="boupr_build").click().run()
    assert not at.exception, at.exception
    assert "не прошёл проверки" in texts(at) and "не равен пассиву" in texts(at)
    assert at.button(key="boupr_sign").disabled


def test_court_package_and_sber_registry_on_the_page(demo_db):
    at = page_test("pages/reports.py", "accountant").run()
    assert not at.exception, at.exception
    top = debtors.rows(demo_db, date.today(), personal=True)[0]
    at.selectbox(key="court_member").set_value(top["reg_no"]).run()
    at.button(key="court_build").click().run()
    assert not at.exception, at.exception
    assert any(top["full_name"] in m.value and "госпошлина" in m.value for m in at.markdown)
    assert "л/с; ФИО; адрес; сумма" in texts(at)


def test_a_download_is_generated_and_logged_only_when_clicked(demo_db):
    at = page_test("pages/reports.py", "accountant").run()
    assert not at.exception, at.exception
    logged = "SELECT count(*) FROM audit_log WHERE action = 'report_built'"
    assert demo_db.scalar(logged) == 0          # showing the page generated nothing
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'export_personal_data'") == 0


def test_page_on_an_empty_ledger_explains_what_is_missing(db):
    at = page_test("pages/reports.py", "accountant").run()
    assert not at.exception, at.exception
    assert "в учёте ещё нет данных ни за один год" in texts(at)     # no year to report on yet
    B.member(db, 1)
    B.pay(db, 1, date(date.today().year - 1, 3, 1), "100")         # the page's default year now has data
    at.run()
    at.button(key="boupr_build").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "не задано поле «ИНН»" in shown          # the FNS report and the Sber registry name what is missing


def test_an_emptied_cell_of_the_form_counts_as_zero(demo_db):
    at = page_test("pages/reports.py", "accountant").run()
    at.number_input(key="boupr_year").set_value(2026).run()
    at.session_state["boupr_use"] = {"edited_rows": {4: {"За предыдущий год": None}}, "added_rows": [],
                                     "deleted_rows": []}
    at.run()
    at.button(key="boupr_build").click().run()
    assert not at.exception, at.exception


def test_staff_see_contacts_masked_until_they_reveal_them_and_the_reveal_is_logged(demo_db):
    at = page_test("pages/reports.py", "accountant").run()

    def register_table():
        return next(d.value for d in at.dataframe if "Телефон" in d.value.columns)

    shown = register_table()
    real = {m["reg_no"]: m for m in members.list_members(demo_db)}
    with_phone = next(i for i, n in enumerate(shown["№ л/с"]) if real[n]["phones"])
    reg_no = shown["№ л/с"][with_phone]
    assert shown["Телефон"][with_phone] != real[reg_no]["phones"] and "*" in shown["Телефон"][with_phone]
    assert shown["ФИО"][with_phone] == real[reg_no]["full_name"]
    at.toggle(key="reg_reveal").set_value(True).run()
    assert not at.exception, at.exception
    assert register_table()["Телефон"][with_phone] == real[reg_no]["phones"]
    at.run()
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'personal_data_revealed' "
                          "AND target = 'отчёт: реестр членов'") == 1


def test_a_year_outside_the_accounting_is_refused_on_the_page(demo_db):
    at = page_test("pages/reports.py", "accountant").run()
    for year, why in ((2000, "раньше начала учёта"), (date.today().year + 1, "ещё не наступил")):
        at.number_input(key="boupr_year").set_value(year).run()
        assert not at.exception, at.exception
        assert f"Отчётный год {year} {why}: данные в учёте есть за " in texts(at)
        assert "кооператив зарегистрирован в 2014 г. (по ОГРН)" in texts(at)
        assert not [b for b in at.button if b.key == "boupr_build"]     # no form, nothing to build
    at.number_input(key="boupr_year").set_value(2026).run()
    assert [b for b in at.button if b.key == "boupr_build"]
