"""Parsing and validation of single field values: money, dates, INN, phones, e-mails, plot numbers.

Every parser raises ValueError with a short Russian reason; callers add the file, row and column.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

KOPECK = Decimal("0.01")

_SPACES = re.compile(r"[\s\u00a0\u202f']+")


def clean_text(value) -> str:
    """Cell value as a stripped single-spaced string ('' for empty)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())   # str.split() splits on what \s matches


def money(value) -> Decimal:
    """Rubles as Decimal with two places: 1234.5, "1 234,56", "1234-56" are accepted; floats never kept."""
    if value is None or value == "":
        raise ValueError("пустая сумма")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        text = _SPACES.sub("", str(value)).replace("руб.", "").replace("₽", "")
        if re.fullmatch(r"-?\d+-\d{2}", text):
            text = text.replace("-", ".") if not text.startswith("-") else "-" + text[1:].replace("-", ".")
        text = text.replace(",", ".")
        if not re.fullmatch(r"[-+]?\d+(\.\d+)?", text):
            raise ValueError(f"сумма «{value}» не разобрана")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"сумма «{value}» не разобрана") from None
    if result != result.quantize(KOPECK, rounding=ROUND_HALF_UP) and abs(result.as_tuple().exponent) > 2:
        raise ValueError(f"сумма «{value}» точнее копейки")
    return result.quantize(KOPECK)


def round_kopecks(value: Decimal) -> Decimal:
    """Round half up to kopecks (the rule for every computed charge and penalty)."""
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


_DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%y", "%d-%m-%Y", "%Y.%m.%d")


def parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = clean_text(value)
    if not text:
        raise ValueError("пустая дата")
    text = text.split(" ")[0] if re.match(r"^\d", text) else text
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"дата «{value}» не разобрана (ожидается ДД.ММ.ГГГГ)")


def optional_date(value) -> date | None:
    return None if clean_text(value) == "" else parse_date(value)


_INN_W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def _inn_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights)) % 11 % 10


def inn_is_valid(inn: str) -> bool:
    if not inn.isdigit() or len(inn) not in (10, 12):
        return False
    if len(inn) == 10:
        return _inn_digit(inn, _INN_W10) == int(inn[9])
    return _inn_digit(inn, _INN_W11) == int(inn[10]) and _inn_digit(inn, _INN_W12) == int(inn[11])


