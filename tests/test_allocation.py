"""The set-wise allocation (ledger/allocation.py) against the day-by-day reference loop, to the kopeck, on random
ledgers; penalties of one stream of money against day-by-day counting; netted corrections."""

from __future__ import annotations

import random
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import accruals, allocation, debts
from ledger.db import Database
from tests.ledger_builders import charge, load, member, pay, tariff
from tests.test_accruals import DAILY, KEY, brute_force_penalty, debt_of, key_rate_rule

D = Decimal
PURPOSES = {"general": "Оплата по квитанции", "member": "Членский взнос", "garbage": "За вывоз мусора",
            "water": "Вода", "both": "членский и мусор"}
TABLES = ("members", "charges", "charge_corrections", "payments", "matches", "allocations", "charge_state",
          "allocation_inputs", "ledger_meta")


@pytest.fixture(scope="module")
def ledger_db():
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "alloc.duckdb")
        load(db, tariff(code="member", keywords=["членск"], penalty=KEY),
             tariff(code="garbage", name="Мусор", keywords=["мусор"],
                    penalty='kind = "daily_percent"\nrate = "0.1"\ngrace_days = 3'),
             tariff(code="water", name="Вода", keywords=["вода"]))
        yield db
        db.release()


def both_ways(db: Database) -> tuple[tuple, tuple, set[int]]:
    """(allocation rows, charge states) of the set-wise run and of the reference loop, and the members the set-wise
    run left to the loop."""
    with db.transaction() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE _stale AS SELECT id AS member_id FROM members")
        scheds = accruals.schedules(con)
        fast = allocation.allocate(con, scheds, accruals._allocate_member)
        ref = allocation.allocate(con, scheds, accruals._allocate_member, max_rounds=0)

    def rows(out, state, _slow, _fingerprints):
        a = sorted(zip(*(out[k].tolist() for k in ("member_id", "charge_id", "payment_id", "amount", "applied_on",
                                                     "kind"))))
        s = sorted(zip(*(state[k].tolist() for k in ("charge_id", "member_id", "paid_off_on", "final_penalty",
                                                     "settled_on"))))
        return a, s
    return rows(*fast), rows(*ref), set(fast[2].tolist())


a_charge = st.tuples(st.sampled_from(["member", "garbage", "water"]), st.integers(0, 500),
                     st.one_of(st.just(0), st.integers(1, 300_000)))
a_payment = st.tuples(st.integers(0, 560), st.integers(1, 400_000), st.sampled_from(list(PURPOSES)))
a_member = st.tuples(st.sampled_from(["general", "member", "garbage", "water", "mixed"]),
                     st.lists(a_charge, max_size=12), st.lists(a_payment, max_size=12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_member, min_size=1, max_size=3))
def test_set_wise_allocation_equals_the_reference_loop(ledger_db, members):
    """Random ledgers: every allocation row (principal and penalty, amount and day) and every charge's pay-off day,
    final penalty and settled day agree to the kopeck; only members with mixed designations go to the loop."""
    db = ledger_db
    with db.transaction() as con:
        for table in TABLES:
            con.execute(f"DELETE FROM {table}")
    start = date(2024, 1, 1)
    for m, (style, charges, payments) in enumerate(members, start=1):
        member(db, m)
        for code, day, kop in charges:
            charge(db, m, code, start + timedelta(days=day), str(D(kop) / 100))
        for day, kop, purpose in payments:
            pay(db, m, start + timedelta(days=day), str(D(kop) / 100), PURPOSES[purpose if style == "mixed" else style])
    fast, ref, slow = both_ways(db)
    assert fast == ref
    assert slow <= {m for m, (style, _, _) in enumerate(members, start=1) if style == "mixed"}


@pytest.mark.parametrize("seed", range(6))
def test_one_stream_penalties_agree_with_day_by_day_counting(db, seed):
    """A member paying without designation (the set-wise path): several charges, late partial payments and
    surplus paying penalties; each charge's penalty (accrued, or final and paid) against day-by-day counting of
    what the allocation paid it."""
    rng = random.Random(seed)
    load(db, tariff(code="member", penalty=DAILY if seed % 2 else KEY))
    member(db, 1)
    start = date(2023, 1, 1) + timedelta(days=rng.randrange(300))
    for n in range(4):
        charge(db, 1, "member", start + timedelta(days=90 * n), str(D(rng.randrange(100_00, 900_000)) / 100))
    for _ in range(rng.randrange(2, 7)):
        pay(db, 1, start + timedelta(days=rng.randrange(1, 420)), str(D(rng.randrange(100_00, 1_200_000)) / 100))
    as_of = start + timedelta(days=450)
    rule = (lambda day, n: Decimal("0.001")) if seed % 2 else key_rate_rule(db)
    with db.transaction() as con:
        debts.positions(con, as_of)
        pos = {r[0]: r[1:] for r in con.execute("SELECT charge_id, penalty_accrued, penalty_paid FROM _pos").fetchall()}
    total_expected = total_got = D(0)
    for cid, due, amount in db.fetchall("SELECT id, due_date, amount FROM charges ORDER BY id"):
        paid = db.fetchall("SELECT applied_on, amount FROM allocations WHERE charge_id = ? AND kind = 'principal' "
                           "AND applied_on <= ? ORDER BY applied_on", [cid, as_of])
        expected = brute_force_penalty(amount, due, paid, as_of, rule)
        state = db.fetchall("SELECT paid_off_on, final_penalty FROM charge_state WHERE charge_id = ?", [cid])[0]
        got = state[1] if state[0] is not None else pos.get(cid, (D(0), D(0)))[0]
        assert got == expected, cid
        total_expected += expected
        total_got += got
    assert total_got == total_expected


