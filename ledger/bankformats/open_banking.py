"""The Russian Open Banking statement as Точка returns it (JSON, `/open-banking/v1.0`).

A raw answer of `GET /accounts/{accountId}/statements/{statementId}` is what the bank source keeps as the
statement's original; this reader turns it into the same payments an uploaded file gives:
`Data.Statement[]` each with `accountId` («счёт/БИК») and `Transaction[]`: `creditDebitIndicator` (Credit is
money coming to our account), `status` (only `Booked` is final), `documentNumber`, `documentProcessDate`,
`description`, `Amount.amount` / `Amount.currency`, `DebtorParty` / `CreditorParty` (inn, name, kpp),
`DebtorAccount` / `CreditorAccount` (identification), `DebtorAgent` / `CreditorAgent` (identification = BIC).

The payment's date is the document date when the answer has one (`documentDate`), otherwise the date the
bank processed it; 1C exports of the same bank carry that date in `Дата=`, so the fingerprint agrees.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InputError
from .common import BankPayment, ParsedStatement, _digits, _text, currency_code
from .camt053 import _day

FORMAT = "open_banking"
FINAL = "booked"


def json_with(head: bytes, *keys: bytes) -> bool:
    """The start of a JSON object that names these keys (how detect_format tells one bank's answer from another)."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") and all(b'"%s"' % k in head for k in keys)


def looks_like(head: bytes) -> bool:
    """A JSON answer of an Open Banking statement."""
    return json_with(head, b"Data", b"Statement")


def load_json(data: bytes, name: str) -> Any:
    """The parsed JSON of a bank's answer, InputError with the line and column when it is broken."""
    try:
        return json.loads(data.decode("utf-8-sig"), parse_float=Decimal)   # money never passes through float
    except UnicodeDecodeError:
        raise InputError(f"{name}: ответ банка не в кодировке UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}, строка {exc.lineno}, позиция {exc.colno}: ответ банка — повреждённый JSON "
                         f"({exc.msg})") from None


def json_list(data: bytes, name: str, key: str, fmt: str, what: str) -> tuple[ParsedStatement, list]:
    """A bank API answer whose operations are the list `key` of its top object, and the empty statement to fill."""
    body = load_json(data, name)
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InputError(f"{name}: в ответе банка нет списка {key} — это не выписка {what}")
    return ParsedStatement(name=name, format=fmt, items=[]), items


def money(value: Any, where: str, field: str) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InputError(f"{where}: сумма {field} «{value}» не число") from None


def note_account(parsed: ParsedStatement, our: str | None) -> None:
    """Our account as the operations name it: the statement's first, and every one in `accounts`."""
    if our and our not in parsed.accounts:
        parsed.accounts.append(our)
    parsed.our_account = parsed.our_account or our


def split_account(account_id: str | None) -> tuple[str | None, str | None]:
    """«40702810840000012345/044525104» → (account, BIC)."""
    text = (account_id or "").strip()
    account, _, bic = text.partition("/")
    return _digits(account), _digits(bic)


def parse_open_banking(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    body = load_json(data, name)
    statements = body.get("Data", {}).get("Statement") if isinstance(body, dict) and isinstance(body.get("Data"), dict) \
        else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise InputError(f"{name}: в ответе банка нет Data.Statement — это не выписка Open Banking")
    parsed = ParsedStatement(name=name, format=FORMAT, items=[])
    line = 0
    for s_index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise InputError(f"{name}: Data.Statement[{s_index}] — не объект")
        our, _ = split_account(statement.get("accountId"))
        our = our or default_account
        note_account(parsed, our)
        if parsed.period_from is None:
            parsed.period_from = _day(statement.get("startDateTime"))
            parsed.period_to = _day(statement.get("endDateTime"))
        for t_index, tx in enumerate(statement.get("Transaction") or []):
            line += 1
            where = f"Data.Statement[{s_index}].Transaction[{t_index}]"
            if not isinstance(tx, dict):
                raise InputError(f"{name}, {where}: не объект")
            if str(tx.get("status") or FINAL).strip().lower() != FINAL:
                parsed.pending += 1
                day = _day(tx.get("documentProcessDate"))
                if day and (parsed.pending_from is None or day < parsed.pending_from):
                    parsed.pending_from = day
                continue
            payment = _payment(tx, our, line, f"{name}, {where}")
            if payment is None:
                parsed.zero += 1
            else:
                parsed.items.append(payment)
    return parsed


def _payment(tx: dict, our: str | None, line: int, where: str) -> BankPayment | None:
    indicator = str(tx.get("creditDebitIndicator") or "").strip().lower()
    if indicator not in ("credit", "debit"):
        raise InputError(f"{where}: creditDebitIndicator «{tx.get('creditDebitIndicator')}» — ожидается Credit или Debit")
    amount_obj = tx.get("Amount") if isinstance(tx.get("Amount"), dict) else {}
    amount = money(amount_obj.get("amount"), where, "Amount.amount")
    if amount == 0:
        return None
    if amount < 0:
        raise InputError(f"{where}: отрицательная сумма {amount}")
    posted = _day(tx.get("documentProcessDate"))
    doc_date = _day(tx.get("documentDate")) or posted
    if doc_date is None:
        raise InputError(f"{where}: нет даты (documentProcessDate)")

    def side(prefix: str) -> tuple[str | None, str | None, str | None, str | None]:
        party = tx.get(f"{prefix}Party") if isinstance(tx.get(f"{prefix}Party"), dict) else {}
        account = tx.get(f"{prefix}Account") if isinstance(tx.get(f"{prefix}Account"), dict) else {}
        agent = tx.get(f"{prefix}Agent") if isinstance(tx.get(f"{prefix}Agent"), dict) else {}
        return (_text(party.get("name")), _digits(party.get("inn")), _digits(account.get("identification")),
                _digits(agent.get("identification")))

    debtor, creditor = side("Debtor"), side("Creditor")
    direction = "in" if indicator == "credit" else "out"
    return BankPayment(line=line, doc_date=doc_date, doc_number=_text(tx.get("documentNumber")), amount=amount,
                       direction=direction, our_account=our,
                       payer_name=debtor[0], payer_inn=debtor[1], payer_account=debtor[2], payer_bik=debtor[3],
                       payee_name=creditor[0], payee_inn=creditor[1], payee_account=creditor[2], payee_bik=creditor[3],
                       purpose=_text(tx.get("description")), doc_kind=_text(tx.get("transactionTypeCode")),
                       posted_date=posted, currency=currency_code(amount_obj.get("currency")) or "RUB")
