"""Russian formats shown to people, in one place for the pages and the CLI: money «1 234,56 ₽», dates
ДД.ММ.ГГГГ, plurals that agree with the number («1 исходящий», «2 исходящих»), and the words for what the
audit log records."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Streamlit column formats (st.column_config) that keep numbers and dates sortable.
MONEY_COLUMN_FORMAT = "%.2f ₽"   # the browser's ru-RU locale is not guaranteed; see money() for text
DATE_COLUMN_FORMAT = "DD.MM.YYYY"
MOMENT_COLUMN_FORMAT = "DD.MM.YYYY HH:mm"


def money(value: Any, digits: int = 2) -> str:
    """1234.5 -> «1 234,50» (thin groups with a space, decimal comma); None -> «»."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    amount = amount.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    return f"{amount:,.{digits}f}".replace(",", " ").replace(".", ",")


def rub(value: Any, digits: int = 2) -> str:
    """«1 234,56 ₽»."""
    text = money(value, digits)
    return f"{text} ₽" if text else ""


def number(value: Any) -> str:
    """A quantity other than money: 1234.5 -> «1 234,5» (no trailing zeros)."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    text = f"{amount.normalize():,f}" if amount == amount.to_integral() else f"{amount:,f}".rstrip("0")
    return text.replace(",", " ").replace(".", ",")


def day(value: date | datetime | None) -> str:
    """ДД.ММ.ГГГГ; None -> «»."""
    return value.strftime("%d.%m.%Y") if value else ""


def moment(value: datetime | None) -> str:
    """ДД.ММ.ГГГГ ЧЧ:ММ; None -> «»."""
    return value.strftime("%d.%m.%Y %H:%M") if value else ""


def plural(n: int, one: str, few: str, many: str) -> str:
    """The form agreeing with n: plural(1, 'исходящий', 'исходящих', 'исходящих'), 21 -> one, 12 -> many."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def count(n: int, one: str, few: str, many: str) -> str:
    """«1 исходящий», «2 исходящих», «5 исходящих»."""
    return f"{n} {plural(n, one, few, many)}"
