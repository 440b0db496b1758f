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


INN1, INN2 = inn("5001007322"), inn("7712345678")

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
    ([["ФИО", "Участок"], ["Иванов", "1"]], "номером л/с"),
])
def test_unrecognisable_files(db, rows, message):
    with pytest.raises(InputError, match=message):
        members.import_register(db, xlsx_bytes(rows), "r.xlsx")


@pytest.mark.parametrize("data, message", [(b"", "пуст"), (b"PK\x03\x04garbage", "повреждён"),
                                           (b"\x00\x01\x02binary\x00", "двоичные")])
def test_broken_files(db, data, message):
    with pytest.raises(InputError, match=message):
        members.import_register(db, data, "r.xlsx")


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


def test_export_neutralises_formulas(db, tmp_path):
    members.add_member(db, {"reg_no": "1", "full_name": "=HYPERLINK(\"http://evil\",\"x\")", "notes": "@SUM(A1)"})
    xlsx, csv_path = tmp_path / "o.xlsx", tmp_path / "o.csv"
    members.export_register(db, xlsx)
    members.export_register(db, csv_path)
    ws = openpyxl.load_workbook(xlsx).active
    name = ws.cell(row=2, column=2)
    assert name.data_type == "s" and name.value.startswith("'=")
    text = csv_path.read_text("utf-8")
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert ",=" not in text and ",@" not in text


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
