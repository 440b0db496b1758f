"""SWIFT MT940 (customer statement message), read with the mt-940 library one statement at a time.

A file may hold several statements (a `:20:` each) for several accounts: every statement keeps its own `:25:`
account and currency. Shapes the library refuses but whose meaning is clear are mended first (a `:28C:` broken
over two lines or without a statement number: we do not use it). Anything else the library cannot read is
refused with one Russian line naming the file, the tag and the line; the library's own log lines never reach
stderr.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .. import fields
from ..errors import InputError
from ..spreadsheets import _decode_text
from .common import _ACCOUNT, BankPayment, ParsedStatement, _problem, _text, account_currency, currency_code

# The library logs every pattern it fails to match at ERROR level; without a handler Python prints those
# English lines on stderr. Our message says what went wrong instead.
_LIBRARY_LOG = logging.getLogger("mt940")
_LIBRARY_LOG.addHandler(logging.NullHandler())
_LIBRARY_LOG.propagate = False

_TAG = re.compile(r"^:(?P<tag>\d{2}[A-Z]?|NS):", re.M)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_GLUED_CURRENCY = re.compile(r"^([A-Z]{2}\d{2}[A-Z0-9]*\d)(EUR|USD|RUB|RUR|GBP|CHF|CNY|PLN|CZK|SEK|NOK|DKK)$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")


@dataclass
class _Block:
    """One statement of the file: its text and the number of its first line."""

    text: str
    line: int
    account: str | None = None
    bank: str | None = None
    currency: str | None = None
    lines_61: list[int] = field(default_factory=list)


def split_account(value: str | None) -> tuple[str | None, str | None, str | None]:
    """`:25:` → (account, bank code or BIC, currency).

    Real shapes: ACCOUNT, BIC/ACCOUNT, BANKCODE/ACCOUNT, BIC/ACCOUNT/CURRENCY, IBAN CURRENCY, ACCOUNTCURRENCY
    (an IBAN with its currency glued on). A Russian 20-digit part is the account.
    """
    text = fields.clean_text(value).upper()
    if not text:
        return None, None, None
    parts = [p for p in re.split(r"[/\s]+", text) if p]
    currency = None
    if len(parts) > 1 and _CURRENCY.match(parts[-1]):
        currency = parts.pop()
    bank = parts[0] if len(parts) > 1 and (_BIC.match(parts[0]) or parts[0].isdigit()) else None
    if bank:
        parts = parts[1:]
    account = "".join(parts) or None
    glued = _GLUED_CURRENCY.match(account or "")
    if glued and not currency:
        account, currency = glued.group(1), glued.group(2)
    russian = next((p for p in text.replace(" ", "").split("/") if re.fullmatch(r"\d{20}", p)), None)
    return russian or account, bank, currency_code(currency)


def _unify(blocks: list[_Block]) -> None:
    """The same account written two ways is one account: BIC/ACCOUNT or BANKCODE/ACCOUNT becomes the IBAN another
    statement of the file gives for it."""
    ibans = {b.account for b in blocks if b.account and _IBAN.match(b.account)}
    for b in blocks:
        if b.account and b.bank and b.account not in ibans:
            b.account = next((iban for iban in sorted(ibans) if _same_account(iban, b.bank, b.account)), b.account)


def _same_account(iban: str, bank: str, account: str) -> bool:
    """An IBAN's BBAN is the bank code and the account (zero-padded); with a BIC only the account can be compared."""
    bban = iban[4:]
    if not bank.isdigit():
        return bban.endswith(account)
    digits = account.lstrip("0")
    return bool(digits) and bban.endswith(digits) and bban.startswith(bank) \
        and set(bban[len(bank):len(bban) - len(digits)]) <= {"0"}


def _blocks(text: str) -> list[_Block]:
    """The statements of the file (each from its `:20:` to the next), mended where the meaning is clear."""
    starts = [m.start() for m in re.finditer(r"(?m)^:20:", text)] or [0]
    blocks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        body = text[start:end]
        # the trailing "-" / "-}" of a SWIFT block and anything after it belong to no tag
        body = re.sub(r"(?m)^-\}?\s*$[\s\S]*", "", body)
        blocks.append(_Block(text=_mend(body), line=text.count("\n", 0, start) + 1))
    return blocks


def _mend(body: str) -> str:
    """Drop `:28C:` with its continuation lines (statement/sequence number: broken over two lines or written
    "/1" by some banks; nothing here uses it), keeping the line count so line numbers stay right."""
    out = []
    skipping = False
    for line in body.split("\n"):
        if line.startswith(":28C:") or line.startswith(":28:"):
            skipping = True
            out.append("")
            continue
        if skipping and not _TAG.match(line):
            out.append("")
            continue
        skipping = False
        out.append(line)
    return "\n".join(out)


def _tag_line(block: _Block, tag_id: str, value: str | None) -> tuple[int, str]:
    """The file line of a tag in the block (the one holding `value` when given) and the tag as written."""
    wanted = [m for m in _TAG.finditer(block.text) if m.group("tag").startswith(str(tag_id))]
    chosen = wanted[0] if wanted else None
    if value:
        head = value.strip().split("\n")[0][:20]
        for m in wanted:
            if block.text.startswith(head, m.end()) or head in block.text[m.end():m.end() + 200]:
                chosen = m
                break
    if chosen is None:
        return block.line, f":{tag_id}:"
    return block.line + block.text.count("\n", 0, chosen.start()), f":{chosen.group('tag')}:"


