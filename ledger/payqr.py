"""Payment QR codes (ГОСТ Р 56042-2014) and printable квитанции with them.

The string is the service block `ST0001` + `2` (UTF-8), then `|`-separated `Key=Value` pairs: the mandatory
requisites Name, PersonalAcc, BankName, BIC, CorrespAcc, then the additional ones we fill — PayeeINN, KPP,
Sum (kopecks), Purpose (naming the member's л/с so matching is exact) and PersAcc (the payer's л/с).
Lengths follow the standard's table 1 and 2; a value may not hold the separator.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from . import audit, cooperative, debts, notify
from .accruals import fmt_money
from .db import Database
from .errors import InputError

HEADER = "ST00012"           # ST, version 0001, encoding 2 = UTF-8
SEPARATOR = "|"
# key: (Russian label, max length, digits only and exact length or None)
LIMITS = {
    "Name": ("Наименование получателя", 160, None),
    "PersonalAcc": ("Расчётный счёт", 20, 20),
    "BankName": ("Банк", 45, None),
    "BIC": ("БИК", 9, 9),
    "CorrespAcc": ("Корр. счёт", 20, None),
    "PayeeINN": ("ИНН получателя", 12, None),
    "KPP": ("КПП", 9, 9),
    "Sum": ("Сумма, коп.", 18, None),
    "Purpose": ("Назначение платежа", 210, None),
    "PersAcc": ("Лицевой счёт", 60, None),
}


@dataclass
class Requisites:
    name: str
    account: str
    bank_name: str
    bik: str
    corr_account: str
    inn: str | None = None
    kpp: str | None = None


def requisites(db: Database) -> Requisites:
    """The cooperative's requisites from its settings; InputError naming every missing one."""
    s = cooperative.get_settings(db)
    need = {"name": "Наименование", "bank_account": "Расчётный счёт", "bank_name": "Банк", "bik": "БИК",
            "corr_account": "Корр. счёт банка"}
    missing = [label for key, label in need.items() if not s.get(key)]
    if missing:
        raise InputError(f"Для QR-кода оплаты заполните реквизиты кооператива: {', '.join(missing)} "
                         f"(страница «Кооператив» или coop cooperative set)")
    return Requisites(s["name"], s["bank_account"], s["bank_name"], s["bik"], s["corr_account"], s.get("inn"),
                      s.get("kpp"))


def payment_string(req: Requisites, reg_no: str, amount: Decimal | None, purpose: str | None = None) -> str:
    """The ST00012 string for a member's payment of `amount` (None: the payer types the sum)."""
    pairs = [("Name", req.name), ("PersonalAcc", req.account), ("BankName", req.bank_name), ("BIC", req.bik),
             ("CorrespAcc", req.corr_account or "0")]
    if req.inn:
        pairs.append(("PayeeINN", req.inn))
    if req.kpp:
        pairs.append(("KPP", req.kpp))
    if amount is not None and amount > 0:
        pairs.append(("Sum", str(int((Decimal(amount) * 100).quantize(Decimal(1))))))
    pairs.append(("Purpose", purpose or notify.purpose_text(reg_no)))
    pairs.append(("PersAcc", reg_no))
    problems = []
    for key, value in pairs:
        label, most, exact = LIMITS[key]
        if SEPARATOR in value:
            problems.append(f"QR-код, «{label}»: символ «|» недопустим")
        if len(value) > most:
            problems.append(f"QR-код, «{label}»: не длиннее {most} символов")
        if exact and (len(value) != exact or not value.isdigit()):
            problems.append(f"QR-код, «{label}»: нужно {exact} цифр")
    if problems:
        raise InputError(problems)
    return SEPARATOR.join([HEADER, *(f"{k}={v}" for k, v in pairs)])


def parse(text: str) -> dict[str, str]:
    """Fields of an ST00012 string (for checks and tests)."""
    head, *rest = text.split(SEPARATOR)
    if head != HEADER:
        raise ValueError(f"служебный блок «{head}», ожидался {HEADER}")
    return dict(p.split("=", 1) for p in rest if p)


def qr_png(text: str, scale: int = 4) -> bytes:
    """PNG of the QR code (error correction M, UTF-8 bytes as the standard's encoding 2 says)."""
    import segno

    buf = io.BytesIO()
    segno.make_qr(text.encode("utf-8"), error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def receipts_pdf(db: Database, member_ids: list[int], as_of: date, actor: str | None = None) -> bytes:
    """Printable квитанции (one per page) with the debt as of a date and the QR code; the export is logged."""
    from fpdf import FPDF

    req = requisites(db)
    by_member: dict[str, Decimal] = {}
    for row in debts.debts(db, as_of):
        by_member[row["member_id"]] = by_member.get(row["member_id"], Decimal(0)) + Decimal(row["total"])
    people = {r[0]: (r[1], r[2]) for r in db.fetchall("SELECT id, reg_no, full_name FROM members")}
    unknown = [m for m in member_ids if m not in people]
    if unknown:
        raise InputError(f"Члены с id {', '.join(map(str, unknown))} не найдены")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    font = debts._font_path()
    pdf.add_font("DejaVu", "", str(font))
    pdf.add_font("DejaVu", "B", str(font.with_name("DejaVuSans-Bold.ttf")))
    for mid in member_ids:
        reg_no, full_name = people[mid]
        due = max(by_member.get(reg_no, Decimal(0)), Decimal(0))
        text = payment_string(req, reg_no, due or None)
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 13)
        pdf.cell(0, 8, "Квитанция на оплату взносов", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        for line in (f"Получатель: {req.name}, ИНН {req.inn or '—'}, КПП {req.kpp or '—'}",
                     f"Р/с {req.account} в {req.bank_name}, БИК {req.bik}, к/с {req.corr_account}",
                     f"Плательщик: {full_name}, л/с {reg_no}",
                     f"Назначение: {notify.purpose_text(reg_no)}",
                     f"К оплате на {as_of:%d.%m.%Y}: {fmt_money(due)} ₽"):
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.image(io.BytesIO(qr_png(text)), w=50, h=50)
        pdf.cell(0, 6, "Отсканируйте QR-код в приложении банка", new_x="LMARGIN", new_y="NEXT")
    audit.record(db, actor, "export_personal_data", "квитанции", what="квитанции на оплату", rows=len(member_ids))
    return bytes(pdf.output())
