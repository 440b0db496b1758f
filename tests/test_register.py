"""Import and export of the member register."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from ledger import members
from ledger.errors import InputError
from tests.conftest import table_dump, xlsx_bytes


def inn(first10: str) -> str:
    """An independent INN check-digit computation for test data."""
    w11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    w12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    d11 = sum(int(a) * b for a, b in zip(first10, w11)) % 11 % 10
    d12 = sum(int(a) * b for a, b in zip(first10 + str(d11), w12)) % 11 % 10
    return f"{first10}{d11}{d12}"


INN1, INN2, INN0 = inn("5001007322"), inn("7712345678"), inn("0123456789")

TITLED = [
    ["Реестр членов СНТ «Рассвет»", None, None, None, None, None, None],
    ["по состоянию на 01.03.2026", None, None, None, None, None, None],
    [None] * 7,
    ["№ л/с", "Фамилия, имя, отчество", "№ участка", "Площадь, м2", "ИНН", "Телефон", "Дата вступления"],
    ["1", "Иванов Иван Иванович", "12, 13", "600; 400", INN1, "8 912 345-67-89", "01.02.2015"],
    ["2", "Петрова Мария Сергеевна", "14а", 800, INN2, None, date(2016, 5, 20)],
    ["3", "Сидоров Пётр Ильич", "3-15", 1000, None, "+7 (903) 111-22-33", None],
]


def test_title_rows_merged_cells_and_synonyms(db):
    data = xlsx_bytes(TITLED, merges=["A1:G1", "A2:G2"])
    result = members.import_register(db, data, "reestr.xlsx")
    assert (result.added, result.updated) == (3, 0)
    ivanov = members.find_by_reg_no(db, "1")
    assert ivanov["full_name"] == "Иванов Иван Иванович"
    assert ivanov["plots"] == "12, 13"
    assert ivanov["area"] == Decimal("1000.00")
    assert ivanov["inn"] == INN1
    assert ivanov["phones"] == "+79123456789"
    assert ivanov["join_date"] == date(2015, 2, 1)
    petrova = members.find_by_reg_no(db, "2")
    assert petrova["plots"] == "14а" and petrova["join_date"] == date(2016, 5, 20)
    assert members.find_by_reg_no(db, "3")["plots"] == "3-15"


@pytest.mark.parametrize("reg_header, name_header, plot_header, area_header, email_header", [
    ("Лицевой счет", "ФИО", "Участок", "Площадь", "E-mail"),
    ("Номер члена", "Член товарищества", "№ участка", "Площадь, м2", "Эл. почта"),
    ("№ л/с", "Пайщик", "Участок", "Площадь", "Эл. почта"),
    ("ЛИЦЕВОЙ СЧЁТ", "Ф.И.О.", "участок", "площадь", "e-mail"),
])
def test_header_synonyms(db, reg_header, name_header, plot_header, area_header, email_header):
    rows = [[reg_header, name_header, plot_header, area_header, email_header, "Кадастровый номер"],
            ["7", "Орлова Анна Викторовна", "45", 600, "anna@example.ru", "50:04:0010101:145"]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    m = members.find_by_reg_no(db, "7")
    assert (m["full_name"], m["plots"], m["emails"], m["cadastral_nos"]) == \
        ("Орлова Анна Викторовна", "45", "anna@example.ru", "50:04:0010101:145")


def test_split_name_columns_are_joined(db):
    rows = [["Номер члена", "Фамилия", "Имя", "Отчество", "Участок"],
            ["10", "Кузнецова", "Ольга", "Петровна", "7"],
            ["11", "Ли", "Инна", "", "8"]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    assert members.find_by_reg_no(db, "10")["full_name"] == "Кузнецова Ольга Петровна"
    assert members.find_by_reg_no(db, "11")["full_name"] == "Ли Инна"


def _csv_bytes(rows, encoding, delimiter=";"):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding, delimiter", [("cp1251", ";"), ("utf-8", ","), ("utf-8-sig", ";")])
def test_csv_encodings(db, encoding, delimiter):
    rows = [["№ л/с", "ФИО", "Участок", "Дата вступления"],
            ["5", "Ёлкин Семён Фёдорович", "21", "03.04.2019"]]
    members.import_register(db, _csv_bytes(rows, encoding, delimiter), "r.csv")
    m = members.find_by_reg_no(db, "5")
    assert m["full_name"] == "Ёлкин Семён Фёдорович" and m["join_date"] == date(2019, 4, 3)


def test_bad_rows_are_listed_with_spreadsheet_row_numbers_and_nothing_is_imported(db):
    rows = [["Реестр", None, None, None, None],
            ["№ л/с", "ФИО", "ИНН", "Дата вступления", "Участок"],
            ["1", "Иванов Иван", "500100732258", "01.01.2020", "1"],     # row 3: bad INN checksum
            ["2", "", "", "", "2"],                                      # row 4: empty name
            ["3", "Петров Пётр", "", "31.02.2020", "3"],                # row 5: bad date
            ["4", "Смирнов Олег", "", "", "4"],                          # row 6: fine
            ["4", "Соколов Антон", "", "", "5"]]                         # row 7: duplicate л/с
    with pytest.raises(InputError) as err:
        members.import_register(db, xlsx_bytes(rows), "bad.xlsx")
    problems = err.value.problems
    assert any(p.startswith("bad.xlsx, строка 3:") and "ИНН" in p for p in problems)
    assert any(p.startswith("bad.xlsx, строка 4:") and "ФИО" in p for p in problems)
    assert any(p.startswith("bad.xlsx, строка 5:") and "дата" in p for p in problems)
    assert any(p.startswith("bad.xlsx, строка 7:") and "повторяется" in p for p in problems)
    assert len(problems) == 4
    assert db.scalar("SELECT count(*) FROM members") == 0
    assert db.scalar("SELECT count(*) FROM plots") == 0


def test_reimport_of_the_same_file_changes_nothing(db):
    data = xlsx_bytes(TITLED)
    members.import_register(db, data, "r.xlsx")
    tables = ["members", "member_statuses", "member_changes", "plots", "plot_owners", "audit_log"]
    before = {t: table_dump(db, t) for t in tables}
    result = members.import_register(db, data, "r.xlsx")
    assert (result.added, result.updated, result.unchanged) == (0, 0, 3)
    assert {t: table_dump(db, t) for t in tables} == before


def test_newer_register_updates_and_keeps_history(db):
    members.import_register(db, xlsx_bytes(TITLED), "r.xlsx")
    newer = [row[:] for row in TITLED[3:]]
    newer[0].append("Статус")
    newer[1][2], newer[1][3] = "12", 600   # Иванов sold plot 13
    newer[1].append("член")
    newer[2][5] = "+7 900 000-00-01"   # Петрова got a phone
    newer[2].append("член")
    newer[3].append("выбыл")           # Сидоров left
    result = members.import_register(db, xlsx_bytes(newer), "r2.xlsx")
    assert result.updated == 3 and result.ownerships_closed == 1
    ivanov = members.find_by_reg_no(db, "1")
    assert ivanov["plots"] == "12"
    history = members.member_history(db, ivanov["id"])
    closed = [p for p in history["plots"] if p["number"] == "13"]
    assert closed and closed[0]["owned_to"] is not None
    petrova = members.find_by_reg_no(db, "2")
    changes = members.member_history(db, petrova["id"])["changes"]
    assert [(c["field"], c["old_value"], c["new_value"]) for c in changes] == [("phones", None, "+79000000001")]
    sidorov = members.find_by_reg_no(db, "3")
    assert sidorov["status"] == "withdrawn"
    statuses = [s["status"] for s in members.member_history(db, sidorov["id"])["statuses"]]
    assert statuses == ["member", "withdrawn"]


def test_unknown_column_is_reported_not_guessed(db):
    rows = [["№ л/с", "ФИО", "Участок", "Любимый цвет"], ["1", "Иванов Иван", "1", "синий"]]
    result = members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    assert any("«Любимый цвет» не распознан" in w for w in result.warnings)


def test_member_on_several_rows_with_merged_name_cells(db):
    rows = [["№ л/с", "ФИО", "Участок", "Площадь"],
            ["1", "Иванов Иван Иванович", "12", 600],
            [None, None, "13", 400],
            ["2", "Петров Пётр", "14", 500]]
    members.import_register(db, xlsx_bytes(rows, merges=["A2:A3", "B2:B3"]), "r.xlsx")
    assert members.find_by_reg_no(db, "1")["plots"] == "12, 13"
    assert db.scalar("SELECT count(*) FROM members") == 2


def test_co_owners_share_a_plot(db):
    rows = [["№ л/с", "ФИО", "Участок", "Доля"],
            ["1", "Иванов Иван", "12", "1/3"],
            ["2", "Иванова Мария", "12", "2/3"]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    owners = db.fetchall("SELECT m.reg_no, o.share_num, o.share_den FROM plot_owners o JOIN members m ON m.id = o.member_id "
                         "ORDER BY m.reg_no")
    assert owners == [("1", 1, 3), ("2", 2, 3)]


@pytest.mark.parametrize("rows, message", [
    ([["Какая-то таблица"], ["1", "2"]], "не найдена строка заголовков"),
    ([["№ л/с", "Участок"], ["1", "5"]], "нет столбца ФИО"),   # a register without л/с loads: test_register_rows
])
def test_unrecognisable_files(db, rows, message):
    with pytest.raises(InputError, match=message):
        members.import_register(db, xlsx_bytes(rows), "r.xlsx")


@pytest.mark.parametrize("data, name, message", [
    (b"", "r.xlsx", "пуст"), (b"PK\x03\x04garbage", "r.xlsx", "повреждён"),
    (b"\x00\x01\x02binary\x00", "r.csv", "двоичные"), (b"\x00\x01\x02binary\x00", "r.xlsx", "не файл Excel"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "r.xls", r"\.xls")])   # a broken Excel 97 file
def test_broken_files(db, data, name, message):
    with pytest.raises(InputError, match=message):
        members.import_register(db, data, name)


def test_export_xlsx_is_formatted_and_round_trips(demo_db, tmp_path, db_path):
    path = tmp_path / "out.xlsx"
    n = members.export_register(demo_db, path, actor="test")
    assert n == 300
    ws = openpyxl.load_workbook(path).active
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref.startswith("A1:")
    assert ws.column_dimensions["B"].width > 20
    assert ws.cell(row=1, column=1).value == "№ л/с"
    join_col = [c.value for c in ws[1]].index("Дата вступления") + 1
    assert isinstance(ws.cell(row=2, column=join_col).value, __import__("datetime").datetime)
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'export_personal_data'") == 1
    # The export is a register the import understands: into a fresh ledger, then unchanged on re-import.
    from ledger.db import Database

    fresh = Database(tmp_path / "fresh.duckdb")
    result = members.import_register(fresh, path.read_bytes(), "out.xlsx")
    assert result.added == 300 and not result.warnings
    original = {r["reg_no"]: r for r in members.list_members(demo_db)}
    for r in members.list_members(fresh):
        o = original[r["reg_no"]]
        assert (r["full_name"], r["status"], r["plots"], r["inn"], r["phones"], r["join_date"]) == \
               (o["full_name"], o["status"], o["plots"], o["inn"], o["phones"], o["join_date"])
        assert r["area"] == o["area"]


def _legacy_member(db, reg_no: str, full_name: str, notes: str | None = None) -> None:
    """A member stored before names were checked for formulas (an old ledger): straight into the table."""
    with db.transaction() as con:
        con.execute("INSERT INTO members (reg_no, full_name, status, notes, created_at, updated_at) "
                    "VALUES (?, ?, 'member', ?, now(), now())", [reg_no, full_name, notes])


def test_export_writes_formula_like_text_as_text_cells(db, tmp_path):
    _legacy_member(db, "1", "=HYPERLINK(\"http://evil\",\"x\")", notes="@SUM(A1)")
    xlsx, csv_path = tmp_path / "o.xlsx", tmp_path / "o.csv"
    members.export_register(db, xlsx)
    members.export_register(db, csv_path)
    ws = openpyxl.load_workbook(xlsx).active
    name = ws.cell(row=2, column=2)
    # In .xlsx a text cell is never evaluated: the text stays as written, typed as a string, not a formula.
    assert name.data_type == "s" and name.value == "=HYPERLINK(\"http://evil\",\"x\")"
    notes_col = [c.value for c in ws[1]].index("Примечание") + 1
    assert ws.cell(row=2, column=notes_col).data_type == "s"
    assert ws.cell(row=2, column=notes_col).value == "@SUM(A1)"
    # CSV has no cell types: such values keep a leading apostrophe.
    text = csv_path.read_text("utf-8")
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert ",=" not in text and ",@" not in text


def test_export_phones_as_text_without_apostrophe_and_areas_as_numbers(db, tmp_path):
    rows = [["№ л/с", "ФИО", "№ участка", "Площадь", "Телефон", "ИНН"],
            ["1", "Иванов Иван", "12", "600", "8 912 345-67-89", INN0],
            ["2", "Петров Пётр", "13; 14", "500; 700", "+7 903 111-22-33, 8 916 000-00-01", None]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    xlsx, csv_path = tmp_path / "o.xlsx", tmp_path / "o.csv"
    members.export_register(db, xlsx)
    members.export_register(db, csv_path)
    ws = openpyxl.load_workbook(xlsx).active
    head = [c.value for c in ws[1]]
    phone, area, inn_cell = (ws.cell(row=2, column=head.index(t) + 1) for t in ("Телефон", "Площадь, м2", "ИНН"))
    assert phone.value == "+79123456789" and phone.data_type == "s"
    assert area.data_type == "n" and area.value == 600
    assert inn_cell.value == INN0 and inn_cell.data_type == "s"  # the leading zero stays
    two = ws.cell(row=3, column=head.index("Площадь, м2") + 1)
    assert two.value == "500.00; 700.00"   # several plots: one cell the import reads back, area by area
    assert ws.cell(row=3, column=head.index("Телефон") + 1).value == "+79031112233, +79160000001"
    got = list(csv.reader(io.StringIO(csv_path.read_text("utf-8"))))
    assert got[1][head.index("Телефон")] == "+79123456789"
    assert got[2][head.index("Телефон")] == "+79031112233, +79160000001"
    assert got[1][head.index("Площадь, м2")] == "600.00"


def test_export_with_a_title_block_is_still_a_register(db, tmp_path):
    members.import_register(db, xlsx_bytes(TITLED), "r.xlsx")
    from ledger.spreadsheets import title_lines, write_xlsx

    from ledger import cooperative

    path = tmp_path / "t.xlsx"
    write_xlsx(path, members.EXPORT_COLUMNS, members.export_rows(db), "Реестр",
               title=title_lines("СНТ «Рассвет»", "Реестр членов", date(2026, 3, 1)))
    cooperative.save_settings(db, {"name": "СНТ «Рассвет»"})
    data = members.export_register_bytes(db, "xlsx", title=cooperative.export_title(db, "Реестр членов",
                                                                                   date(2026, 3, 1)))
    downloaded = openpyxl.load_workbook(io.BytesIO(data)).active
    assert (downloaded["A1"].value, downloaded["A2"].value) == ("СНТ «Рассвет»", "Реестр членов на 01.03.2026")
    ws = openpyxl.load_workbook(path).active
    assert [ws.cell(row=r, column=1).value for r in (1, 2, 3, 4)] == \
        ["СНТ «Рассвет»", "Реестр членов на 01.03.2026", None, "№ л/с"]
    assert ws.cell(row=1, column=1).font.b
    last = openpyxl.utils.get_column_letter(len(members.EXPORT_COLUMNS))   # the filter spans every column
    assert ws.freeze_panes == "A5" and ws.auto_filter.ref == f"A4:{last}7"
    result = members.import_register(db, path.read_bytes(), "t.xlsx")
    assert (result.added, result.updated, result.unchanged) == (0, 0, 3)


def test_add_and_edit_member_validates_fields(db):
    with pytest.raises(InputError, match="«ИНН»"):
        members.add_member(db, {"reg_no": "1", "full_name": "Иванов", "inn": "123"})
    member_id = members.add_member(db, {"reg_no": "1", "full_name": "Иванов Иван", "inn": INN1})
    with pytest.raises(InputError, match="уже занят"):
        members.add_member(db, {"reg_no": "1", "full_name": "Другой"})
    members.update_member(db, member_id, {"status": "excluded", "exit_date": "01.06.2026"}, actor="acc")
    card = members.get_member(db, member_id)
    assert card["status"] == "excluded" and card["exit_date"] == date(2026, 6, 1)
    statuses = members.member_history(db, member_id)["statuses"]
    assert [s["status"] for s in statuses] == ["member", "excluded"]
    members.set_plots(db, member_id, [{"number": "5", "area": "600"}, {"number": "6"}], actor="acc")
    assert members.get_member(db, member_id)["plots"] == "5, 6"


def test_search_and_filters(demo_db):
    some = members.list_members(demo_db)[41]
    surname = some["full_name"].split()[0]
    found = members.list_members(demo_db, search=surname.upper().replace("Ё", "Е"))
    assert some["reg_no"] in {r["reg_no"] for r in found}
    first_plot = some["plots"].split(", ")[0] if some["plots"] else None
    if first_plot:
        assert some["reg_no"] in {r["reg_no"] for r in members.list_members(demo_db, plot=first_plot)}
    withdrawn = members.list_members(demo_db, statuses=["withdrawn"])
    assert withdrawn and all(r["status"] == "withdrawn" for r in withdrawn)


# -- files refused with the reason (issue 12, items 10 and 13; issue 19) ---------------------------

def _refused(db, data: bytes, name: str = "r.xlsx") -> list[str]:
    with pytest.raises(InputError) as err:
        members.import_register(db, data, name)
    assert db.scalar("SELECT count(*) FROM members") == 0
    return err.value.problems


def test_duplicate_name_or_plot_column_is_refused(db):
    rows = [["№ л/с", "ФИО", "№ участка", "ФИО"], ["1", "Иванов Иван Иванович", "5", "Иванов"]]
    problems = _refused(db, xlsx_bytes(rows))
    assert problems == ["r.xlsx, строка 1: столбец «ФИО» повторяется (столбцы B, D) — непонятно, какой из них "
                        "загружать; оставьте один"]
    rows = [["№ л/с", "ФИО", "Участок", "Номер участка"], ["1", "Иванов Иван", "5", "6"]]
    assert "«№ участка» повторяется (столбцы C, D)" in _refused(db, xlsx_bytes(rows))[0]


def test_duplicate_column_in_csv_names_columns_by_number(db):
    data = "№ л/с;ФИО;Л/с\n1;Иванов Иван;2\n".encode()
    assert "«№ л/с» повторяется (столбцы 1, 3)" in _refused(db, data, "r.csv")[0]


def test_name_header_merged_over_two_columns_is_refused(db):
    # "ФИО" over B:C, surname in B and first names in C: taking either column would lose half of each name.
    rows = [["№ л/с", "ФИО", None, "Участок"], ["1", "Иванов", "Иван Иванович", "5"]]
    problems = _refused(db, xlsx_bytes(rows, merges=["B1:C1"]))
    assert len(problems) == 1
    assert problems[0].startswith("r.xlsx, строка 1: заголовок «ФИО» объединён над столбцами B, C")


def test_a_full_name_is_never_replaced_by_a_surname_from_a_merged_header(db):
    members.import_register(db, xlsx_bytes([["№ л/с", "ФИО", "Участок"], ["1", "Иванов Иван Иванович", "5"]]), "a.xlsx")
    rows = [["№ л/с", "ФИО", None, "Участок"], ["1", "Иванов", "Иван Иванович", "5"]]
    with pytest.raises(InputError):
        members.import_register(db, xlsx_bytes(rows, merges=["B1:C1"]), "b.xlsx")
    assert members.find_by_reg_no(db, "1")["full_name"] == "Иванов Иван Иванович"


@pytest.mark.parametrize("column, value, limit", [("ФИО", "Я" * 30_000, 300), ("Адрес", "д" * 501, 500),
                                                  ("Примечание", "x" * 2001, 2000), ("№ л/с", "1" * 51, 50)])
def test_over_long_text_is_refused_with_its_row(db, column, value, limit):
    rows = [["№ л/с", "ФИО", "Адрес", "Примечание"], ["1", "Иванов Иван", None, None]]
    rows[1][rows[0].index(column)] = value
    problems = _refused(db, xlsx_bytes(rows))
    assert len(problems) == 1 and problems[0].startswith("r.xlsx, строка 2: ")
    assert f"«{column}»: текст длиной {len(value)} символов, допустимо не больше {limit}" in problems[0]
    assert len(problems[0]) < 300  # the message does not carry the text itself


def test_longest_allowed_texts_are_taken(db):
    rows = [["№ л/с", "ФИО", "Адрес", "Примечание"], ["1", "Я" * 300, "д" * 500, "x" * 2000]]
    members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    m = members.find_by_reg_no(db, "1")
    assert (len(m["full_name"]), len(m["address"]), len(m["notes"])) == (300, 500, 2000)


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil.example/x","Иванов")', "=1+1", "+SUM(A1:A9)",
                                   "@SUM(A1)", "-2+3+cmd|' /C calc'!A0"])
def test_formula_strings_as_values_are_refused(db, value):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in [["№ л/с", "ФИО", "Участок"], ["1", "Петров Пётр", "4"], ["2", value, "5"]]:
        ws.append(row)
    ws["B3"].data_type = "s"   # text that only looks like a formula, as a text cell
    buf = io.BytesIO()
    wb.save(buf)
    problems = _refused(db, buf.getvalue())
    assert len(problems) == 1 and problems[0].startswith("r.xlsx, строка 3: «ФИО»: «")
    assert "это формула Excel, а не значение" in problems[0]
    data = ("№ л/с;ФИО;Участок\n1;Петров Пётр;4\n2;" + value.replace('"', '""').join('""') + ";5\n").encode()
    assert "формула" in _refused(db, data, "r.csv")[0]


def test_formula_cells_are_refused_with_their_address(db):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["№ л/с", "ФИО", "Площадь", "Итог"])
    ws.append(["1", "Иванов Иван", 600, "=C2*2"])      # a formula in a column nobody reads: fine
    ws.append(["2", "Петров Пётр", "=C2+100", None])   # row 3: the area is a formula
    ws.append(["3", "Сидоров Олег", 500, None])
    ws.append(["4", "=B3", "=C4", None])                # row 5: two
    buf = io.BytesIO()
    wb.save(buf)
    problems = _refused(db, buf.getvalue())
    assert problems == ["r.xlsx, строка 3: в ячейке C3 формула — сохраните значения "
                        "(Копировать → Специальная вставка → Значения)",
                        "r.xlsx, строка 5: в ячейках B5, C5 формулы — сохраните значения "
                        "(Копировать → Специальная вставка → Значения)"]


def test_person_form_refuses_formulas_and_long_names(db):
    with pytest.raises(InputError, match="«ФИО»: «=HYPERLINK"):
        members.add_member(db, {"reg_no": "1", "full_name": '=HYPERLINK("http://x","y")'})
    with pytest.raises(InputError, match="не больше 300"):
        members.add_member(db, {"reg_no": "1", "full_name": "Я" * 301})
    assert db.scalar("SELECT count(*) FROM members") == 0


def _encrypted_xlsx() -> bytes:
    """A password-protected .xlsx as Excel saves it: an OLE compound file with an EncryptedPackage stream."""
    import olefile  # noqa: F401  (the reader's library; the file itself is built by hand below)

    return _cfb_with_streams({"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x00" * 60,
                              "EncryptedPackage": b"\x00" * 4096})


def _cfb_with_streams(streams: dict[str, bytes]) -> bytes:
    """A minimal valid compound file (MS-CFB v3, 512-byte sectors) holding the given streams at the root."""
    import struct

    sector = 512
    names = list(streams)
    data_sectors: list[bytes] = []
    starts = []
    for n in names:
        blob = streams[n]
        blob += b"\x00" * (-len(blob) % sector)
        starts.append(len(data_sectors))
        data_sectors += [blob[i:i + sector] for i in range(0, len(blob), sector)]
    # Directory: root + streams, 4 entries of 128 bytes per sector.
    entries = []

    def entry(name: str, kind: int, start: int, size: int, left=0xFFFFFFFF, right=0xFFFFFFFF, child=0xFFFFFFFF):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        return (raw.ljust(64, b"\x00") + struct.pack("<HBB3I", len(raw), kind, 1, left, right, child)
                + b"\x00" * 16 + b"\x00" * 4 + b"\x00" * 16 + struct.pack("<IIHH", start, size, 0, 0)[:8] + b"\x00" * 4)

    n_data = len(data_sectors)
    dir_start = n_data
    # Streams as a chain of right siblings under the root (valid red-black-free tree for readers).
    entries.append(entry("Root Entry", 5, 0xFFFFFFFE, 0, child=1))
    for i, n in enumerate(names, start=1):
        right = i + 1 if i < len(names) else 0xFFFFFFFF
        entries.append(entry(n, 2, starts[i - 1], len(streams[n]), right=right))
    while len(entries) % 4:
        entries.append(b"\x00" * 64 + struct.pack("<HBB3I", 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"\x00" * 48)
    dir_sectors = [b"".join(entries[i:i + 4]) for i in range(0, len(entries), 4)]
    fat_start = dir_start + len(dir_sectors)
    fat = []
    for n in names:
        count = -(-len(streams[n]) // sector)
        first = len(fat)
        fat += [first + k + 1 for k in range(count - 1)] + [0xFFFFFFFE]
    fat += [len(fat) + k + 1 for k in range(len(dir_sectors) - 1)] + [0xFFFFFFFE]
    fat.append(0xFFFFFFFD)  # the FAT sector itself
    fat += [0xFFFFFFFF] * (128 - len(fat))
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\x00" * 6 + struct.pack("<IIIIIIIII", 0, 1, dir_start, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
              + struct.pack("<I", fat_start) + struct.pack("<I", 0xFFFFFFFF) * 108)
    return header + b"".join(data_sectors) + b"".join(dir_sectors) + struct.pack("<128I", *fat)


def test_password_protected_xlsx_is_named_as_such(db):
    problems = _refused(db, _encrypted_xlsx())
    assert problems == ["r.xlsx: файл защищён паролем — откройте его в Excel, снимите пароль "
                        "(Файл → Сведения → Защита книги) и сохраните как .xlsx"]


def test_old_xls_without_encryption_is_still_named_old_format(db):
    data = _cfb_with_streams({"Workbook": b"\x09\x08" + b"\x00" * 600})
    assert "старый формат Excel .xls" in _refused(db, data, "r.xls")[0]


@pytest.mark.parametrize("data, what", [(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
                                        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "картинка PNG")])
def test_pdf_or_picture_renamed_xlsx(db, data, what):
    problems = _refused(db, data)
    assert problems == [f"r.xlsx: это не файл Excel и не таблица CSV ({what})"]


def test_word_document_renamed_xlsx(db):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    assert _refused(db, buf.getvalue()) == ["r.xlsx: это не файл Excel .xlsx (это документ Word)"]


def test_one_line_of_fifty_megabytes_is_refused_at_once(db):
    import time

    data = b"\xe2\x84\x96 \xd0\xbb/\xd1\x81;" + b"x" * (50 * 1024 * 1024)
    started = time.process_time()
    problems = _refused(db, data, "r.csv")
    assert time.process_time() - started < 5
    assert problems == ["r.csv, строка 1: строка длиннее 64 КБ — это не таблица (проверьте, что выбран нужный файл)"]


def test_all_bad_rows_are_listed_each_with_its_row(db):
    rows = [["№ л/с", "ФИО", "Участок"], ["1", "Иванов Иван", "1"], ["1", "Петров Пётр", "2"],
            ["3", "=HYPERLINK(\"x\")", "3"], ["4", "", "4"]]   # row 4: a formula cell (openpyxl writes "=…" so)
    problems = _refused(db, xlsx_bytes(rows))
    assert [p.split(":")[0] for p in problems] == ["r.xlsx, строка 3", "r.xlsx, строка 4", "r.xlsx, строка 5"]
    assert "л/с 1 повторяется (уже в строке 2)" in problems[0]


def test_a_csv_saved_under_an_xlsx_name_is_still_read(db):
    data = "№ л/с;ФИО;Участок\n1;Иванов Иван;5\n".encode("cp1251")
    assert members.import_register(db, data, "r.xlsx").added == 1


def test_writer_leaves_missing_pandas_values_empty(tmp_path):
    import pandas as pd

    from ledger.spreadsheets import Column, write_xlsx

    frame = pd.DataFrame({"when": [pd.Timestamp("2026-03-01"), pd.NaT], "sum": [1.5, float("nan")],
                          "who": pd.array(["Иванов", pd.NA], dtype="string")})
    path = tmp_path / "p.xlsx"
    write_xlsx(path, [Column("when", "Дата", "date"), Column("sum", "Сумма", "money"), Column("who", "Кто")],
               frame.to_dict("records"))
    ws = openpyxl.load_workbook(path).active
    assert [c.value for c in ws[2]] == [__import__("datetime").datetime(2026, 3, 1), 1.5, "Иванов"]
    assert ws["A2"].number_format == "dd.mm.yyyy" and ws["B2"].number_format == "#,##0.00"
    assert [c.value for c in ws[3]] == [None, None, None]


def test_control_characters_in_text_are_dropped_from_the_export(db, tmp_path):
    _legacy_member(db, "1", "Иванов\x01Иван\x1fПетрович")
    path = tmp_path / "c.xlsx"
    members.export_register(db, path)
    assert openpyxl.load_workbook(path).active["B2"].value == "ИвановИванПетрович"  # they were a crash before


@pytest.mark.parametrize("data, what", [(_encrypted_xlsx(), "файл защищён паролем"),
                                        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "(PDF)")])
def test_a_statement_that_is_no_table_is_named_as_such(data, what):
    from ledger.bankformats import parse_statement
    from ledger.errors import InputError

    with pytest.raises(InputError) as caught:
        parse_statement(data, "выписка.xlsx")
    assert what in str(caught.value) and "выписка.xlsx" in str(caught.value)
