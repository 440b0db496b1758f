"""The `coop` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ledger import cli, users
from tests.conftest import xlsx_bytes


def coop(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], input=stdin, capture_output=True, text=True)


def test_init_demo_creates_the_demo_cooperative(db_path):
    result = coop("--db", str(db_path), "init", "--demo")
    assert result.returncode == 0, result.stderr
    assert "300 членов" in result.stdout
    again = coop("--db", str(db_path), "init", "--demo")
    assert again.returncode == 0 and "не добавлены" in again.stdout


def test_db_from_environment(db_path, capsys):
    assert cli.main(["init"]) == 0
    assert db_path.exists()


def test_members_import_and_export(db, db_path, tmp_path, capsys):
    src = tmp_path / "r.xlsx"
    src.write_bytes(xlsx_bytes([["№ л/с", "ФИО", "Участок", "Цвет"], ["1", "Иванов Иван", "5", "x"]]))
    assert cli.main(["members", "import", str(src)]) == 0
    out = capsys.readouterr().out
    assert "добавлено 1" in out and "«Цвет» не распознан" in out
    dst = tmp_path / "out.csv"
    assert cli.main(["members", "export", str(dst)]) == 0
    assert "Иванов Иван" in dst.read_text("utf-8")


@pytest.mark.parametrize("content, message", [
    (b"", "r.csv: файл пуст"),
    ("№ л/с;ФИО\n1;\n".encode("cp1251"), "r.csv, строка 2: не указано ФИО"),
])
def test_bad_register_exits_non_zero_with_russian_line(db, db_path, tmp_path, content, message):
    src = tmp_path / "r.csv"
    src.write_bytes(content)
    result = coop("--db", str(db_path), "members", "import", str(src))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(db, db_path, capsys):
    assert cli.main(["members", "import", "/nonexistent/r.xlsx"]) == 1
    assert "файл не найден" in capsys.readouterr().err


def test_export_to_unknown_format(db, db_path, tmp_path, capsys):
    assert cli.main(["members", "export", str(tmp_path / "r.pdf")]) == 1
    assert "только файлы .xlsx и .csv" in capsys.readouterr().err


def test_users_add_reads_password_from_stdin(db_path, db):
    result = coop("--db", str(db_path), "users", "add", "olga", "--role", "accountant", stdin="секретный-пароль\n")
    assert result.returncode == 0, result.stderr
    assert users.authenticate(db, "olga", "секретный-пароль") == {"login": "olga", "role": "accountant"}
    assert users.authenticate(db, "olga", "wrong-password") is None
    dup = coop("--db", str(db_path), "users", "add", "olga", "--role", "board", stdin="другой-пароль\n")
    assert dup.returncode == 1 and "уже есть" in dup.stderr


def test_users_add_rejects_bad_role_and_short_password(db, db_path):
    bad_role = coop("--db", str(db_path), "users", "add", "x1", "--role", "boss", stdin="длинный-пароль\n")
    assert bad_role.returncode == 1 and "Роль «boss» неизвестна" in bad_role.stderr
    short = coop("--db", str(db_path), "users", "add", "x2", "--role", "board", stdin="123\n")
    assert short.returncode == 1 and "не короче" in short.stderr


def test_password_hash_is_scrypt_and_salted(db):
    users.add_user(db, "a1", "пароль-один", "admin")
    users.add_user(db, "a2", "пароль-один", "board")
    hashes = [r[0] for r in db.fetchall("SELECT password_hash FROM users ORDER BY login")]
    assert all(h.startswith("scrypt$") for h in hashes) and hashes[0] != hashes[1]
    assert "пароль" not in "".join(hashes)


def test_signins_are_audited(db):
    users.add_user(db, "a1", "пароль-один", "admin")
    users.authenticate(db, "a1", "нет")
    users.authenticate(db, "a1", "пароль-один")
    actions = [r[0] for r in db.fetchall("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["user_added", "signin_failed", "signin"]


def test_last_admin_cannot_be_demoted(db):
    users.add_user(db, "root", "пароль-один", "admin")
    from ledger.errors import InputError

    with pytest.raises(InputError, match="без администратора"):
        users.set_role(db, "root", "board", actor="root")


@pytest.mark.parametrize("args, expected", [
    (["users", "add", "olga"], "не указан параметр --role"),
    (["members", "import"], "не указан параметр FILE"),
    (["members", "import", "a.xlsx", "--колонки"], "неизвестный параметр --колонки"),
    (["bills"], "нет такой команды"),
])
def test_usage_errors_are_russian(db_path, capsys, args, expected):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("Ошибка: ") and expected in err and "--help" in err
    assert "Missing" not in err and "No such" not in err


def test_a_bad_date_option_is_one_line_that_says_the_format_once(db_path, capsys):
    assert cli.main(["init"]) == 0
    capsys.readouterr()
    assert cli.main(["accrue", "--through", "2026-13-01", "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Ошибка: Параметр --through: дата «2026-13-01» не разобрана")
    assert err.count("ожидается") == 1 and "\n" not in err


def test_tariffs_list_shows_rates_as_money(db, db_path, tmp_path, capsys):
    (tmp_path / "t.toml").write_text(
        '[[contribution]]\ncode = "member"\nname = "Членский взнос"\nkind = "periodic"\nbasis = "plot_area"\n'
        'rate = "1234.5"\nperiod = "year"\ndue = "07-01"\nstart = "2025-01-01"\n\n'
        '[[contribution]]\ncode = "light"\nname = "Свет"\nkind = "periodic"\nbasis = "plot"\n'
        'rate = "0.1234"\nperiod = "month"\ndue = "25"\nstart = "2025-01-01"\n', "utf-8")
    assert cli.main(["tariffs", "load", str(tmp_path / "t.toml")]) == 0
    capsys.readouterr()
    assert cli.main(["tariffs", "list"]) == 0
    out = capsys.readouterr().out
    assert "\t1 234,50 ₽ с м² участка\t" in out and "\t0,1234 ₽ с участка\t" in out


# -- a mistyped --db never starts an empty ledger -------------------------------------------------

def missing_db_line(path) -> str:
    return (f"Ошибка: База {path} не найдена. Создайте её командой `coop init` или проверьте путь "
            f"(--db или COOP_DB)")


@pytest.mark.parametrize("args", [
    ["members", "export", "out.csv"],
    ["bank", "list"],
    ["users", "list"],
    ["bank", "sync"],
    ["report", "build", "boupr", "--year", "2025", "--out", "."],
    ["backup", "restore", "--from", "local", "ID", "--to", "restored.duckdb"],
])
def test_a_missing_database_is_refused_and_not_created(tmp_path, db_path, capsys, args):
    typo = tmp_path / "typo" / "coop.duckbd"
    assert cli.main(["--db", str(typo), *args]) == 2
    assert capsys.readouterr().err.strip() == missing_db_line(typo)
    assert not typo.exists() and not typo.parent.exists()
    assert cli.main(args) == 2                      # the same through COOP_DB (the fixture sets it)
    assert capsys.readouterr().err.strip() == missing_db_line(db_path)
    assert not db_path.exists()


def test_init_creates_the_database_the_other_commands_then_use(tmp_path, capsys):
    path = tmp_path / "new" / "coop.duckdb"
    assert cli.main(["--db", str(path), "init"]) == 0
    assert path.is_file()
    assert cli.main(["--db", str(path), "users", "list"]) == 0
    assert "не найдена" not in capsys.readouterr().err


# -- no English of Click's in help and usage errors ----------------------------------------------

CLICK_ENGLISH = ["Show this message", "[required]", "Usage", "Options", "Arguments", "Commands", "Missing",
                 "No such", "Invalid value", "Try ", "for help", "Error", "env var", "default:", "Input should",
                 "requires an argument", "COMMAND", "[ARGS]", "[OPTIONS]", "Aborted"]


def english_left(text: str) -> list[str]:
    return [w for w in CLICK_ENGLISH if w.lower() in text.lower()]


@pytest.mark.parametrize("args", [["--help"], ["bank", "import", "--help"], ["report", "build", "boupr", "--help"],
                                  ["members"]])
def test_help_is_russian(args):
    result = coop(*args)
    assert result.returncode == 0, result.stderr
    assert "Вызов: coop" in result.stdout and "Показать эту справку и выйти." in result.stdout
    assert ("Команды" if args[-1] != "--help" or len(args) == 1 else "Параметры") in result.stdout
    assert english_left(result.stdout + result.stderr) == []


def test_help_marks_required_arguments_in_russian():
    out = coop("bank", "import", "--help").stdout
    assert "Аргументы" in out and "[обязательный]" in out and "Параметры" in out
    usage = next(line for line in out.splitlines() if "Вызов:" in line)
    assert "FILES..." in usage and "{" not in usage     # not «{files}», which reads like an unfilled template


@pytest.mark.parametrize("args, expected", [
    (["bank", "import"], "Ошибка: не указан параметр FILES; справка: coop bank import --help"),
    (["bank", "import", "a.txt", "--колонки"], "Ошибка: неизвестный параметр --колонки; справка: coop bank import --help"),
    (["bank", "delete", "abc"], "Ошибка: неверное значение STATEMENT_ID «abc»: ожидается целое число; справка: "
                                "coop bank delete --help"),
    (["report", "build", "boupr", "--year", "двадцать", "--out", "."],
     "Ошибка: неверное значение --year «двадцать»: ожидается целое число; справка: coop report build boupr --help"),
    (["report", "build", "boupr", "--year"], "Ошибка: у параметра --year не указано значение"),
    (["bils"], "Ошибка: нет такой команды: 'bils'"),
    (["bank", "list", "лишнее"], "Ошибка: лишние аргументы; справка: coop bank list --help"),
])
def test_usage_errors_are_russian_and_exit_2(args, expected):
    result = coop(*args)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(expected) and len(result.stderr.strip().splitlines()) == 1
    assert english_left(result.stdout + result.stderr) == [] and "Traceback" not in result.stderr
