"""Registers as cooperatives keep them (issue 18): no л/с column, premises instead of plots, area without an
object column, and no library warnings on the way."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from ledger import accruals, cooperative, members
from ledger.errors import InputError
from tests.conftest import xlsx_bytes
from tests.ledger_builders import load, tariff
from tests.test_pages import page_test, shown, texts

D = Decimal

# A СНТ register as 217-ФЗ has it: one row per plot, the owner repeated on each of his plots, no member number.
SNT_HEAD = ["№ п/п", "Номер участка", "ФИО собственника", "Телефон", "Площадь"]
SNT = [
    ["Реестр членов СНТ «Берёзка» (ст. 15 217-ФЗ)", None, None, None, None],
    SNT_HEAD,
    [1, "100", "Иванов Иван Иванович", "8 (912) 345-67-89", 600],
    [2, "12а", "Петрова Мария Сергеевна", None, 800],
    [3, "36", "Иванов Иван Иванович", "+7 912 345 67 89", 400],
    [4, "41", "Сидоров Пётр Ильич", "8 903 111-22-33", 500],
    [5, "42", "Сидоров Пётр Ильич", "8 903 444-55-66", 700],      # a namesake: another phone, another person
    [6, "12б", "ПЕТРОВА  Мария Сергеевна", "8 916 000-11-22", 300],  # the same person: one row had no phone
]


def regs(db) -> dict[str, tuple[str, str, str | None]]:
    """reg_no -> (ФИО, plots, phones), straight from the tables."""
    return {r["reg_no"]: (r["full_name"], r["plots"], r["phones"]) for r in members.list_members(db)}


def test_register_without_reg_no_gathers_plots_per_person_and_numbers_by_smallest_plot(db):
    result = members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx")
    assert (result.added, result.numbered_by_plot, result.numbered_in_order) == (4, 4, 0)
    # Natural order: 36 < 100 (not "100" < "36"), 12а < 12б.
    assert regs(db) == {
        "36": ("Иванов Иван Иванович", "100, 36", "+79123456789"),
        "12а": ("Петрова Мария Сергеевна", "12а, 12б", "+79160001122"),
        "41": ("Сидоров Пётр Ильич", "41", "+79031112233"),
        "42": ("Сидоров Пётр Ильич", "42", "+79034445566"),
    }
    assert "в файле нет л/с, номера присвоены: 4 — по наименьшему номеру участка члена" in result.summary()
    assert members.find_by_reg_no(db, "36")["area"] == D("1000.00")
    # The «№ п/п» column is recognised (and not loaded): no «не распознан» warning for it.
    assert result.warnings == []


def test_second_load_finds_the_same_members_and_changes_nothing(db):
    members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx")
    before = regs(db)
    changes = db.scalar("SELECT count(*) FROM member_changes")
    again = members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx")
    assert (again.added, again.updated, again.unchanged, again.plots_added) == (0, 0, 4, 0)
    assert again.found_again == 4 and again.numbered_by_plot == again.numbered_in_order == 0
    assert "4 члена найдены в реестре по участкам, ФИО и телефону" in again.summary()
    assert regs(db) == before
    assert db.scalar("SELECT count(*) FROM member_changes") == changes


def test_updated_file_keeps_old_numbers_and_numbers_new_people(db):
    members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx")
    members.add_member(db, {"reg_no": "7", "full_name": "Бывший Владелец"})   # л/с 7 is taken
    updated = SNT + [
        [7, "5", "Иванов Иван Иванович", "89123456789", 450],   # a new plot, smaller than his л/с 36
        [8, "77", "Козлова Анна Петровна", None, 900],          # a new person
        [9, "7", "Орлов Олег Олегович", "8 999 123-45-67", 650],  # a new person whose plot number is a taken л/с
    ]
    result = members.import_register(db, xlsx_bytes(updated), "реестр-2.xlsx")
    assert (result.added, result.found_again, result.numbered_by_plot, result.numbered_in_order) == (2, 4, 1, 1)
    got = regs(db)
    assert got["36"] == ("Иванов Иван Иванович", "100, 36, 5", "+79123456789")   # never renumbered
    assert got["77"][0] == "Козлова Анна Петровна"
    # Sequential: above the highest numeric л/с of the register (77 now), not a reuse of a gap.
    assert got["78"][:2] == ("Орлов Олег Олегович", "7")
    assert "1 — по порядку после наибольшего номера (с 78)" in result.summary()
    assert {k: v[:2] for k, v in got.items() if k in ("12а", "41", "42")} == {
        "12а": ("Петрова Мария Сергеевна", "12а, 12б"), "41": ("Сидоров Пётр Ильич", "41"),
        "42": ("Сидоров Пётр Ильич", "42")}


def test_sequential_numbering_on_request(db):
    result = members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx", numbering="sequential")
    assert (result.numbered_by_plot, result.numbered_in_order) == (0, 4)
    # In the order people first appear in the file.
    assert {k: v[1] for k, v in regs(db).items()} == {"1": "100, 36", "2": "12а, 12б", "3": "41", "4": "42"}
    with pytest.raises(InputError, match="Нумерация л/с «by_name» неизвестна"):
        members.import_register(db, xlsx_bytes(SNT), "реестр.xlsx", numbering="by_name")


def test_row_without_phone_among_namesakes_is_refused_with_its_row(db):
    rows = SNT + [[7, "43", "Сидоров Пётр Ильич", None, 100]]
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes(rows), "реестр.xlsx")
    assert ("реестр.xlsx, строка 9: «Сидоров Пётр Ильич» без телефона, а в файле несколько человек с этим ФИО "
            "и разными телефонами (строки 6, 7) — укажите телефон") in str(err.value)
    assert db.scalar("SELECT count(*) FROM members") == 0


def test_co_owners_of_one_plot_stay_two_members_with_shares(db):
    rows = [["Номер участка", "ФИО собственника", "Доля"],
            ["15", "Кузнецов Олег Ильич", "1/2"], ["15", "Кузнецова Ольга Ивановна", "1/2"],
            ["16", "Кузнецова Ольга Ивановна", None]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    owners = db.fetchall("SELECT m.reg_no, m.full_name, p.number, o.share_num, o.share_den FROM plot_owners o "
                         "JOIN members m ON m.id = o.member_id JOIN plots p ON p.id = o.plot_id "
                         "ORDER BY m.full_name, p.number")
    # Ольга's smallest plot 15 is Олег's л/с already: she is numbered in order above the highest (15 → 16).
    assert owners == [("15", "Кузнецов Олег Ильич", "15", 1, 2), ("16", "Кузнецова Ольга Ивановна", "15", 1, 2),
                      ("16", "Кузнецова Ольга Ивановна", "16", 1, 1)]


# -- premises -----------------------------------------------------------------------------------

@pytest.mark.parametrize("header, value", [
    ("Кв №", "12"), ("Квартира", "кв. 12"), ("Номер квартиры", "12"), ("Номер помещения", "12"),
    ("Помещение", "пом. 12"), ("Бокс", "бокс 12"), ("Гараж №", "12"), ("Машиноместо", "м/м 12"),
])
def test_premises_headers_load_as_objects(db, header, value):
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", header, "Площадь, м²"], ["1", "Жилец Один", value, 54.3]]),
                            "r.xlsx")
    member = members.find_by_reg_no(db, "1")
    assert (member["plots"], member["area"]) == ("12", D("54.30"))


def test_object_words_follow_the_cooperative_type(db):
    assert cooperative.objects_of(db).count(5) == "5 участков"
    cooperative.save_settings(db, {"type": "ТСЖ"})
    words = cooperative.objects_of(db)
    assert (words.One, words.gen, words.Many, words.gen_many, words.count(2)) == \
        ("Квартира", "квартиры", "Квартиры", "квартир", "2 квартиры")
    cooperative.save_settings(db, {"type": "ГСК"})
    assert cooperative.objects_of(db).count(21) == "21 бокс"
    cooperative.save_settings(db, {"object_kind": "помещение"})   # a ТСЖ of offices: chosen in the settings
    assert cooperative.objects_of(db).count(3) == "3 помещения"
    with pytest.raises(InputError, match="«подвал» — не вид объекта"):
        cooperative.save_settings(db, {"object_kind": "подвал"})


TSJ = [["ТСЖ «Дом на Набережной»", None, None, None],
       ["№ л/с", "ФИО", "Кв №", "Площадь, м²"],
       ["1", "Алексеева Анна Павловна", "1", "54,3"],
       ["2", "Борисов Борис Борисович", "2; 3", "36,1; 72"]]


def test_tsj_register_with_flats_accrues_per_square_metre_and_says_kvartira(db, tmp_path):
    cooperative.save_settings(db, {"type": "ТСЖ"})
    result = members.import_register(db, xlsx_bytes(TSJ), "тсж.xlsx")
    assert result.summary() == "добавлено 2, изменено 0, без изменений 0; новых квартир 3"
    load(db, tariff(code="upkeep", name="Содержание", basis="plot_area", rate="30.50", period="month", due="10",
                    start="2026-01-01"))
    accruals.accrue(db, date(2026, 1, 31))
    got = db.fetchall("SELECT m.reg_no, sum(c.amount) FROM charges c JOIN members m ON m.id = c.member_id "
                      "GROUP BY m.reg_no ORDER BY m.reg_no")
    # 30.50 × 54.3 = 1656.15; 30.50 × (36.1 + 72) = 30.50 × 108.1 = 3297.05
    assert got == [("1", D("1656.15")), ("2", D("3297.05"))]
    # The export says «№ квартиры» and loads back as it was.
    out = tmp_path / "out.xlsx"
    members.export_register(db, out)
    import openpyxl
    header = [c.value for c in next(openpyxl.load_workbook(out).active.iter_rows(min_row=1, max_row=1))]
    assert "№ квартиры" in header and "№ участка" not in header
    again = members.import_register(db, out.read_bytes(), "out.xlsx")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)


def test_members_page_says_kvartira_for_a_tsj(db):
    cooperative.save_settings(db, {"type": "ТСЖ"})
    members.import_register(db, xlsx_bytes(TSJ), "тсж.xlsx")
    at = page_test("pages/members.py").run()
    assert not at.exception
    assert at.text_input(key="search").label == "Поиск: ФИО, л/с, квартира, телефон, e-mail"
    assert at.text_input(key="plot_filter").label == "Квартира"
    table = shown(at.dataframe[0])
    assert table["Квартиры"] == ["1", "2, 3"] and "Участки" not in table
    at.selectbox(key="card_member").set_value(members.find_by_reg_no(db, "2")["id"]).run()
    assert "Квартиры: история владения" in texts(at)
    accr = page_test("pages/accruals.py").run()
    assert not accr.exception


def test_accruals_page_names_the_basis_by_the_object(db):
    cooperative.save_settings(db, {"type": "ГСК"})
    load(db, tariff(code="upkeep", name="Содержание", basis="plot_area", rate="30.50"))
    at = page_test("pages/accruals.py").run()
    assert not at.exception
    assert shown(at.dataframe[0])["База"] == ["с м² бокса"]


# -- area without an object column --------------------------------------------------------------

def test_area_without_object_column_becomes_an_object_numbered_by_reg_no(db):
    rows = [["№ л/с", "ФИО", "Площадь"], ["5", "Гаражев Гарри", 18], ["6", "Боксов Борис", "21,5"]]
    result = members.import_register(db, xlsx_bytes(rows), "гск.xlsx")
    assert result.plots_added == 2
    assert any("площадь без номера участка: участки заведены с номером, равным л/с члена (5, 6; всего 2)" in w
               for w in result.warnings)
    assert [(m["reg_no"], m["plots"], m["area"]) for m in members.list_members(db)] == \
        [("5", "5", D("18.00")), ("6", "6", D("21.50"))]
    load(db, tariff(code="upkeep", basis="plot_area", rate="10", period="year", due="07-01", start="2026-01-01"))
    accruals.accrue(db, date(2026, 12, 31))
    assert db.fetchall("SELECT m.reg_no, c.amount FROM charges c JOIN members m ON m.id = c.member_id "
                       "ORDER BY m.reg_no") == [("5", D("180.00")), ("6", D("215.00"))]
    # The next file with a new area: the same object, its area changed (and logged), nothing new.
    again = members.import_register(db, xlsx_bytes([rows[0], ["5", "Гаражев Гарри", 20], rows[2]]), "гск.xlsx")
    assert (again.plots_added, again.updated, again.unchanged, again.warnings) == (0, 1, 1, [])
    assert members.find_by_reg_no(db, "5")["area"] == D("20.00")


def test_area_without_object_column_for_a_member_with_several_objects_is_refused(db):
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "№ участка"], ["1", "Многоучастков Иван", "3, 4"]]),
                            "r.xlsx")
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Площадь"], ["1", "Многоучастков Иван", 600]]),
                                "площади.xlsx")
    assert str(err.value) == ("площади.xlsx, строка 2: площадь 600.00 м² без номера участка, а у л/с 1 2 участка "
                              "(3, 4) — не понять, чья это площадь; добавьте столбец с номером участка")
    assert db.scalar("SELECT count(*) FROM plots WHERE area IS NOT NULL") == 0
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Площадь"], ["2", "Двояков Дмитрий", "600; 400"]]),
                                "две.xlsx")
    assert str(err.value) == ("две.xlsx, строка 2: площадей 2, а столбца с номером участка или помещения нет — "
                              "не понять, какая площадь чья; добавьте столбец «№ участка» (или «Кв №», «Бокс»)")
    assert members.find_by_reg_no(db, "2") is None


# -- the CLI and library warnings -----------------------------------------------------------------

def noisy_xlsx(rows: list[list]) -> bytes:
    """An .xlsx as other programs write it: no named cell style, and a data validation list in an extension —
    both make openpyxl warn («Workbook contains no default style», «Data Validation extension is not supported»)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx_bytes(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/styles.xml":
                data = re.sub(rb"<cellStyles.*?</cellStyles>", b"", data, flags=re.S)
            elif info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", (
                    b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
                    b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
                    b'<x14:dataValidations count="0"/></ext></extLst></worksheet>'))
            dst.writestr(info, data)
    return out.getvalue()


