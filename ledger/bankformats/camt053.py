"""ISO 20022 camt.053 (bank-to-customer statement, XML).

Every `Stmt` keeps its own account (`Acct/Id`) and currency. An entry's booked amount (`Ntry/Amt`) is what moved
on the account; the amounts inside `TxDtls`/`AmtDtls` are details (possibly in another currency, possibly 0).
A batch entry whose `TxDtls` amounts, all in the entry's currency, add up to the entry is split into those
payments; otherwise the entry is one payment with the entry's amount. Dates may carry a time-zone offset
(`2017-04-02+02:00`) or be `DtTm`. A file that declares a DTD or entities is refused: a statement has none,
and an external entity would silently drop the text it stands for.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from .. import fields
from ..errors import InputError
from .common import (_INN, BankPayment, ParsedStatement, _digits, _problem, _text, account_currency, currency_code)

_DAY = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")
_BOOKED = {None, "BOOK", "INFO"}


def _day(value: str | None) -> date | None:
    """The calendar day of an ISO date or date-time, whatever offset follows it (the bank's own day)."""
    m = _DAY.match(value or "")
    if not m:
        return None
    return date.fromisoformat(m.group(1))


def parse_camt053(data: bytes, name: str) -> ParsedStatement:
    from lxml import etree

    if re.search(rb"<!(DOCTYPE|ENTITY)", data[:65536]) or re.search(rb"<\x00!\x00(D\x00O|E\x00N)", data[:65536]):
        raise InputError(f"{name}: в XML есть объявление DOCTYPE/ENTITY (внешние сущности) — в выписке camt.053 их "
                         f"не бывает, файл не загружен")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        if "huge" in (exc.msg or "").lower():
            raise InputError(_problem(name, line, "в XML текстовое поле длиннее 10 МБ — это не выписка банка")) from None
        column = exc.position[1] if getattr(exc, "position", None) else None
        where = f", позиция {column}" if column else ""   # libxml2's own text is English: only where it stopped
        raise InputError(_problem(name, line, f"XML повреждён{where} (файл обрезан или это не XML)")) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise InputError(f"{name}: в XML есть объявление DOCTYPE (внешние сущности) — в выписке camt.053 его не "
                         f"бывает, файл не загружен")

    def find(node, path: str):
        return node.find("{*}" + path.replace("/", "/{*}")) if node is not None else None

    def text(node, path: str) -> str | None:
        found = find(node, path)
        return _text(found.text) if found is not None and found.text else None

    def amount_of(node, path: str) -> tuple[Decimal, str | None] | None:
        found = find(node, path)
        if found is None or not found.text:
            return None
        return fields.money(found.text), currency_code(found.get("Ccy"))

    def party(tx, role: str):
        parties, agents = find(tx, "RltdPties"), find(tx, "RltdAgts")
        node = find(parties, role)
        if node is not None and find(node, "Pty") is not None:
            node = find(node, "Pty")
        name_ = text(node, "Nm")
        inn = None
        for other in (node.iterfind(".//{*}Othr") if node is not None else []):
            scheme = (text(other, "SchmeNm/Cd") or text(other, "SchmeNm/Prtry") or "").upper()
            value = text(other, "Id")
            if value and (scheme in ("INN", "TXID") or (not scheme and _INN.fullmatch(value))):
                inn = value
                break
        acc_node = find(parties, f"{role}Acct/Id")
        account_ = text(acc_node, "Othr/Id") or text(acc_node, "IBAN")
        agent = find(agents, f"{role}Agt/FinInstnId")
        bik = text(agent, "ClrSysMmbId/MmbId") or text(agent, "BICFI") or text(agent, "BIC")
        return name_, _digits(inn), _digits(account_), _digits(bik)

    def reference(tx, entry) -> str | None:
        for path in ("Refs/InstrId", "Refs/EndToEndId", "Refs/TxId", "Refs/AcctSvcrRef"):
            candidate = text(tx, path) if tx is not None else None
            if candidate and candidate.upper() != "NOTPROVIDED":
                return candidate
        return text(entry, "AcctSvcrRef")

    def purpose_of(tx) -> str | None:
        return " ".join(t.text.strip() for t in tx.iterfind("{*}RmtInf/{*}Ustrd") if t.text) or None

    payments: list[BankPayment] = []
    problems: list[str] = []
    accounts: list[str] = []
    periods: list[date] = []
    opening = closing = None
    pending = zero = 0
    for stmt in root.iter("{*}Stmt"):
        acct = find(stmt, "Acct/Id")
        account = text(acct, "Othr/Id") or text(acct, "IBAN")
        stmt_currency = currency_code(text(stmt, "Acct/Ccy")) or account_currency(account)
        if account and account not in accounts:
            accounts.append(account)
        for tag in ("FrToDt/FrDtTm", "FrToDt/ToDtTm", "FrToDt/FrDt", "FrToDt/ToDt"):
            d = _day(text(stmt, tag))
            if d:
                periods.append(d)
        for bal in stmt.findall("{*}Bal"):
            code = text(bal, "Tp/CdOrPrtry/Cd")
            value = text(bal, "Amt")
            if code in ("OPBD", "CLBD") and value and (not accounts or account == accounts[0]):
                try:
                    amount = fields.money(value) * (-1 if text(bal, "CdtDbtInd") == "DBIT" else 1)
                except ValueError as exc:
                    problems.append(_problem(name, bal.sourceline, f"остаток Bal/Amt: {exc}"))
                    continue
                if code == "OPBD" and opening is None:
                    opening = amount
                if code == "CLBD":
                    closing = amount
        for entry in stmt.findall("{*}Ntry"):
            line = entry.sourceline
            status = (text(entry, "Sts/Cd") or text(entry, "Sts") or "").upper() or None
            if status not in _BOOKED:   # PDNG: the bank has not booked it yet
                pending += 1
                continue
            direction = {"CRDT": "in", "DBIT": "out"}.get(text(entry, "CdtDbtInd") or "")
            if direction is None:
                problems.append(_problem(name, line, "у записи Ntry нет признака CdtDbtInd (CRDT или DBIT)"))
                continue
            booked = text(entry, "BookgDt/Dt") or text(entry, "BookgDt/DtTm")
            try:
                entry_date = _day(booked) or fields.parse_date(booked)
            except ValueError as exc:
                problems.append(_problem(name, line, f"дата проводки BookgDt: {exc}"))
                continue
            value_date = _day(text(entry, "ValDt/Dt") or text(entry, "ValDt/DtTm"))
            try:
                booked_amount = amount_of(entry, "Amt")
                if booked_amount is None:
                    raise ValueError("нет суммы")
            except ValueError as exc:
                problems.append(_problem(name, line, f"сумма Ntry/Amt: {exc}"))
                continue
            total, currency = booked_amount
            currency = currency or stmt_currency or "RUB"
            if total == 0:   # a zero entry moves no money: not a payment
                zero += 1
                continue
            details = entry.findall("{*}NtryDtls/{*}TxDtls")
            parts: list[tuple] = [(None, total)]
            if len(details) > 1:
                amounts = []
                for tx in details:
                    try:
                        found = amount_of(tx, "Amt") or amount_of(tx, "AmtDtls/TxAmt/Amt")
                    except ValueError:
                        found = None
                    amounts.append(found)
                if all(a is not None and a[0] > 0 and (a[1] or currency) == currency for a in amounts) \
                        and sum(a[0] for a in amounts) == total:
                    parts = [(tx, a[0]) for tx, a in zip(details, amounts)]
            for tx, amount in parts:
                # one payment for the whole entry takes its details from its only TxDtls (or the first of many)
                src = tx if tx is not None else (details[0] if details else None)
                purpose = purpose_of(src) if src is not None else None
                if tx is None and len(details) > 1:
                    purpose = " ".join(p for p in (purpose_of(d) for d in details) if p) or None
                payment = BankPayment(line=(tx.sourceline if tx is not None else line), doc_date=entry_date,
                                      doc_number=reference(src, entry), amount=amount, direction=direction,
                                      our_account=account, purpose=_text(purpose or text(entry, "AddtlNtryInf")),
                                      posted_date=value_date, doc_kind=text(entry, "BkTxCd/Prtry/Cd"), currency=currency)
                if src is not None:
                    payment.payer_name, payment.payer_inn, payment.payer_account, payment.payer_bik = party(src, "Dbtr")
                    payment.payee_name, payment.payee_inn, payment.payee_account, payment.payee_bik = party(src, "Cdtr")
                if direction == "in":
                    payment.payee_account = payment.payee_account or account
                else:
                    payment.payer_account = payment.payer_account or account
                payments.append(payment)
    if not accounts and not payments:
        raise InputError(f"{name}: в XML нет выписки (элементов Stmt)")
    if problems:
        raise InputError(problems, name)
    return ParsedStatement(name=name, format="camt053", items=payments, our_account=accounts[0] if accounts else None,
                           accounts=accounts, period_from=min(periods) if periods else None,
                           period_to=max(periods) if periods else None, opening_balance=opening, closing_balance=closing,
                           pending=pending, zero=zero)