def test_a_negative_correction_nets_with_its_charge(db):
    """A correction posted as its own charge (−400 on the same period and due date) reduces what is owed: 600 paid
    on 11.03 pays the charge off, the penalty runs on 600 for 02.03–10.03 (9 × 600 × 0.1 % = 5.40)."""
    load(db, tariff(penalty=DAILY))
    member(db, 1)
    original = charge(db, 1, "member", date(2025, 3, 1), "1000")
    correction = charge(db, 1, "member", date(2025, 3, 1), "-400")
    pay(db, 1, date(2025, 3, 11), "600")
    assert debt_of(db, date(2025, 3, 5)) == {("1", "member"): (D("600.00"), D("2.40"))}  # 4 days × 600
    assert debt_of(db, date(2025, 4, 30)) == {("1", "member"): (D("0.00"), D("5.40"))}
    state = db.fetchall("SELECT charge_id, paid_off_on, final_penalty FROM charge_state ORDER BY charge_id")
    assert state == [(original, date(2025, 3, 11), D("5.40"))]
    assert correction > original
    s = debts.statement(db, 1, date(2025, 1, 1), date(2025, 4, 30))
    assert s.charged == D("600.00") and s.closing == D("5.40")


def test_a_full_rebuild_stores_the_fingerprints_the_next_refresh_compares(db):
    """After a forced rebuild (fingerprints taken from the allocation's own reading) a change to one member's
    payments recomputes that member only, and the stored fingerprints are those SQL computes."""
    load(db, tariff(penalty=DAILY))
    for m in (1, 2, 3):
        member(db, m)
        charge(db, m, "member", date(2025, 3, 1), "1000")
        pay(db, m, date(2025, 3, 11), "600", "Оплата")
    pay(db, 2, date(2025, 3, 12), "-50", "Возврат")   # a refund: in the fingerprint, not in the allocation
    assert accruals.refresh(db, force=True) == 3
    with db.transaction() as con:
        expected = con.execute(f"SELECT * FROM ({accruals._member_fingerprints_sql(con)}) ORDER BY 1").fetchall()
    assert db.fetchall("SELECT member_id, fingerprint FROM allocation_inputs ORDER BY 1") == expected
    pay(db, 3, date(2025, 4, 1), "400")
    assert accruals.refresh(db) == 1
    # 1000 unpaid 02.03–10.03: 9.00; 400 unpaid from 11.03: through 01.05 52 days = 20.80, through 31.03 21 days
    # = 8.40 for л/с 3, who pays it off on 01.04 (no surplus for the penalty)
    assert debt_of(db, date(2025, 5, 1)) == {("1", "member"): (D("400.00"), D("29.80")),
                                             ("2", "member"): (D("400.00"), D("29.80")),
                                             ("3", "member"): (D("0.00"), D("17.40"))}


def test_penalties_paid_from_surplus_take_several_rounds_and_still_agree(ledger_db, monkeypatch):
    """Members paying late, then more than they owe, so that the surplus pays penalties again and again: the
    set-wise rounds (each exact one payment further) end where the reference loop does."""
    db = ledger_db
    with db.transaction() as con:
        for table in TABLES:
            con.execute(f"DELETE FROM {table}")
    rng = random.Random(3)
    for m in (1, 2, 3):
        member(db, m)
        for _ in range(10):
            charge(db, m, "garbage", date(2024, 1, 1) + timedelta(days=rng.randrange(400)), str(rng.randrange(100, 3000)))
        for _ in range(10):
            pay(db, m, date(2024, 1, 1) + timedelta(days=rng.randrange(450)), str(rng.randrange(100, 4000)), "")
    rounds = []
    real = allocation._Round.__init__

    def counted(self, *args):
        rounds.append(len(args[1]["kop"]))
        real(self, *args)
    monkeypatch.setattr(allocation._Round, "__init__", counted)
    fast, ref, slow = both_ways(db)
    assert len(rounds) >= 3 and not slow
    assert fast == ref
    assert any(row[5] for row in fast[0])   # penalties were paid
