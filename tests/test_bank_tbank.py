"""The tbank source against a local T-Business server (tests/bank_servers.py, from the bank's published API
description): cursor pages, Bearer and X-Request-Id, the 20 requests/s limit, exactly once with files."""

from __future__ import annotations

import json

import pytest

from integrations import registry
from integrations.banks.tbank import TBankSource
from integrations.base import IntegrationError
from integrations.http import AuthorizationError
from ledger import statements
from ledger.errors import InputError, LedgerError
from tests.bank_servers import TBankServer, tbank_operation
from tests.test_bank_api import OUR, feb, one_c, payments

TOKEN = "t.tbank-token-0123456789abcdef"


@pytest.fixture
def bank(db_path, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server = TBankServer(TOKEN)
    yield server
    server.close()


def setup(db, server, **extra) -> None:
    values = {"base_url": server.url, "account": OUR, "token": TOKEN, "start_date": "2026-02-01"} | extra
    registry.configure(db, "tbank", values, actor="test")
    registry.set_enabled(db, "tbank", True, actor="test")


def source(db) -> TBankSource:
    return registry.build(db, "tbank", "test")


def test_registered_through_the_entry_point():
    assert registry.discover()[0]["tbank"] is TBankSource


def test_sync_follows_the_cursor_and_a_rerun_adds_nothing(db, bank):
    bank.operations = [tbank_operation(str(100 + i), feb(2 + i), "100.50") for i in range(5)] + [
        tbank_operation("9", feb(9), "40.00", credit=False, purpose="Комиссия банка"),
        tbank_operation("10", feb(9), "77.00", status="Authorization")]
    bank.page_limit = 2
    setup(db, bank)
    result = source(db).sync_payments()
    assert (result.new, result.already, result.outgoing, result.pending) == (5, 0, 1, 1)
    # each page with booked operations is a statement, its answer the original (the 4th holds only the pending one)
    assert len(statements.list_statements(db)) == 3
    assert len([r for r in bank.requests if r[1].startswith("/api/v1/statement")]) == 4
    assert {r["format"] for r in statements.list_statements(db)} == {"tbank"}
    first = statements.list_statements(db)[-1]
    assert json.loads(statements.read_original(db, first["id"]))["nextCursor"] == "2"
    ids = [h.get("X-Request-Id") for h in bank.headers_seen]
    assert all(ids) and len(set(ids)) == len(ids)            # a fresh X-Request-Id per request
    again = source(db).sync_payments()
    assert (again.new, again.outgoing, again.already) == (0, 0, 2)   # read again from 06.02 (09.02 − 3 days)


def test_stays_within_20_requests_a_second(db, bank):
    bank.operations = [tbank_operation(str(100 + i), feb(2 + i % 20), "10.00") for i in range(30)]
    bank.page_limit = 1
    setup(db, bank)
    assert source(db).sync_payments().new == 30
    assert bank.too_many == 0


def test_api_then_file_and_file_then_api_add_nothing(db, bank):
    statements.import_statement(db, one_c("101", feb(5), "1500.00"), "kl_to_1c.txt")
    bank.operations = [tbank_operation("101", feb(5), "1500.00"), tbank_operation("102", feb(6), "700.00")]
    setup(db, bank)
    result = source(db).sync_payments()
    assert (result.new, result.already) == (1, 1)
    result = statements.import_statement(db, one_c("102", feb(6), "700.00"), "kl_to_1c_2.txt")
    assert (result.new, result.already) == (0, 1)
    assert payments(db) == 2


def test_failure_between_pages_then_rerun_loads_the_rest(db, bank):
    bank.operations = [tbank_operation(str(100 + i), feb(2 + i), "100.00") for i in range(4)]
    bank.page_limit = 2
    bank.failures = [("cursor=2", 400, {}, b'{"errorMessage": "Bad Request"}')]
    setup(db, bank)
    with pytest.raises(LedgerError, match="400"):
        source(db).sync_payments()
    assert payments(db) == 2
    assert source(db).sync_payments().new == 2
    assert payments(db) == 4


def test_5xx_and_429_then_success(db, bank):
    bank.operations = [tbank_operation("101", feb(5), "1500.00")]
    bank.failures = [("/api/v1/statement", 503, {}, b"busy"),
                     ("/api/v1/statement", 429, {"Retry-After": "1"}, b'{"errorMessage": "Too Many Requests"}')]
    setup(db, bank)
    assert source(db).sync_payments().new == 1


def test_malformed_json_and_a_bad_token(db, bank):
    bank.failures = [("/api/v1/statement", 200, {}, b'{"operations": [{"typeOfOperation": "Credit",')]
    setup(db, bank)
    with pytest.raises(InputError, match="повреждённый JSON"):
        source(db).sync_payments()
    registry.configure(db, "tbank", {"token": "t.wrong"})
    with pytest.raises(AuthorizationError, match="авторизация в банке истекла: войдите заново"):
        source(db).sync_payments()
    assert payments(db) == 0


def test_a_token_with_stray_characters_is_named_not_sent(db, bank):
    setup(db, bank, token="t.токен 123")
    with pytest.raises(IntegrationError, match="в токене есть пробелы или не латинские символы"):
        source(db).sync_payments()
    assert bank.requests == []
