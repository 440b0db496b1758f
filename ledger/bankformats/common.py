"""Types and helpers every bank-statement format shares: the payment, the parsed statement, field cleaning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable

from .. import fields
from ..formats import money


FORMAT_LABELS = {
    "1c": "1С: обмен с банком (1CClientBankExchange)",
    "sber_xlsx": "Excel: выписка Сбербанк Бизнес",
    "vtb_xlsx": "Excel: выписка ВТБ",
    "xlsx": "Excel: выписка",
    "xls": "Excel 97–2003 (.xls): выписка",
    "csv": "CSV: выписка",
    "camt053": "ISO 20022 camt.053 (XML)",
    "mt940": "SWIFT MT940",
    "open_banking": "Open Banking API (Точка): ответ банка",
    "tbank": "Т-Бизнес Open API: ответ банка",
    "sber": "СберБизнес API: ответ банка",
}

Progress = Callable[[float, str], None]


@dataclass(slots=True)
class BankPayment:
    line: int                        # line (text formats) or row (spreadsheets) in the source file
    doc_date: date
    doc_number: str | None
    amount: Decimal
    direction: str                   # in | out (for our account)
    our_account: str | None
    payer_name: str | None = None
    payer_inn: str | None = None
    payer_account: str | None = None
    payer_bik: str | None = None
    payee_name: str | None = None
    payee_inn: str | None = None
    payee_account: str | None = None
    payee_bik: str | None = None
    purpose: str | None = None
    doc_kind: str | None = None      # document kind as the bank wrote it
    posted_date: date | None = None  # ДатаПоступило / ДатаСписано / value date
    currency: str = "RUB"            # ISO 4217 code of the amount (the account's currency)


PAYMENT_FIELDS = ["line", "doc_date", "doc_number", "amount", "direction", "our_account", "payer_name", "payer_inn",
                  "payer_account", "payer_bik", "payee_name", "payee_inn", "payee_account", "payee_bik", "purpose",
                  "doc_kind", "posted_date", "currency"]


def payment_schema():
    import pyarrow as pa

    types = {"line": pa.int32(), "doc_date": pa.date32(), "amount": pa.decimal128(18, 2), "posted_date": pa.date32()}
    return pa.schema([(f, types.get(f, pa.string())) for f in PAYMENT_FIELDS])


@dataclass
class ParsedStatement:
    """A parsed statement. Payments are a list (small files) or an Arrow table (the columnar 1C reader)."""

    name: str
    format: str
    items: list[BankPayment] | None = None
    our_account: str | None = None
    accounts: list[str] = field(default_factory=list)
    period_from: date | None = None
    period_to: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    warnings: list[str] = field(default_factory=list)
    pending: int = 0                 # rows the bank has not booked yet («В обработке»), skipped
    pending_from: date | None = None  # the earliest of those rows, when the format dates them
    zero: int = 0                    # zero-amount entries, not payments, skipped
    table: Any = None
    _sums: Any = field(default=None, repr=False, compare=False)

    @property
    def format_label(self) -> str:
        return FORMAT_LABELS.get(self.format, self.format)

    @property
    def payments(self) -> list[BankPayment]:
        if self.items is None:
            self.items = [BankPayment(**row) for row in self.table.to_pylist()] if self.table is not None else []
        return self.items

    def head(self, n: int) -> list[BankPayment]:
        if self.items is None and self.table is not None:
            return [BankPayment(**row) for row in self.table.slice(0, n).to_pylist()]
        return self.payments[:n]

    def to_table(self):
        """The payments as an Arrow table (PAYMENT_FIELDS), the shape the import writes."""
        if self.table is None:
            import pyarrow as pa

            items = self.payments
            self.table = pa.table({f: [getattr(p, f) for p in items] for f in PAYMENT_FIELDS}, schema=payment_schema())
        return self.table

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else (self.table.num_rows if self.table is not None else 0)

    def sums(self) -> dict[tuple[str | None, str], tuple[int, Decimal]]:
        """(our account, direction) → (count, total); computed once (the payments do not change after parsing)."""
        if self._sums is not None:
            return self._sums
        result: dict[tuple[str | None, str], tuple[int, Decimal]] = {}
        if self.items is None and self.table is not None:
            grouped = self.table.group_by(["our_account", "direction"]).aggregate([("amount", "sum"), ("amount", "count")])
            for row in grouped.to_pylist():
                result[(row["our_account"], row["direction"])] = (row["amount_count"], row["amount_sum"].quantize(fields.KOPECK))
        else:
            for p in self.payments:
                n, total = result.get((p.our_account, p.direction), (0, Decimal("0.00")))
                result[(p.our_account, p.direction)] = (n + 1, total + p.amount)
        self._sums = result
        return result

    @property
    def incoming(self) -> int:
        return sum(n for (_, d), (n, _) in self.sums().items() if d == "in")

    @property
    def outgoing(self) -> int:
        return sum(n for (_, d), (n, _) in self.sums().items() if d == "out")

    def total(self, direction: str) -> Decimal:
        return sum((t for (_, d), (_, t) in self.sums().items() if d == direction), Decimal("0.00"))

    @property
    def currencies(self) -> list[str]:
        """The currencies of the payments (and of the accounts when there are none), RUB first."""
        if self.items is None and self.table is not None:
            import pyarrow.compute as pc

            found = set(pc.unique(self.table["currency"]).to_pylist()) - {None}
        else:
            found = {p.currency for p in self.payments}
        found |= {c for c in map(account_currency, self.accounts) if c} if not found else set()
        return sorted(found, key=lambda c: (c != "RUB", c))

    @property
    def foreign(self) -> list[str]:
        """Currencies other than the rouble in this statement."""
        return [c for c in self.currencies if c != "RUB"]

    def fill_period(self) -> None:
        if len(self) and (self.period_from is None or self.period_to is None):
            if self.items is None:
                import pyarrow.compute as pc

                bounds = pc.min_max(self.table["doc_date"]).as_py()
                low, high = bounds["min"], bounds["max"]
            else:
                dates = [p.doc_date for p in self.items]
                low, high = min(dates), max(dates)
            self.period_from = self.period_from or low
            self.period_to = self.period_to or high


def _problem(name: str, line: int | None, text: str) -> str:
    return f"{name}, строка {line}: {text}" if line else f"{name}: {text}"


# -- accounts and currencies ---------------------------------------------------------------------------

# ISO 4217 numeric codes in Russian account numbers (digits 6-8) and the letter codes banks write.
_CURRENCY_DIGITS = {"810": "RUB", "643": "RUB", "840": "USD", "978": "EUR", "156": "CNY", "826": "GBP", "756": "CHF",
                    "392": "JPY", "933": "BYN", "398": "KZT", "417": "KGS", "051": "AMD", "860": "UZS", "949": "TRY",
                    "784": "AED", "356": "INR", "344": "HKD"}


def currency_code(value: str | None) -> str | None:
    """RUB, USD…: RUR and the numeric codes 810/643 are the rouble; None when nothing is given."""
    text = (value or "").strip().upper()
    if not text:
        return None
    if text.isdigit():
        return _CURRENCY_DIGITS.get(text.zfill(3), text.zfill(3))
    return "RUB" if text in ("RUR", "РУБ", "РУБ.", "RUB") else text


def account_currency(account: str | None) -> str | None:
    """The currency a Russian 20-digit account is kept in (its digits 6-8), None for any other account and for
    codes we do not know (placeholder accounts like 12345678901234567890 are not currency accounts)."""
    if account and len(account) == 20 and account.isdigit():
        return _CURRENCY_DIGITS.get(account[5:8])
    return None


# -- shared field helpers --------------------------------------------------------------------------

_INN_PREFIX = re.compile(r"^\s*(?:ИНН\s*)?\d{10,12}\s*[,;]?\s*", re.IGNORECASE)
_ACCOUNT = re.compile(r"(?<!\d)\d{20}(?!\d)")
_BIK = re.compile(r"(?<!\d)04\d{7}(?!\d)")
_INN = re.compile(r"(?<!\d)(\d{12}|\d{10})(?!\d)")


def _text(value: Any) -> str | None:
    text = fields.clean_text(value)
    return text or None


def _digits(value: Any) -> str | None:
    """An account, INN or BIK as digits; placeholders like "0" become None."""
    text = fields.clean_text(value).replace(" ", "")
    if not text or set(text) <= {"0"}:
        return None
    return text


def strip_inn_prefix(name: str | None) -> str | None:
    """"ИНН 7719617469 ОАО Крокус" and "7719617469, ООО Ромашка" → the name alone."""
    if not name:
        return None
    return _text(_INN_PREFIX.sub("", name, count=1)) or _text(name)


def join_purpose(base: str | None, lines: Iterable[str | None]) -> str | None:
    """НазначениеПлатежа continued in НазначениеПлатежа1..n; repeats of what is already there are dropped."""
    text = fields.clean_text(base)
    for line in lines:
        part = fields.clean_text(line)
        if not part:
            continue
        if not text:
            text = part
        elif part in text:
            continue
        elif part.startswith(text):   # base was a truncated copy of the lines
            text = part
        else:
            text = f"{text} {part}"
    return text or None


_DATES: dict[str, date] = {}



def _date_1c(value: str | None) -> date:
    """DD.MM.YYYY, cached (a statement has few distinct dates); anything else through fields.parse_date."""
    value = (value or "").strip()
    found = _DATES.get(value)
    if found is None:
        found = fields.parse_date(value)
        if len(_DATES) < 10000:
            _DATES[value] = found
    return found


def _value(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


def _optional_date(value: str | None) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return _date_1c(value)
    except ValueError:
        return None


rub = money  # 1 234,56 (ledger/formats.py)
