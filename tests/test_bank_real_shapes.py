"""Statements as real banks write them (issue 11) and the import's safeguards (19.4, 12.11, 12.13).

Every file here is written for the project by hand: MT940 with several statements and accounts and the shapes
the mt-940 library refuses, camt.053 with batch entries, details in another currency and offset dates, the
Альфа-Банк and ВТБ spreadsheet layouts, a 1C file with a stray line. The expected values are written out here.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import bankformats, cooperative, matching, statements
from ledger.bankformats import parse_statement
from ledger.bankformats.swift_mt940 import split_account
from ledger.cli import main
from ledger.errors import InputError
from tests import bank_fixtures as F

RUB_A = "40703810800000001234"      # F.OUR
RUB_B = "40703810500000005678"
USD_C = "40703840200000000077"


def error_of(data: bytes, name: str) -> str:
    with pytest.raises(InputError) as exc:
        parse_statement(data, name)
    return str(exc.value)


def by_account(parsed) -> dict[str, tuple[int, Decimal]]:
    result: dict[str, tuple[int, Decimal]] = {}
    for p in parsed.payments:
        n, total = result.get(p.our_account, (0, Decimal("0.00")))
        result[p.our_account] = (n + 1, total + (p.amount if p.direction == "in" else -p.amount))
    return result


# -- MT940 ----------------------------------------------------------------------------------------------

MT940_TWO_ACCOUNTS = f"""{{1:F01SABRRUMMAXXX0000000000}}{{2:I940SABRRUMMXXXXN}}{{4:
:20:STMT-A
:25:044525225/{RUB_A}
:28C:00001/001
:60F:C260101RUB1000,00
:61:2601150115C500,00NTRF101//B1
:86:Членский взнос уч. 12 Иванов
:61:2601160116D120,50NTRFNONREF
:86:Комиссия банка
:62F:C260131RUB1379,50
-}}
{{1:F01SABRRUMMAXXX0000000000}}{{2:I940SABRRUMMXXXXN}}{{4:
:20:STMT-B
:25:{RUB_B}
:28C:00002/001
:60F:C260101RUB0,00
:61:2601170117C700,00NTRF7
:86:Целевой взнос уч. 40
:61:2601180118C1,00NTRF8
:86:Проверка счёта
:62F:C260131RUB701,00
-}}
"""


def test_mt940_each_statement_keeps_its_own_account():
    parsed = parse_statement(MT940_TWO_ACCOUNTS.encode(), "two.sta")
    assert parsed.accounts == [RUB_A, RUB_B]
    assert by_account(parsed) == {RUB_A: (2, Decimal("379.50")), RUB_B: (2, Decimal("701.00"))}
    first = parsed.payments[0]
    assert (first.doc_date, first.doc_number, first.amount, first.direction, first.line) == \
           (date(2026, 1, 15), "101", Decimal("500.00"), "in", 6)
    assert parsed.payments[2].line == 17 and parsed.payments[2].our_account == RUB_B
    assert (parsed.opening_balance, parsed.closing_balance) == (Decimal("1000.00"), Decimal("1379.50"))


@pytest.mark.parametrize("written,account,currency", [
    (RUB_A, RUB_A, None),
    (f"044525225/{RUB_A}", RUB_A, None),
    (f"SABRRUMM/{RUB_A}/RUB", RUB_A, "RUB"),
    ("NEDSNL2A/1234567890", "1234567890", None),
    ("50010517/0123456789", "0123456789", None),
    ("COBADEFF/1234567890/EUR", "1234567890", "EUR"),
    ("NL69INGB0123456789 EUR", "NL69INGB0123456789", "EUR"),
    ("DE89370400440532013000EUR", "DE89370400440532013000", "EUR"),
    ("40703 810 8000 0000 1234", RUB_A, None),
])
def test_mt940_account_shapes(written, account, currency):
    got_account, _, got_currency = split_account(written)
    assert (got_account, got_currency) == (account, currency)


def _mt940(statements_: list[tuple[str, str, list[str]]]) -> bytes:
    """(:20:, :25:, [:61: values]) → a file; each :61: gets an :86:."""
    lines = []
    for ref, account, entries in statements_:
        lines += [f":20:{ref}", f":25:{account}", ":28C:1/1", ":60F:C260101EUR0,00"]
        for entry in entries:
            lines += [f":61:{entry}", ":86:payment"]
        lines += [":62F:C260131EUR0,00", "-"]
    return "\r\n".join(lines).encode()


def test_mt940_same_account_written_two_ways_is_one_account():
    data = _mt940([("A", "37040044/532013000", ["2601150115C10,00NTRFX"]),
                   ("B", "DE89370400440532013000 EUR", ["2601160116C20,00NTRFY"])])
    parsed = parse_statement(data, "de.sta")
    assert parsed.accounts == ["DE89370400440532013000"]
    assert {p.our_account for p in parsed.payments} == {"DE89370400440532013000"}
    assert {p.currency for p in parsed.payments} == {"EUR"}


@pytest.mark.parametrize("quirk", ["28c_two_lines", "28c_slash", "funds_code", "no_decimals"])
def test_mt940_shapes_the_library_refuses_are_read(quirk, capfd):
    head = [":20:Q", f":25:{RUB_A}"]
    seq = {"28c_two_lines": [":28C:00001/", "001"], "28c_slash": [":28C: /1"]}.get(quirk, [":28C:1/1"])
    entry = {"funds_code": "2601150115CR250,00NTRFREF", "no_decimals": "2601150115C250NTRFREF"}.get(
        quirk, "2601150115C250,00NTRFREF")
    lines = head + seq + [":60F:C260101RUB0,00", f":61:{entry}", ":86:Взнос", ":62F:C260131RUB250,00", "-"]
    parsed = parse_statement("\n".join(lines).encode(), "q.sta")
    assert [(p.amount, p.direction, p.our_account) for p in parsed.payments] == [(Decimal("250.00"), "in", RUB_A)]
    assert capfd.readouterr().err == ""


def test_mt940_unreadable_tag_is_one_russian_line_naming_file_tag_and_line(capfd):
    data = "\n".join([":20:X", f":25:{RUB_A}", ":28C:1/1", ":60F:C260101RUB0,00", ":61:2601150115C250,00NTRFA",
                      ":86:ok", ":61:ЭТО НЕ СТРОКА ВЫПИСКИ", ":86:bad", ":62F:C260131RUB250,00", "-"]).encode()
    message = error_of(data, "broken.sta")
    assert message.startswith("broken.sta, строка 7: поле :61: не разобрано")
    assert "\n" not in message and "RuntimeError" not in message and "object at" not in message
    err = capfd.readouterr().err
    assert "matching" not in err and "no match" not in err and err == ""


def test_mt940_zero_entries_are_not_payments():
    data = _mt940([("Z", RUB_A, ["2601150115C0,00NTRFFEE", "2601160116C5,00NTRFOK"])])
    parsed = parse_statement(data, "zero.sta")
    assert [p.amount for p in parsed.payments] == [Decimal("5.00")] and parsed.zero == 1


# -- camt.053 -------------------------------------------------------------------------------------------

def _camt(stmts: list[tuple[str, str, list[str]]]) -> bytes:
    body = []
    for account, ccy, entries in stmts:
        body.append(f"""<Stmt><Id>{account}</Id>
