"""Debtors report as of a date: one row per member with overdue principal or unpaid penalty, largest first,
as .xlsx, .csv or PDF. The board sees surname with initials, staff the full name."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from .. import cooperative, debts
from ..accruals import fmt_money
from ..db import Database
from ..spreadsheets import Column, write_table, xlsx_bytes
from . import ReportFile, log_built, pdf_document, pdf_table

KIND = "debtors"
COLUMNS = [Column("reg_no", "№ л/с"), Column("full_name", "ФИО"), Column("plots", "Участки"),
           Column("principal", "Основной долг, ₽", "money"), Column("penalty", "Пени, ₽", "money"),
           Column("total", "Итого, ₽", "money"), Column("oldest_due", "Просрочено с", "date"),
           Column("days_overdue", "Дней просрочки", "int"), Column("time_barred", "Давность > 3 лет, ₽", "money")]
FORMATS = (".xlsx", ".csv", ".pdf")


def rows(db: Database, as_of: date, personal: bool) -> list[dict]:
    out = debts.by_member(debts.dashboard(db, as_of).rows)
    for r in out:
        r["full_name"] = r["full_name"] if personal else debts.short_name(r["full_name"])
        r["days_overdue"] = (as_of - r["oldest_due"]).days if r["oldest_due"] else None
    return out


def build(db: Database, as_of: date, fmt: str, personal: bool = True, actor: str | None = None,
          log: bool = True) -> ReportFile:
    table = rows(db, as_of, personal)
    name = f"должники-{as_of:%Y%m%d}.{fmt}"
    if fmt == "xlsx":
        data = xlsx_bytes(COLUMNS, table, sheet_title=f"Должники на {as_of:%d.%m.%Y}")
    elif fmt == "csv":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            write_table(path, COLUMNS, table)
            data = path.read_bytes()
    elif fmt == "pdf":
        coop = cooperative.get_settings(db).get("name") or ""
        pdf = pdf_document(f"Должники {coop} на {as_of:%d.%m.%Y}", landscape=True)
        pdf_table(pdf, COLUMNS, table, widths={"reg_no": 16, "full_name": 60, "plots": 30, "principal": 28,
                                               "penalty": 24, "total": 28, "oldest_due": 24,
                                               "days_overdue": 20, "time_barred": 28})
        pdf.ln(3)
        principal = sum(r["principal"] for r in table)
        penalty = sum(r["penalty"] for r in table)
        pdf.cell(0, 6, f"Должников: {len(table)}; основной долг {fmt_money(principal)} ₽, пени {fmt_money(penalty)} ₽",
                 new_x="LMARGIN", new_y="NEXT")
        data = bytes(pdf.output())
    else:
        raise ValueError(fmt)
    report = ReportFile(name, data)
    if log:
        log_built(db, actor, KIND, [report], personal=personal, as_of=str(as_of), rows=len(table))
    return report
