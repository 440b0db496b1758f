"""BankSource conformance (fake and statement_folder) and statement_folder's own rules: each file once,
a failed file recorded and not retried until it changes, other files unaffected.

statement_folder imports through ledger.statements.import_statement (issue 3). Until that module is on the
branch, the tests use `contract_import`, a stand-in that follows the same contract (writes the statement
into `statements` by content hash, raises InputError on a file it cannot read); once the module exists the
real import is used and the same assertions hold.
"""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime, timedelta

import pytest

from integrations.banks import statement_folder
from integrations.base import BankSource, Context, IntegrationError
from integrations.banks.statement_folder import StatementFolder
from ledger.db import utcnow
from ledger.errors import InputError
from tests import fakes

try:
    from ledger.statements import import_statement as REAL_IMPORT  # noqa: N812
except ImportError:
    REAL_IMPORT = None


def one_c_statement(number: int, amount: str = "1500.00") -> bytes:
    """A 1CClientBankExchange statement as bank clients export it (Windows-1251)."""
    text = f"""1CClientBankExchange
ВерсияФормата=1.03
Кодировка=Windows
Отправитель=Бухгалтерия предприятия
ДатаСоздания=01.03.2026
ВремяСоздания=10:00:00
ДатаНачала=01.02.2026
ДатаКонца=28.02.2026
РасчСчет=40703810040000012345
СекцияРасчСчет
ДатаНачала=01.02.2026
ДатаКонца=28.02.2026
РасчСчет=40703810040000012345
НачальныйОстаток=0.00
ВсегоПоступило={amount}
ВсегоСписано=0.00
КонечныйОстаток={amount}
КонецРасчСчет
СекцияДокумент=Платежное поручение
Номер={number}
Дата=05.02.2026
Сумма={amount}
ПлательщикСчет=40817810099910004312
ДатаПоступило=05.02.2026
Плательщик=Иванов Иван Иванович
ПлательщикИНН=500100732259
ПлательщикБИК=044525225
ПолучательСчет=40703810040000012345
Получатель=СНТ «Рассвет»
ПолучательИНН=5001012345
ПолучательБИК=044525225
НазначениеПлатежа=Членский взнос за 2026 г., участок 12, л/с {number}
КонецДокумента
КонецФайла
"""
    return text.replace("\n", "\r\n").encode("cp1251")


def contract_import(db, data: bytes, name: str, actor=None):
    """Stand-in for ledger.statements.import_statement with the same contract."""
    if not data.startswith("1CClientBankExchange".encode("cp1251")):
        raise InputError(f"{name}, строка 1: это не выписка 1С (нет заголовка 1CClientBankExchange)")
    digest = hashlib.sha256(data).hexdigest()
    with db.transaction() as con:
        con.execute("INSERT INTO statements (sha256, file_name, format, imported_at, imported_by, docs_total, docs_new) "
                    "VALUES (?, ?, '1c', ?, ?, 1, 1) ON CONFLICT DO NOTHING", [digest, name, utcnow(), actor])
    return "загружено"


@pytest.fixture
def importer(monkeypatch):
    if REAL_IMPORT is None:
        monkeypatch.setattr(statement_folder, "bank_import", lambda: contract_import)
    return REAL_IMPORT or contract_import


@pytest.fixture(params=["fake", "statement_folder"])
def bank(request, db, tmp_path, importer):
    """(source, drop(name, data, when)) — drop makes a statement appear at the bank."""
    if request.param == "fake":
        src = fakes.FakeBank({}, Context(db))
        return src, src.drop
    folder = tmp_path / "выписки"
    folder.mkdir()

    def drop(name, data, when):
        path = folder / name
        path.write_bytes(data)
        os.utime(path, (when.timestamp(), when.timestamp()))
    return StatementFolder({"path": str(folder), "pattern": "*"}, Context(db, actor="cron")), drop


def test_bank_source_lists_since_a_date_and_syncs_each_statement_once(bank):
    src, drop = bank
    assert isinstance(src, BankSource)
    old, new = datetime.now() - timedelta(days=40), datetime.now() - timedelta(days=1)
    drop("kl_to_1c_jan.txt", one_c_statement(1), old)
    drop("kl_to_1c_feb.txt", one_c_statement(2), new)
    since = [s.name for s in src.statements_since(date.today() - timedelta(days=7))]
    assert since == ["kl_to_1c_feb.txt"]
    first = src.sync()
    assert sorted(o.name for o in first) == ["kl_to_1c_feb.txt", "kl_to_1c_jan.txt"] and all(o.ok for o in first)
    assert src.sync() == []                                   # nothing new
    drop("copy_of_feb.txt", one_c_statement(2), new)          # the same content under another name
    assert src.sync() == []
    drop("kl_to_1c_mar.txt", one_c_statement(3), new)
    assert [o.name for o in src.sync()] == ["kl_to_1c_mar.txt"]


def test_statement_folder_records_a_bad_file_once_and_goes_on(db, tmp_path, importer):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.txt").write_bytes(b"not a statement")
    (folder / "good.txt").write_bytes(one_c_statement(7))
    (folder / "notes.docx").write_bytes(b"ignored: not a statement extension")
    src = StatementFolder({"path": str(folder), "pattern": "*"}, Context(db, actor="cron"))
    outcomes = {o.name: o for o in src.sync()}
    assert set(outcomes) == {"broken.txt", "good.txt"}
    assert outcomes["good.txt"].ok and not outcomes["broken.txt"].ok
    assert "broken.txt" in outcomes["broken.txt"].message
    assert db.scalar("SELECT count(*) FROM statements") == 1
    assert src.sync() == []                                   # the bad file is not retried unchanged
    (folder / "broken.txt").write_bytes(one_c_statement(8))   # fixed by the user
    assert [(o.name, o.ok) for o in src.sync()] == [("broken.txt", True)]
    calls = db.records("SELECT operation, ok, path FROM audit_log WHERE integration = 'statement_folder' ORDER BY id")
    assert [(c["operation"], c["ok"]) for c in calls] == [("import", False), ("import", True), ("import", True)]


def test_statement_folder_missing_folder_is_a_clear_error(db, tmp_path, importer):
    src = StatementFolder({"path": str(tmp_path / "нет")}, Context(db))
    with pytest.raises(IntegrationError, match="папки .* нет"):
        src.sync()


def test_statement_folder_without_bank_import_says_so(db, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ledger.statements", None)  # as on a branch without issue 3
    src = StatementFolder({"path": str(tmp_path)}, Context(db))
    with pytest.raises(IntegrationError, match="ledger.statements"):
        src.sync()


def test_scheduled_run_syncs_the_folder(db, tmp_path, importer):
    from integrations import registry

    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / "a.txt").write_bytes(one_c_statement(21))
    (folder / "b.txt").write_bytes(b"garbage")
    registry.configure(db, "statement_folder", {"path": str(folder)})
    registry.set_enabled(db, "statement_folder", True)
    registry.set_schedule(db, "statement_folder", 15)
    assert registry.run_due(db) == ["statement_folder: файлов обработано 2, с ошибками 1"]
    assert registry.run_due(db) == []  # next run in 15 minutes
    assert registry.run(db, "statement_folder") == "statement_folder: файлов обработано 0, с ошибками 0"
