"""The header layer of register import: column mapping (API, CLI, page), remembered mappings, English headers
of other СНТ software, and what the message says when no header row is found."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import openpyxl
import pytest

from ledger import cli, column_maps, members
from ledger.errors import InputError
from ledger.spreadsheets import HeaderNotFound, MappingError, Sheet, find_header, normalize_header
from tests.conftest import xlsx_bytes
from tests.test_pages import page_test, texts

OWNER_FILE = [["Реестр СНТ «Берёзка»"], [],
              ["№ л/с", "Садовод", "Участок", "Моб."],
              ["1", "Иванов Иван Иванович", "12", "+7 900 111-22-33"],
              ["2", "Петрова Анна Сергеевна", "14", ""]]


def owner_xlsx(rows=OWNER_FILE) -> bytes:
    return xlsx_bytes(rows)


# -- normalize_header and English headers -------------------------------------------------------

@pytest.mark.parametrize("written, normal", [
    ("plotNumber", "plot number"), ("plot_number", "plot number"), ("Plot Number", "plot number"),
    ("ownerName", "owner name"), ("cadastralNumber", "cadastral number"), ("phoneNumber", "phone number"),
    ("e-mail", "e mail"), ("EMail", "e mail"), ("memberId", "member id"), ("INN", "inn"),
    ("№ Л/С", "№ л с"), ("Площадь, м2", "площадь м2"), ("Дебет RUR", "дебет rur"),
])
def test_normalize_header_splits_camel_and_snake_case(written, normal):
    assert normalize_header(written) == normal


def test_english_export_of_other_snt_software_loads(db):
    rows = [["memberId", "ownerName", "plotNumber", "area", "cadastralNumber", "phoneNumber", "e-mail", "INN",
             "address"],
            ["7", "Сидоров Пётр", "36", "600", "50:12:0000000:136", "+7 (916) 000-11-22", "p@example.ru",
             "500100732259", "д. Берёзки, 1"]]
    result = members.import_register(db, xlsx_bytes(rows), "export.xlsx")
    assert result.added == 1 and result.warnings == []
    m = members.find_by_reg_no(db, "7")
    assert (m["full_name"], m["plots"], m["area"], m["cadastral_nos"]) == \
        ("Сидоров Пётр", "36", 600, "50:12:0000000:136")
    assert (m["phones"], m["emails"], m["inn"], m["address"]) == \
        ("+79160001122", "p@example.ru", "500100732259", "д. Берёзки, 1")


def test_snake_case_export_loads(db):
    rows = [["account_number", "owner_name", "plot_number", "phone", "email", "cadastral"],
            ["8", "Орлова Мария", "40", "89161112233", "m@example.ru", "50:12:0000000:140"]]
    members.import_register(db, xlsx_bytes(rows), "export.csv.xlsx")
    m = members.find_by_reg_no(db, "8")
    assert (m["full_name"], m["plots"], m["emails"]) == ("Орлова Мария", "40", "m@example.ru")


# -- header not found ---------------------------------------------------------------------------

def test_no_header_row_names_the_found_column_its_cell_and_the_missing_group(db):
    rows = [["Реестр садоводов"], [], ["", "ФИО", "Долг"], ["", "Иванов Иван", "100"]]
    with pytest.raises(HeaderNotFound) as err:
        members.import_register(db, xlsx_bytes(rows), "Реестр.xlsx")
    first = err.value.problems[0]
    assert first.startswith("Реестр.xlsx: не найдена строка заголовков — найден столбец ФИО (B3); "
                            "нет столбца участка или помещения"), first
    assert err.value.problems == [first]                 # one problem; what to do is a hint, not a second error
    assert "--map" in err.value.hint and "сопоставлении столбцов" in err.value.hint
    assert err.value.header.row == 3
    assert db.scalar("SELECT count(*) FROM members") == 0


def test_cli_prints_the_header_problem_once_and_the_hint_as_a_hint(db, db_path, tmp_path):
    path = tmp_path / "Реестр.xlsx"
    path.write_bytes(xlsx_bytes([["Реестр садоводов"], [], ["", "ФИО", "Долг"], ["", "Иванов Иван", "100"]]))
    db.release()
    done = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db_path), "members", "import", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Ошибка", "Подсказка"], lines
    assert "--map" in lines[1]


def test_header_row_without_a_required_group_names_it_and_what_was_found(db):
    rows = [["Участок", "Телефон", "Эл. почта"], ["1", "89001112233", "a@b.ru"]]
    with pytest.raises(HeaderNotFound) as err:
        members.import_register(db, xlsx_bytes(rows), "r.xlsx")
    first = err.value.problems[0]
    assert first == "r.xlsx, строка 1: нет столбца ФИО (найдены столбцы Участки (A1), Телефоны (B1), Эл. почта (C1))"


def test_csv_cells_are_named_by_row_and_column(db):
    data = "Список\n;Садовод;ФИО\n;Иванов;\n".encode()
    with pytest.raises(HeaderNotFound, match=r"найден столбец ФИО \(строка 2, столбец 3\)"):
        members.import_register(db, data, "r.csv")


def test_nothing_known_at_all_says_so_and_what_is_needed(db):
    with pytest.raises(HeaderNotFound, match="нет известных названий столбцов.*нет столбца ФИО; нет столбца участка"):
        members.import_register(db, xlsx_bytes([["Какая-то таблица"], ["1", "2"]]), "r.xlsx")


def test_other_importers_keep_sensible_messages():
    sheet = Sheet("осв.xlsx", [(1, ["Взнос", "Долг"]), (2, ["Членский", "100"])])
    with pytest.raises(HeaderNotFound) as err:
        find_header(sheet, {"contribution": ["взнос"], "debt": ["долг"], "reg_no": ["л/с"]},
                    required=["contribution"], min_fields=3)
    assert err.value.problems == ["осв.xlsx: не найдена строка заголовков — найдены столбцы взнос (A1), долг (B1); "
                                  "нужно не меньше 3 известных столбцов"]


# -- mapping through the API --------------------------------------------------------------------

def test_mapping_places_an_unknown_column_and_is_remembered(db):
    with pytest.raises(HeaderNotFound, match="нет столбца ФИО"):
        members.import_register(db, owner_xlsx(), "r.xlsx")
    result = members.import_register(db, owner_xlsx(), "r.xlsx", mapping={"садовод": "full_name", "моб": "phones"})
    assert result.added == 2 and result.remembered == ""
    assert members.find_by_reg_no(db, "1")["full_name"] == "Иванов Иван Иванович"
    assert members.find_by_reg_no(db, "1")["phones"] == "+79001112233"
    stored = db.fetchall("SELECT kind, headers, mapping FROM column_mappings")
    assert [(k, h) for k, h, _ in stored] == [("register", "моб|садовод|участок|№ л с")]
    assert json.loads(stored[0][2]) == {"садовод": "full_name", "моб": "phones"}
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'column_mapping_saved'") == 1

    # The next file with the same headers (in another order, other rows) needs no mapping.
    again = [["Моб.", "Участок", "Садовод", "№ л/с"], ["", "15", "Сидоров Пётр", "3"]]
    result = members.import_register(db, xlsx_bytes(again), "r2.xlsx")
    assert result.added == 1
    assert result.remembered == "«Моб.» → Телефоны, «Садовод» → ФИО"
    assert members.find_by_reg_no(db, "3")["full_name"] == "Сидоров Пётр"
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'column_mapping_saved'") == 1


def test_changed_mapping_replaces_the_remembered_one(db):
    members.import_register(db, owner_xlsx(), "r.xlsx", mapping={"садовод": "full_name", "моб": "phones"})
    members.import_register(db, owner_xlsx(), "r.xlsx", mapping={"моб": ""})
    assert json.loads(db.scalar("SELECT mapping FROM column_mappings")) == {"садовод": "full_name"}


def test_mapping_onto_a_taken_field_names_both_columns(db):
    rows = [["№ л/с", "ФИО", "Садовод", "Участок"], ["1", "Иванов", "Петров", "1"]]
    with pytest.raises(MappingError) as err:
        members.import_register(db, xlsx_bytes(rows), "r.xlsx", mapping={"садовод": "full_name"})
    assert err.value.problems == ["r.xlsx, строка 1: столбец «Садовод» (C1) нельзя загрузить как «ФИО» — это поле "
                                  "уже у столбца «ФИО» (B1)"]
    assert db.scalar("SELECT count(*) FROM members") == 0
    assert db.scalar("SELECT count(*) FROM column_mappings") == 0


def test_mapping_a_header_not_in_the_file_is_refused(db):
    with pytest.raises(MappingError, match="в строке заголовков 3 нет столбца «хозяин»; есть: «№ л/с», «Садовод»"):
        members.import_register(db, owner_xlsx(), "r.xlsx", mapping={"садовод": "full_name", "хозяин": "notes"})


def test_a_refused_file_remembers_nothing(db):
    rows = OWNER_FILE[:3] + [["1", "Иванов", "12", "не телефон"]]
    with pytest.raises(InputError):
        members.import_register(db, xlsx_bytes(rows), "r.xlsx", mapping={"садовод": "full_name", "моб": "phones"})
    assert db.scalar("SELECT count(*) FROM column_mappings") == 0


@pytest.mark.parametrize("given, field", [("ФИО", "full_name"), ("full_name", "full_name"), ("фио", "full_name"),
                                          ("Телефоны", "phones"), ("№ участка", "plots"), ("", ""),
                                          ("не загружать", "")])
def test_mapping_fields_by_key_label_or_spelling(given, field):
    mapping = column_maps.resolve([f"Садовод={given}"], members.REGISTER_SYNONYMS, members.REGISTER_LABELS)
    assert mapping == {"садовод": field}


@pytest.mark.parametrize("pairs, message", [
    (["Садовод=Хозяин"], "--map «Хозяин»: такого поля нет; поля: Л/с, ФИО"),
    (["Садовод"], "--map «Садовод»: ожидается «Заголовок=поле»"),
    (["Садовод=ФИО", "садовод=Адрес"], "указан дважды"),
])
def test_bad_mapping_options(pairs, message):
    with pytest.raises(MappingError, match=message):
        column_maps.resolve(pairs, members.REGISTER_SYNONYMS, members.REGISTER_LABELS)


def test_unknown_field_lists_only_russian_names():
    """The list of fields named the ordinal column by its key, «row_no»."""
    with pytest.raises(MappingError) as err:
        column_maps.resolve(["Садовод=Хозяин"], members.REGISTER_SYNONYMS, members.REGISTER_LABELS)
    assert str(err.value).endswith("Адрес, Примечание, или «не загружать»")
    assert not re.search(r"[a-z]", str(err.value).split("поля:")[1].replace("Telegram", ""))


# -- CLI ----------------------------------------------------------------------------------------

def test_cli_map_then_remembered_mapping_on_the_second_run(db, db_path, tmp_path, capsys):
    src = tmp_path / "Реестр.xlsx"
    src.write_bytes(owner_xlsx())
    assert cli.main(["members", "import", str(src)]) == 1
    err = capsys.readouterr().err
    assert "Ошибка: Реестр.xlsx, строка 3: нет столбца ФИО (найдены столбцы Л/с (A3), Участки (C3))" in err
    assert "--map \"Заголовок=поле\"" in err

    assert cli.main(["members", "import", str(src), "--map", "Садовод=ФИО", "--map", "Моб.=phones"]) == 0
    out = capsys.readouterr().out
    assert "добавлено 2" in out and "сохранённое" not in out

    assert cli.main(["members", "import", str(src)]) == 0
    out = capsys.readouterr().out
    assert "Применено сохранённое сопоставление столбцов: «Садовод» → ФИО, «Моб.» → Телефоны" in out
    assert "без изменений 2" in out


@pytest.mark.parametrize("option, message", [
    ("Садовод=Хозяин", "--map «Хозяин»: такого поля нет"),
    ("Хозяин=ФИО", "в строке заголовков 3 нет столбца «хозяин»"),
    ("Садовод", "ожидается «Заголовок=поле»"),
])
def test_cli_bad_map_exits_2_with_a_russian_line(db, db_path, tmp_path, capsys, option, message):
    src = tmp_path / "Реестр.xlsx"
    src.write_bytes(owner_xlsx())
    assert cli.main(["members", "import", str(src), "--map", "Моб.=Телефон", "--map", option]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_explicit_map_overrides_the_remembered_one_and_says_what_it_kept(db, db_path, tmp_path, capsys):
    src = tmp_path / "Реестр.xlsx"
    src.write_bytes(owner_xlsx())
    assert cli.main(["members", "import", str(src), "--map", "Садовод=ФИО", "--map", "Моб.=phones"]) == 0
    capsys.readouterr()
    assert cli.main(["members", "import", str(src), "--map", "Моб.=не загружать"]) == 0
    out = capsys.readouterr().out
    assert "Применено сохранённое сопоставление столбцов: «Садовод» → ФИО\n" in out


def test_library_warnings_never_reach_the_output(db, db_path, tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["№ л/с", "ФИО", "Участок", "Дата вступления"])
    wb.active.append(["1", "Иванов Иван", "2", 10 ** 9])   # a date serial openpyxl warns about (in English)
    wb.active["D2"].number_format = "dd.mm.yyyy"
    wb.save(tmp_path / "r.xlsx")
    result = subprocess.run([sys.executable, "-W", "default", "-m", "ledger.cli", "--db", str(db_path), "members",
                             "import", str(tmp_path / "r.xlsx")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("Ошибка: r.xlsx, строка 2: дата вступления:"), result.stderr
    assert "Warning" not in result.stderr and "openpyxl" not in result.stderr


# -- page ---------------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register_tab(db):
    at = page_test("pages/members.py").run()
    at.file_uploader(key="register_file").set_value(("Реестр.xlsx", owner_xlsx(), XLSX))
    return at.run()


def test_page_maps_an_unknown_column_and_the_next_upload_remembers_it(db):
    at = register_tab(db)
    assert not at.exception
    assert "нет столбца ФИО" in texts(at)
    assert "do_import" not in [b.key for b in at.button]
    boxes = {b.key: b for b in at.selectbox if b.key and b.key.startswith("regmap:")}
    assert set(boxes) == {"regmap:садовод", "regmap:моб"}
    assert boxes["regmap:садовод"].value == ""
    boxes["regmap:садовод"].set_value("full_name").run()
    assert not at.exception
    assert "Членов в файле: **2**" in "\n".join(m.value for m in at.markdown)
    at.button(key="do_import").click().run()
    assert not at.exception
    assert "Готово: добавлено 2" in texts(at)
    assert members.find_by_reg_no(db, "2")["full_name"] == "Петрова Анна Сергеевна"

    # A fresh session uploads the same file: the remembered mapping is shown, applied and can be changed.
    at = register_tab(db)
    assert not at.exception
    assert "запомнено сопоставление столбцов: «Садовод» → ФИО" in texts(at)
    assert at.selectbox(key="regmap:садовод").value == "full_name"
    at.selectbox(key="regmap:моб").set_value("phones").run()
    at.button(key="do_import").click().run()
    assert not at.exception
    assert "Готово: добавлено 0, изменено 1" in texts(at)
    assert members.find_by_reg_no(db, "1")["phones"] == "+79001112233"
    assert json.loads(db.scalar("SELECT mapping FROM column_mappings")) == {"садовод": "full_name", "моб": "phones"}


def test_page_refuses_a_field_taken_by_another_column_and_lets_it_be_changed(db):
    rows = [["№ л/с", "ФИО", "Садовод", "Участок"], ["1", "Иванов", "Петров", "1"]]
    at = page_test("pages/members.py").run()
    at.file_uploader(key="register_file").set_value(("r.xlsx", xlsx_bytes(rows), XLSX)).run()
    at.selectbox(key="regmap:садовод").set_value("full_name").run()
    assert not at.exception
    assert "столбец «Садовод» (C1) нельзя загрузить как «ФИО» — это поле уже у столбца «ФИО» (B1)" in texts(at)
    at.selectbox(key="regmap:садовод").set_value("notes").run()
    at.button(key="do_import").click().run()
    assert members.find_by_reg_no(db, "1")["notes"] == "Петров"


def test_page_maps_a_file_whose_headers_are_all_unknown(db):
    rows = [["Номер", "Садовод", "Надел"], ["1", "Иванов Иван", "12"], ["2", "Петров Пётр", "13"]]
    at = page_test("pages/members.py").run()
    at.file_uploader(key="register_file").set_value(("r.xlsx", xlsx_bytes(rows), XLSX)).run()
    assert "нет известных названий столбцов" in texts(at)
    assert {b.key for b in at.selectbox if b.key and b.key.startswith("regmap:")} == \
        {"regmap:номер", "regmap:садовод", "regmap:надел"}
    for column, fld in (("номер", "reg_no"), ("садовод", "full_name"), ("надел", "plots")):
        at.selectbox(key=f"regmap:{column}").set_value(fld).run()
    assert not at.exception
    at.button(key="do_import").click().run()
    assert "Готово: добавлено 2" in texts(at)
    assert members.find_by_reg_no(db, "2")["plots"] == "13"


def test_page_names_the_ordinal_column_in_russian(db):
    """«№ п/п» is recognised (not reported as unknown) and was listed as the field «row_no»."""
    rows = [["№ п/п", "ФИО", "Участок"], [1, "Иванов Иван", "12"]]
    at = page_test("pages/members.py").run()
    at.file_uploader(key="register_file").set_value(("r.xlsx", xlsx_bytes(rows), XLSX)).run()
    assert not at.exception
    assert list(at.table[0].value["Поле реестра"]) == ["№ п/п (не загружается)", "ФИО", "Участки"]
