"""The soap_bank source through zeep against a local WSDL statement service (tests/bank_servers.py)."""

from __future__ import annotations

import pytest

from integrations import registry
from integrations.banks.soap_bank import SoapBankSource
from integrations.base import IntegrationError
from ledger import statements
from tests.bank_servers import SoapBankServer
from tests.test_bank_api import OUR, feb, one_c, payments


@pytest.fixture
def bank(db_path, monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server = SoapBankServer(OUR)
    yield server
    server.close()


def setup(db, server, **extra) -> None:
    values = {"wsdl": server.url + "/service?wsdl", "account": OUR, "start_date": "2026-02-01"} | extra
    registry.configure(db, "soap_bank", values, actor="test")
    registry.set_enabled(db, "soap_bank", True, actor="test")


def source(db) -> SoapBankSource:
    return registry.build(db, "soap_bank", "test")


def test_registered_through_the_entry_point():
    assert registry.discover()[0]["soap_bank"] is SoapBankSource


def test_the_service_file_is_imported_once_and_kept_as_the_original(db, bank):
    bank.statement = one_c("101", feb(5), "1500.00")
    setup(db, bank)
    result = source(db).sync_payments()
    assert (result.new, result.already) == (1, 0)
    assert bank.asked[0][0] == OUR and bank.asked[0][1] == "2026-02-01"
    (row,) = statements.list_statements(db)
    assert statements.read_original(db, row["id"]) == bank.statement
    # every call, the WSDL included, went through the audited client
    assert db.scalar("SELECT count(*) FROM audit_log WHERE integration = 'soap_bank' AND operation = 'WSDL'") >= 1
    assert db.scalar("SELECT count(*) FROM audit_log WHERE integration = 'soap_bank' AND operation = 'SOAP'") >= 1
    again = source(db).sync_payments()
    assert (again.new, again.already) == (0, 1)
    assert payments(db) == 1


def test_file_then_service_adds_nothing(db, bank):
    statements.import_statement(db, one_c("101", feb(5), "1500.00", purpose="Взнос  за 2026 год"), "kl_to_1c.txt")
    bank.statement = one_c("101", feb(5), "1500.00", purpose="взнос за 2026 год")
    setup(db, bank)
    assert source(db).sync_payments().new == 0
    assert payments(db) == 1


def test_a_fault_is_a_russian_message(db, bank):
    setup(db, bank, account="40703810040000099999")
    with pytest.raises(IntegrationError, match="сервис отказал: Unknown account"):
        source(db).sync_payments()
    assert payments(db) == 0


def test_an_unknown_operation_is_named(db, bank):
    setup(db, bank, operation="GetStatements")
    with pytest.raises(IntegrationError, match="в WSDL нет операции «GetStatements»"):
        source(db).sync_payments()


def test_base_url_replaces_the_address_the_wsdl_names(db, bank):
    other = SoapBankServer(OUR)              # the WSDL comes from one server, the calls go to base_url
    try:
        other.statement = one_c("101", feb(5), "1500.00")
        setup(db, bank, base_url=other.url + "/service")
        assert source(db).sync_payments().new == 1
        assert other.asked and not bank.asked
    finally:
        other.close()
