"""The kontur transport against a local operator on 127.0.0.1 (tests/kontur_server.py): a submission through
every status, a rejection with its reasons shown, tokens refreshed, receipts and dates stored."""

from __future__ import annotations

from datetime import date

import pytest

from integrations import registry
from ledger import cli
from ledger.errors import LedgerError
from ledger.reports import boupr, filing
from tests import certs
from tests.kontur_server import ACCOUNT, API_KEY, CLIENT_ID, KonturServer


@pytest.fixture
def operator(monkeypatch):
    monkeypatch.setenv("COOP_ALLOW_INSECURE_LOOPBACK", "1")
    server = KonturServer()
    yield server
    server.stop()


@pytest.fixture
def signed_report(demo_db, tmp_path, operator):
    key = certs.make_key("ec")
    cert = certs.cert_pem(certs.self_signed(key, "Председатель"))
    registry.configure(demo_db, "cms", {"certificate": cert, "private_key": certs.key_pem(key)})
    registry.set_enabled(demo_db, "cms", True)
    registry.configure(demo_db, "kontur", {"base_url": operator.base_url, "token_url": f"{operator.base_url}/connect/token",
                                           "client_id": CLIENT_ID, "api_key": API_KEY, "account_id": ACCOUNT,
                                           "inn": "5007012340", "kpp": "500701001", "ifns_code": "5007",
                                           "certificate": cert})
    registry.set_enabled(demo_db, "kontur", True)
    report, problems = boupr.build(demo_db, 2026, date(2026, 12, 8))
    assert problems == []
    path = tmp_path / report.name
    path.write_bytes(report.data)
    assert cli.main(["report", "sign", str(path), "--signer", "cms"]) == 0
    return path


def flow_of(operator, db, submission_id):
    return operator.docflows[filing.submission(db, submission_id)["remote_id"]]


def test_a_submission_goes_through_every_status(demo_db, operator, signed_report, capsys):
    assert cli.main(["report", "submit", str(signed_report), "--transport", "kontur"]) == 0
    row = filing.submissions(demo_db)[0]
    assert row["status"] == "sent" and row["remote_id"] in operator.docflows
    sent = operator.contents[next(iter(operator.drafts.values()))["documents"].popitem()[1]["content-id"]]
    assert sent == signed_report.read_bytes()
    steps = [("urn:document:fns534-report-receipt", "delivered", "извещение.xml"),
             ("urn:document:fns534-report-acceptance-result-positive", "accepted", "квитанция.xml"),
             ("urn:document:fns534-report-processing-result-ok", "processed", "извещение-о-вводе.xml")]
    for doc_type, status, filename in steps:
        operator.advance(row["remote_id"], doc_type, f"<{status}/>".encode(), filename)
        assert cli.main(["report", "status", str(row["id"])]) == 0
        assert filing.submission(demo_db, row["id"])["status"] == status
    out = capsys.readouterr().out
    assert "обработан (извещение о вводе)" in out and "квитанция: квитанция.xml" in out
    assert [e["status"] for e in filing.events(demo_db, row["id"])] == ["sent", "delivered", "accepted", "processed"]
    assert all(e["happened_at"] is not None for e in filing.events(demo_db, row["id"]))
    assert {r["name"] for r in filing.receipts(demo_db, row["id"])} == {"извещение.xml", "квитанция.xml",
                                                                       "извещение-о-вводе.xml"}
    calls = len(operator.requests)
    assert cli.main(["report", "status", str(row["id"])]) == 0          # final: the operator is not asked again
    assert len(operator.requests) == calls


def test_a_rejection_shows_its_reasons(demo_db, operator, signed_report, capsys):
    row = filing.submit_file(demo_db, signed_report, "kontur")
    operator.advance(row["remote_id"], "urn:document:fns534-report-receipt", b"<ok/>", "извещение.xml")
    refusal = ('<?xml version="1.0" encoding="utf-8"?><УведомлениеОбОтказе><Ошибка Код="0400400011">'
               'Не совпадает КПП организации с данными ЕГРЮЛ</Ошибка></УведомлениеОбОтказе>').encode()
    operator.advance(row["remote_id"], "urn:document:fns534-report-acceptance-result-negative", refusal, "отказ.xml")
    assert cli.main(["report", "status", str(row["id"])]) == 0
    out = capsys.readouterr().out
    assert "отклонён" in out and "Не совпадает КПП организации с данными ЕГРЮЛ" in out
    assert filing.submission(demo_db, row["id"])["status"] == "rejected"
    assert "отказ.xml" in {r["name"] for r in filing.receipts(demo_db, row["id"])}


def test_tokens_are_refreshed_when_the_operator_revokes_them(demo_db, operator, signed_report):
    row = filing.submit_file(demo_db, signed_report, "kontur")
    issued = operator.tokens_issued
    operator.revoke_tokens()
    operator.advance(row["remote_id"], "urn:document:fns534-report-receipt", b"<ok/>", "извещение.xml")
    assert filing.refresh(demo_db, row["id"])["status"] == "delivered"
    assert operator.tokens_issued == issued + 1
    logged = demo_db.fetchall("SELECT details, error FROM audit_log WHERE integration = 'kontur'")
    assert logged and all(API_KEY not in (d or "") + (e or "") for d, e in logged)


def test_an_unsigned_report_is_refused_before_anything_is_sent(demo_db, operator, tmp_path):
    registry.configure(demo_db, "kontur", {"base_url": operator.base_url, "token_url": f"{operator.base_url}/connect/token",
                                           "client_id": CLIENT_ID, "api_key": API_KEY, "account_id": ACCOUNT,
                                           "inn": "5007012340", "ifns_code": "5007"})
    registry.set_enabled(demo_db, "kontur", True)
    report, _ = boupr.build(demo_db, 2026, date(2026, 12, 8))
    path = tmp_path / report.name
    path.write_bytes(report.data)
    with pytest.raises(LedgerError, match="без подписи"):
        filing.submit_file(demo_db, path, "kontur")
    assert operator.requests == [] and filing.submissions(demo_db) == []
