"""Debts registry for Sberbank's «платежи по реестру» service: members pay by their л/с at any Sber office,
ATM or the app, and the bank credits the cooperative with the л/с in the payment.

Sberbank's help centre («Как сформировать реестр задолженностей», СберБизнес) asks for the payer's л/с, ФИО
and the amount of the debt, the file named ИНН_РС_НОМЕР_ММГГ.txt (ИНН of 10 digits, the settlement account
of 20, the registry's number of 3 digits, month and year to pay of 4) in WIN-1251, KOI8-R or UTF-8. One line
per payer, fields separated by «;»: л/с;ФИО;адрес;сумма (amount with a dot and two decimals), the layout of
the «реестр задолженностей» of that service; the address helps the cashier find the payer.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from .. import cooperative, members
from ..db import Database
from ..errors import InputError
from . import ReportFile, log_built
from .debtors import rows as debtor_rows

KIND = "sber-registry"


def file_name(settings: dict, as_of: date, number: int = 1) -> str:
    return f"{settings.get('inn') or ''}_{settings.get('bank_account') or ''}_{number:03d}_{as_of:%m%y}.txt"


def _field(text: str | None) -> str:
    return re.sub(r"[;\r\n]+", " ", text or "").strip()


def build(db: Database, as_of: date, number: int = 1, actor: str | None = None, log: bool = True) -> ReportFile:
    settings = cooperative.get_settings(db)
    problems = [f"Настройки кооператива: не задано поле «{label}» — оно входит в имя файла реестра"
                for key, label in (("inn", "ИНН"), ("bank_account", "Расчётный счёт")) if not settings.get(key)]
    if not 1 <= number <= 999:
        problems.append("Номер реестра: от 1 до 999")
    if problems:
        raise InputError(problems)
    addresses = {m["reg_no"]: (m["address"], m["plots"]) for m in members.list_members(db)}
    lines = []
    for r in debtor_rows(db, as_of, personal=True):
        amount = Decimal(r["total"]).quantize(Decimal("0.01"))
        if amount <= 0:
            continue
        address, plots = addresses.get(r["reg_no"], (None, None))
        where = address or (f"участок {plots}" if plots else "")
        lines.append(";".join([_field(r["reg_no"]), _field(r["full_name"]), _field(where), f"{amount:.2f}"]))
    data = ("\r\n".join(lines) + "\r\n").encode("cp1251", errors="replace") if lines else b""
    report = ReportFile(file_name(settings, as_of, number), data)
    if log:
        log_built(db, actor, KIND, [report], personal=True, as_of=str(as_of), rows=len(lines))
    return report
