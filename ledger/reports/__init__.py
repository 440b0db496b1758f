"""Reports for the regulator, the bank and the court: one module per report (a query over the ledger plus
its renderer), the forms the accountant fills in, and the record of signing and submitting.

Every generation is written to the audit log (`report_built`; reports with personal data also as
`export_personal_data`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import audit
from ..db import Database, utcnow
from ..errors import InputError

MIME = {
    ".xml": "application/xml", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf", ".csv": "text/csv", ".txt": "text/plain",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass
class ReportFile:
    name: str
    data: bytes

    @property
    def mime(self) -> str:
        return MIME.get(Path(self.name).suffix.lower(), "application/octet-stream")


def log_built(db: Database, actor: str | None, kind: str, files: list[ReportFile], personal: bool,
              **details: Any) -> None:
    """One audit entry per generation; a report carrying personal data is also logged as an export of it."""
    names = [f.name for f in files]
    with db.transaction() as con:
        audit.log(con, actor, "report_built", kind, files=names, **details)
        if personal:
            audit.log(con, actor, "export_personal_data", ", ".join(names)[:200], what=f"отчёт {kind}", **details)


def write_files(files: list[ReportFile], folder: Path) -> list[Path]:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for f in files:
            (folder / f.name).write_bytes(f.data)
            paths.append(folder / f.name)
    except OSError as exc:
        raise InputError(f"{folder}: не удалось записать файлы ({exc.strerror})") from None
    return paths


def write_file(f: ReportFile, path: Path, allowed: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise InputError(f"{path.name}: этот отчёт выгружается в {', '.join(allowed)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.data)
    except OSError as exc:
        raise InputError(f"{path}: не удалось записать файл ({exc.strerror})") from None
    return path


# -- forms the accountant fills in (kept as versions: a saved form is never edited, a new one follows) --------

def load_form(db: Database, kind: str, year: int) -> dict | None:
    row = db.fetchone("SELECT data FROM report_forms WHERE kind = ? AND year = ? ORDER BY id DESC LIMIT 1",
                      [kind, year])
    return json.loads(row[0]) if row else None


def save_form(db: Database, kind: str, year: int, data: dict, actor: str | None = None) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO report_forms (kind, year, data, saved_at, saved_by) VALUES (?, ?, ?, ?, ?)",
                    [kind, year, json.dumps(data, ensure_ascii=False, sort_keys=True), utcnow(), actor])
        audit.log(con, actor, "report_form_saved", f"{kind} {year}")


def form_history(db: Database, kind: str, year: int) -> list[dict]:
    return db.records("SELECT id, saved_at, saved_by FROM report_forms WHERE kind = ? AND year = ? ORDER BY id",
                      [kind, year])


# -- PDF (fpdf2 with DejaVu Sans from matplotlib, as the акт сверки) -------------------------------------------

def pdf_document(title: str, landscape: bool = False):
    from ..debts import new_pdf

    pdf = new_pdf(landscape, margin=12)
    pdf.set_font("DejaVu", "B", 12)
    pdf.multi_cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8)
    pdf.ln(2)
    return pdf


def pdf_cell_text(value: Any, kind: str) -> str:
    from ..accruals import fmt_money

    if value is None:
        return ""
    if kind == "money":
        return fmt_money(value)
    if kind == "date":
        return f"{value:%d.%m.%Y}"
    return str(value)


PDF_LINE = 4.0      # mm per line of 8 pt text
PDF_PAD = 1.0       # mm between a cell's border and its text


def pdf_wrap(measure, text: str, width: float) -> list[str]:
    """The lines of a cell's text within `width` mm (`measure` gives a string's width in mm): words kept whole where
    they fit, a longer word cut."""
    out: list[str] = []
    for para in text.splitlines() or [""]:
        if measure(para) <= width:
            out.append(para)
            continue
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if measure(candidate) <= width:
                line = candidate
                continue
            if line:
                out.append(line)
            line = word
            while len(line) > 1 and measure(line) > width:   # a word wider than the cell
                cut = len(line) - 1
                while cut > 1 and measure(line[:cut]) > width:
                    cut -= 1
                out.append(line[:cut])
                line = line[cut:]
        out.append(line)
    return out


def pdf_table(pdf, columns, rows: list[dict], widths: dict[str, float] | None = None) -> None:
    """A bordered table, centred, its header row repeated on every page; long values wrap within their cell.

    Drawn with fpdf2's low-level text() and rect(): its table() lays every cell out twice through multi_cell's
    line breaker (about 0.5 ms of CPU a cell, minutes for a register of 20,000 members); here a cell that fits, as
    nearly every one does, costs one string width and one text operator (README «Замеры»)."""
    widths = widths or {}
    cols = [widths.get(c.key, 25) for c in columns]
    right = [c.kind in ("money", "int", "number") for c in columns]
    left = pdf.l_margin + max(0.0, (pdf.epw - sum(cols)) / 2)
    header = [c.title for c in columns]

    def draw(values: list[str], bold: bool) -> None:
        pdf.set_font(style="B" if bold else "")
        font, size, k = pdf.current_font, pdf.font_size_pt, pdf.k

        def measure(text: str) -> float:   # what get_string_width gives for plain text, without its per-call set-up
            return font.get_text_width(text, size, None)[1] / k

        cells = [pdf_wrap(measure, v, w - 2 * PDF_PAD) for v, w in zip(values, cols)]
        height = max(len(lines) for lines in cells) * PDF_LINE + PDF_PAD
        if not bold and pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            draw(header, True)
            pdf.set_font(style="")
        top, x = pdf.get_y(), left
        for lines, w, align_right in zip(cells, cols, right):
            pdf.rect(x, top, w, height, style="DF" if bold else "D")
            for i, line in enumerate(lines):
                if line:
                    tx = x + w - PDF_PAD - measure(line) if align_right else x + PDF_PAD
                    pdf.text(tx, top + PDF_PAD / 2 + PDF_LINE * (i + 0.75), line)
            x += w
        pdf.set_xy(pdf.l_margin, top + height)

    pdf.set_fill_color(235, 235, 235)
    if pdf.get_y() + 3 * PDF_LINE > pdf.page_break_trigger:
        pdf.add_page()
    draw(header, True)
    for r in rows:
        draw([pdf_cell_text(r.get(c.key), c.kind) for c in columns], False)
    pdf.set_font(style="")