def _culprit(block: _Block) -> tuple[int, str, str]:
    """The first tag of the block the library cannot take, found by reading ever longer beginnings of the block
    (halving: a beginning that fails keeps failing when longer): (line, tag, its value)."""
    import mt940

    tags = list(_TAG.finditer(block.text))

    def fails(k: int) -> bool:   # the block up to the end of tag k
        end = tags[k + 1].start() if k + 1 < len(tags) else len(block.text)
        try:
            mt940.models.Transactions().parse(block.text[:end])
        except Exception:
            return True
        return False

    if not tags or not fails(len(tags) - 1):
        return block.line, "", ""
    low, high = 0, len(tags) - 1
    while low < high:
        mid = (low + high) // 2
        if fails(mid):
            high = mid
        else:
            low = mid + 1
    m = tags[low]
    end = tags[low + 1].start() if low + 1 < len(tags) else len(block.text)
    return block.line + block.text.count("\n", 0, m.start()), f":{m.group('tag')}:", block.text[m.end():end].strip()


def _parse_block(block: _Block, name: str):
    import mt940

    transactions = mt940.models.Transactions()
    try:
        transactions.parse(block.text)
    except Exception as exc:  # the library raises RuntimeError, ValueError, KeyError… on what it cannot read
        line, tag, value = _culprit(block)
        if not tag and isinstance(exc, RuntimeError) and len(exc.args) >= 3:
            line, tag = _tag_line(block, getattr(exc.args[1], "id", "?"), str(exc.args[2]))
            value = str(exc.args[2])
        shown = " ".join(value.split())[:60]
        what = f"поле {tag} не разобрано" if tag else "выписка MT940 не разобрана"
        raise InputError(_problem(name, line, f"{what}" + (f": «{shown}»" if shown else "") +
                                  " — файл повреждён или записан не по стандарту SWIFT MT940")) from None
    return transactions


def parse_mt940(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    text = _decode_text(data, name).replace("\r\n", "\n").replace("\r", "\n")
    blocks = _blocks(text)
    parsed_blocks = []
    for block in blocks:
        transactions = _parse_block(block, name)
        block.account, block.bank, block.currency = split_account(transactions.data.get("account_identification"))
        block.lines_61 = [block.line + block.text.count("\n", 0, m.start()) for m in re.finditer(r"(?m)^:61:", block.text)]
        parsed_blocks.append((block, transactions))
    _unify(blocks)
    payments: list[BankPayment] = []
    problems: list[str] = []
    accounts: list[str] = []
    opening = closing = None
    zero = 0
    for block, transactions in parsed_blocks:
        account = block.account or default_account
        if not account:
            problems.append(_problem(name, block.line, "в выписке MT940 нет счёта (:25:), и в реквизитах кооператива "
                                                       "его нет"))
            continue
        if account not in accounts:
            accounts.append(account)
        balance_open = transactions.data.get("final_opening_balance") or transactions.data.get("opening_balance")
        balance_close = transactions.data.get("final_closing_balance") or transactions.data.get("closing_balance")
        currency = block.currency or (currency_code(balance_open.amount.currency) if balance_open else None) or \
            (currency_code(balance_close.amount.currency) if balance_close else None) or account_currency(account) or "RUB"
        if account == accounts[0]:
            if opening is None and balance_open is not None:
                opening = Decimal(balance_open.amount.amount).quantize(fields.KOPECK)
            if balance_close is not None:
                closing = Decimal(balance_close.amount.amount).quantize(fields.KOPECK)
        for i, tx in enumerate(transactions):
            d = tx.data
            line = block.lines_61[i] if i < len(block.lines_61) else block.line
            amount_obj = d.get("amount")
            if amount_obj is None or d.get("date") is None:
                problems.append(_problem(name, line, "в поле :61: нет даты или суммы"))
                continue
            amount = abs(Decimal(amount_obj.amount)).quantize(fields.KOPECK)
            if amount == 0:   # zero-amount entries (fee notices and the like) are not payments
                zero += 1
                continue
            direction = "in" if d.get("status", "") in ("C", "RD") else "out"
            details = fields.clean_text(d.get("transaction_details"))
            ref = fields.clean_text(d.get("customer_reference"))
            inn = re.search(r"ИНН\s*(\d{10}|\d{12})\b", details)
            payment = BankPayment(
                line=line, doc_date=date(d["date"].year, d["date"].month, d["date"].day),
                doc_number=None if not ref or ref.upper() == "NONREF" else ref, amount=amount, direction=direction,
                our_account=account, purpose=_text(details) or _text(d.get("extra_details")), currency=currency,
            )
            other = _ACCOUNT.search(details.replace(" ", ""))
            other_account = other.group(0) if other and other.group(0) != account else None
            if direction == "in":
                payment.payee_account, payment.payer_account = account, other_account
                payment.payer_inn = inn.group(1) if inn else None
            else:
                payment.payer_account, payment.payee_account = account, other_account
                payment.payee_inn = inn.group(1) if inn else None
            payments.append(payment)
    if problems:
        raise InputError(problems, name)
    return ParsedStatement(name=name, format="mt940", items=payments, our_account=accounts[0] if accounts else None,
                           accounts=accounts, opening_balance=opening, closing_balance=closing, zero=zero)
