"""Importing statements exactly once: re-import, overlap across formats, delete, originals, the CLI."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from ledger import audit, cooperative, formats, statements
from ledger.db import Database
from ledger.cli import main
from ledger.errors import InputError, LedgerError
from tests import bank_fixtures as F
from tests.conftest import shared as shared_file
from tests.test_bankformats import EXPECTED, PAYMENT_ORDERS, SAMPLES


def count(db, where: str = "TRUE") -> int:
    return db.scalar(f"SELECT count(*) FROM payments WHERE {where}")


@pytest.fixture
def coop_db(db):
    cooperative.save_settings(db, {"name": "СНТ «Рассвет»", "bank_account": F.OUR, "bik": "044525225"})
    return db


def test_import_stores_every_field(coop_db):
    result = statements.import_statement(coop_db, F.kl_to_1c(), "kl_to_1c.txt", actor="olga")
    assert (result.new, result.already, result.outgoing) == (3, 0, 2)
    assert result.summary() == "3 новых, 0 уже загружено, 2 исходящих"
    rows = coop_db.records("SELECT * FROM payments ORDER BY source_line")
    assert [r["source_line"] for r in rows] == [22, 42, 58, 71, 83]
    first = rows[0]
    assert (first["doc_date"], first["doc_number"], first["amount"], first["direction"], first["our_account"]) == \
           (F.PAYMENTS[0].doc_date, "101", Decimal("6000.00"), "in", F.OUR)
    assert (first["payer_name"], first["payer_inn"], first["payer_account"], first["payer_bik"]) == \
           ("Иванов Иван Иванович", "500100732259", "40817810200000000101", "044525225")
    assert first["purpose"] == "Членский взнос за 2026 г. уч. 12 Иванов И.И."
    assert first["statement_id"] == result.statement_id
    stmt = statements.list_statements(coop_db)[0]
    assert (stmt["docs_in"], stmt["total_in"], stmt["docs_out"], stmt["total_out"]) == \
           (3, Decimal("13234.56"), 2, Decimal("16490.00"))
    assert stmt["imported_by"] == "olga" and stmt["format"] == "1c"
    entry = audit.entries(coop_db, "bank_statement_import")[0]
    assert json.loads(entry["details"])["new"] == 3


def test_same_file_again_adds_nothing(coop_db):
    statements.import_statement(coop_db, F.kl_to_1c(), "a.txt")
    before = coop_db.fetchall("SELECT * FROM payments ORDER BY id")
    again = statements.import_statement(coop_db, F.kl_to_1c(), "a (1).txt")
    assert again.summary() == "0 новых, 5 уже загружено, 0 исходящих"
    assert again.same_file
    assert coop_db.fetchall("SELECT * FROM payments ORDER BY id") == before
    assert coop_db.scalar("SELECT count(*) FROM statements") == 1


@pytest.mark.parametrize("second", ["utf8_1c", "sber", "vtb", "generic", "csv", "camt"])
def test_overlap_in_another_format_adds_nothing(coop_db, second):
    files = {"utf8_1c": F.kl_to_1c("utf-8", "\n", bom=True), "sber": F.sber_xlsx(), "vtb": F.vtb_xlsx(),
             "generic": F.generic_xlsx(), "csv": F.csv_bytes(), "camt": F.camt053()}
    statements.import_statement(coop_db, F.kl_to_1c(), "kl_to_1c.txt")
    result = statements.import_statement(coop_db, files[second], f"second.{second}")
    assert (result.new, result.already, result.outgoing) == (0, 5, 0)
    assert count(coop_db) == 5
    assert coop_db.scalar("SELECT count(*) FROM payment_sources") == 10


def test_partial_overlap_counts(coop_db):
    """A later statement repeats two payments and brings one new incoming and one new outgoing."""
    statements.import_statement(coop_db, F.kl_to_1c(), "jan.txt")
    rows = [["Выписка по счету", F.OUR], [],
            ["Дата", "Номер", "Контрагент", "ИНН контрагента", "Счет контрагента", "Дебет, RUR", "Кредит, RUR",
             "Назначение"]]
    for p in F.PAYMENTS[3:]:
        rows.append([p.doc_date, p.number, p.name, p.inn, p.account, float(p.amount) if p.direction == "out" else None,
                     float(p.amount) if p.direction == "in" else None, p.purpose])
    rows.append(["02.02.2026", "13", "Козлов Пётр", None, "40817810900000000303", None, 500.0, "л/с 44"])
    rows.append(["03.02.2026", "56", "АО «Мосэнергосбыт»", None, "40702810938000000002", 100.0, None, "пени"])
    from tests.conftest import xlsx_bytes

    result = statements.import_statement(coop_db, xlsx_bytes(rows), "feb.xlsx")
    assert result.summary() == "1 новый, 2 уже загружено, 1 исходящий"
    assert count(coop_db) == 7


def test_identical_payments_in_one_file_are_kept_apart(coop_db):
    """Two equal transfers on the same day are two payments; the same file again still adds nothing."""
    data = F.kl_to_1c()
    start = data.index("СекцияДокумент=Платежное поручение\r\nНомер=101".encode("cp1251"))
    end = data.index("КонецДокумента\r\n".encode("cp1251"), start) + len("КонецДокумента\r\n".encode("cp1251"))
    doubled = data[:end] + data[start:end] + data[end:]
    doubled = doubled.replace(b"=13234.56", b"=19234.56").replace(b"=6744.56", b"=12744.56")
    result = statements.import_statement(coop_db, doubled, "doubled.txt")
    assert result.new == 4 and result.warnings == []
    assert statements.import_statement(coop_db, F.kl_to_1c(), "single.txt").summary() == \
           "0 новых, 5 уже загружено, 0 исходящих"


def test_originals_are_kept_by_content(coop_db):
    data = F.sber_xlsx()
    result = statements.import_statement(coop_db, data, "sber.xlsx")
    path = coop_db.path.parent / "originals" / hashlib.sha256(data).hexdigest()
    assert path.read_bytes() == data
    assert statements.read_original(coop_db, result.statement_id) == data


def test_failed_import_leaves_the_ledger_as_it_was(coop_db, monkeypatch):
    statements.import_statement(coop_db, F.kl_to_1c(), "first.txt")
    before = (coop_db.fetchall("SELECT * FROM payments ORDER BY id"), coop_db.fetchall("SELECT * FROM statements"))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "log", broken)  # fails after the payments were written, before the commit
    with pytest.raises(RuntimeError):
        statements.import_statement(coop_db, F.camt053(), "camt.xml")
    after = (coop_db.fetchall("SELECT * FROM payments ORDER BY id"), coop_db.fetchall("SELECT * FROM statements"))
    assert after == before
    assert coop_db.scalar("SELECT count(*) FROM payment_sources") == 5
    assert not (coop_db.path.parent / "originals" / hashlib.sha256(F.camt053()).hexdigest()).exists()


def test_an_original_that_cannot_be_kept_fails_the_import(coop_db):
    """The copy of the original is written beside the import; if the disk refuses it, nothing is imported."""
    (coop_db.path.parent / "originals").write_text("не каталог")
    with pytest.raises(LedgerError) as err:
        statements.import_statement(coop_db, F.kl_to_1c(), "jan.txt")
    assert "Не удалось сохранить исходный файл выписки" in str(err.value)
    assert count(coop_db) == 0 and coop_db.scalar("SELECT count(*) FROM statements") == 0


def test_bad_file_imports_nothing(coop_db):
    data = F.kl_to_1c().replace(b"=1234.56", b"=abc")
    with pytest.raises(InputError) as err:
        statements.import_statement(coop_db, data, "bad.txt")
    assert "bad.txt, строка 42" in str(err.value)
    assert count(coop_db) == 0 and coop_db.scalar("SELECT count(*) FROM statements") == 0


def test_delete_keeps_payments_another_statement_holds(coop_db):
    first = statements.import_statement(coop_db, F.kl_to_1c(), "jan.txt")
    second = statements.import_statement(coop_db, F.sber_xlsx(), "jan.xlsx")
    paid = coop_db.scalar("SELECT id FROM payments WHERE doc_number = '101'")
    coop_db.fetchall("INSERT INTO matches (payment_id, status, member_id, decided_at) VALUES (?, 'manual', 1, now())",
                     [paid])
    assert statements.delete_statement(coop_db, first.statement_id, "olga") == {"deleted": 0, "kept": 5}
    assert count(coop_db) == 5
    assert coop_db.scalar("SELECT count(DISTINCT statement_id) FROM payments") == 1
    assert coop_db.scalar("SELECT statement_id FROM payments WHERE id = ?", [paid]) == second.statement_id
    assert coop_db.scalar("SELECT source_line FROM payments WHERE id = ?", [paid]) == 7
    assert coop_db.scalar("SELECT count(*) FROM matches") == 1
    assert statements.delete_statement(coop_db, second.statement_id, "olga") == {"deleted": 5, "kept": 0}
    assert count(coop_db) == 0 and coop_db.scalar("SELECT count(*) FROM matches") == 0
    assert statements.list_statements(coop_db) == []
    assert not any((coop_db.path.parent / "originals").iterdir())
    with pytest.raises(InputError):
        statements.delete_statement(coop_db, second.statement_id, "olga")
    again = statements.import_statement(coop_db, F.kl_to_1c(), "jan.txt")
    assert again.new == 3


def test_every_real_statement_imports_with_its_incoming_count(tmp_path):
    shared_file("samples", "1c", "expected.json")
    from ledger.db import Database

    shared = Database(tmp_path / "all.duckdb")
    every_account = []   # the samples come from many accounts: all of them are this cooperative's
    for name in sorted(EXPECTED):
        if name not in PAYMENT_ORDERS:
            every_account += statements.statement_accounts(statements.parse_statement((SAMPLES / name).read_bytes(), name))
    cooperative.save_settings(shared, {"bank_accounts": ",".join(every_account)})
    for i, (name, want) in enumerate(sorted(EXPECTED.items())):
        if name in PAYMENT_ORDERS:
            continue
        data = (SAMPLES / name).read_bytes()
        fresh = Database(tmp_path / f"{i}.duckdb")
        result = statements.import_statement(fresh, data, name)
        assert (result.total, result.new) == (want["documents"], want["incoming"]), name
        assert count(fresh, "direction = 'in'") == want["incoming"], name
        statements.import_statement(shared, data, name)
    # one_day_utf8.txt is one_day.txt re-encoded: together they hold 13 payments, not 26
    assert count(shared, "payer_account = '12312312312312312'") == 13
    assert count(shared, "direction = 'in'") == sum(
        w["incoming"] for n, w in EXPECTED.items() if n not in PAYMENT_ORDERS and not n.endswith("_utf8.txt"))


# -- CLI -----------------------------------------------------------------------------------------------------

def test_cli_imports_several_files(db, db_path, tmp_path, capsys):
    one = tmp_path / "kl_to_1c.txt"
    one.write_bytes(F.kl_to_1c())
    two = tmp_path / "sber.xlsx"
    two.write_bytes(F.sber_xlsx())
    assert main(["bank", "import", str(one), str(two)]) == 0
    out = capsys.readouterr().out
    assert "kl_to_1c.txt" in out and "3 новых, 0 уже загружено, 2 исходящих" in out
    assert "0 новых, 5 уже загружено, 0 исходящих" in out
    assert main(["bank", "list"]) == 0
    listed = capsys.readouterr().out
    assert "sber.xlsx" in listed
    total = next(r["total_in"] for r in statements.list_statements(Database()) if r["file_name"] == "kl_to_1c.txt")
    line = next(line for line in listed.splitlines() if "kl_to_1c.txt" in line)
    assert f"на {formats.rub(total)}" in line and ".00\t" not in line   # money as everywhere: «1 234,56 ₽»


def test_cli_bad_file_names_file_and_line_and_imports_nothing(db, db_path, tmp_path, capsys):
    good = tmp_path / "good.txt"
    good.write_bytes(F.kl_to_1c())
    bad = tmp_path / "bad.txt"
    bad.write_bytes(F.kl_to_1c()[:2000])
    assert main(["bank", "import", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    good_line, bad_line = err.strip().splitlines()          # one line per file, nothing else
    assert good_line.startswith("Ошибка: good.txt: ошибок нет, но не загружен")
    assert bad_line.startswith("Ошибка: bad.txt") and bad_line.count("bad.txt") == 1
    assert main(["bank", "import", str(bad)]) == 1          # a single file: its one line only
    assert capsys.readouterr().err == bad_line + "\n"
    assert "Traceback" not in err
    from ledger.db import Database

    assert Database(db_path).scalar("SELECT count(*) FROM payments") == 0


def test_cli_delete(db, db_path, tmp_path, capsys):
    one = tmp_path / "kl_to_1c.txt"
    one.write_bytes(F.kl_to_1c())
    main(["bank", "import", str(one)])
    assert main(["bank", "delete", "1", "--yes"]) == 0
    assert "платежей удалено 5" in capsys.readouterr().out


def test_demo_has_a_statement_of_member_payments(demo_db):
    rows = statements.list_statements(demo_db)
    assert len(rows) == 1 and rows[0]["format"] == "1c"
    purposes = [r[0] for r in demo_db.fetchall("SELECT purpose FROM payments WHERE direction = 'in'")]
    assert any(p.startswith("Членский взнос за 2026 г. уч.") for p in purposes)
    assert any("л/с" in p for p in purposes)
    assert any(p.startswith("Перевод от ") for p in purposes)
    assert demo_db.scalar("SELECT count(*) FROM payments WHERE direction = 'out'") > 0


def test_import_gives_the_memory_limit_back(coop_db):
    """The import squeezes DuckDB's memory for itself; the process keeps the database open afterwards, so
    later work must get the default limit again."""
    default = coop_db.scalar("SELECT current_setting('memory_limit')")
    statements.import_statement(coop_db, F.kl_to_1c(), "kl_to_1c.txt")
    assert coop_db.scalar("SELECT current_setting('memory_limit')") == default