def coop(*args):
    return subprocess.run([sys.executable, "-W", "default", "-m", "ledger.cli", *args], capture_output=True,
                          text=True)


def test_cli_loads_a_register_without_reg_no_and_library_warnings_stay_silent(db, db_path, tmp_path):
    src = tmp_path / "реестр.xlsx"
    src.write_bytes(noisy_xlsx(SNT))
    # The file really makes the library warn (else this test could not fail).
    import warnings

    import openpyxl
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        openpyxl.load_workbook(src)
    said = {str(w.message) for w in caught}
    assert "Workbook contains no default style, apply openpyxl's default" in said
    assert "Data Validation extension is not supported and will be removed" in said

    first = coop("--db", str(db_path), "members", "import", str(src))
    assert first.returncode == 0 and first.stderr == ""
    assert ("реестр.xlsx: добавлено 4, изменено 0, без изменений 0; новых участков 6; в файле нет л/с, номера "
            "присвоены: 4 — по наименьшему номеру участка члена") in first.stdout
    again = coop("--db", str(db_path), "members", "import", str(src))
    assert again.returncode == 0 and again.stderr == ""
    assert "добавлено 0, изменено 0, без изменений 4; новых участков 0" in again.stdout
    bad = coop("--db", str(db_path), "members", "import", str(src), "--numbering", "alpha")
    assert bad.returncode == 1 and "Нумерация л/с «alpha» неизвестна; допустимы: plot, sequential" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_members_page_loads_a_register_without_reg_no(db):
    at = page_test("pages/members.py").run()
    at.file_uploader(key="register_file").set_value(("реестр.xlsx", xlsx_bytes(SNT), "application/octet-stream")).run()
    assert not at.exception
    said = texts(at)
    assert "В файле нет номеров л/с: строки одного человека (то же ФИО и телефон) станут одним членом" in said
    preview = next(t for t in map(shown, [d for d in at.dataframe if d.proto.arrow_data.styler.display_values])
                   if "Строка" in t)
    assert preview["Строка"][:2] == ["3, 5", "4, 8"] and set(preview["Л/с"]) == {"будет присвоен"}
    assert preview["Участки"][:2] == ["100, 36", "12а, 12б"]
    radio = at.radio(key="register_numbering")
    assert radio.value == "plot" and radio.options == ["по наименьшему номеру участка", "по порядку после наибольшего"]
    radio.set_value("sequential")
    at.button(key="do_import").click().run()
    assert not at.exception
    assert ("Готово: добавлено 4, изменено 0, без изменений 0; новых участков 6; в файле нет л/с, номера присвоены: "
            "4 — по порядку после наибольшего номера (с 1)") in texts(at)
    assert {k: v[1] for k, v in regs(db).items()} == {"1": "100, 36", "2": "12а, 12б", "3": "41", "4": "42"}
    # The same file again: everybody found, no new numbers whatever the rule.
    at.button(key="do_import").click().run()
    assert ("Готово: добавлено 0, изменено 0, без изменений 4; новых участков 0; в файле нет л/с, 4 члена найдены "
            "в реестре по участкам, ФИО и телефону") in texts(at)