def person_inn(value) -> str | None:
    """A person's INN: 12 digits with both check digits right. Numeric cells lose a leading zero: restored."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return None
    if text.isdigit() and len(text) == 11 and not isinstance(value, str):
        text = "0" + text
    if not text.isdigit() or len(text) != 12:
        raise ValueError(f"ИНН «{value}» должен состоять из 12 цифр")
    if not inn_is_valid(text):
        raise ValueError(f"ИНН «{value}» не проходит проверку контрольных цифр")
    return text


def org_inn(value) -> str | None:
    text = clean_text(value).replace(" ", "")
    if not text:
        return None
    if not inn_is_valid(text):
        raise ValueError(f"ИНН «{value}» неверен (10 или 12 цифр с верными контрольными цифрами)")
    return text


def make_person_inn(first10: str) -> str:
    """Complete 10 digits to a valid 12-digit INN (demo and test data)."""
    d11 = str(_inn_digit(first10, _INN_W11))
    d12 = str(_inn_digit(first10 + d11, _INN_W12))
    return first10 + d11 + d12


def phones(value) -> str | None:
    """Phones separated by , or ; normalised to +7XXXXXXXXXX where they are Russian numbers."""
    text = clean_text(value)
    if not text:
        return None
    result = []
    for part in re.split(r"[;,]", text):
        part = part.strip()
        if not part:
            continue
        digits = re.sub(r"\D", "", part)
        if len(digits) == 11 and digits[0] in "78":
            result.append("+7" + digits[1:])
        elif len(digits) == 10 and digits[0] == "9":
            result.append("+7" + digits)
        elif 5 <= len(digits) <= 15:
            result.append(part)
        else:
            raise ValueError(f"телефон «{part}» не разобран")
    return ", ".join(result) or None


_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def emails(value) -> str | None:
    text = clean_text(value)
    if not text:
        return None
    result = []
    for part in re.split(r"[;,\s]+", text):
        if not part:
            continue
        if not _EMAIL.match(part):
            raise ValueError(f"адрес эл. почты «{part}» неверен")
        result.append(part.lower())
    return ", ".join(result) or None


_PLOT = re.compile(r"^\d+[а-яa-z]?(?:[-/]\d+[а-яa-z]?)?$", re.IGNORECASE)


def plot_numbers(value) -> list[str]:
    """Plot numbers from one cell: "12, 13", "12а; 14", "3-15". Case of letters folded to lower."""
    text = clean_text(value)
    if not text:
        return []
    # «уч. 12», «кв. 5», «пом. 3», «бокс 7», «гараж № 2», «м/м 4»: the word before the number is not part of it
    text = re.sub(r"(?i)(\b(уч(асток|\.)?|кв(артира|\.)?|пом(ещение|\.)?|бокс|гараж|машиноместо|м/м)\b\.?|№)\s*",
                  "", text)
    result = []
    for part in re.split(r"[;,]|\s+и\s+", text):
        part = part.strip().replace(" ", "").lower()
        if not part:
            continue
        if not _PLOT.match(part):
            raise ValueError(f"номер участка или помещения «{part}» не разобран (пример: 12, 12а, 3-15)")
        result.append(part)
    return result


def area_values(value) -> list[Decimal]:
    """Areas in m² from one cell: a number, or several separated by ';' or ', '."""
    if value is None or clean_text(value) == "":
        return []
    if isinstance(value, (int, float, Decimal)):
        return [money(value)]
    text = clean_text(value)
    text = re.sub(r"(?i)\s*(кв\.?\s*м\.?|м2|м²)", "", text)
    parts = re.split(r";|,\s+", text)
    try:
        return [money(p) for p in parts if p.strip()]
    except ValueError:
        raise ValueError(f"площадь «{value}» не разобрана") from None


def share(value) -> tuple[int, int]:
    """A co-owner's share: "1/2", "0.5", "50%"; (1, 1) when empty."""
    text = clean_text(value).replace(",", ".").replace(" ", "")
    if not text:
        return (1, 1)
    m = re.fullmatch(r"(\d+)/(\d+)", text)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
    else:
        pct = text.endswith("%")
        try:
            d = Decimal(text.rstrip("%"))
        except InvalidOperation:
            raise ValueError(f"доля «{value}» не разобрана") from None
        if pct:
            d = d / 100
        num, den = d.as_integer_ratio()
    if den == 0 or num <= 0 or num > den:
        raise ValueError(f"доля «{value}» должна быть от 0 до 1")
    return (num, den)


# A formula as Excel would take it: "=…", or +/-/@ followed by a function call, or a DDE link ("…|…").
_FORMULA = re.compile(r"^(=|[+\-@]\s*[^\W\d_][\w.]*\s*\(|[+\-@].*\|)")


def looks_like_formula(text) -> bool:
    return isinstance(text, str) and bool(_FORMULA.match(text.lstrip()))


def bounded_text(value, limit: int) -> str:
    """clean_text with two refusals: longer than `limit` characters, or a formula instead of a value."""
    text = clean_text(value)
    if len(text) > limit:
        raise ValueError(f"текст длиной {len(text)} символов, допустимо не больше {limit}")
    if looks_like_formula(text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValueError(f"«{shown}» — это формула Excel, а не значение")
    return text


# A number or a list of phones: "+7 (912) 345-67-89, +79001234567", "-1500.50". Without letters, "|" or "!"
# a spreadsheet cannot call anything, so such a value keeps its first character.
_NUMBER_OR_PHONES = re.compile(r"[+-]?\d[\d\s().-]*(?:[,;]\s*\+?\d[\d\s().-]*)*")


def neutralize(text):
    """Make a CSV text cell harmless for spreadsheets: values a spreadsheet would take for a formula get a quote.

    That is every value starting with = or @ (or tab/CR), and + or - unless the value is a number or phones.
    """
    if isinstance(text, str) and text and text[0] in "=+-@\t\r" and \
            not (text[0] in "+-" and _NUMBER_OR_PHONES.fullmatch(text)):
        return "'" + text
    return text
