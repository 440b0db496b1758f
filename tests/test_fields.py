from datetime import date
from decimal import Decimal

import pytest

from ledger import fields


@pytest.mark.parametrize("inn", ["500100732259", "7707083893"])
def test_known_valid_inns(inn):
    assert fields.inn_is_valid(inn)


@pytest.mark.parametrize("inn", ["500100732258", "500100732269", "7707083894", "12345", "50010073225a", ""])
def test_invalid_inns(inn):
    assert not fields.inn_is_valid(inn)


def test_person_inn_restores_leading_zero_of_numeric_cell():
    # 012345678901-style INNs lose the zero when Excel stores them as numbers.
    inn = fields.make_person_inn("0123456789")
    assert fields.person_inn(int(inn)) == inn
    with pytest.raises(ValueError, match="12 цифр"):
        fields.person_inn("7707083893")


@pytest.mark.parametrize("text, expected", [
    ("1 234,56", Decimal("1234.56")), ("1234.5", Decimal("1234.50")), ("1\u00a0000", Decimal("1000.00")),
    (1500, Decimal("1500.00")), (99.99, Decimal("99.99")), ("1234-56", Decimal("1234.56")), ("-5,10", Decimal("-5.10")),
])
def test_money(text, expected):
    assert fields.money(text) == expected


@pytest.mark.parametrize("text", ["abc", "1,2,3", "", "12.345"])
def test_money_rejects(text):
    with pytest.raises(ValueError):
        fields.money(text)


def test_round_half_up():
    assert fields.round_kopecks(Decimal("0.125")) == Decimal("0.13")
    assert fields.round_kopecks(Decimal("0.135")) == Decimal("0.14")


@pytest.mark.parametrize("text, expected", [("01.02.2020", date(2020, 2, 1)), ("2020-02-01", date(2020, 2, 1)),
                                            ("1.2.20", date(2020, 2, 1)), ("01/02/2020", date(2020, 2, 1))])
def test_dates(text, expected):
    assert fields.parse_date(text) == expected


def test_bad_date():
    with pytest.raises(ValueError, match="не разобрана"):
        fields.parse_date("32.13.2020")


def test_plot_numbers():
    assert fields.plot_numbers("12, 13") == ["12", "13"]
    assert fields.plot_numbers("уч. 12А; 3-15") == ["12а", "3-15"]
    assert fields.plot_numbers(45) == ["45"]
    with pytest.raises(ValueError):
        fields.plot_numbers("двенадцать")


def test_phones_and_emails():
    assert fields.phones("8 (912) 345-67-89; 9123456780") == "+79123456789, +79123456780"
    assert fields.emails("A@B.RU, c@d.ru") == "a@b.ru, c@d.ru"
    with pytest.raises(ValueError):
        fields.emails("not-an-email")


def test_share():
    assert fields.share("1/2") == (1, 2)
    assert fields.share("50%") == (1, 2)
    assert fields.share("0.25") == (1, 4)
    with pytest.raises(ValueError):
        fields.share("3/2")


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "-1+1", "@SUM(A1)", "+HYPERLINK(\"x\")",
                                  "-2+3+cmd|' /C calc'!A0", "=1", "+", "-"])
def test_neutralize(text):
    assert fields.neutralize(text) == "'" + text
    assert fields.neutralize("Иванов") == "Иванов"


@pytest.mark.parametrize("text", ["+7 912 345-67-89", "+79123456789, +79001234567", "-1500.50", "+7 (903) 111-22-33"])
def test_numbers_and_phones_keep_their_sign(text):
    assert fields.neutralize(text) == text


@pytest.mark.parametrize("text, formula", [("=HYPERLINK(\"http://x\",\"y\")", True), ("=1+1", True),
                                           ("+SUM(A1)", True), ("@SUM(A1)", True), ("-2+cmd|' /C calc'!A0", True),
                                           ("@ivanov", False), ("+7 912", False), ("- долг погашен", False),
                                           ("Иванов (Петров)", False)])
def test_looks_like_formula(text, formula):
    assert fields.looks_like_formula(text) is formula