def test_cli_object_kind_setting_names_premises_in_the_summary(db, db_path, tmp_path, capsys):
    from ledger import cli

    assert cli.main(["cooperative", "set", "type=ТСЖ", "object_kind=помещение"]) == 0
    src = tmp_path / "офисы.csv"
    src.write_text("Номер помещения;ФИО;Площадь\nпом. 1;Офисов Олег;120,5\n2;Складова Анна;300\n", "utf-8")
    assert cli.main(["members", "import", str(src)]) == 0
    out = capsys.readouterr().out
    assert ("офисы.csv: добавлено 2, изменено 0, без изменений 0; новых помещений 2; в файле нет л/с, номера "
            "присвоены: 2 — по наименьшему номеру помещения члена") in out
    assert cli.main(["cooperative", "set", "object_kind=подвал"]) == 1
    assert "Поле «Объекты членов (пусто — по типу: участок, квартира или бокс)»: «подвал» — не вид объекта" in \
        capsys.readouterr().err


def test_row_with_a_plot_but_no_name_is_refused_not_dropped(db):
    """A second plot written under its owner without repeating the name was skipped silently; the numbered blank
    rows of a form and a totals row of areas still are."""
    rows = [SNT_HEAD, [1, "100", "Иванов Иван Иванович", None, 600], [2, "101", None, None, 400],
            [3, None, None, None, None], [None, None, None, None, 1000]]
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    assert err.value.problems == ["r.xlsx, строка 3: не указано ФИО, а в строке есть данные («Номер участка»: 101); "
                                  "если это ещё один участок члена из строки выше, впишите ФИО и в эту строку"]
    assert db.scalar("SELECT count(*) FROM members") == 0


def test_a_repeated_row_of_a_member_with_reg_no_is_the_same_plot(db):
    """Two equal rows of л/с 50 listed plot 50 twice for one member and were refused as shares adding up over 1
    («указан у л/с 50, л/с 50»); a register without л/с already takes a repeated plot once."""
    rows = [["№ л/с", "ФИО", "Участок", "Площадь"], ["50", "Дубов Дмитрий", "50", 600], ["50", "Дубов Дмитрий", "50", 600],
            ["50", "Дубов Дмитрий", "51", 400]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    assert members.find_by_reg_no(db, "50")["plots"] == "50, 51"
    assert db.scalar("SELECT count(*) FROM plot_owners") == 2


@pytest.mark.parametrize("total", [[None, None, "ИТОГО", None, 1000], [None, None, "Всего членов: 1", None, 1000]])
def test_a_totals_row_under_the_register_is_not_a_member(db, total):
    """«Итого» in the name column was read as a member and refused for its area with no plot."""
    rows = [SNT_HEAD, [1, "100", "Иванов Иван Иванович", None, 600], total]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    assert db.scalar("SELECT count(*) FROM members") == 1
