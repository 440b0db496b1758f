"""Statements straight from the bank: the open_banking source against a local Точка server (tests/bank_servers.py,
written from the bank's published API description), imported exactly once together with uploaded files."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from integrations import monitoring, registry
from integrations.banks import api
from integrations.banks.open_banking import OpenBankingSource
from integrations.http import AuthorizationError
from ledger import cli, statements
from ledger.errors import InputError, LedgerError
from tests.bank_servers import TochkaServer, transaction

OUR = "40703810040000012345"
BIC = "044525104"
JWT_EXP = 4102444800  # 2100-01-01


def make_jwt(exp: int = JWT_EXP) -> str:
    import base64

    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'iss': 'https://enter.tochka.com', 'exp': exp})}.c2lnbmF0dXJl"


JWT = make_jwt()


@pytest.fixture
def bank(db_path, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server = TochkaServer(jwt=JWT)
    yield server
    server.close()


def setup(db, server, **extra) -> None:
    values = {"base_url": server.url + "/uapi/open-banking/v1.0", "account": OUR, "bic": BIC, "poll_seconds": "0",
              "poll_attempts": "5", "start_date": "2026-02-01",
              "token_url": server.url + "/connect/token", "authorize_url": server.url + "/connect/authorize"}
    if "client_id" not in extra:
        values["token"] = server.jwt
    values.update(extra)
    registry.configure(db, "open_banking", values, actor="test")
    registry.set_enabled(db, "open_banking", True, actor="test")


def source(db) -> OpenBankingSource:
    return registry.build(db, "open_banking", "test")


def feb(day: int) -> str:
    return f"2026-02-{day:02d}"


def one_c(number: str, day: str, amount: str, purpose: str = "Членский взнос за 2026 год, участок 12") -> bytes:
    """The same operation in the bank's 1C export."""
    d = date.fromisoformat(day).strftime("%d.%m.%Y")
    text = f"""1CClientBankExchange
ВерсияФормата=1.03
Кодировка=Windows
ДатаНачала={d}
ДатаКонца={d}
РасчСчет={OUR}
СекцияДокумент=Платежное поручение
Номер={number}
Дата={d}
Сумма={amount}
ПлательщикСчет=40817810099910004312
ДатаПоступило={d}
Плательщик=Иванов Иван Иванович
ПлательщикИНН=500100732259
ПлательщикБИК=044525225
ПолучательСчет={OUR}
Получатель=СНТ «Рассвет»
ПолучательИНН=5007012345
ПолучательБИК={BIC}
НазначениеПлатежа={purpose}
КонецДокумента
КонецФайла
"""
    return text.replace("\n", "\r\n").encode("cp1251")


def payments(db) -> int:
    return db.scalar("SELECT count(*) FROM payments")


def test_registered_through_the_entry_point():
    found, broken = registry.discover()
    assert found["open_banking"] is OpenBankingSource
    assert not [b for b in broken if b.name == "open_banking"]


def test_sync_imports_booked_operations_keeps_the_answer_and_a_rerun_adds_nothing(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00"), transaction("102", feb(6), "2500.50"),
                         transaction("7", feb(6), "300.00", credit=False, purpose="Оплата электроэнергии"),
                         transaction("103", feb(7), "999.00", status="Pending")]
    setup(db, bank)
    result = source(db).sync_payments()
    assert (result.new, result.already, result.outgoing, result.pending) == (2, 0, 1, 1)
    assert result.summary().startswith("2 новых, 0 уже загружено, 1 исходящий")
    rows = db.records("SELECT doc_number, amount, direction, payer_account, purpose FROM payments ORDER BY doc_number")
    assert [(r["doc_number"], str(r["amount"]), r["direction"]) for r in rows] == [
        ("101", "1500.00", "in"), ("102", "2500.50", "in"), ("7", "300.00", "out")]
    # the original of the statement is the bank's answer byte for byte
    (statement,) = statements.list_statements(db)
    assert statement["format"] == "open_banking"
    original = json.loads(statements.read_original(db, statement["id"]))
    assert original["Data"]["Statement"][0]["status"] == "Ready"
    assert len(original["Data"]["Statement"][0]["Transaction"]) == 4
    # the request named the account as «счёт/БИК» and the window from start_date to today
    again = source(db).sync_payments()
    assert (again.new, again.outgoing) == (0, 0) and again.already == 3
    assert payments(db) == 3


