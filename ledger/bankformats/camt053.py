"""ISO 20022 camt.053 (bank-to-customer statement, XML)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .. import fields
from ..errors import InputError
from .common import BankPayment, ParsedStatement, _INN, _digits, _optional_date, _problem, _text


def parse_camt053(data: bytes, name: str) -> ParsedStatement:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(_problem(name, line, f"XML повреждён ({exc.msg})")) from None

    def find(node, path: str):
        return node.find("{*}" + path.replace("/", "/{*}")) if node is not None else None

    def text(node, path: str) -> str | None:
        found = find(node, path)
        return _text(found.text) if found is not None and found.text else None

    payments: list[BankPayment] = []
    problems: list[str] = []
    accounts: list[str] = []
    periods: list[date] = []
    opening = closing = None
    for stmt in root.iter("{*}Stmt"):
        acct = find(stmt, "Acct/Id")
        account = text(acct, "Othr/Id") or text(acct, "IBAN")
        if account and account not in accounts:
            accounts.append(account)
        for tag in ("FrToDt/FrDtTm", "FrToDt/ToDtTm"):
            d = _optional_date((text(stmt, tag) or "")[:10])
            if d:
                periods.append(d)
        for bal in stmt.findall("{*}Bal"):
            code = text(bal, "Tp/CdOrPrtry/Cd")
            value = text(bal, "Amt")
            if code in ("OPBD", "CLBD") and value:
                amount = Decimal(value) * (-1 if text(bal, "CdtDbtInd") == "DBIT" else 1)
                if code == "OPBD" and opening is None:
                    opening = amount
                if code == "CLBD":
                    closing = amount
        for entry in stmt.findall("{*}Ntry"):
            line = entry.sourceline
            direction = {"CRDT": "in", "DBIT": "out"}.get(text(entry, "CdtDbtInd") or "")
            booked = text(entry, "BookgDt/Dt") or (text(entry, "BookgDt/DtTm") or "")[:10]
            if direction is None:
                problems.append(_problem(name, line, "у записи Ntry нет признака CdtDbtInd (CRDT или DBIT)"))
                continue
            try:
                entry_date = fields.parse_date(booked)
            except ValueError as exc:
                problems.append(_problem(name, line, f"дата проводки BookgDt: {exc}"))
                continue
            value_date = _optional_date(text(entry, "ValDt/Dt") or (text(entry, "ValDt/DtTm") or "")[:10])
            details = entry.findall("{*}NtryDtls/{*}TxDtls") or [None]
            for tx in details:
                src = tx if tx is not None else entry
                raw_amount = text(tx, "Amt") or text(tx, "AmtDtls/TxAmt/Amt") if tx is not None else None
                raw_amount = raw_amount or text(entry, "Amt")
                try:
                    amount = fields.money(raw_amount)
                except ValueError as exc:
                    problems.append(_problem(name, src.sourceline, f"сумма Amt: {exc}"))
                    continue
                ref = None
                for path in ("Refs/InstrId", "Refs/EndToEndId", "Refs/TxId", "Refs/AcctSvcrRef"):
                    candidate = text(tx, path) if tx is not None else None
                    if candidate and candidate.upper() != "NOTPROVIDED":
                        ref = candidate
                        break
                ref = ref or text(entry, "AcctSvcrRef")
                parties = find(tx, "RltdPties") if tx is not None else None
                agents = find(tx, "RltdAgts") if tx is not None else None

                def party(role: str):
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

                dbtr, cdtr = party("Dbtr"), party("Cdtr")
                purpose = " ".join(t.text.strip() for t in (tx.iterfind("{*}RmtInf/{*}Ustrd") if tx is not None else [])
                                   if t.text) or text(entry, "AddtlNtryInf")
                payment = BankPayment(line=src.sourceline, doc_date=entry_date, doc_number=ref, amount=amount,
                                      direction=direction, our_account=account, purpose=_text(purpose),
                                      posted_date=value_date, doc_kind=text(entry, "BkTxCd/Prtry/Cd"))
                payment.payer_name, payment.payer_inn, payment.payer_account, payment.payer_bik = dbtr
                payment.payee_name, payment.payee_inn, payment.payee_account, payment.payee_bik = cdtr
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
                           period_to=max(periods) if periods else None, opening_balance=opening, closing_balance=closing)
