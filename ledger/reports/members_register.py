"""Register of members (реестр членов, 217-ФЗ ст. 15): current members with their plots, as .xlsx and PDF.

Staff get the full register (ФИО, address, phone, e-mail); the board gets surname with initials and no
contacts, as on the dashboard.
"""

from __future__ import annotations

from datetime import date

from .. import cooperative, members
from ..db import Database
from ..debts import short_name
from ..spreadsheets import Column, xlsx_bytes
from . import ReportFile, log_built, pdf_document, pdf_table

KIND = "register"
FULL_COLUMNS = [Column("no", "№ п/п", "int"), Column("reg_no", "№ л/с"), Column("full_name", "ФИО"),
                Column("join_date", "Дата вступления", "date"), Column("plots", "№ участка"),
                Column("cadastral_nos", "Кадастровый номер"), Column("area", "Площадь, м²", "number"),
                Column("address", "Почтовый адрес"), Column("phones", "Телефон"), Column("emails", "Эл. почта")]
BOARD_COLUMNS = [c for c in FULL_COLUMNS if c.key not in ("address", "phones", "emails")]


def rows(db: Database, personal: bool) -> list[dict]:
    out = []
    for m in members.list_members(db, statuses=["member"]):
        out.append({"no": len(out) + 1, "reg_no": m["reg_no"],
                    "full_name": m["full_name"] if personal else short_name(m["full_name"]),
                    "join_date": m["join_date"], "plots": m["plots"], "cadastral_nos": m["cadastral_nos"],
                    "area": m["area"], "address": m["address"] if personal else None,
                    "phones": m["phones"] if personal else None, "emails": m["emails"] if personal else None})
    return out


def pdf_bytes(title: str, columns, table: list[dict]) -> bytes:
    pdf = pdf_document(title, landscape=True)
    pdf_table(pdf, columns, table, widths={"no": 10, "reg_no": 14, "full_name": 48, "join_date": 20, "plots": 16,
                                           "cadastral_nos": 36, "area": 16, "address": 52, "phones": 28, "emails": 36})
    pdf.ln(4)
    pdf.cell(0, 6, f"Всего членов: {len(table)}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def build(db: Database, fmt: str, personal: bool = True, actor: str | None = None,
          day: date | None = None, log: bool = True) -> ReportFile:
    """The register as .xlsx or .pdf; `day` is the date it is made as of (printed in the title)."""
    day = day or date.today()
    table = rows(db, personal)
    columns = FULL_COLUMNS if personal else BOARD_COLUMNS
    coop = cooperative.get_settings(db).get("name") or ""
    title = f"Реестр членов {coop} на {day:%d.%m.%Y}".replace("  ", " ")
    name = f"реестр-членов-{day:%Y%m%d}.{fmt}"
    if fmt == "xlsx":
        report = ReportFile(name, xlsx_bytes(columns, table, sheet_title="Реестр членов"))
    elif fmt == "pdf":
        report = ReportFile(name, pdf_bytes(title, columns, table))
    else:
        raise ValueError(fmt)
    if log:
        log_built(db, actor, KIND, [report], personal=personal, rows=len(table))
    return report
