"""The sber source against a local SberBusiness server over TLS with a client certificate (tests/bank_servers.py,
from the bank's published API description): OAuth code and refresh, a day at a time, pages by _links rel=next,
only complete days read, exactly once with files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations import registry
from integrations.banks.sber import SberSource
from integrations.base import IntegrationError
from integrations.http import AuthorizationError
from ledger import statements
from ledger.db import utcnow
from tests.bank_servers import SberServer, sber_operation
from tests.certs import cert_pem, key_pem, make_key, mtls_server, self_signed
from tests.test_bank_api import OUR, feb, one_c, payments

REDIRECT = "https://coop.example/callback"


@pytest.fixture
def tls_files(tmp_path):
    return mtls_server(tmp_path)       # the server certificate stands in for the bank's, under the Минцифры root


@pytest.fixture
def bank(db_path, tls_files):
    server = SberServer(tls_files[0])
    yield server
    server.close()


def setup(db, server, tls_files, **extra) -> None:
    _, ca_file, cert, key = tls_files
    values = {"base_url": server.url, "account": OUR, "client_id": server.client_id,
              "client_secret": server.client_secret, "token_url": server.url + "/ic/sso/api/v2/oauth/token",
              "authorize_url": server.url + "/ic/sso/api/v2/oauth/authorize", "client_cert": cert, "client_key": key,
              "ca_file": ca_file, "start_date": "2026-02-03"} | extra
    registry.configure(db, "sber", values, actor="test")
    registry.set_enabled(db, "sber", True, actor="test")


def source(db) -> SberSource:
    return registry.build(db, "sber", "test")


def login(db, server) -> None:
    with source(db).client() as client:
        client.exchange_code(server.issue_code(), REDIRECT)


def test_registered_through_the_entry_point():
    assert registry.discover()[0]["sber"] is SberSource


def test_sync_reads_day_by_day_follows_next_links_and_refreshes_the_token(db, bank, tls_files):
    bank.operations = [sber_operation(str(200 + i), feb(3), "10.00") for i in range(5)] + [
        sber_operation("300", feb(4), "1500.00"), sber_operation("9", feb(4), "40.00", credit=False, purpose="Комиссия")]
    bank.page_size = 2
    bank.expires_in = 30                       # below the refresh margin: the refresh token is used
    setup(db, bank, tls_files)
    login(db, bank)
    result = source(db).sync_payments(since=date_of(feb(3)))
    assert (result.new, result.outgoing) == (6, 1)
    assert result.end == utcnow().date() - timedelta(days=1)      # today is not complete yet
    assert len([r for r in bank.requests if "/ic/sso/" in r[1]]) >= 2
    assert {r["format"] for r in statements.list_statements(db)} == {"sber"}
    again = source(db).sync_payments(since=date_of(feb(3)))
    assert (again.new, again.already) == (0, 7)


def date_of(text: str):
    from datetime import date

    return date.fromisoformat(text)


def test_api_then_file_adds_nothing(db, bank, tls_files):
    bank.operations = [sber_operation("101", feb(5), "1500.00")]
    setup(db, bank, tls_files)
    login(db, bank)
    assert source(db).sync_payments(since=date_of(feb(5))).new == 1
    result = statements.import_statement(db, one_c("101", feb(5), "1500.00"), "kl_to_1c.txt")
    assert (result.new, result.already) == (0, 1)
    assert payments(db) == 1


def test_without_the_client_certificate_the_bank_refuses(db, bank, tls_files):
    setup(db, bank, tls_files)
    other = make_key("ec")
    registry.configure(db, "sber", {"client_cert": cert_pem(self_signed(other, "stranger")), "client_key": key_pem(other)})
    with pytest.raises(IntegrationError):
        login(db, bank)


def test_revoked_consent_asks_to_sign_in_again(db, bank, tls_files):
    bank.operations = [sber_operation("101", feb(5), "1500.00")]
    setup(db, bank, tls_files)
    login(db, bank)
    bank.revoke()
    with pytest.raises(AuthorizationError, match="авторизация в банке истекла: войдите заново") as info:
        source(db).sync_payments(since=date_of(feb(5)))
    assert "coop bank login sber" in str(info.value)
    assert payments(db) == 0


def test_login_url_names_the_consent_page(db, bank, tls_files, db_path, capsys):
    from ledger import cli

    setup(db, bank, tls_files)
    assert cli.main(["bank", "login", "sber", "--redirect-uri", REDIRECT]) == 0
    out = capsys.readouterr().out
    assert f"{bank.url}/ic/sso/api/v2/oauth/authorize?response_type=code&client_id=sber-client" in out
    code = bank.issue_code()
    assert cli.main(["bank", "login", "sber", "--redirect-uri", REDIRECT, "--code", code]) == 0
    assert "авторизация в банке сохранена" in capsys.readouterr().out
    assert source(db).token_expiry() is not None
