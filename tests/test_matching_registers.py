"""Matching works for registers with any subset of the optional columns (issues 12.3 and 19.1).

A КПК, ЖСК or ПО keeps no plots; many registers have addresses, INNs or phones for some members only, and a
later register may lack a column the first one had. Under pandas 3 missing text is NaN (not None) and an empty
key table gets float columns: both crashed `coop match`. Each register here is imported the way users do
(CSV through the register import, the CLI or the ledger API) and matched both ways.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from itertools import combinations

import pytest

from ledger import fields, matching, members
from ledger.cli import main
from ledger.db import insert_rows, utcnow

OPTIONAL = {"Участок": ["7", "", "9", ""], "Адрес": ["г. Тула, д. 1", "", "г. Тула, д. 1", ""],
            "ИНН": [fields.make_person_inn("7701234567"), "", "", ""],
            "Телефон": ["+7 916 123-45-67", "", "", "8 (903) 000-00-01"],
            "Эл. почта": ["", "a@example.ru", "", ""]}
NAMES = ["Иванов Иван Иванович", "Петрова Анна Сергеевна", "Сидоров Пётр Ильич", "Орлова Вера Павловна"]
# every single optional column, none, all, and a few mixes
SUBSETS = [()] + [(c,) for c in OPTIONAL] + [tuple(OPTIONAL), ("Адрес", "Телефон"), ("Участок", "ИНН")] + \
    [s for s in combinations(OPTIONAL, 3) if "Адрес" in s][:2]


def _register(columns: tuple[str, ...], first: int = 1, names: list[str] = NAMES) -> bytes:
    rows = [["№ л/с", "ФИО", *columns]]
    for i, name in enumerate(names):
        rows.append([str(first + i), name, *[OPTIONAL[c][i % 4] for c in columns]])
    buf = io.StringIO()
    csv.writer(buf, delimiter=";").writerows(rows)
    return buf.getvalue().encode("utf-8")


def _payments(db) -> dict[str, int]:
    now = utcnow()
    rows = [("л/с 2, членский взнос", "Петрова Анна Сергеевна"), ("взнос за Сидорова П.И.", "Сидоров Пётр Ильич"),
            ("Оплата взноса", "Орлова Вера Павловна"), ("Оплата", "ООО Ромашка"),
            ("взнос за брата, уч. 7", "Иванова Мария Ивановна")]
    with db.transaction() as con:
        ids = insert_rows(con, "payments", [{
            "fingerprint": 9000 + i, "doc_date": date(2025, 4, 1 + i), "doc_number": str(500 + i),
            "amount": Decimal("1200.00"), "direction": "in", "payer_name": payer, "payer_inn": None,
            "payer_account": "40817810000000000077" if i == 4 else None, "purpose": purpose, "created_at": now}
            for i, (purpose, payer) in enumerate(rows)], returning="id")
    return {"ls": ids[0][0], "name": ids[1][0], "payer": ids[2][0], "org": ids[3][0], "relative": ids[4][0]}


def _member_of(db, payment_id: int) -> tuple[str, str | None]:
    status, reg_no = db.fetchone("SELECT m.status, mem.reg_no FROM matches m LEFT JOIN members mem "
                                 "ON mem.id = m.member_id WHERE m.payment_id = ?", [payment_id])
    return status, reg_no


def _check(db, pays: dict[str, int]) -> None:
    assert _member_of(db, pays["ls"]) == ("auto", "2")
    assert _member_of(db, pays["name"])[1] == "3"
    assert _member_of(db, pays["payer"])[1] == "4"
    assert _member_of(db, pays["org"]) == ("unmatched", None)
    assert db.scalar("SELECT count(*) FROM matches") == 5


@pytest.mark.parametrize("columns", SUBSETS, ids=lambda s: "+".join(s) or "только-лс-и-фио")
def test_any_subset_of_optional_columns_through_the_ledger_api(db, columns):
    members.import_register(db, _register(columns), "реестр.csv", actor="test")
    pays = _payments(db)
    summary = matching.match_payments(db, actor="test")
    assert summary["total"] == 5
    _check(db, pays)


@pytest.mark.parametrize("columns", SUBSETS, ids=lambda s: "+".join(s) or "только-лс-и-фио")
def test_any_subset_of_optional_columns_through_the_cli(db_path, db, tmp_path, capsys, columns):
    file = tmp_path / "реестр.csv"
    file.write_bytes(_register(columns))
    assert main(["members", "import", str(file)]) == 0
    pays = _payments(db)
    assert main(["match"]) == 0, capsys.readouterr().err
    assert "Платежей разобрано: 5" in capsys.readouterr().out
    _check(db, pays)


@pytest.mark.parametrize("via", ["api", "cli"])
def test_a_later_register_without_a_column_the_first_had(db_path, db, tmp_path, capsys, via):
    """Issue 19.1: members with addresses, then new members from a register without «Адрес» (their address
    NULL), then matching: it used to crash on `if address:` receiving NaN."""
    members.import_register(db, _register(tuple(OPTIONAL)), "первый.csv", actor="test")
    later = _register(("Телефон",), first=5, names=["Зуев Олег Ильич", "Лаптева Ирина Олеговна"])
    if via == "api":
        members.import_register(db, later, "второй.csv", actor="test")
    else:
        (tmp_path / "второй.csv").write_bytes(later)
        assert main(["members", "import", str(tmp_path / "второй.csv")]) == 0
    assert db.scalar("SELECT count(*) FROM members WHERE address IS NULL") >= 2
    pays = _payments(db)
    if via == "api":
        matching.match_payments(db, actor="test")
    else:
        assert main(["match"]) == 0, capsys.readouterr().err
    _check(db, pays)


def test_matching_a_register_of_nothing_but_numbers_and_names_with_learned_links(db):
    """No plots, no INN, no address: a sure match by л/с teaches the payer's account, which then serves a
    payment that names nobody (the learned-link and second-pass tables start empty)."""
    members.import_register(db, _register(()), "реестр.csv", actor="test")
    now = utcnow()
    acc = "40817810000000000055"
    with db.transaction() as con:
        ids = [r[0] for r in insert_rows(con, "payments", [
            {"fingerprint": 7001, "doc_date": date(2025, 5, 1), "doc_number": "1", "amount": Decimal("10.00"),
             "direction": "in", "payer_name": "Орлова Вера Павловна", "payer_inn": None, "payer_account": acc,
             "purpose": "л/с 4", "created_at": now},
            {"fingerprint": 7002, "doc_date": date(2025, 6, 1), "doc_number": "2", "amount": Decimal("10.00"),
             "direction": "in", "payer_name": "В. П. О.", "payer_inn": None, "payer_account": acc,
             "purpose": "взнос", "created_at": now}], returning="id")]
    summary = matching.match_payments(db, actor="test")
    assert summary["links"] == 1
    assert _member_of(db, ids[0]) == ("auto", "4")
    assert _member_of(db, ids[1])[1] == "4"


@pytest.mark.parametrize("columns", [(), ("Адрес", "Телефон"), tuple(OPTIONAL)],
                         ids=lambda s: "+".join(s) or "только-лс-и-фио")
def test_the_matching_page_with_such_registers(db, columns):
    """The page's «Разнести новые платежи» over the same registers: no Streamlit error, the decisions made."""
    from tests.test_pages import page_test

    members.import_register(db, _register(columns), "реестр.csv", actor="test")
    later = _register(("Телефон",), first=5, names=["Зуев Олег Ильич"])
    members.import_register(db, later, "второй.csv", actor="test")
    pays = _payments(db)
    at = page_test("pages/matching.py").run()
    next(b for b in at.button if b.label.startswith("Разнести новые")).click().run()
    assert not at.exception
    assert not at.error
    _check(db, pays)
