"""T-Business (Т-Банк) Open API statement: a raw answer of `GET /api/v1/statement`, kept as the original.

`operations[]`: `operationId`, `operationDate` (UTC), `typeOfOperation` (Credit is money coming to our account),
`operationStatus` (`Transaction` is booked; `Authorization` is not final), `documentNumber`, `drawDate` (the
document's date), `chargeDate` (the day it was booked), `payPurpose`, `accountAmount` (in the account's currency,
`accountCurrencyDigitalCode`), `payer` and `receiver` (acct, inn, kpp, name, bicRu); `nextCursor` continues it.
The answer does not repeat the account: ours is the receiver's on a credit and the payer's on a debit.
"""

from __future__ import annotations

from ..errors import InputError
from .camt053 import _day
from .common import BankPayment, ParsedStatement, _digits, _text, currency_code
from .open_banking import json_list, json_with, money, note_account

FORMAT = "tbank"
FINAL = {"transaction", ""}


def looks_like(head: bytes) -> bool:
    return json_with(head, b"operations")


def parse_tbank(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    parsed, operations = json_list(data, name, "operations", FORMAT, "Т-Бизнес")
    for index, op in enumerate(operations):
        where = f"{name}, operations[{index}]"
        if not isinstance(op, dict):
            raise InputError(f"{where}: не объект")
        kind = str(op.get("typeOfOperation") or "").strip().lower()
        if kind not in ("credit", "debit"):
            raise InputError(f"{where}: typeOfOperation «{op.get('typeOfOperation')}» — ожидается Credit или Debit")
        payer = op.get("payer") if isinstance(op.get("payer"), dict) else {}
        receiver = op.get("receiver") if isinstance(op.get("receiver"), dict) else {}
        our = _digits((receiver if kind == "credit" else payer).get("acct")) or default_account
        note_account(parsed, our)
        posted = _day(op.get("chargeDate")) or _day(op.get("operationDate"))
        if str(op.get("operationStatus") or "").strip().lower() not in FINAL:
            parsed.pending += 1
            if posted and (parsed.pending_from is None or posted < parsed.pending_from):
                parsed.pending_from = posted
            continue
        amount = money(op.get("accountAmount"), where, "accountAmount")
        if amount == 0:
            parsed.zero += 1
            continue
        doc_date = _day(op.get("drawDate")) or posted
        if doc_date is None:
            raise InputError(f"{where}: нет даты операции (operationDate)")
        parsed.items.append(BankPayment(
            line=index + 1, doc_date=doc_date, doc_number=_text(op.get("documentNumber")), amount=abs(amount),
            direction="in" if kind == "credit" else "out", our_account=our,
            payer_name=_text(payer.get("name")), payer_inn=_digits(payer.get("inn")),
            payer_account=_digits(payer.get("acct")), payer_bik=_digits(payer.get("bicRu")),
            payee_name=_text(receiver.get("name")), payee_inn=_digits(receiver.get("inn")),
            payee_account=_digits(receiver.get("acct")), payee_bik=_digits(receiver.get("bicRu")),
            purpose=_text(op.get("payPurpose") or op.get("description")), doc_kind=_text(op.get("category")),
            posted_date=posted, currency=currency_code(str(op.get("accountCurrencyDigitalCode") or "")) or "RUB"))
    return parsed
