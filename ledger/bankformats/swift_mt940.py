"""SWIFT MT940 (customer statement message)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from .. import fields
from ..errors import InputError
from ..spreadsheets import _decode_text
from .common import BankPayment, ParsedStatement, _ACCOUNT, _problem, _text


def parse_mt940(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    import mt940

    text = _decode_text(data, name).replace("\r\n", "\n")
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as exc:  # the library raises plain exceptions on malformed tags
        raise InputError(f"{name}: файл MT940 не разобран ({type(exc).__name__}: {str(exc)[:120]})") from None
    account_id = fields.clean_text(transactions.data.get("account_identification"))
    m = _ACCOUNT.search(account_id.replace(" ", ""))
    account = m.group(0) if m else (account_id.split("/")[-1] or default_account)
    lines = [text.count("\n", 0, mm.start()) + 1 for mm in re.finditer(r"(?m)^:61:", text)]
    payments: list[BankPayment] = []
    problems: list[str] = []
    for i, tx in enumerate(transactions):
        d = tx.data
        line = lines[i] if i < len(lines) else None
        amount_obj = d.get("amount")
        if amount_obj is None or d.get("date") is None:
            problems.append(_problem(name, line, "в строке :61: нет даты или суммы"))
            continue
        value = Decimal(amount_obj.amount)
        status = d.get("status", "")
        direction = "in" if status in ("C", "RD") else "out"
        details = fields.clean_text(d.get("transaction_details"))
        ref = fields.clean_text(d.get("customer_reference"))
        inn = re.search(r"ИНН\s*(\d{10}|\d{12})\b", details)
        payment = BankPayment(
            line=line or 0, doc_date=date(d["date"].year, d["date"].month, d["date"].day),
            doc_number=None if not ref or ref.upper() == "NONREF" else ref,
            amount=abs(value).quantize(fields.KOPECK), direction=direction, our_account=account,
            purpose=_text(details) or _text(d.get("extra_details")),
        )
        other_account = _ACCOUNT.search(details.replace(" ", ""))
        if direction == "in":
            payment.payee_account = account
            payment.payer_inn = inn.group(1) if inn else None
            payment.payer_account = other_account.group(0) if other_account and other_account.group(0) != account else None
        else:
            payment.payer_account = account
            payment.payee_inn = inn.group(1) if inn else None
            payment.payee_account = other_account.group(0) if other_account and other_account.group(0) != account else None
        if payment.amount <= 0:
            continue
        payments.append(payment)
    if problems:
        raise InputError(problems, name)
    if not account:
        raise InputError(f"{name}: в MT940 нет счёта (:25:), и в настройках кооператива его нет")
    opening = transactions.data.get("final_opening_balance")
    closing = transactions.data.get("final_closing_balance")
    return ParsedStatement(name=name, format="mt940", items=payments, our_account=account, accounts=[account],
                           opening_balance=Decimal(opening.amount.amount) if opening else None,
                           closing_balance=Decimal(closing.amount.amount) if closing else None)
