"""Court package for one member (приказное производство): the debt and penalty by period, the акт сверки and a
draft application for a court order (заявление о вынесении судебного приказа) as .docx and PDF.

Court fee: НК РФ ст. 333.19 п. 1 пп. 2 as in force from 09.09.2024 (Федеральный закон от 08.08.2024
№ 259-ФЗ) and in 2026: for a court order 50 % of the fee for a property claim, which is 4 000 ₽ up to
100 000 ₽ of the claim, 4 000 ₽ + 3 % over 100 000 ₽ up to 300 000 ₽, 10 000 ₽ + 2,5 % over 300 000 ₽ up to
500 000 ₽, 15 000 ₽ + 2 % over 500 000 ₽ up to 1 000 000 ₽, 25 000 ₽ + 1 % over 1 000 000 ₽ up to 3 000 000 ₽,
45 000 ₽ + 0,7 % over 3 000 000 ₽ up to 8 000 000 ₽, 80 000 ₽ + 0,35 % over 8 000 000 ₽ up to 24 000 000 ₽,
136 000 ₽ + 0,3 % over 24 000 000 ₽ up to 50 000 000 ₽, 214 000 ₽ + 0,2 % over 50 000 000 ₽ up to
100 000 000 ₽, 314 000 ₽ + 0,15 % over 100 000 000 ₽ but not more than 900 000 ₽. Fees are in whole rubles
(НК РФ ст. 52 п. 6: under 50 kopecks dropped, 50 and more rounded up).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .. import cooperative, debts, members
from ..accruals import fmt_money
from ..db import Database
from ..errors import InputError
from ..spreadsheets import Column
from . import ReportFile, log_built, pdf_document, pdf_table

KIND = "court"
# (claim above, fixed part, percent of what is above) — НК РФ ст. 333.19 п. 1 пп. 1
CLAIM_SCALE = [(Decimal(100_000_000), Decimal(314_000), Decimal("0.15")),
               (Decimal(50_000_000), Decimal(214_000), Decimal("0.2")),
               (Decimal(24_000_000), Decimal(136_000), Decimal("0.3")),
               (Decimal(8_000_000), Decimal(80_000), Decimal("0.35")),
               (Decimal(3_000_000), Decimal(45_000), Decimal("0.7")),
               (Decimal(1_000_000), Decimal(25_000), Decimal(1)),
               (Decimal(500_000), Decimal(15_000), Decimal(2)),
               (Decimal(300_000), Decimal(10_000), Decimal("2.5")),
               (Decimal(100_000), Decimal(4_000), Decimal(3))]
CLAIM_MIN, CLAIM_MAX = Decimal(4_000), Decimal(900_000)
PERIOD_COLUMNS = [Column("contribution", "Взнос"), Column("period", "Период"), Column("due_date", "Срок оплаты", "date"),
                  Column("amount", "Начислено, ₽", "money"), Column("unpaid", "Не оплачено, ₽", "money"),
                  Column("days", "Дней просрочки", "int"), Column("penalty", "Пени, ₽", "money")]


def claim_fee(claim: Decimal) -> Decimal:
    """State fee for a property claim (НК РФ ст. 333.19 п. 1 пп. 1), whole rubles."""
    fee = CLAIM_MIN
    for above, fixed, percent in CLAIM_SCALE:
        if claim > above:
            fee = min(fixed + (claim - above) * percent / 100, CLAIM_MAX)
            break
    return fee.quantize(Decimal(1), ROUND_HALF_UP)


def court_order_fee(claim: Decimal) -> Decimal:
    """State fee for an application for a court order: 50 % of the claim fee (ст. 333.19 п. 1 пп. 2)."""
    return (claim_fee(claim) / 2).quantize(Decimal(1), ROUND_HALF_UP)


@dataclass
class Claim:
    member: dict
    as_of: date
    periods: list[dict]
    principal: Decimal
    penalty: Decimal
    fee: Decimal
    coop: dict = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return self.principal + self.penalty


@dataclass
class Package:
    claim: Claim
    files: list[ReportFile]


def claim(db: Database, reg_no: str, as_of: date) -> Claim:
    member = members.find_by_reg_no(db, reg_no)
    if member is None:
        raise InputError(f"Член с л/с {reg_no} не найден")
    with db.transaction() as con:
        debts.positions(con, as_of, [member["id"]])
        rows = con.execute("""
            SELECT k.name, c.period_start, c.period_end, p.due_date, p.amount, p.unpaid,
                   (p.penalty_accrued - p.penalty_paid)::DECIMAL(18,2)
            FROM _pos p JOIN charges_effective c ON c.id = p.charge_id
            JOIN contributions k ON k.code = p.contribution
            WHERE p.due_date < $1 AND (p.unpaid <> 0 OR p.penalty_accrued <> p.penalty_paid)
            ORDER BY p.due_date, k.name""", [as_of]).fetchall()
    periods = []
    for name, ps, pe, due, amount, unpaid, penalty in rows:
        period = "" if ps is None else (f"{ps:%d.%m.%Y}" if ps == pe else f"{ps:%d.%m.%Y}–{pe:%d.%m.%Y}")
        periods.append({"contribution": name, "period": period, "due_date": due, "amount": amount, "unpaid": unpaid,
                        "days": (as_of - due).days, "penalty": penalty})
    principal = sum((p["unpaid"] for p in periods), Decimal(0))
    penalty = sum((p["penalty"] for p in periods), Decimal(0))
    if principal + penalty <= 0:
        raise InputError(f"У члена с л/с {reg_no} нет просроченного долга на {as_of:%d.%m.%Y}")
    return Claim(member, as_of, periods, principal, penalty, court_order_fee(principal + penalty),
                 cooperative.get_settings(db))


def _application_paragraphs(c: Claim) -> list[tuple[str, str]]:
    """(style, text) of the application: 'right' for the header block, 'title', 'text', 'list'."""
    coop, m = c.coop, c.member
    plots = f", собственник участка № {m['plots']}" if m.get("plots") else ""
    first_due = min(p["due_date"] for p in c.periods)
    return [
        ("right", "Мировому судье судебного участка № ____"),
        ("right", f"Взыскатель: {coop.get('name') or ''}, ИНН {coop.get('inn') or ''}, ОГРН {coop.get('ogrn') or ''}, "
                  f"адрес: {coop.get('address') or ''}"),
        ("right", f"Должник: {m['full_name']}, адрес: {m.get('address') or '____________'}"),
        ("right", f"Сумма требования: {fmt_money(c.total)} ₽; госпошлина: {fmt_money(c.fee)} ₽"),
        ("title", "ЗАЯВЛЕНИЕ\nо вынесении судебного приказа"),
        ("text", f"{m['full_name']} (л/с {m['reg_no']}{plots}) обязан(а) вносить взносы в {coop.get('name') or ''} "
                 f"на основании устава и решений общего собрания членов (ст. 14 Федерального закона от 29.07.2017 "
                 f"№ 217-ФЗ). Обязанность не исполнена: с {first_due:%d.%m.%Y} образовалась задолженность, "
                 f"которая на {c.as_of:%d.%m.%Y} составляет {fmt_money(c.principal)} ₽; пени за просрочку "
                 f"составляют {fmt_money(c.penalty)} ₽ (расчёт прилагается)."),
        ("text", "Требование основано на сделке, совершённой в простой письменной форме, и не носит спорного "
                 "характера. На основании ст. 121–124 ГПК РФ прошу:"),
        ("text", f"вынести судебный приказ о взыскании с должника {m['full_name']} в пользу "
                 f"{coop.get('name') or ''} задолженности по взносам {fmt_money(c.principal)} ₽, пени "
                 f"{fmt_money(c.penalty)} ₽, всего {fmt_money(c.total)} ₽, а также расходов по уплате "
                 f"государственной пошлины {fmt_money(c.fee)} ₽."),
        ("text", "Приложения:"),
        ("list", "Расчёт задолженности и пени по периодам."),
        ("list", "Акт сверки расчётов."),
        ("list", f"Документ об уплате государственной пошлины ({fmt_money(c.fee)} ₽)."),
        ("list", "Выписка из реестра членов; копия устава; решения общего собрания об установлении взносов."),
        ("list", "Документ, подтверждающий полномочия председателя."),
        ("text", f"Председатель {coop.get('name') or ''}  ____________  {coop.get('chairman') or ''}"),
        ("text", "Дата: ____________"),
    ]


def application_docx(c: Claim) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = Document()
    for style, text in _application_paragraphs(c):
        if style == "title":
            p = doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.add_run(text).bold = True
        elif style == "right":
            doc.add_paragraph(text).alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif style == "list":
            doc.add_paragraph(text, style="List Number")
        else:
            doc.add_paragraph(text).alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    doc.add_heading("Расчёт задолженности и пени", level=2)
    table = doc.add_table(rows=1, cols=len(PERIOD_COLUMNS))
    table.style = "Table Grid"
    for cell, col in zip(table.rows[0].cells, PERIOD_COLUMNS):
        cell.text = col.title
    for p in c.periods:
        cells = table.add_row().cells
        for cell, col in zip(cells, PERIOD_COLUMNS):
            cell.text = _text(p[col.key], col.kind)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _text(value, kind: str) -> str:
    from . import pdf_cell_text

    return pdf_cell_text(value, kind)


def application_pdf(c: Claim) -> bytes:
    pdf = pdf_document("")
    pdf.set_font("DejaVu", "", 10)
    for style, text in _application_paragraphs(c):
        if style == "title":
            pdf.ln(4)
            pdf.set_font("DejaVu", "B", 12)
            pdf.multi_cell(0, 6, text, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
            pdf.ln(2)
        elif style == "right":
            pdf.set_x(95)
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        elif style == "list":
            pdf.multi_cell(0, 5, f"— {text}", new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(0, 5, text, align="J", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    return bytes(pdf.output())


def calculation_pdf(c: Claim) -> bytes:
    pdf = pdf_document(f"Расчёт задолженности и пени: {c.member['full_name']}, л/с {c.member['reg_no']}, "
                       f"на {c.as_of:%d.%m.%Y}")
    pdf_table(pdf, PERIOD_COLUMNS, c.periods, widths={"contribution": 40, "period": 38, "due_date": 20,
                                                      "amount": 22, "unpaid": 22, "days": 16, "penalty": 22})
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 9)
    pdf.cell(0, 5, f"Основной долг {fmt_money(c.principal)} ₽, пени {fmt_money(c.penalty)} ₽, всего "
                   f"{fmt_money(c.total)} ₽; госпошлина за судебный приказ {fmt_money(c.fee)} ₽",
             new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def build(db: Database, reg_no: str, as_of: date, actor: str | None = None) -> Package:
    c = claim(db, reg_no, as_of)
    start = min(p["due_date"] for p in c.periods).replace(day=1)
    s = debts.statement(db, c.member["id"], start, as_of)
    base = f"{reg_no}-{as_of:%Y%m%d}"
    files = [ReportFile(f"расчёт-{base}.pdf", calculation_pdf(c)),
             ReportFile(f"акт-сверки-{base}.pdf", debts.statement_pdf(s)),
             ReportFile(f"акт-сверки-{base}.xlsx", debts.statement_xlsx(s)),
             ReportFile(f"заявление-{base}.docx", application_docx(c)),
             ReportFile(f"заявление-{base}.pdf", application_pdf(c))]
    log_built(db, actor, KIND, files, personal=True, reg_no=reg_no, as_of=str(as_of))
    return Package(c, files)
