"""Payment matching: each signal, each "never auto" rule, decisions that survive re-runs, learning, export."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledger import fields, matching
from ledger.cli import main
from ledger.db import insert_rows, utcnow
from ledger.errors import InputError
from ledger.purpose import plot_numbers, register_numbers

INN_MARIA = fields.make_person_inn("7701234567")
INN_SON = fields.make_person_inn("5009876543")
ACC_PETROV = "40817810000000000012"
ACC_OTHER = "40817810999999999999"

# reg_no, full name, plots, INN, address
REGISTER = [
    ("1", "Иванова Мария Петровна", ["45"], INN_MARIA, "г. Дмитров, ул. Лесная, д. 1"),
    ("2", "Иванов Иван Иванович", ["46"], None, "г. Дмитров, ул. Лесная, д. 1"),
    ("12", "Петров Сергей Олегович", ["3-15", "16"], None, "г. Москва, ул. Тверская, д. 7, кв. 3"),
    ("1234", "Сидоров Алексей Викторович", ["45а"], None, "г. Москва, ул. Садовая, д. 2"),
    ("7", "Кузнецова Анна Павловна", ["70"], None, "г. Тула, д. 70"),
    ("8", "Кузнецова Анна Павловна", ["80"], None, "г. Тула, д. 80"),
    ("9", "Петрова-Водкина Ольга Ильинична", ["9"], None, "г. Клин, д. 9"),
    ("10", "Семёнов Пётр Андреевич", ["10"], None, "г. Клин, д. 10"),
    ("11", "Шевченко Олег Юрьевич", ["20"], None, "г. Тверь, д. 20"),
    ("13", "Шевченко Елена Игоревна", ["20"], None, "г. Тверь, д. 20"),
]


@pytest.fixture
def coop(db):
    """The register above; returns {reg_no: member id}."""
    now = utcnow()
    with db.transaction() as con:
        ids = insert_rows(con, "members", [
            {"reg_no": r, "full_name": n, "status": "member", "inn": inn, "address": a, "created_at": now,
             "updated_at": now} for r, n, _, inn, a in REGISTER], returning="id, reg_no")
        by_reg = {reg: mid for mid, reg in ids}
        numbers = sorted({p for _, _, plots, _, _ in REGISTER for p in plots})
        plot_ids = dict((num, pid) for pid, num in insert_rows(
            con, "plots", [{"number": n, "created_at": now} for n in numbers], returning="id, number"))
        insert_rows(con, "plot_owners", [{"plot_id": plot_ids[p], "member_id": by_reg[r], "share_num": 1,
                                          "share_den": 2 if p == "20" else 1}
                                         for r, _, plots, _, _ in REGISTER for p in plots])
    return by_reg


_n = [0]


def pay(db, purpose: str, payer: str = "Смирнов Андрей Петрович", inn: str | None = None,
        account: str | None = None, amount: str = "1500.00", day: int = 10, direction: str = "in") -> int:
    _n[0] += 1
    with db.transaction() as con:
        return insert_rows(con, "payments", [{
            "fingerprint": _n[0], "doc_date": date(2025, 3, day), "doc_number": str(100 + _n[0]),
            "amount": Decimal(amount), "direction": direction, "payer_name": payer, "payer_inn": inn,
            "payer_account": account, "purpose": purpose, "created_at": utcnow()}], returning="id")[0][0]


def decision(db, payment_id: int) -> dict:
    row = db.records("SELECT * FROM matches WHERE payment_id = ?", [payment_id])[0]
    row["candidates"] = json.loads(row["candidates"])
    return row


def decide(db, purpose: str, **kw) -> dict:
    pid = pay(db, purpose, **kw)
    matching.match_payments(db, actor="test")
    return decision(db, pid)


# -- register number ----------------------------------------------------------------------------

@pytest.mark.parametrize("purpose", ["Членский взнос л/с 1234", "Л/С 001234 взнос за 2025 год", "лс1234",
                                     "оплата, лицевой счет 1234", "ЛС№1234 целевой", "по лицевому счёту 1234"])
def test_register_number_in_purpose(db, coop, purpose):
    d = decide(db, purpose)
    assert (d["status"], d["member_id"]) == ("auto", coop["1234"])
    assert "л/с 1234 в назначении" in d["reason"]
    assert Decimal("0.8") <= d["confidence"] <= 1


def test_register_number_is_not_an_amount_or_initials():
    assert register_numbers("Сидорова Л.С. 5000 руб") == []
    assert register_numbers("л/с 12, 2024 г.") == ["12"]


# -- plots --------------------------------------------------------------------------------------

@pytest.mark.parametrize("purpose,reg", [("Взнос уч. 45", "1"), ("участок № 45 за 2025", "1"), ("уч-к 45а", "1234"),
                                         ("УЧАСТОК 3-15 ЧЛЕНСКИЙ ВЗНОС", "12"), ("за участки 3-15 и 16, л/с 12", "12")])
def test_plot_in_purpose(db, coop, purpose, reg):
    d = decide(db, purpose)
    assert (d["status"], d["member_id"]) == ("auto", coop[reg])


def test_numbers_that_are_not_plots():
    text = "Взнос по договору № 45 от 01.02.2024, счет 46, участник 12, 2024 г., сумма 3000"
    assert plot_numbers(text, {"45", "46", "12"}) == []
    assert plot_numbers("уч. 45, 2024 г.", {"45"}) == ["45"]
    assert plot_numbers("уч 12-13", {"12", "13"}) == ["12", "13"]
    assert plot_numbers("уч 3-15", {"3-15"}) == ["3-15"]


def test_numbers_that_are_not_plots_stay_unmatched(db, coop):
    d = decide(db, "Оплата по договору № 45 от 01.02.2024, счет 46, участник 12")
    assert d["status"] == "unmatched"
    assert d["member_id"] is None


def test_plots_of_two_members_need_a_split(db, coop):
    d = decide(db, "Взносы уч. 45, 3-15")
    assert (d["status"], d["member_id"]) == ("unmatched", None)
    assert "нужно разделить" in d["reason"]
    assert {c["member_id"] for c in d["candidates"]} == {coop["1"], coop["12"]}


def test_plot_and_register_number_of_different_members_is_a_conflict(db, coop):
    d = decide(db, "л/с 12 уч. 45 взнос")
    assert (d["status"], d["member_id"]) == ("unmatched", None)      # 0.92 vs 0.85: no clear leader
    assert "конфликт" in d["reason"]
    assert {c["member_id"] for c in d["candidates"]} == {coop["12"], coop["1"]}


def test_co_owned_plot_is_not_auto(db, coop):
    d = decide(db, "взнос за участок 20")
    assert (d["status"], d["member_id"]) == ("unmatched", None)
    assert "совладельцы участка" in d["reason"] and "выберите вручную" in d["reason"]
    assert {c["member_id"] for c in d["candidates"]} == {coop["11"], coop["13"]}


# -- INN and payer account ----------------------------------------------------------------------

def test_payer_inn(db, coop):
    d = decide(db, "Членский взнос", payer="Иванова М.", inn=INN_MARIA)
    assert (d["status"], d["member_id"]) == ("auto", coop["1"])
    assert "ИНН плательщика" in d["reason"]


def test_account_learned_from_a_sure_match_serves_later_payments_of_the_same_run(db, coop):
    first = pay(db, "Взнос л/с 12", payer="Петров С.", account=ACC_PETROV, day=1)
    later = pay(db, "Членский взнос за 2025", payer="Петров С.", account=ACC_PETROV, day=20)
    summary = matching.match_payments(db)
    assert summary["links"] == 1
    assert (decision(db, first)["status"], decision(db, first)["member_id"]) == ("auto", coop["12"])
    d = decision(db, later)
    assert (d["status"], d["member_id"]) == ("auto", coop["12"])
    assert "счёт плательщика" in d["reason"]
    assert db.fetchall("SELECT kind, value, member_id, source FROM payer_links") == \
        [("account", ACC_PETROV, coop["12"], "auto")]


def test_account_link_taught_by_the_accountant(db, coop):
    unknown = pay(db, "Взнос", payer="Смирнов А.", account=ACC_OTHER, day=1)
    matching.match_payments(db)
    assert decision(db, unknown)["status"] == "unmatched"
    matching.confirm(db, unknown, coop["1234"], actor="olga")
    again = pay(db, "Оплата", payer="Смирнов А.", account=ACC_OTHER, day=15)
    matching.match_payments(db)
    assert (decision(db, again)["status"], decision(db, again)["member_id"]) == ("auto", coop["1234"])


def test_bank_transit_accounts_are_never_learned(db, coop):
    pay(db, "Перевод от ИВАНОВ ИВАН ИВАНОВИЧ. Взнос л/с 2", payer="ПАО СБЕРБАНК", inn="7707083893",
        account="30232810838000000000", day=1)
    other = pay(db, "Перевод от ПЕТРОВА А.А. Взнос", payer="ПАО СБЕРБАНК", inn="7707083893",
                account="30232810838000000000", day=2)
    matching.match_payments(db)
    assert db.scalar("SELECT count(*) FROM payer_links") == 0
    assert decision(db, other)["member_id"] != coop["2"]


def test_links_in_a_family_account_are_shared_not_sure(db, coop):
    pay(db, "л/с 1", payer="Иванов И.", account=ACC_OTHER, day=1)
    pay(db, "л/с 2", payer="Иванов И.", account=ACC_OTHER, day=2)
    later = pay(db, "взнос", payer="Иванов И.", account=ACC_OTHER, day=3)
    matching.match_payments(db)
    d = decision(db, later)
    assert (d["status"], d["member_id"]) == ("suggested", coop["2"])     # the account fits both, the name one
    assert {c["member_id"] for c in d["candidates"]} == {coop["1"], coop["2"]}


def test_family_account_alone_is_a_tie(db, coop):
    pay(db, "л/с 1", payer="Смирнов А.", account=ACC_OTHER, day=1)
    pay(db, "л/с 2", payer="Смирнов А.", account=ACC_OTHER, day=2)
    later = pay(db, "взнос", payer="Смирнов А.", account=ACC_OTHER, day=3)
    matching.match_payments(db)
    d = decision(db, later)
    assert (d["status"], d["member_id"]) == ("unmatched", None)
    assert "платили за нескольких членов" in d["reason"]
    assert {c["member_id"] for c in d["candidates"]} == {coop["1"], coop["2"]}
    assert {c["member_id"] for c in d["candidates"]} == {coop["1"], coop["2"]}


# -- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("payer,purpose,reg", [
    ("Смирнов Андрей Петрович", "Взнос за Иванову Марию Петровну", "1"),
    ("Смирнов Андрей Петрович", "Оплата от Петрова Сергея Олеговича", "12"),
    ("Иванова М.П.", "Членский взнос", "1"),
    ("Иванова М. П.", "Членский взнос", "1"),
    ("ИВАНОВА МАРИЯ ПЕТРОВНА", "ВЗНОС", "1"),
    ("Семенов Петр Андреевич", "взнос 2025", "10"),
    ("Смирнов Андрей Петрович", "за Петрову-Водкину О.И.", "9"),
    ("Ивонова Мария Петровна", "взнос", "1"),
    ("IVANOVA MARIYA PETROVNA", "vznos", "1"),
    ("Сидоров Алексей Викторович", "взнос", "1234"),
    ("Смирнов Андрей Петрович", "Взнос за маму Иванову М.П.", "1"),
])
def test_name_signals(db, coop, payer, purpose, reg):
    d = decide(db, purpose, payer=payer)
    assert (d["status"], d["member_id"]) == ("auto", coop[reg]), d["reason"]


def test_typo_is_said_in_the_reason(db, coop):
    d = decide(db, "взнос", payer="Ивонова Мария Петровна")
    assert "с опечаткой" in d["reason"]


def test_bank_agent_payer_name_after_slashes(db, coop):
    d = decide(db, "Членские взносы", payer="ПАО СБЕРБАНК//ИВАНОВ ИВАН ИВАНОВИЧ//г. Дмитров, ул. Лесная",
               inn="7707083893", account="30232810838000000000")
    assert (d["status"], d["member_id"]) == ("auto", coop["2"])


def test_sbp_transfer_names_the_person_in_the_purpose(db, coop):
    d = decide(db, "Перевод от ИВАНОВА МАРИЯ ПЕТРОВНА. Взнос", payer="ПАО Сбербанк", inn="7707083893")
    assert (d["status"], d["member_id"]) == ("auto", coop["1"])


def test_full_namesakes_are_never_auto(db, coop):
    d = decide(db, "Взнос", payer="Кузнецова Анна Павловна")
    assert (d["status"], d["member_id"], d["confidence"]) == ("unmatched", None, 0.0)
    assert {c["member_id"] for c in d["candidates"]} == {coop["7"], coop["8"]}
    assert d["reason"] == "подходят несколько членов: полные тёзки — выберите вручную"


def test_namesakes_told_apart_by_register_number(db, coop):
    d = decide(db, "Взнос л/с 8", payer="Кузнецова Анна Павловна")
    assert (d["status"], d["member_id"]) == ("auto", coop["8"])


def test_two_members_named_in_one_purpose(db, coop):
    d = decide(db, "Взносы за Иванову М.П. и Петрова С.О.")
    assert (d["status"], d["member_id"]) == ("unmatched", None)
    assert "нужно разделить" in d["reason"]
    assert {c["member_id"] for c in d["candidates"]} == {coop["1"], coop["12"]}


def test_relative_pays_for_a_named_member(db, coop):
    d = decide(db, "Взнос л/с 1", payer="Иванов Иван Иванович")
    assert (d["status"], d["member_id"]) == ("auto", coop["1"])
    assert "платил другой человек" in d["reason"]


def test_relative_pays_without_naming_the_member(db, coop):
    d = decide(db, "Членский взнос за жену", payer="Иванов Иван Иванович")
    assert d["status"] == "suggested"
    assert d["member_id"] == coop["1"]
    assert "родственник" in d["reason"]


def test_purpose_without_usable_information(db, coop):
    d = decide(db, "Перевод по номеру телефона", payer="Морозов Игорь Олегович")
    assert d["status"] == "unmatched"
    assert d["candidates"] == []


# -- not from members ---------------------------------------------------------------------------

@pytest.mark.parametrize("payer,inn,purpose", [
    ("ООО \"Ромашка\"", "5001234567", "Возврат переплаты по договору 45"),
    ("ПАО СБЕРБАНК", "7707083893", "Выплата процентов на остаток по счету"),
    ("УФК по Московской области (Администрация)", "5007001234", "Субсидия на ремонт дороги"),
])
def test_income_not_from_members_stays_unmatched(db, coop, payer, inn, purpose):
    d = decide(db, purpose, payer=payer, inn=inn)
    assert d["status"] == "unmatched"
    assert d["member_id"] is None


def test_organisation_naming_a_plot_is_only_suggested(db, coop):
    d = decide(db, "Оплата за Иванову М.П. уч. 45", payer="ООО \"Работодатель\"", inn="5001234567")
    assert d["status"] == "suggested"
    assert d["member_id"] == coop["1"]
    assert "организация" in d["reason"]


def test_outgoing_payments_are_not_matched(db, coop):
    pid = pay(db, "л/с 12", direction="out")
    summary = matching.match_payments(db)
    assert summary["total"] == 0
    assert db.scalar("SELECT count(*) FROM matches WHERE payment_id = ?", [pid]) == 0


# -- decisions of the accountant ----------------------------------------------------------------

def test_decisions_survive_reruns_and_feed_member_payments(db, coop):
    sure = pay(db, "л/с 12", amount="1000.00")
    confirmed = pay(db, "Взнос", payer="Кузнецова Анна Павловна", amount="2000.00")
    rejected = pay(db, "л/с 1234", amount="3000.00")
    divided = pay(db, "Взносы уч. 45, 3-15", amount="5000.00")
    matching.match_payments(db)
    matching.confirm(db, confirmed, coop["8"], actor="olga")
    matching.reject(db, rejected, actor="olga", note="возврат поставщика")
    matching.split(db, divided, [(coop["1"], "3000"), (coop["12"], "2000.00")], actor="olga")
    summary = matching.match_payments(db)
    assert (summary["total"], summary["auto"], summary["manual"]) == (1, 1, 3)   # only the automatic one again
    matching.match_payments(db, payment_ids=[confirmed, rejected, divided])
    assert decision(db, confirmed)["status"] == "manual"
    assert decision(db, confirmed)["member_id"] == coop["8"]
    assert decision(db, rejected)["status"] == "manual"
    assert decision(db, rejected)["member_id"] is None
    got = sorted(db.fetchall("SELECT payment_id, member_id, amount FROM member_payments"))
    assert got == sorted([(sure, coop["12"], Decimal("1000.00")), (confirmed, coop["8"], Decimal("2000.00")),
                          (divided, coop["1"], Decimal("3000.00")), (divided, coop["12"], Decimal("2000.00"))])
    actions = [r["action"] for r in db.records("SELECT action FROM match_decisions ORDER BY id")]
    assert actions == ["confirm", "reject", "split"]


def test_split_must_add_up_exactly(db, coop):
    pid = pay(db, "Взносы уч. 45, 3-15", amount="5000.00")
    matching.match_payments(db)
    before = decision(db, pid)
    with pytest.raises(InputError, match="не равна сумме платежа"):
        matching.split(db, pid, [(coop["1"], "3000"), (coop["12"], "1999.99")], actor="olga")
    with pytest.raises(InputError, match="хотя бы два"):
        matching.split(db, pid, [(coop["1"], "5000")], actor="olga")
    assert decision(db, pid) == before
    assert db.scalar("SELECT count(*) FROM match_splits") == 0


def test_reject_blocks_the_learned_link(db, coop):
    pay(db, "л/с 12", payer="Петров С.", account=ACC_PETROV, day=1)
    wrong = pay(db, "взнос", payer="Петров С.", account=ACC_PETROV, day=2)
    matching.match_payments(db)
    assert decision(db, wrong)["status"] == "auto"
    matching.reject(db, wrong, actor="olga")
    later = pay(db, "взнос", payer="Петров С.", account=ACC_PETROV, day=3)
    matching.match_payments(db)
    assert decision(db, later)["status"] != "auto"
    assert db.fetchall("SELECT blocked FROM payer_links WHERE value = ?", [ACC_PETROV]) == [(True,)]


def test_reopen_returns_the_payment_to_the_matcher(db, coop):
    pid = pay(db, "л/с 12")
    matching.match_payments(db)
    matching.confirm(db, pid, coop["1"], actor="olga")
    assert decision(db, pid)["reason"].endswith("выбран другой член бухгалтером")
    matching.reopen(db, pid, actor="olga")
    assert (decision(db, pid)["status"], decision(db, pid)["member_id"]) == ("auto", coop["12"])


def test_bulk_confirm_and_queue(db, coop):
    a = pay(db, "Взнос", payer="Кузнецова Анна Павловна", day=1)            # tie: full namesakes
    b = pay(db, "взнос за участок 20", day=2)                                # tie: co-owners
    c = pay(db, "Перевод", payer="Морозов И.О.", day=3)                      # nothing to go on
    s1 = pay(db, "Оплата за Иванову М.П. уч. 45", payer="ООО \"Работодатель\"", inn="5001234567", day=4)
    s2 = pay(db, "Членский взнос за жену", payer="Иванов Иван Иванович", day=5)
    matching.match_payments(db)
    queue = matching.review_queue(db)
    # suggested (newest first), then unmatched with tied candidates, then unmatched without any
    assert [r["payment_id"] for r in queue] == [s2, s1, b, a, c]
    assert [len(r["candidates"]) for r in queue[2:]] == [2, 2, 0]
    assert all(c_["full_name"] for r in queue for c_ in r["candidates"])
    assert matching.counters(db)["suggested"] == 2
    assert matching.counters(db)["unmatched"] == 3
    assert matching.confirm_many(db, [s1, s2], actor="olga") == 2
    assert matching.counters(db) == {"auto": 0, "suggested": 0, "unmatched": 3, "manual": 2, "new": 0}
    for pid in (a, c):
        with pytest.raises(InputError, match="нет предложенного члена"):
            matching.confirm_many(db, [pid], actor="olga")


# -- export and CLI -----------------------------------------------------------------------------

EXPORT_HEADER = ["doc_number", "doc_date", "amount", "payer", "purpose", "member_id", "status", "confidence", "reason"]


def test_export_csv_one_row_per_incoming_payment(db, coop, tmp_path):
    sure = pay(db, "л/с 12", amount="1000.50", day=5)
    pay(db, "Перевод", payer="Морозов И.О.", day=6)
    pay(db, "зарплата", direction="out", day=7)
    divided = pay(db, "Взносы уч. 45, 3-15", amount="5000.00", day=8)
    matching.match_payments(db)
    matching.split(db, divided, [(coop["1"], "3000"), (coop["12"], "2000")], actor="olga")
    path = tmp_path / "m.csv"
    assert matching.export_matches(db, path, actor="olga") == 3
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == EXPORT_HEADER
    first = dict(zip(EXPORT_HEADER, rows[1]))
    number = db.scalar("SELECT doc_number FROM payments WHERE id = ?", [sure])
    assert first["doc_number"] == number
    assert (first["doc_date"], first["amount"], first["member_id"], first["status"]) == \
        ("2025-03-05", "1000.50", "12", "auto")
    assert first["reason"].startswith("л/с 12")
    assert dict(zip(EXPORT_HEADER, rows[2]))["member_id"] == ""
    assert dict(zip(EXPORT_HEADER, rows[3]))["member_id"] == "1; 12"
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'export_personal_data'") == 1


def test_cli_match_and_export_xlsx(db_path, db, coop, tmp_path, capsys):
    pay(db, "л/с 12")
    pay(db, "Взнос", payer="Кузнецова Анна Павловна")
    assert main(["match"]) == 0
    out = capsys.readouterr().out
    assert "автоматически 1, предложено 0, не разнесено 1" in out      # namesakes: a tie, nobody proposed
    target = tmp_path / "matches.xlsx"
    assert main(["matches", "export", str(target)]) == 0
    from openpyxl import load_workbook

    ws = load_workbook(target).active
    assert [c.value for c in ws[1]] == EXPORT_HEADER
    assert ws.max_row == 3
    assert main(["matches", "export", str(tmp_path / "m.txt")]) == 1
    assert "поддерживаются только файлы .xlsx и .csv" in capsys.readouterr().err


def _decisions_of(db_file, monkeypatch, processes: str) -> list[tuple]:
    from ledger.db import Database

    monkeypatch.setenv("COOP_MATCH_PROCESSES", processes)
    db = Database(db_file)
    summary = matching.match_payments(db, actor="test")
    rows = db.fetchall("SELECT payment_id, status, member_id, confidence, reason, candidates FROM matches "
                       "ORDER BY payment_id")
    links = db.fetchall("SELECT kind, value, member_id, payment_id FROM payer_links ORDER BY ALL")
    db.release()
    return [summary, rows, links]


def test_a_big_run_shared_with_a_helper_process_decides_exactly_as_one_process(tmp_path, monkeypatch):
    """Over PARALLEL_MIN payments, a forked helper decides the first half; the decisions, reasons, candidates
    and learned links are those of a run in one process (links learned in either half serve the other)."""
    import shutil

    from ledger.db import Database
    from tests.benchmarks import matching_data as data

    monkeypatch.setattr(matching, "PARALLEL_MIN", 100)
    source = tmp_path / "coop.duckdb"
    db = Database(source)
    members = data.build_coop(300, 11)
    data.store_coop(db, members)
    data.store_payments(db, data.generate(members, 900, 11))
    db.release()
    runs = {}
    for processes in ("1", "2"):
        copy = tmp_path / f"run{processes}.duckdb"
        shutil.copy(source, copy)   # the vault key, if any, sits in the same folder
        runs[processes] = _decisions_of(copy, monkeypatch, processes)
    one, two = runs["1"], runs["2"]
    assert one[0]["total"] == 900 and one[0]["auto"] > 300 and one[0]["links"] > 0
    assert two == one


def test_if_the_helper_fails_this_process_decides_its_half(db, coop, monkeypatch):
    monkeypatch.setattr(matching, "PARALLEL_MIN", 2)
    monkeypatch.setenv("COOP_MATCH_PROCESSES", "2")
    ids = [pay(db, "Членский взнос л/с 1"), pay(db, "Членский взнос л/с 1"), pay(db, "взнос уч. 7")]

    def broken(send, payments, reg, *rest):
        send.send("not decisions")
        send.close()

    monkeypatch.setattr(matching, "_helper_run", broken)
    assert matching.match_payments(db, actor="test")["total"] == 3
    assert [decision(db, i)["status"] for i in ids[:2]] == ["auto", "auto"]


def _children(pid: int) -> list[int]:
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    """No such process, or a zombie (it has exited; only its parent's reaping is left)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="fork and /proc: Linux only")
def test_kill_9_of_coop_match_leaves_no_helper_process(tmp_path):
    """kill -9 of `coop match` while its forked helper is deciding: the helper is gone within seconds (it used
    to stay blocked forever, holding its memory). Reading is slowed down in both processes so that the kill
    surely lands while the helper works."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ledger.db import Database
    from tests.benchmarks import matching_data as data

    db = Database(tmp_path / "coop.duckdb")
    people = data.build_coop(300, 5)
    data.store_coop(db, people)
    data.store_payments(db, data.generate(people, 900, 5))
    db.release()
    script = ("import sys, time; from ledger import matching; from ledger.cli import main\n"
              "matching.PARALLEL_MIN = 100\n"
              "slow = matching._read_and_decide\n"
              "def slowly(*a, **k):\n    time.sleep(120)\n    return slow(*a, **k)\n"
              "matching._read_and_decide = slowly\n"
              "sys.exit(main(['--db', sys.argv[1], 'match']))\n")
    env = {**os.environ, "COOP_MATCH_PROCESSES": "2"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "coop.duckdb")], env=env,
                            cwd=str(Path(__file__).resolve().parent.parent))
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not helpers and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            helpers = _children(proc.pid)
        assert helpers, "the helper process did not start"
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(_gone(h) for h in helpers):
            time.sleep(0.1)
        assert all(_gone(h) for h in helpers), "the helper outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for h in helpers:   # a failed run must not leave its helper behind either
            if not _gone(h):
                os.kill(h, signal.SIGKILL)


# -- payments deleted while or before matching (12.6) --------------------------------------------

def _statement_of(db, payment_ids: list[int]) -> int:
    with db.transaction() as con:
        sid = insert_rows(con, "statements", [{"sha256": f"test-{payment_ids[0]}", "file_name": "выписка.txt",
                                               "format": "1c", "imported_at": utcnow()}], returning="id")[0][0]
        insert_rows(con, "payment_sources", [{"payment_id": p, "statement_id": sid, "source_line": i}
                                             for i, p in enumerate(payment_ids, 1)])
        con.execute(f"UPDATE payments SET statement_id = ? WHERE id IN ({', '.join(map(str, payment_ids))})", [sid])
    return sid


def _pointing_at(db, payment_id: int) -> dict[str, int]:
    return {t: db.scalar(f"SELECT count(*) FROM {t} WHERE payment_id = ?", [payment_id])
            for t in ("matches", "match_splits", "payer_links")}


def test_a_statement_deleted_while_matching_decides_leaves_no_decisions_or_links_of_its_payments(db, coop,
                                                                                                 monkeypatch):
    from ledger import statements

    doomed = pay(db, "л/с 12 членский взнос", payer="Петров Сергей Олегович", account=ACC_PETROV)
    kept = pay(db, "л/с 1 членский взнос", payer="Иванова Мария Петровна", account=ACC_OTHER)
    sid = _statement_of(db, [doomed])
    decide_run = matching._decide_run

    def deleted_meanwhile(payments, reg):
        result = decide_run(payments, reg)
        statements.delete_statement(db, sid, actor="другой пользователь")   # `coop bank delete` in the window
        return result

    monkeypatch.setattr(matching, "_decide_run", deleted_meanwhile)
    summary = matching.match_payments(db, actor="test")
    assert summary["total"] == 1 and summary["auto"] == 1
    assert db.scalar("SELECT count(*) FROM payments WHERE id = ?", [doomed]) == 0
    assert _pointing_at(db, doomed) == {"matches": 0, "match_splits": 0, "payer_links": 0}
    assert decision(db, kept)["status"] == "auto"
    assert db.scalar("SELECT count(*) FROM payer_links WHERE payment_id = ?", [kept]) == 1


def test_a_rerun_repairs_older_orphans(db, coop):
    """Orphans left by earlier versions (decisions, splits and learned links of payments deleted since): the
    next run removes them; a link a person blocked stays blocked."""
    first = pay(db, "л/с 12 членский взнос", payer="Петров Сергей Олегович", account=ACC_PETROV)
    second = pay(db, "Взнос", payer="Кузнецова Анна Павловна", account=ACC_OTHER)
    matching.match_payments(db, actor="test")
    matching.split(db, second, [(coop["7"], "750.00"), (coop["8"], "750.00")], actor="бухгалтер")
    with db.transaction() as con:   # what an older `bank delete` racing the matcher left behind
        con.execute("INSERT INTO payer_links VALUES ('inn', '500100732259', ?, 'manual', ?, TRUE, ?, 'бухгалтер')",
                    [coop["1"], second, utcnow()])
        con.execute("DELETE FROM payments WHERE id IN (?, ?)", [first, second])
    assert _pointing_at(db, first)["payer_links"] == 1 and _pointing_at(db, second)["match_splits"] == 2
    matching.match_payments(db, actor="test")
    assert _pointing_at(db, first) == {"matches": 0, "match_splits": 0, "payer_links": 0}
    assert _pointing_at(db, second) == {"matches": 0, "match_splits": 0, "payer_links": 1}   # the blocked one
    assert db.scalar("SELECT blocked FROM payer_links WHERE payment_id = ?", [second]) is True


def test_deleting_a_statement_forgets_the_payer_links_learned_from_its_payments(db, coop):
    from ledger import statements

    pid = pay(db, "л/с 12 членский взнос", payer="Петров Сергей Олегович", account=ACC_PETROV)
    sid = _statement_of(db, [pid])
    matching.match_payments(db, actor="test")
    assert _pointing_at(db, pid)["payer_links"] == 1
    statements.delete_statement(db, sid, actor="test")
    assert _pointing_at(db, pid) == {"matches": 0, "match_splits": 0, "payer_links": 0}


# -- many full namesakes (12.8) -----------------------------------------------------------------

def test_many_full_namesakes_keep_the_evidence_small_and_decisions_right(db, monkeypatch):
    """40 members with one full name: a payment naming it reaches only a few of them (plus any member another
    key of the payment names), so evidence does not grow as payments x namesakes; the л/с still tells one
    apart (even one beyond the first few), and the name alone is a tie with three candidates listed."""
    now = utcnow()
    with db.transaction() as con:
        ids = [r[0] for r in insert_rows(con, "members", [
            {"reg_no": str(100 + i), "full_name": "Кузнецов Андрей Викторович", "status": "member",
             "created_at": now, "updated_at": now} for i in range(40)], returning="id")]
    by_ls = pay(db, "л/с 137 взнос", payer="Кузнецов Андрей Викторович")
    by_name = pay(db, "Членский взнос", payer="Кузнецов Андрей Викторович")
    seen = {}
    evidence = matching._evidence

    def counted(mentions, reg, links):
        ev = evidence(mentions, reg, links)
        seen["rows"], seen["mentions"] = len(ev), len(mentions)
        return ev

    monkeypatch.setattr(matching, "_evidence", counted)
    matching.match_payments(db, actor="test")
    assert seen["rows"] <= seen["mentions"] * (matching.NAMESAKES_KEPT + 1)
    assert decision(db, by_ls)["status"] == "auto" and decision(db, by_ls)["member_id"] == ids[37]
    tie = decision(db, by_name)
    assert tie["status"] == "unmatched" and tie["member_id"] is None
    assert [c["member_id"] for c in tie["candidates"]] == ids[:3]
    assert "полные тёзки" in tie["reason"]
