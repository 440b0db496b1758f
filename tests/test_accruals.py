"""Tariffs, accrual, allocation and penalties: every rule of issue 5 on small ledgers computed by hand."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ledger import accruals, audit, debts, tariffs
from ledger.errors import InputError
from tests.ledger_builders import charge, load, member, pay, tariff

D = Decimal
DAILY = 'kind = "daily_percent"\nrate = "0.1"\ngrace_days = 0'


def debt_of(db, as_of: date) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(r["member_id"], r["contribution"]): (r["principal"], r["penalty"]) for r in debts.debts(db, as_of)}


def charges_of(db, member_id: int) -> list[tuple]:
    return db.fetchall("SELECT contribution, due_date, amount FROM charges WHERE member_id = ? "
                       "ORDER BY due_date, contribution", [member_id])


# -- tariff files -------------------------------------------------------------------------------

def test_tariff_file_loads_every_field(db):
    load(db, tariff(code="garbage", basis="plot_area", rate="12.50", period="quarter", due="1-25",
                    keywords=["Мусор"], penalty='kind = "key_rate"\ncap_rate = "9.5"\ncap_from = "2022-02-28"\n'
                                              'cap_to = "2024-12-31"\nmoratoriums = [["2022-04-01", "2022-10-01"]]'))
    (c,) = tariffs.contributions(db)
    assert (c.code, c.basis, c.rate, c.period, c.due, c.keywords) == ("garbage", "plot_area", D("12.50"), "quarter",
                                                                      "1-25", ["мусор"])
    assert c.penalty.kind == "key_rate" and c.penalty.cap_rate == D("9.5")
    assert c.penalty.moratoriums == [(date(2022, 4, 1), date(2022, 10, 1))]


def test_tariff_file_errors_name_the_file_contribution_and_field(db):
    bad = ('[[contribution]]\ncode = "member"\nname = "Членский"\nkind = "periodic"\nbasis = "plot_area"\n'
           'rate = 12.5\nperiod = "year"\ndue = "13-01"\nstart = "2025-01-01"\n'
           '[[contribution]]\nname = "Без кода"\nkind = "weekly"\nbasis = "member"\nrate = "1"\ndue = "01"\n'
           'start = "2025-01-01"\n[contribution.penalty]\nkind = "daily_percent"\n')
    with pytest.raises(InputError) as err:
        tariffs.load_tariffs(db, bad.encode(), "взносы.toml")
    text = str(err.value)
    assert "взносы.toml, взнос «member», поле «rate»: укажите число строкой" in text
    assert "взносы.toml, взнос «member», поле «due»: «13-01»" in text
    assert "взносы.toml, взнос №2, поле «code»: не указано" in text
    assert "взносы.toml, взнос №2, поле «kind»: «weekly»" in text
    assert "взносы.toml, взнос №2, пеня, поле «rate»: не указано" in text
    assert tariffs.contributions(db) == []  # nothing saved


def test_tariff_file_syntax_error(db):
    with pytest.raises(InputError, match="взносы.toml: ошибка формата TOML"):
        tariffs.load_tariffs(db, b"[[contribution]\ncode=", "взносы.toml")


def test_deeply_nested_tariff_file_is_refused_in_russian(db):
    deep = ("a = " + "[" * 100_000 + "]" * 100_000 + "\n").encode()
    with pytest.raises(InputError, match="^взносы.toml: слишком глубокая вложенность"):
        tariffs.load_tariffs(db, deep, "взносы.toml")
    assert tariffs.contributions(db) == []


@pytest.mark.parametrize("rate", ["1e400", "1E+30", "1000000000000"])
def test_huge_rate_is_refused_in_russian(db, rate):
    with pytest.raises(InputError, match="поле «rate»: «.*» — слишком большое число"):
        load(db, tariff(code="member", rate=rate))
    before = tariffs.key_rates(db)
    with pytest.raises(InputError, match="Ключевая ставка, поле «ставка»: .* слишком большое число"):
        tariffs.set_key_rate(db, date(2025, 1, 1), rate)
    assert tariffs.contributions(db) == [] and tariffs.key_rates(db) == before


def test_huge_rate_and_nesting_from_the_command_line(db, tmp_path):
    import subprocess
    import sys

    for name, text in (("deep.toml", "a = " + "[" * 50_000 + "]" * 50_000), ("big.toml", tariff(code="m", rate="1e400"))):
        (tmp_path / name).write_text(text, "utf-8")
        result = subprocess.run([sys.executable, "-m", "ledger.cli", "--db", str(db.path), "tariffs", "load",
                                 str(tmp_path / name)], capture_output=True, text=True)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith(f"Ошибка: {name}") and "Traceback" not in result.stderr


# -- accrual ------------------------------------------------------------------------------------

def test_accrual_by_area_and_share_rounds_half_up_and_runs_once(db):
    load(db, tariff(code="member", basis="plot_area", rate="12.50"),
         tariff(code="fund", basis="plot", rate="0.25", keywords=["фонд"]))
    member(db, 1, plots=[("1", "600", (1, 1))])
    member(db, 2, plots=[("2", "1000", (1, 3))])
    member(db, 3, plots=[("2", "1000", (2, 3))])
    member(db, 4, plots=[("4", "10", (1, 2))])
    first = accruals.accrue(db, date(2025, 12, 31))
    # 12.50 × 600 = 7500.00; 12.50 × 1000 × 1/3 = 4166.666… → 4166.67; × 2/3 = 8333.333… → 8333.33;
    # 12.50 × 10 × 1/2 = 62.50.  fund: 0.25 per plot; ½ share → 0.125 → 0.13 (half up, not to even).
    assert charges_of(db, 1) == [("fund", date(2025, 7, 1), D("0.25")), ("member", date(2025, 7, 1), D("7500.00"))]
    assert charges_of(db, 2) == [("fund", date(2025, 7, 1), D("0.08")), ("member", date(2025, 7, 1), D("4166.67"))]
    assert charges_of(db, 3) == [("fund", date(2025, 7, 1), D("0.17")), ("member", date(2025, 7, 1), D("8333.33"))]
    assert charges_of(db, 4) == [("fund", date(2025, 7, 1), D("0.13")), ("member", date(2025, 7, 1), D("62.50"))]
    assert first.added == 8
    again = accruals.accrue(db, date(2025, 12, 31))
    assert again.added == 0 and db.scalar("SELECT count(*) FROM charges") == 8


def test_how_a_charge_was_computed_reads_in_russian_numbers(db):
    load(db, tariff(code="member", basis="plot_area", rate="1234.5"), tariff(code="fund", basis="plot", rate="0.125"))
    member(db, 2, plots=[("2", "1000.50", (1, 3))])
    accruals.accrue(db, date(2025, 12, 31))
    notes = dict(db.fetchall("SELECT contribution, basis_note FROM charges"))
    # what the accountant sees under «Как рассчитано»: decimal comma, spaced thousands, no trailing 0000
    assert notes == {"member": "1 234,50 ₽ × 1 000,5 м² × 365/1095 (доля × дни)",
                     "fund": "0,125 ₽ × 365/1095 (доля × дни)"}


def test_accrual_periods_and_due_dates(db):
    load(db, tariff(code="month", period="month", due="31", rate="100", start="2025-01-15"),
         tariff(code="quarter", period="quarter", due="2-10", rate="300"),
         tariff(code="once", kind="one_off", period=None, due="2025-03-05", rate="5000", start=""))
    member(db, 1)
    accruals.accrue(db, date(2025, 4, 30))
    # month: January pro rata from the contribution start 15.01: 17/31 × 100 = 54.838… → 54.84;
    # due on the 31st means the month's last day (28 February). quarter: 2nd month, 10th → 10.02, 10.05.
    assert charges_of(db, 1) == [
        ("month", date(2025, 1, 31), D("54.84")), ("quarter", date(2025, 2, 10), D("300.00")),
        ("month", date(2025, 2, 28), D("100.00")), ("once", date(2025, 3, 5), D("5000.00")),
        ("month", date(2025, 3, 31), D("100.00")), ("month", date(2025, 4, 30), D("100.00"))]
    # Through 9 May: the second quarter (due 10.05) is not due yet.
    assert accruals.accrue(db, date(2025, 5, 9)).added == 0
    assert accruals.accrue(db, date(2025, 5, 10)).added == 1


def test_joining_and_leaving_mid_period_pro_rata_by_days(db):
    load(db, tariff(rate="1200"))
    member(db, 1, join=date(2025, 3, 15))                          # 17+30+31+30+31+31+30+31+30+31 = 292 days
    member(db, 2, join=date(2020, 1, 1), exit=date(2025, 10, 1))   # 1 Jan – 30 Sep = 273 days
    member(db, 3, join=date(2025, 8, 1))                           # joins after the due date 1 July: 153 days
    member(db, 4, join=date(2026, 1, 1))                           # not a member in 2025
    member(db, 5, status="applicant")                               # applicants are not charged
    accruals.accrue(db, date(2025, 12, 31))
    assert charges_of(db, 1) == [("member", date(2025, 7, 1), D("960.00"))]        # 1200 × 292/365
    assert charges_of(db, 2) == [("member", date(2025, 7, 1), D("897.53"))]        # 1200 × 273/365 = 897.534…
    assert charges_of(db, 3) == [("member", date(2025, 8, 1), D("503.01"))]        # 1200 × 153/365 = 503.013…, due on joining
    assert charges_of(db, 4) == [] and charges_of(db, 5) == []


def test_manual_charge_and_correction_need_a_reason_and_are_logged(db):
    load(db, tariff())
    member(db, 1)
    with pytest.raises(InputError, match="Основание"):
        accruals.add_manual_charge(db, 1, "member", "500", date(2025, 5, 1), " ")
    cid = accruals.add_manual_charge(db, 1, "member", "500,00", date(2025, 5, 1), "Штраф за вывоз мусора", actor="olga")
    accruals.correct_charge(db, cid, "-200", "Решение правления №3", actor="olga")
    with pytest.raises(InputError, match="нельзя уменьшить"):
        accruals.correct_charge(db, cid, "-400", "ошибка")
    assert debt_of(db, date(2025, 6, 1))[("1", "member")] == (D("300.00"), D("0.00"))
    actions = [(e["action"], e["actor"]) for e in audit.entries(db)]
    assert ("charge_added", "olga") in actions and ("charge_corrected", "olga") in actions


# -- allocation ---------------------------------------------------------------------------------

def two_contributions(db, penalty: str = 'kind = "none"') -> None:
    load(db, tariff(code="member", keywords=["членск"], penalty=penalty),
         tariff(code="garbage", name="Мусор", keywords=["мусор"], penalty=penalty))
    member(db, 1)


def test_designated_payment_pays_only_its_contribution(db):
    two_contributions(db)
    charge(db, 1, "garbage", date(2025, 1, 5), "500")
    charge(db, 1, "member", date(2025, 1, 10), "1000")
    pay(db, 1, date(2025, 2, 1), "700", "Членский взнос за 2025 г.")
    pay(db, 1, date(2025, 2, 2), "900", "Членские взносы")   # 300 pays member in full, 600 stays member's advance
    assert debt_of(db, date(2025, 3, 1)) == {("1", "garbage"): (D("500.00"), D("0.00"))}
    # the member advance of 600 pays the next member charge, never garbage
    charge(db, 1, "garbage", date(2025, 4, 1), "100")
    charge(db, 1, "member", date(2025, 5, 1), "1000")
    assert debt_of(db, date(2025, 6, 1)) == {("1", "garbage"): (D("600.00"), D("0.00")),
                                             ("1", "member"): (D("400.00"), D("0.00"))}


def test_undesignated_money_pays_oldest_first_ties_by_code(db):
    load(db, tariff(code="beta"), tariff(code="alpha"), tariff(code="gamma"))
    member(db, 1)
    charge(db, 1, "gamma", date(2025, 1, 1), "100")
    charge(db, 1, "beta", date(2025, 1, 5), "500")
    charge(db, 1, "alpha", date(2025, 1, 5), "300")
    charge(db, 1, "alpha", date(2025, 1, 10), "1000")
    pay(db, 1, date(2025, 2, 1), "600", "Оплата по квитанции")  # gamma 100, alpha(5.01) 300, beta 200 of 500
    assert debt_of(db, date(2025, 3, 1)) == {("1", "beta"): (D("300.00"), D("0.00")),
                                             ("1", "alpha"): (D("1000.00"), D("0.00"))}


def test_ambiguous_purpose_counts_as_undesignated(db):
    two_contributions(db)
    charge(db, 1, "garbage", date(2025, 1, 5), "500")
    charge(db, 1, "member", date(2025, 1, 10), "1000")
    pay(db, 1, date(2025, 2, 1), "700", "членский и мусор")  # both keywords: oldest first
    assert debt_of(db, date(2025, 3, 1)) == {("1", "member"): (D("800.00"), D("0.00"))}


def test_excess_pays_penalties_then_becomes_an_advance(db):
    two_contributions(db, DAILY)
    charge(db, 1, "member", date(2025, 1, 10), "1000")
    charge(db, 1, "member", date(2025, 2, 10), "1000")
    pay(db, 1, date(2025, 1, 20), "1500")
    # Charge 1: unpaid 1000 on 11.01–19.01 = 9 days × 0.1 % → 9.00, final once paid on 20.01.
    # Excess 500 pays the 9.00 penalty; 491.00 is an advance applied on 10.02 to charge 2 → 509.00 unpaid,
    # overdue 11.02–01.03 = 19 days: 509 × 0.001 × 19 = 9.671 → 9.67.
    assert debt_of(db, date(2025, 3, 1)) == {("1", "member"): (D("509.00"), D("9.67"))}
    alloc = db.fetchall("SELECT kind, amount, applied_on FROM allocations ORDER BY applied_on, kind")
    assert alloc == [("penalty", D("9.00"), date(2025, 1, 20)), ("principal", D("1000.00"), date(2025, 1, 20)),
                     ("principal", D("491.00"), date(2025, 2, 10))]


def test_designated_advance_stays_in_its_contribution(db):
    two_contributions(db)
    pay(db, 1, date(2025, 1, 1), "1000", "Взнос за вывоз мусора")
    charge(db, 1, "member", date(2025, 1, 10), "700")
    charge(db, 1, "garbage", date(2025, 2, 10), "300")
    assert debt_of(db, date(2025, 3, 1)) == {("1", "member"): (D("700.00"), D("0.00"))}
    s = debts.statement(db, 1, date(2025, 1, 1), date(2025, 3, 1))
    assert s.closing == D("0.00")  # 700 + 300 − 1000: the garbage advance of 700 remains, the member debt too


def test_match_changes_are_picked_up(db):
    load(db, tariff())
    member(db, 1)
    member(db, 2)
    charge(db, 1, "member", date(2025, 1, 10), "1000")
    charge(db, 2, "member", date(2025, 1, 10), "1000")
    pid = pay(db, 1, date(2025, 1, 5), "1000")
    assert debt_of(db, date(2025, 2, 1)) == {("2", "member"): (D("1000.00"), D("0.00"))}
    db.fetchall("UPDATE matches SET member_id = 2 WHERE payment_id = ?", [pid])  # the accountant moves it
    assert debt_of(db, date(2025, 2, 1)) == {("1", "member"): (D("1000.00"), D("0.00"))}
    db.fetchall("UPDATE matches SET status = 'manual', member_id = NULL WHERE payment_id = ?", [pid])
    db.fetchall("INSERT INTO match_splits VALUES (?, 1, 400), (?, 2, 600)", [pid, pid])  # split
    assert debt_of(db, date(2025, 2, 1)) == {("1", "member"): (D("600.00"), D("0.00")),
                                             ("2", "member"): (D("400.00"), D("0.00"))}


def test_allocation_is_deterministic_from_the_ledger(db):
    two_contributions(db, DAILY)
    for month in range(1, 7):
        charge(db, 1, "member", date(2025, month, 10), "1000")
        charge(db, 1, "garbage", date(2025, month, 10), "250")
    for day, amount, purpose in [(20, "900", "мусор"), (45, "1600", ""), (90, "3000", "членский"), (150, "400", "")]:
        pay(db, 1, date(2025, 1, 1) + timedelta(days=day), amount, purpose)
    accruals.refresh(db)
    first = db.fetchall("SELECT * FROM allocations ORDER BY ALL")
    accruals.refresh(db, force=True)
    assert db.fetchall("SELECT * FROM allocations ORDER BY ALL") == first


# -- penalties ----------------------------------------------------------------------------------

def test_penalty_day_counting_with_partial_payments(db):
    load(db, tariff(penalty=DAILY))
    member(db, 1)
    charge(db, 1, "member", date(2025, 3, 1), "1000")
    pay(db, 1, date(2025, 3, 11), "400")
    pay(db, 1, date(2025, 3, 21), "600")
    # 02.03–10.03: 9 days × 1000; 11.03–20.03: 10 days × 600 (the payment of 11.03 counts for 11.03);
    # from 21.03 nothing is unpaid: (9000 + 6000) × 0.1 % = 15.00
    assert debt_of(db, date(2025, 3, 15)) == {("1", "member"): (D("600.00"), D("12.00"))}  # 9000 + 5 × 600 = 12000
    assert debt_of(db, date(2025, 4, 30)) == {("1", "member"): (D("0.00"), D("15.00"))}


def test_penalty_grace_days_and_rounding_half_up(db):
    load(db, tariff(penalty='kind = "daily_percent"\nrate = "0.1"\ngrace_days = 5'))
    member(db, 1)
    charge(db, 1, "member", date(2025, 3, 1), "333.33")
    # grace: from 07.03 through 21.03 = 15 days: 333.33 × 0.001 × 15 = 4.99995 → 5.00
    assert debt_of(db, date(2025, 3, 21))[("1", "member")] == (D("333.33"), D("5.00"))
    assert debt_of(db, date(2025, 3, 6))[("1", "member")] == (D("333.33"), D("0.00"))


KEY = 'kind = "key_rate"\ngrace_days = 0'


def key_rate_ledger(db, penalty: str = KEY) -> None:
    load(db, tariff(penalty=penalty))
    tariffs.set_key_rate(db, date(2031, 1, 1), "10")
    tariffs.set_key_rate(db, date(2031, 3, 1), "20")
    member(db, 1)
    charge(db, 1, "member", date(2031, 1, 1), "3000")


def test_key_rate_change_inside_the_overdue_period(db):
    key_rate_ledger(db)
    # Days 1–30 of delay (02.01–31.01) free. Days 31–90 (01.02–01.04) at 1/300: February at 10 %: 3000 × 0.10/300 × 28
    # = 28.00; 01.03–01.04 at 20 %: 3000 × 0.20/300 × 32 = 64.00. Days 91+ (02.04–11.04) at 1/130 of 20 %:
    # 3000 × 0.20/130 × 10 = 46.1538… Total 138.1538… → 138.15
    assert debt_of(db, date(2031, 4, 11))[("1", "member")] == (D("3000.00"), D("138.15"))
    assert debt_of(db, date(2031, 1, 31))[("1", "member")] == (D("3000.00"), D("0.00"))


def test_key_rate_moratorium(db):
    key_rate_ledger(db, KEY + '\nmoratoriums = [["2031-02-10", "2031-02-19"]]')
    # 10 February days without penalty: 28.00 − 3000 × 0.10/300 × 10 = 18.00; total 128.1538… → 128.15
    assert debt_of(db, date(2031, 4, 11))[("1", "member")] == (D("3000.00"), D("128.15"))


def test_key_rate_cap(db):
    key_rate_ledger(db, KEY + '\ncap_rate = "15"\ncap_from = "2031-03-01"\ncap_to = "2031-03-31"')
    # February 28.00; March at min(20, 15) = 15 %: 3000 × 0.15/300 × 31 = 46.50; 01.04 at 20 %: 2.00;
    # 02.04–11.04 at 1/130 of 20 %: 46.1538…  Total 122.6538… → 122.65
    assert debt_of(db, date(2031, 4, 11))[("1", "member")] == (D("3000.00"), D("122.65"))


def test_shipped_key_rate_history(db):
    rates = {r["valid_from"]: r["rate"] for r in tariffs.key_rates(db)}
    assert rates[date(2022, 2, 28)] == D("20.00")
    assert rates[date(2023, 12, 18)] == D("16.00")
    assert rates[date(2024, 10, 28)] == D("21.00")


def brute_force_penalty(amount: Decimal, due: date, payments: list[tuple[date, Decimal]], as_of: date,
                        daily_rate) -> Decimal:
    """Day by day, as the issue words it: rate(D) × principal unpaid at the end of D."""
    total = Decimal(0)
    day = due + timedelta(days=1)
    while day <= as_of:
        unpaid = amount - sum((a for d, a in payments if d <= day), Decimal(0))
        total += daily_rate(day, (day - due).days) * max(unpaid, Decimal(0))
        day += timedelta(days=1)
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def key_rate_rule(db):
    """The housing rule as the issue words it: the day rate for day D, n days overdue, from the key-rate history."""
    rates = sorted((r["valid_from"], r["rate"]) for r in tariffs.key_rates(db))

    def key_rate(day, n):
        if n <= 30:
            return Decimal(0)
        rate = [r for since, r in rates if since <= day][-1] / 100
        return rate / 300 if n <= 90 else rate / 130
    return key_rate


@pytest.mark.parametrize("seed", range(4))
def test_penalties_agree_with_day_by_day_counting(db, seed):
    """Random partial payments on one charge; paid-off (final) and open penalties against a brute force."""
    rng = random.Random(seed)
    load(db, tariff(code="member", penalty=KEY, keywords=["членск"]),
         tariff(code="daily", penalty=DAILY, keywords=["ежедневн"]))
    member(db, 1)
    due = date(2023, 1, 1) + timedelta(days=rng.randrange(400))
    amounts = {"member": D(rng.randrange(100_00, 900_000)) / 100, "daily": D(rng.randrange(100_00, 900_000)) / 100}
    for code, amount in amounts.items():
        charge(db, 1, code, due, str(amount))
    paid: dict[str, list] = {"member": [], "daily": []}
    for code, amount in amounts.items():
        left = amount
        for _ in range(rng.randrange(0, 4)):
            part = (left * D(rng.choice(["0.2", "0.5", "1"]))).quantize(D("0.01"))
            day = due + timedelta(days=rng.randrange(1, 300))
            if part > 0:
                pay(db, 1, day, str(part), {"member": "членский", "daily": "ежедневный"}[code])
                paid[code].append((day, part))
                left -= part
    key_rate = key_rate_rule(db)
    as_of = due + timedelta(days=350)
    got = {code: p for (_, code), (_, p) in debt_of(db, as_of).items()}
    got_paid = {r[0]: r[1] for r in db.fetchall("SELECT c.contribution, sum(a.amount) FROM allocations a "
                                                "JOIN charges c ON c.id = a.charge_id WHERE a.kind = 'penalty' "
                                                "AND a.applied_on <= ? GROUP BY 1", [as_of])}
    for code, rule in (("member", key_rate), ("daily", lambda day, n: Decimal("0.001"))):
        expected = brute_force_penalty(amounts[code], due, sorted(paid[code]), as_of, rule)
        assert got.get(code, D(0)) + got_paid.get(code, D(0)) == expected, code


@pytest.mark.parametrize("seed", range(3))
def test_allocation_conserves_money(db, seed):
    """Random ledgers: no charge is paid beyond its amount, no payment spends more than it has, designated money
    stays in its contribution, and the statement's closing balance is charges + penalties − payments."""
    rng = random.Random(seed)
    two_contributions(db, DAILY)
    member(db, 2)
    for m in (1, 2):
        for _ in range(12):
            charge(db, m, rng.choice(["member", "garbage"]), date(2025, 1, 1) + timedelta(days=rng.randrange(300)),
                   str(rng.randrange(100, 2000)))
        for _ in range(8):
            pay(db, m, date(2025, 1, 1) + timedelta(days=rng.randrange(330)), str(rng.randrange(100, 3000)),
                rng.choice(["членский", "мусор", "оплата", ""]))
    accruals.refresh(db)
    assert db.fetchall("""SELECT a.charge_id FROM allocations a JOIN charges c ON c.id = a.charge_id
                          WHERE a.kind = 'principal' GROUP BY a.charge_id, c.amount HAVING sum(a.amount) > c.amount""") == []
    assert db.fetchall("""SELECT a.payment_id FROM allocations a JOIN payments p ON p.id = a.payment_id
                          GROUP BY a.payment_id, p.amount HAVING sum(a.amount) > p.amount""") == []
    assert db.fetchall("""SELECT a.payment_id FROM allocations a JOIN payments p ON p.id = a.payment_id
                          JOIN charges c ON c.id = a.charge_id
                          WHERE (p.purpose = 'членский' AND c.contribution <> 'member')
                             OR (p.purpose = 'мусор' AND c.contribution <> 'garbage')""") == []
    for m in (1, 2):
        s = debts.statement(db, m, date(2025, 1, 1), date(2025, 12, 31))
        charged = db.scalar("SELECT sum(amount) FROM charges WHERE member_id = ?", [m])
        paid = db.scalar("SELECT sum(amount) FROM member_payments WHERE member_id = ?", [m])
        assert s.opening == 0 and s.closing == charged + s.penalties - paid
