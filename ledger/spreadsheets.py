"""Reading and writing spreadsheets: .xlsx and .csv with the quirks real registers and bank exports have.

Reading finds the header row by its text (below title rows and merged cells), maps header cells to fields
by synonyms, reports columns it cannot place, and keeps every data row's number as the spreadsheet shows
it. Writing produces formatted .xlsx (frozen header, filters, widths, real dates and numbers) or plain
.csv, with text cells neutralised against formula injection.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import InputError
from .fields import clean_text, neutralize

MAX_XLSX_UNCOMPRESSED = 256 * 1024 * 1024  # a zip bomb never reaches openpyxl
HEADER_SCAN_ROWS = 40

Row = tuple[int, list[Any]]  # (row number as the spreadsheet shows it, cell values)


def normalize_header(text: Any) -> str:
    """Lower case, ё→е, punctuation to spaces: "№ Л/С" → "№ л с", "Площадь, м2" → "площадь м2"."""
    t = clean_text(text).lower().replace("ё", "е")
    t = re.sub(r"[^\w№]+", " ", t)
    return re.sub(r"\s+", " ", t).strip()


@dataclass
class Sheet:
    """Rows of one worksheet or CSV file."""

    name: str                       # file name (and sheet) for messages
    rows: list[Row]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col


def _decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: файл не похож на текстовый (двоичные данные)")
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{name}: не удалось определить кодировку (ожидается UTF-8 или Windows-1251)")


def read_csv(data: bytes, name: str) -> Sheet:
    text = _decode_text(data, name)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=";,\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for values in reader:
            rows.append((reader.line_num, [v.strip() for v in values]))
    except csv.Error as exc:
        raise InputError(f"{name}, строка {reader.line_num}: ошибка формата CSV ({exc})") from None
    return Sheet(name=name, rows=rows)


def check_xlsx(data: bytes, name: str) -> None:
    """Refuse what is not an .xlsx, and archives that inflate beyond the cap."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
            if "[Content_Types].xml" not in zf.namelist():
                raise InputError(f"{name}: это не файл Excel .xlsx")
    except zipfile.BadZipFile:
        raise InputError(f"{name}: файл повреждён или это не файл Excel .xlsx") from None
    if total > MAX_XLSX_UNCOMPRESSED:
        raise InputError(
            f"{name}: после распаковки файл занимает {total // 2**20} МБ, "
            f"больше допустимых {MAX_XLSX_UNCOMPRESSED // 2**20} МБ"
        )


