"""SberBusiness API statement: a raw answer of `GET /fintech/api/v2/statement/transactions` (one day, one page of
up to 100 operations), kept as the original.

`transactions[]`: `uuid`, `operationDate`, `direction` (CREDIT is money coming to our account), `amount`
(`amount`, `currencyName`), `documentDate`, `number`, `paymentPurpose`, `operationCode`, and the requisites in
`rurTransfer`: payerAccount, payerName, payerInn, payerBankBic, payeeAccount, payeeName, payeeInn, payeeBankBic;
`_links[]` with rel `next` continues the day. The answer does not repeat our account: it is the payee's on a
credit and the payer's on a debit.
"""

from __future__ import annotations

from ..errors import InputError
from .camt053 import _day
from .common import BankPayment, ParsedStatement, _digits, _text, currency_code
from .open_banking import json_list, json_with, money, note_account

FORMAT = "sber"


def looks_like(head: bytes) -> bool:
    return json_with(head, b"transactions")


def parse_sber(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    parsed, rows = json_list(data, name, "transactions", FORMAT, "СберБизнес API")
    for index, tx in enumerate(rows):
        where = f"{name}, transactions[{index}]"
        if not isinstance(tx, dict):
            raise InputError(f"{where}: не объект")
        direction = str(tx.get("direction") or "").strip().upper()
        if direction not in ("CREDIT", "DEBIT"):
            raise InputError(f"{where}: direction «{tx.get('direction')}» — ожидается CREDIT или DEBIT")
        rur = tx.get("rurTransfer") if isinstance(tx.get("rurTransfer"), dict) else {}
        our = _digits(rur.get("payeeAccount" if direction == "CREDIT" else "payerAccount")) or default_account
        note_account(parsed, our)
        value = tx.get("amount") if isinstance(tx.get("amount"), dict) else {"amount": tx.get("amount")}
        amount = money(value.get("amount"), where, "amount")
        if amount == 0:
            parsed.zero += 1
            continue
        posted = _day(tx.get("operationDate"))
        doc_date = _day(tx.get("documentDate")) or posted
        if doc_date is None:
            raise InputError(f"{where}: нет даты (operationDate)")
        parsed.items.append(BankPayment(
            line=index + 1, doc_date=doc_date, doc_number=_text(tx.get("number")), amount=abs(amount),
            direction="in" if direction == "CREDIT" else "out", our_account=our,
            payer_name=_text(rur.get("payerName")), payer_inn=_digits(rur.get("payerInn")),
            payer_account=_digits(rur.get("payerAccount")), payer_bik=_digits(rur.get("payerBankBic")),
            payee_name=_text(rur.get("payeeName")), payee_inn=_digits(rur.get("payeeInn")),
            payee_account=_digits(rur.get("payeeAccount")), payee_bik=_digits(rur.get("payeeBankBic")),
            purpose=_text(tx.get("paymentPurpose")), doc_kind=_text(tx.get("operationCode")), posted_date=posted,
            currency=currency_code(value.get("currencyName")) or "RUB"))
    return parsed