<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>{ccy}</Ccy></Acct>
{''.join(entries)}
</Stmt>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-02-01T10:00:00+03:00</CreDtTm></GrpHdr>
{''.join(body)}
</BkToCstmrStmt></Document>""".encode()


def _tx(amount: str | None, ccy: str = "RUB", name: str = "Иванов И.И.", purpose: str = "Взнос",
        instructed: str | None = None) -> str:
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt>' if amount is not None else ""
    details = f'<AmtDtls><InstdAmt><Amt Ccy="{ccy}">{instructed}</Amt></InstdAmt></AmtDtls>' if instructed else ""
    return (f"<TxDtls>{amt}{details}<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{purpose}</Ustrd></RmtInf></TxDtls>")


def _entry(amount: str, txs: list[str], booked: str = "<Dt>2026-01-15</Dt>", mark: str = "CRDT", ccy: str = "RUB",
           status: str = "<Sts><Cd>BOOK</Cd></Sts>") -> str:
    return (f'<Ntry><Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{mark}</CdtDbtInd>{status}'
            f"<BookgDt>{booked}</BookgDt><NtryDtls>{''.join(txs)}</NtryDtls></Ntry>")


def test_camt_booked_amount_is_what_moved_not_the_details():
    data = _camt([(USD_C, "USD", [
        # paid in euros, booked in dollars: the details are in another currency
        _entry("108.40", [_tx("100.00", "EUR")], ccy="USD"),
        # details carry 0
        _entry("55.00", [_tx("0")], ccy="USD"),
    ])])
    parsed = parse_statement(data, "usd.xml")
    assert [(p.amount, p.currency) for p in parsed.payments] == [(Decimal("108.40"), "USD"), (Decimal("55.00"), "USD")]
    assert parsed.payments[0].payer_name == "Иванов И.И."


def test_camt_batch_is_split_when_its_details_add_up():
    data = _camt([(RUB_A, "RUB", [
        _entry("1500.00", [_tx("1000.00", name="Иванов", purpose="уч. 1"), _tx("500.00", name="Петров",
                                                                              purpose="уч. 2")]),
        _entry("900.00", [_tx("400.00", name="Сидоров"), _tx("400.00", name="Козлов")]),   # 800 ≠ 900
    ])])
    parsed = parse_statement(data, "batch.xml")
    got = [(p.amount, p.payer_name, p.purpose) for p in parsed.payments]
    assert got[:2] == [(Decimal("1000.00"), "Иванов", "уч. 1"), (Decimal("500.00"), "Петров", "уч. 2")]
    assert len(got) == 3 and got[2][0] == Decimal("900.00")


@pytest.mark.parametrize("booked,day", [
    ("<Dt>2017-04-02+02:00</Dt>", date(2017, 4, 2)),
    ("<DtTm>2017-04-02T23:30:00+02:00</DtTm>", date(2017, 4, 2)),
    ("<DtTm>2017-04-02T08:00:00</DtTm>", date(2017, 4, 2)),
    ("<Dt>2017-04-02</Dt>", date(2017, 4, 2)),
])
def test_camt_dates_with_offsets_and_times(booked, day):
    parsed = parse_statement(_camt([(RUB_A, "RUB", [_entry("10.00", [_tx("10.00")], booked=booked)])]), "d.xml")
    assert parsed.payments[0].doc_date == day


def test_camt_zero_and_pending_entries_are_not_payments():
    data = _camt([(RUB_A, "RUB", [_entry("0.00", [_tx("0.00")]), _entry("7.00", [_tx("7.00")]),
                                  _entry("9.00", [_tx("9.00")], status="<Sts><Cd>PDNG</Cd></Sts>")])])
    parsed = parse_statement(data, "z.xml")
    assert [p.amount for p in parsed.payments] == [Decimal("7.00")]
    assert (parsed.zero, parsed.pending) == (1, 1)


def test_camt_with_an_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Иванов Иван")
    data = _camt([(RUB_A, "RUB", [_entry("10.00", [_tx("10.00", name="&xxe;")])])]).replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode())
    message = error_of(data, "xxe.xml")
    assert message.startswith("xxe.xml: в XML есть объявление DOCTYPE/ENTITY")


def test_camt_text_of_megabytes_is_a_russian_message():
    data = _camt([(RUB_A, "RUB", [_entry("10.00", [_tx("10.00", purpose="я" * 6_000_000)])])])
    message = error_of(data, "huge.xml")
    assert message.startswith("huge.xml") and "10 МБ" in message


# -- generated MT940 and camt.053 -----------------------------------------------------------------------

ACCOUNTS = [RUB_A, RUB_B, "40703810100000009999"]
amounts = st.integers(min_value=1, max_value=10_000_000).map(lambda k: Decimal(k).scaleb(-2))


@st.composite
def statements_plan(draw):
    """Several statements, each of one account, each with entries; an entry is a batch of 1-4 parts."""
    plan = []
    for _ in range(draw(st.integers(1, 4))):
        account = draw(st.sampled_from(ACCOUNTS))
        entries = draw(st.lists(st.tuples(st.sampled_from(["in", "out"]), st.lists(amounts, min_size=1, max_size=4)),
                                min_size=0, max_size=6))
        plan.append((account, entries))
    return plan


def expected_of(plan, split_batches: bool) -> dict[str, tuple[int, Decimal]]:
    result: dict[str, tuple[int, Decimal]] = {}
    for account, entries in plan:
        for direction, parts in entries:
            n, total = result.get(account, (0, Decimal("0.00")))
            signed = sum(parts) * (1 if direction == "in" else -1)
            result[account] = (n + (len(parts) if split_batches else 1), total + signed)
    return result


def _comma(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements_plan())
def test_generated_mt940_counts_and_sums_per_account(plan):
    lines, k = [], 0
    for i, (account, entries) in enumerate(plan):
        lines += [f":20:S{i}", f":25:SABRRUMM/{account}", f":28C:{i + 1}/1", ":60F:C260101RUB0,00"]
        for direction, parts in entries:
            k += 1
            lines += [f":61:260115{'C' if direction == 'in' else 'D'}{_comma(sum(parts))}NTRFR{k}", f":86:платёж {k}"]
        lines += [":62F:C260131RUB0,00", "-"]
    parsed = parse_statement("\n".join(lines).encode(), "gen.sta")
    assert by_account(parsed) == expected_of(plan, split_batches=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements_plan())
def test_generated_camt_counts_and_sums_per_account(plan):
    stmts = []
    for account, entries in plan:
        xml_entries = [_entry(f"{sum(parts):.2f}", [_tx(f"{p:.2f}") for p in parts],
                              mark="CRDT" if direction == "in" else "DBIT") for direction, parts in entries]
        stmts.append((account, "RUB", xml_entries))
    parsed = parse_statement(_camt(stmts), "gen.xml")
    assert by_account(parsed) == expected_of(plan, split_batches=True)


# -- spreadsheets -----------------------------------------------------------------------------------------

ALFA_CSV = f"""Тип счёта;Номер счета;Валюта;Дата операции;Референс проводки;Описание операции;Приход;Расход;
Текущий счёт;{RUB_A};RUR;15.01.2026;C011501260000001;Членский взнос уч. 12 Иванов;6000,00;0;
Текущий счёт;{RUB_A};RUR;16.01.2026;HOLD;Перевод Петровой;1500,00;0;
Текущий счёт;{RUB_A};RUR;17.01.2026;В обработке;Взнос уч. 8;700,00;0;
Текущий счёт;{RUB_A};RUR;18.01.2026;C011801260000009;Комиссия за ведение счета;0;490,00;
""".encode("cp1251")


def test_alfa_csv_account_column_is_ours_and_rows_in_processing_are_skipped(db):
    parsed = parse_statement(ALFA_CSV, "movementList.csv")
    assert [(p.our_account, p.amount, p.direction, p.currency) for p in parsed.payments] == [
        (RUB_A, Decimal("6000.00"), "in", "RUB"), (RUB_A, Decimal("490.00"), "out", "RUB")]
    assert parsed.pending == 2 and any("«В обработке»" in w and "2" in w for w in parsed.warnings)
    cooperative.save_settings(db, {"bank_accounts": RUB_A})
    result = statements.import_statement(db, ALFA_CSV, "movementList.csv")
    assert result.summary() == "1 новый, 0 уже загружено, 1 исходящий, 2 в обработке (пропущено)"


def test_vtb_account_currency_amount_is_the_payment():
    rows = [["Выписка по счёту", USD_C], [],
            ["Дата операции", "Сумма операции", "Валюта операции", "Сумма пересчитанная в валюту счета",
             "Валюта счета", "Назначение платежа"],
            ["15.01.2026", 100.0, "EUR", 108.4, "USD", "Оплата по договору"],
            ["16.01.2026", -20.0, "USD", -20.0, "USD", "Комиссия"],
            ["17.01.2026", 0, "USD", 0, "USD", "Уведомление"]]
    from tests.conftest import xlsx_bytes

    parsed = parse_statement(xlsx_bytes(rows), "vtb.xlsx")
    assert [(p.amount, p.direction, p.currency, p.our_account) for p in parsed.payments] == [
        (Decimal("108.40"), "in", "USD", USD_C), (Decimal("20.00"), "out", "USD", USD_C)]


# -- 1C ---------------------------------------------------------------------------------------------------

def test_1c_stray_line_between_documents_is_skipped_with_a_warning(monkeypatch):
    text = F.kl_to_1c("utf-8", "\n").decode()
    first_doc_end = text.index("КонецДокумента\n") + len("КонецДокумента\n")
    text = text[:first_doc_end] + "Выписка сформирована системой ДБО\n" + text[first_doc_end:]
    line = text[:first_doc_end].count("\n") + 1
    for threshold in (10**12, 0):   # the line-by-line and the columnar readers
        monkeypatch.setattr(bankformats, "COLUMNAR_MIN_BYTES", threshold)
        parsed = parse_statement(text.encode(), "stray.txt")
        assert len(parsed.payments) == 5
        assert any(w.startswith(f"stray.txt, строка {line}: строка «Выписка сформирована системой ДБО»")
                   for w in parsed.warnings), parsed.warnings


def test_1c_purpose_of_megabytes_is_refused_naming_the_line(monkeypatch):
    text = F.kl_to_1c("utf-8", "\n").decode()
    text = text.replace("НазначениеПлатежа=Членский взнос за 2026 г.", "НазначениеПлатежа=" + "ж" * 20_000, 1)
    for threshold in (10**12, 0):
        monkeypatch.setattr(bankformats, "COLUMNAR_MIN_BYTES", threshold)
        message = error_of(text.encode(), "long.txt")
        assert message.startswith("long.txt, строка 22: назначение платежа длиной 20 0") and "символов" in message


# -- the cooperative's accounts (19.4) and currencies in the ledger ----------------------------------------

def test_a_statement_of_another_account_is_refused_with_the_way_to_add_it(db):
    cooperative.save_settings(db, {"bank_account": RUB_B})
    with pytest.raises(InputError) as exc:
        statements.import_statement(db, F.kl_to_1c(), "other.txt")
    assert str(exc.value) == (f"other.txt: счёт {RUB_A} не указан в реквизитах кооператива: добавьте его на странице "
                              f"«Кооператив» или командой coop cooperative set bank_accounts={RUB_B},{RUB_A}")
    assert db.scalar("SELECT count(*) FROM payments") == 0
    cooperative.save_settings(db, {"bank_accounts": f"{RUB_B},{RUB_A}"})
    assert statements.import_statement(db, F.kl_to_1c(), "other.txt").new == 3


def test_the_first_statement_gives_a_new_cooperative_its_accounts(db):
    result = statements.import_statement(db, MT940_TWO_ACCOUNTS.encode(), "two.sta", actor="olga")
    assert result.adopted == [RUB_A, RUB_B]
    assert f"счета {RUB_A}, {RUB_B} из этой выписки записаны в реквизиты кооператива" in result.notice()
    assert cooperative.accounts(cooperative.get_settings(db)) == [RUB_A, RUB_B]
    with pytest.raises(InputError, match="не указан в реквизитах кооператива"):
        statements.import_statement(db, _mt940([("X", "40703810900000000042", ["2601150115C1,00NTRFX"])]), "x.sta")
    again = statements.import_statement(db, F.kl_to_1c(), "kl.txt")
    assert again.adopted == [] and again.notice() is None


def test_cli_first_file_adopts_and_a_second_account_refuses_everything(db, db_path, tmp_path, capsys):
    one, two = tmp_path / "a.txt", tmp_path / "b.sta"
    one.write_bytes(F.kl_to_1c())
    two.write_bytes(_mt940([("X", RUB_B, ["2601150115C1,00NTRFX"])]))
    assert main(["bank", "import", str(one), str(two)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 2                  # one line per file
    assert lines[0] == "Ошибка: a.txt: ошибок нет, но не загружен: сначала исправьте файл с ошибками (загружаются " \
                       "все или ни один)"
    assert lines[1].startswith(f"Ошибка: b.sta: счёт {RUB_B} не указан в реквизитах кооператива")
    assert main(["bank", "import", str(one)]) == 0
    assert f"счёт {RUB_A} из этой выписки записан в реквизиты кооператива" in capsys.readouterr().out


def test_foreign_currency_needs_consent_and_stays_out_of_matching(db_path, db, tmp_path, capsys):
    cooperative.save_settings(db, {"bank_accounts": f"{RUB_A},{USD_C}"})
    usd = tmp_path / "usd.xml"
    usd.write_bytes(_camt([(USD_C, "USD", [_entry("108.40", [_tx("100.00", "EUR", purpose="Членский взнос уч. 12")],
                                                  ccy="USD")])]))
    assert main(["bank", "import", str(usd)]) == 1
    assert "usd.xml: выписка в валюте USD" in capsys.readouterr().err
    assert db.scalar("SELECT count(*) FROM payments") == 0
    assert main(["bank", "import", "--allow-currency", str(usd)]) == 0
    assert "валюта USD: не разносится" in capsys.readouterr().out
    statements.import_statement(db, F.kl_to_1c(), "rub.txt")
    assert main(["bank", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [("валюта USD" in line) for line in listed] == [False, True]   # rub.txt has the later period
    assert "₽" not in listed[1] and " USD\t" in listed[1] and "₽" in listed[0]   # dollars are not shown as roubles
    foreign_id = db.scalar("SELECT id FROM payments WHERE currency = 'USD'")
    summary = matching.match_payments(db, actor="test")
    assert summary["total"] == 3   # the three rouble incomings, not the dollar one
    assert db.scalar("SELECT count(*) FROM matches WHERE payment_id = ?", [foreign_id]) == 0
    assert sum(matching.counters(db).values()) == 3
    with pytest.raises(InputError, match="в валюте USD"):
        matching.confirm(db, foreign_id, 1, "test")
    totals = statements.payment_totals(db)
    assert (totals["in"], totals["sum_in"]) == (3, Decimal("13234.56"))


# -- coop cooperative show / set ---------------------------------------------------------------------------

def test_cli_cooperative_set_and_show(db, db_path, capsys):
    assert main(["cooperative", "set", "name=СНТ «Рассвет»", "inn=5007012340", f"bank_accounts={RUB_A}, {RUB_B}",
                 "type=снт"]) == 0
    capsys.readouterr()
    assert main(["cooperative", "show"]) == 0
    out = capsys.readouterr().out
    assert "name\tНаименование\tСНТ «Рассвет»" in out and "type\tТип\tСНТ" in out
    assert f"bank_accounts\tВсе счета кооператива (через запятую)\t{RUB_A},{RUB_B}" in out


@pytest.mark.parametrize("args,message", [
    (["inn=123"], "Поле «ИНН»"),
    (["kpp=12"], "КПП должен состоять из 9 цифр"),
    (["colour=red"], "Поле «colour» неизвестно"),
    (["name"], "ожидается КЛЮЧ=ЗНАЧЕНИЕ"),
    (["bank_accounts=40703,abc"], "не номер счёта"),
    (["bank_account=40703810800000001234", "bik=044525974"], "контрольный ключ"),
])
def test_cli_cooperative_set_refuses_what_the_page_refuses(db_path, db, capsys, args, message):
    assert main(["cooperative", "set", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert cooperative.get_settings(db)["name"] is None and all(v is None for v in cooperative.get_settings(db).values())


# -- leftovers of a crash -----------------------------------------------------------------------------------

def test_temporary_originals_of_a_dead_import_are_removed(db):
    folder = statements.originals_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    dead = folder / f".{'a' * 64}.999999999.1.tmp"
    live = folder / f".{'b' * 64}.{os.getpid()}.1.tmp"
    dead.write_bytes(b"half")
    live.write_bytes(b"in progress")
    cooperative.save_settings(db, {"bank_accounts": RUB_A})
    statements.import_statement(db, F.kl_to_1c(), "kl.txt")
    assert not dead.exists() and live.exists()


def test_1c_zero_amount_document_is_not_a_payment():
    text = F.kl_to_1c("utf-8", "\n").decode().replace("Сумма=1234.56", "Сумма=0.00", 1)
    parsed = parse_statement(text.encode(), "zero.txt")
    assert len(parsed.payments) == 4 and parsed.zero == 1
    assert Decimal("1234.56") not in [p.amount for p in parsed.payments]


def test_cooperative_page_keeps_several_accounts(db):
    from tests.test_pages import page_test, texts

    at = page_test("pages/cooperative.py", "accountant").run()
    field = next(t for t in at.text_input if t.label == "Все счета кооператива (через запятую)")
    field.set_value(f"{RUB_A}; {RUB_B}")
    at.button[0].click().run()
    assert not at.exception
    assert cooperative.accounts(cooperative.get_settings(db)) == [RUB_A, RUB_B]
    at = page_test("pages/cooperative.py", "accountant").run()
    next(t for t in at.text_input if t.label == "Все счета кооператива (через запятую)").set_value("407 038")
    at.button[0].click().run()
    assert "не номер счёта" in texts(at)
    assert cooperative.accounts(cooperative.get_settings(db)) == [RUB_A, RUB_B]


def test_cli_two_problems_of_one_file_are_one_line(db_path, db, tmp_path, capsys):
    cooperative.save_settings(db, {"bank_accounts": RUB_A})
    rub, usd = tmp_path / "rub.txt", tmp_path / "usd.xml"
    rub.write_bytes(F.kl_to_1c())
    usd.write_bytes(_camt([(USD_C, "USD", [_entry("108.40", [_tx("100.00", "EUR", purpose="Взнос")], ccy="USD")])]))
    assert main(["bank", "import", str(usd), str(rub)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Ошибка: rub.txt: ошибок нет, но не загружен")
    assert lines[0].startswith(f"Ошибка: usd.xml: счёт {USD_C} не указан в реквизитах кооператива")
    assert "; выписка в валюте USD" in lines[0] and lines[0].count("usd.xml") == 1
    assert db.scalar("SELECT count(*) FROM payments") == 0