def read_xlsx(data: bytes, name: str, fill_merged: bool = True) -> Sheet:
    """First non-empty worksheet; merged ranges take their top-left value in every cell when fill_merged."""
    import openpyxl

    check_xlsx(data, name)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on broken files
        raise InputError(f"{name}: не удалось прочитать файл Excel ({type(exc).__name__})") from None
    ws = next((w for w in wb.worksheets if w.max_row > 1 or w.max_column > 1), wb.worksheets[0])
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    merged = []
    for rng in ws.merged_cells.ranges:
        merged.append((rng.min_row, rng.min_col, rng.max_row, rng.max_col))
        if fill_merged:
            top_left = grid[rng.min_row - 1][rng.min_col - 1] if rng.min_row - 1 < len(grid) else None
            for r in range(rng.min_row, min(rng.max_row, len(grid)) + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    if c - 1 < len(grid[r - 1]):
                        grid[r - 1][c - 1] = top_left
    label = name if len(wb.worksheets) == 1 else f"{name} (лист «{ws.title}»)"
    return Sheet(name=label, rows=[(i + 1, row) for i, row in enumerate(grid)], merged=merged)


def read_sheet(data: bytes, name: str) -> Sheet:
    """Read .xlsx or .csv by content (an .xlsx is a zip archive)."""
    if not data:
        raise InputError(f"{name}: файл пуст")
    if data[:2] == b"PK":
        return read_xlsx(data, name)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise InputError(f"{name}: старый формат Excel .xls не поддерживается, сохраните файл как .xlsx")
    return read_csv(data, name)


@dataclass
class Header:
    row: int                         # row number of the header
    columns: dict[str, int]          # field -> 0-based column index
    titles: dict[str, str]           # field -> header text as written
    unknown: list[str]               # header texts no field took


def find_header(sheet: Sheet, synonyms: dict[str, Sequence[str]], required: Iterable[str] = (),
                min_fields: int = 2) -> Header:
    """The row (among the first HEADER_SCAN_ROWS) whose cells name the most fields.

    synonyms maps a field to its header spellings; they are compared after normalize_header.
    """
    lookup: dict[str, str] = {}
    for fld, names in synonyms.items():
        for n in names:
            lookup[normalize_header(n)] = fld
    best: Header | None = None
    for number, values in sheet.rows[:HEADER_SCAN_ROWS]:
        columns: dict[str, int] = {}
        titles: dict[str, str] = {}
        unknown: list[str] = []
        seen_texts: set[str] = set()
        for idx, value in enumerate(values):
            text = clean_text(value)
            if not text:
                continue
            fld = lookup.get(normalize_header(text))
            if fld is None:
                if text not in seen_texts:
                    unknown.append(text)
            elif fld not in columns:
                columns[fld] = idx
                titles[fld] = text
            seen_texts.add(text)
        if len(columns) >= min_fields and (best is None or len(columns) > len(best.columns)):
            best = Header(row=number, columns=columns, titles=titles, unknown=unknown)
    if best is None:
        raise InputError(
            f"{sheet.name}: не найдена строка заголовков (в первых {HEADER_SCAN_ROWS} строках нет "
            f"известных названий столбцов)"
        )
    missing = [f for f in required if f not in best.columns]
    if missing:
        names = ", ".join(f"«{synonyms[f][0]}»" for f in missing)
        raise InputError(f"{sheet.name}, строка {best.row}: нет обязательных столбцов: {names}")
    return best


def data_rows(sheet: Sheet, header: Header) -> list[tuple[int, dict[str, Any]]]:
    """Rows below the header as {field: value}, skipping empty rows."""
    result = []
    for number, values in sheet.rows:
        if number <= header.row:
            continue
        record = {f: (values[i] if i < len(values) else None) for f, i in header.columns.items()}
        if all(clean_text(v) == "" for v in record.values()):
            continue
        result.append((number, record))
    return result


# -- writing ------------------------------------------------------------------------------------

@dataclass
class Column:
    key: str
    title: str
    kind: str = "text"    # text | money | date | int | number
    width: int | None = None


def _cell_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "money":
        return Decimal(value)
    if kind == "date":
        return value if isinstance(value, (date, datetime)) else value
    if kind in ("int", "number"):
        return value
    return neutralize(str(value))


def write_xlsx(path: Path | io.BytesIO, columns: Sequence[Column], rows: Iterable[dict], sheet_title: str = "Данные",
               title: str | None = None, subtitle: str | None = None) -> None:
    """title/subtitle: lines above the table (e.g. the cooperative's name and the as-of date)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    heading = [line for line in (title, subtitle) if line]
    for i, line in enumerate(heading):
        ws.append([neutralize(line)])
        ws.cell(row=i + 1, column=1).font = Font(bold=i == 0, size=12 if i == 0 else 11)
    if heading:
        ws.append([])
    top = len(heading) + 2 if heading else 1
    ws.append([c.title for c in columns])
    for cell in ws[top]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    widths = [max(len(c.title), 6) for c in columns]
    count = 0
    for row in rows:
        count += 1
        values = [_cell_value(row.get(c.key), c.kind) for c in columns]
        ws.append(values)
        r = ws.max_row
        for i, (c, v) in enumerate(zip(columns, values), start=1):
            cell = ws.cell(row=r, column=i)
            if c.kind == "date" and v is not None:
                cell.number_format = "DD.MM.YYYY"
            elif c.kind == "money":
                cell.number_format = "#,##0.00"
            elif c.kind == "text" and v is not None:
                cell.data_type = "s"  # never a formula, whatever the text
            if v is not None:
                widths[i - 1] = max(widths[i - 1], min(len(str(v)), 60))
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = c.width or (widths[i - 1] + 2)
    ws.freeze_panes = f"A{top + 1}"
    ws.auto_filter.ref = f"A{top}:{get_column_letter(len(columns))}{top + count}"
    wb.save(path)


def _csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if kind == "money":
        return f"{Decimal(value):.2f}"
    if isinstance(value, str):
        return neutralize(value)
    return str(value)


def write_csv(path: Path | io.StringIO, columns: Sequence[Column], rows: Iterable[dict], header: str = "title") -> None:
    """UTF-8, comma separated, ISO dates, dot decimals; header of titles or keys."""
    own = not isinstance(path, io.StringIO)
    fh = open(path, "w", encoding="utf-8", newline="") if own else path
    try:
        writer = csv.writer(fh)
        writer.writerow([c.title if header == "title" else c.key for c in columns])
        for row in rows:
            writer.writerow([_csv_value(row.get(c.key), c.kind) for c in columns])
    finally:
        if own:
            fh.close()


def write_table(path: Path, columns: Sequence[Column], rows: Iterable[dict], sheet_title: str = "Данные",
                csv_header: str = "title") -> None:
    """Write .xlsx or .csv by the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(path, columns, rows, sheet_title)
    elif suffix == ".csv":
        write_csv(path, columns, rows, header=csv_header)
    else:
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")


def xlsx_bytes(columns: Sequence[Column], rows: Iterable[dict], sheet_title: str = "Данные",
               title: str | None = None, subtitle: str | None = None) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, columns, rows, sheet_title, title, subtitle)
    return buf.getvalue()