def test_pending_operation_is_loaded_once_the_bank_books_it(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00"), transaction("103", feb(2), "999.00", status="Pending")]
    setup(db, bank)
    assert source(db).sync_payments().new == 1
    assert db.scalar("SELECT pending_since FROM bank_sync_state") == date(2026, 2, 2)
    bank.transactions[1]["status"] = "Booked"
    result = source(db).sync_payments()      # the window starts at the pending day, before the overlap
    assert (result.new, result.already) == (1, 1)
    assert db.scalar("SELECT pending_since FROM bank_sync_state") is None


def test_incremental_window_starts_at_the_last_booked_day_minus_the_overlap(db, bank):
    bank.transactions = [transaction("101", feb(10), "1500.00")]
    setup(db, bank, overlap_days="3")
    source(db).sync_payments()
    first = [s for s in bank.statements.values()][-1]
    assert first["startDateTime"] == "2026-02-01"
    source(db).sync_payments()
    second = [s for s in bank.statements.values()][-1]
    assert second["startDateTime"] == "2026-02-07"
    assert second["endDateTime"] == api.local_today().isoformat()


def test_first_sync_without_a_start_date_asks_for_one(db, bank):
    setup(db, bank, start_date="")
    with pytest.raises(LedgerError, match="с какой даты загружать"):
        source(db).sync_payments()
    assert bank.api_calls() == []


def test_api_then_file_adds_nothing(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    setup(db, bank)
    assert source(db).sync_payments().new == 1
    result = statements.import_statement(db, one_c("101", feb(5), "1500.00"), "kl_to_1c.txt")
    assert (result.new, result.already) == (0, 1)
    assert payments(db) == 1


def test_file_then_api_adds_nothing(db, bank):
    statements.import_statement(db, one_c("101", feb(5), "1500.00"), "kl_to_1c.txt")
    bank.transactions = [transaction("101", feb(5), "1500.00"), transaction("102", feb(6), "700.00")]
    setup(db, bank)
    result = source(db).sync_payments()
    assert (result.new, result.already) == (1, 1)
    assert payments(db) == 2


def test_statement_still_processing_is_polled_until_ready(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.processing_polls = 2
    setup(db, bank)
    assert source(db).sync_payments().new == 1
    gets = [p for m, p in bank.api_calls() if m == "GET"]
    assert len(gets) == 3


def test_statement_processing_too_long_is_a_clear_error_and_loads_nothing(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.processing_polls = 100
    setup(db, bank)
    with pytest.raises(LedgerError, match="ещё формируется в банке"):
        source(db).sync_payments()
    assert payments(db) == 0
    assert "ещё формируется" in db.scalar("SELECT last_error FROM bank_sync_state")


def test_several_pages_each_kept_as_a_statement(db, bank):
    bank.transactions = [transaction(str(100 + i), feb(3 + i), "100.00") for i in range(5)]
    bank.page_size = 2
    setup(db, bank)
    result = source(db).sync_payments()
    assert result.new == 5
    assert len(statements.list_statements(db)) == 3


def test_failure_between_pages_then_rerun_loads_exactly_the_rest(db, bank):
    bank.transactions = [transaction(str(100 + i), feb(3 + i), "100.00") for i in range(5)]
    bank.page_size = 2
    bank.failures = [("page=2", 400, {}, b'{"code": "400", "message": "Bad Request"}')]
    setup(db, bank)
    with pytest.raises(LedgerError, match="400"):
        source(db).sync_payments()
    assert payments(db) == 2
    result = source(db).sync_payments()
    assert (result.new, result.already) == (3, 2)
    assert payments(db) == 5
    assert db.scalar("SELECT count(DISTINCT fingerprint) FROM payments") == 5


def test_429_waits_what_retry_after_asks(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.failures = [("/statements", 429, {"Retry-After": "1"}, b'{"code": "429", "message": "Too Many Requests"}')]
    setup(db, bank)
    started = time.monotonic()
    assert source(db).sync_payments().new == 1
    assert time.monotonic() - started >= 1.0
    assert [m for m, _ in bank.api_calls()].count("POST") == 2


def test_5xx_then_success(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.failures = [("/accounts/", 502, {}, b"<html>Bad Gateway</html>")]
    setup(db, bank)
    assert source(db).sync_payments().new == 1
    assert db.scalar("SELECT count(*) FROM audit_log WHERE integration = 'open_banking' AND status = '502'") == 1


def test_malformed_json_is_a_russian_message_and_leaves_data_as_it_was(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.failures = [("/accounts/", 200, {}, b'{"Data": {"Statement": [{"status": "Ready", "Transaction": [')]
    setup(db, bank)
    with pytest.raises(InputError, match=r"строка 1, позиция \d+: ответ банка — повреждённый JSON"):
        source(db).sync_payments()
    assert payments(db) == 0 and statements.list_statements(db) == []


def test_oauth_token_expiring_is_refreshed(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    bank.expires_in = 30          # shorter than the refresh margin: every use refreshes first
    setup(db, bank, client_id=bank.client_id, client_secret=bank.client_secret, token="")
    with source(db).client() as client:
        client.exchange_code(bank.issue_code(), "https://coop.example/callback")
    assert source(db).sync_payments().new == 1
    grants = [r for r in bank.requests if r[1] == "/connect/token"]
    assert len(grants) >= 2       # the code, then at least one refresh
    bank.expire_access()          # the bank dropped the access token early: 401, refreshed, retried
    bank.expires_in = 3600
    assert source(db).sync_payments().already == 1


def test_401_after_revocation_asks_to_sign_in_again_and_alerts_the_admin(db, bank):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    setup(db, bank, client_id=bank.client_id, client_secret=bank.client_secret, token="")
    with source(db).client() as client:
        client.exchange_code(bank.issue_code(), "https://coop.example/callback")
    source(db).sync_payments()
    bank.revoke()
    with pytest.raises(AuthorizationError, match="авторизация в банке истекла: войдите заново") as info:
        source(db).sync_payments()
    assert "coop bank login open_banking" in str(info.value)
    assert db.scalar("SELECT auth_expired FROM bank_sync_state WHERE integration = 'open_banking'")
    alerts = [a for a in monitoring.alerts(db) if a.key == "bank_auth:open_banking"]
    assert alerts and "войдите заново" in alerts[0].text


def test_revoked_jwt_says_how_to_issue_a_new_one(db, bank):
    setup(db, bank)
    bank.revoke()
    with pytest.raises(AuthorizationError, match="авторизация в банке истекла: войдите заново") as info:
        source(db).sync_payments()
    assert "JWT" in str(info.value) and JWT not in str(info.value)
    assert db.scalar("SELECT count(*) FROM audit_log WHERE error LIKE ?", [f"%{JWT}%"]) == 0


def test_one_run_per_source_at_a_time(db, bank):
    setup(db, bank)
    with api.run_lock(db, "open_banking"):
        with pytest.raises(LedgerError, match="синхронизация уже идёт"):
            source(db).sync_payments()
    assert bank.api_calls() == []


def test_token_expiry_is_read_from_the_jwt(db, bank):
    setup(db, bank)
    assert source(db).token_expiry().year == 2100
    short = make_jwt(int(time.time()) + 86400)
    registry.configure(db, "open_banking", {"token": short})
    assert any(a.key.startswith("expiry:open_banking") for a in monitoring.alerts(db))


def test_cli_bank_sync_prints_per_source_and_matches(db_path, db, bank, capsys):
    bank.transactions = [transaction("101", feb(5), "1500.00"),
                         transaction("8", feb(6), "300.00", credit=False, purpose="Оплата электроэнергии")]
    setup(db, bank)
    assert cli.main(["bank", "sync"]) == 0
    out = capsys.readouterr().out
    assert "open_banking (01.02.2026–" in out and "1 новый, 0 уже загружено, 1 исходящий" in out
    assert db.scalar("SELECT count(*) FROM matches") >= 1     # matching ran on the new payment
    assert cli.main(["bank", "sync", "--source", "open_banking", "--since", "2026-02-01"]) == 0
    assert "0 новых, 2 уже загружено, 0 исходящих" in capsys.readouterr().out


def test_cli_bank_sync_with_no_bank_enabled_says_so_and_fails(db_path, db, bank, capsys):
    assert cli.main(["bank", "sync"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Ошибка: Не настроен ни один банк: coop integrations configure БАНК")
    assert "open_banking" in err and len(err.splitlines()) == 1
    setup(db, bank)
    registry.set_enabled(db, "open_banking", False)
    assert cli.main(["bank", "sync"]) == 1          # configured but switched off: still nothing to sync
    assert "Не настроен ни один банк" in capsys.readouterr().err
    assert bank.api_calls() == []


def test_cli_bank_sync_error_exits_non_zero(db_path, db, bank, capsys):
    setup(db, bank)
    bank.revoke()
    assert cli.main(["bank", "sync", "--source", "open_banking"]) == 1
    assert "авторизация в банке истекла: войдите заново" in capsys.readouterr().err
    assert cli.main(["bank", "sync", "--since", "вчера"]) == 1


def test_scheduled_through_integrations_run(db_path, db, bank, capsys):
    bank.transactions = [transaction("101", feb(5), "1500.00")]
    setup(db, bank)
    assert cli.main(["integrations", "schedule", "open_banking", "--every", "60"]) == 0
    assert cli.main(["integrations", "run"]) == 0
    assert "open_banking: 1 новый, 0 уже загружено, 0 исходящих" in capsys.readouterr().out
    assert payments(db) == 1
    assert cli.main(["integrations", "run"]) == 0          # not due yet
    assert "Нечего запускать" in capsys.readouterr().out


def test_status_rows_for_the_bank_page(db, bank):
    setup(db, bank)
    registry.set_schedule(db, "open_banking", 30)
    bank.revoke()
    with pytest.raises(AuthorizationError):
        source(db).sync_payments()
    (row,) = api.status(db)
    assert row["name"] == "open_banking" and row["auth_expired"]
    assert "войдите заново" in row["last_error"]
    assert row["token_expires_at"].year == 2100
    assert row["last_sync_at"] is not None and row["interval_minutes"] == 30


# -- the bank page ------------------------------------------------------------------------------------

def test_bank_page_shows_status_and_syncs_on_click(db, bank):
    from tests.test_pages import page_test, texts

    bank.transactions = [transaction("101", feb(5), "1500.00")]
    setup(db, bank)
    registry.set_schedule(db, "open_banking", 60)
    at = page_test("pages/statements.py", "accountant").run()
    assert not at.exception
    shown = texts(at)
    assert "Точка: Open Banking API" in shown and "последняя синхронизация: —" in shown
    assert "каждые 60 мин" in shown and "авторизация действует до 01.01.2100" in shown
    at.button(key="bank_sync_open_banking").click().run()
    assert not at.exception
    assert "open_banking: 1 новый, 0 уже загружено, 0 исходящих" in texts(at)
    assert payments(db) == 1
    assert "последняя синхронизация: —" not in texts(at)


def test_bank_page_shows_the_last_error_in_russian(db, bank):
    from tests.test_pages import page_test, texts

    setup(db, bank)
    bank.revoke()
    at = page_test("pages/statements.py", "accountant").run()
    at.button(key="bank_sync_open_banking").click().run()
    assert not at.exception
    assert "Последняя ошибка: Интеграция open_banking: авторизация в банке истекла: войдите заново" in texts(at)


def test_bank_page_without_a_bank_source_says_how_to_connect_one(db):
    from tests.test_pages import page_test, texts

    at = page_test("pages/statements.py", "accountant").run()
    assert not at.exception
    assert "Банк с API не подключён" in texts(at)


# -- the readers -----------------------------------------------------------------------------------------

def test_readers_recognise_each_bank_answer_by_content():
    from ledger.bankformats import detect_format

    assert detect_format(b'{"Data": {"Statement": [{"Transaction": []}]}, "Links": {}}') == "open_banking"
    assert detect_format(b'{"balances": {}, "operations": [], "nextCursor": null}') == "tbank"
    assert detect_format(b'{"transactions": [], "_links": []}') == "sber"


@pytest.mark.parametrize("answer, message", [
    (b'{"Data": {"Statement": [{"accountId": "40703810040000012345/044525104", "Transaction": '
     b'[{"creditDebitIndicator": "Up", "status": "Booked", "Amount": {"amount": 1}}]}]}}',
     r"kl\.json, Data\.Statement\[0\]\.Transaction\[0\]: creditDebitIndicator «Up»"),
    (b'{"Data": {"Statement": [{"Transaction": [{"creditDebitIndicator": "Credit", "status": "Booked", '
     b'"documentProcessDate": "2026-02-05", "Amount": {"amount": "lots"}}]}]}}', r"сумма Amount\.amount «lots» не число"),
    (b'{"operations": [{"typeOfOperation": "Credit", "operationStatus": "Transaction", "accountAmount": 5}]}',
     r"kl\.json, operations\[0\]: нет даты операции"),
    (b'{"transactions": [{"direction": "IN"}]}', r"transactions\[0\]: direction «IN»"),
])
def test_a_bad_field_names_its_place_in_the_answer(answer, message):
    from ledger.bankformats import parse_statement

    with pytest.raises(InputError, match=message):
        parse_statement(answer, "kl.json")


def test_amounts_keep_their_kopecks_exactly():
    from decimal import Decimal

    from ledger.bankformats import parse_statement

    answer = json.dumps({"Data": {"Statement": [{"accountId": f"{OUR}/{BIC}", "Transaction": [
        transaction("1", feb(5), "0.10"), transaction("2", feb(5), "1234567.89")]}]}}).encode()
    parsed = parse_statement(answer, "x.json")
    assert [p.amount for p in parsed.payments] == [Decimal("0.10"), Decimal("1234567.89")]
    assert parsed.our_account == OUR


def test_expired_authorization_is_sent_to_the_admin_once(db, bank):
    from tests.fakes import FakeChannel

    registry.register(FakeChannel)
    try:
        registry.configure(db, "fake_channel", {"admin_recipient": "admin@snt.example"})
        registry.set_enabled(db, "fake_channel", True)
        setup(db, bank)
        bank.revoke()
        for _ in range(2):
            with pytest.raises(AuthorizationError):
                source(db).sync_payments()
        sent = db.fetchall("SELECT target FROM audit_log WHERE action = 'alert_sent' AND target = 'bank_auth:open_banking'")
        assert len(sent) == 1
    finally:
        registry.unregister("fake_channel")
