"""Reading and writing spreadsheets: .xlsx and .csv with the quirks real registers and bank exports have.

Reading finds the header row by its text (below title rows and merged cells), maps header cells to fields
by synonyms, reports columns it cannot place, and keeps every data row's number as the spreadsheet shows
it. Writing produces formatted .xlsx (frozen header, filters, widths, real dates and numbers) or plain
.csv, with text cells neutralised against formula injection.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import InputError
from .fields import clean_text, neutralize

MAX_XLSX_UNCOMPRESSED = 256 * 1024 * 1024  # a zip bomb never reaches openpyxl
MAX_LINE_BYTES = 64 * 1024  # no row of a register or a statement comes near; a 50 MB line is refused at once
HEADER_SCAN_ROWS = 40

Row = tuple[int, list[Any]]  # (row number as the spreadsheet shows it, cell values)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def normalize_header(text: Any) -> str:
    """Lower case, ё→е, punctuation to spaces: "№ Л/С" → "№ л с", "Площадь, м2" → "площадь м2".

    Latin camelCase and snake_case are split into words, so one synonym covers the spellings of other
    software: "plotNumber", "plot_number" and "Plot Number" all give "plot number".
    """
    t = _CAMEL.sub(" ", clean_text(text)).lower().replace("ё", "е")
    t = re.sub(r"[^\w№]+|_", " ", t)
    return re.sub(r"\s+", " ", t).strip()


@dataclass
class Sheet:
    """Rows of one worksheet or CSV file."""

    name: str                       # file name (and sheet) for messages
    rows: list[Row]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)     # (row, 0-based column) -> "B5"
    kind: str = "xlsx"              # xlsx | csv (column names in messages: letters or numbers)

    def column_name(self, index: int) -> str:
        """A 0-based column as the user sees it: B for a spreadsheet, 2 for a CSV file."""
        from openpyxl.utils import get_column_letter

        return get_column_letter(index + 1) if self.kind == "xlsx" else str(index + 1)

    def cell_name(self, row: int, index: int) -> str:
        """A cell as the user finds it: B3 in a spreadsheet, «строка 3, столбец 2» in a CSV file."""
        return f"{self.column_name(index)}{row}" if self.kind == "xlsx" else f"строка {row}, столбец {index + 1}"


def _decode_text(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: файл не похож на текстовый (двоичные данные)")
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{name}: не удалось определить кодировку (ожидается UTF-8 или Windows-1251)")


def check_lines(data: bytes, name: str, limit: int | None = None) -> None:
    """Refuse a text file with a line longer than `limit` bytes before anything parses it (a 50 MB line)."""
    limit = limit or MAX_LINE_BYTES
    if len(data) <= limit:
        return
    pos, line = 0, 1
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        if end - pos > limit:
            raise InputError(f"{name}, строка {line}: строка длиннее {limit // 1024} КБ — это не таблица "
                             f"(проверьте, что выбран нужный файл)")
        pos, line = end + 1, line + 1


def read_csv(data: bytes, name: str) -> Sheet:
    check_lines(data, name)
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
    return Sheet(name=name, rows=rows, kind="csv")


def check_xlsx(data: bytes, name: str) -> None:
    """Refuse what is not an .xlsx, and archives that inflate beyond the cap."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
            names = set(zf.namelist())
            if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
                what = " (это документ Word)" if any(n.startswith("word/") for n in names) else ""
                raise InputError(f"{name}: это не файл Excel .xlsx{what}")
    except zipfile.BadZipFile:
        raise InputError(f"{name}: файл повреждён или это не файл Excel .xlsx") from None
    if total > MAX_XLSX_UNCOMPRESSED:
        raise InputError(
            f"{name}: после распаковки файл занимает {total // 2**20} МБ, "
            f"больше допустимых {MAX_XLSX_UNCOMPRESSED // 2**20} МБ"
        )


def read_xlsx(data: bytes, name: str, fill_merged: bool = True, formulas: bool = False) -> Sheet:
    """First non-empty worksheet; merged ranges take their top-left value in every cell when fill_merged.

    With formulas=True the cells are read as written, and Sheet.formulas lists the cells holding a formula
    (an importer that needs values refuses them); otherwise a formula cell gives its last computed value.
    """
    import openpyxl

    check_xlsx(data, name)
    try:
        # openpyxl warns in English about what it drops (drawings, validation, a date serial out of range);
        # none of it is for the user: what matters in a cell is checked by the importer and named in Russian.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), data_only=not formulas)
    except Exception as exc:  # openpyxl raises many kinds on broken files
        raise InputError(f"{name}: не удалось прочитать файл Excel ({type(exc).__name__})") from None
    ws = next((w for w in wb.worksheets if w.max_row > 1 or w.max_column > 1), wb.worksheets[0])
    found: dict[tuple[int, int], str] = {}
    if formulas:
        grid = []
        for r, cells in enumerate(ws.iter_rows(), start=1):
            grid.append([cell.value for cell in cells])
            found.update({(r, c): cell.coordinate for c, cell in enumerate(cells) if cell.data_type == "f"})
    else:
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
    return Sheet(name=label, rows=[(i + 1, row) for i, row in enumerate(grid)], merged=merged, formulas=found)


_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # OLE compound file: old .xls, or an encrypted .xlsx
_NOT_TABLES = [(b"%PDF", "PDF"), (b"\x89PNG", "картинка PNG"), (b"\xff\xd8\xff", "картинка JPEG"),
               (b"GIF8", "картинка GIF"), (b"Rar!", "архив RAR"), (b"7z\xbc\xaf", "архив 7z"),
               (b"\x1f\x8b", "архив gzip"), (b"{\\rtf", "документ RTF")]


def is_encrypted_office(data: bytes) -> bool:
    """An Office file protected by a password: an OLE compound file holding an EncryptedPackage stream."""
    if data[:8] != _CFB:
        return False
    import olefile

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return ole.exists("EncryptedPackage")
    except (OSError, ValueError, IndexError):  # a broken compound file is not an encrypted one; its reader says why
        return False


def check_container(data: bytes, name: str) -> None:
    """Refuse, with the reason, files that are no table at all: encrypted, PDF, pictures, archives."""
    if is_encrypted_office(data):
        raise InputError(f"{name}: файл защищён паролем — откройте его в Excel, снимите пароль "
                         f"(Файл → Сведения → Защита книги) и сохраните как .xlsx")
    head = data[:1024].lstrip()
    for magic, what in _NOT_TABLES:
        if head.startswith(magic):
            raise InputError(f"{name}: это не файл Excel и не таблица CSV ({what})")


def read_sheet(data: bytes, name: str, formulas: bool = False) -> Sheet:
    """Read .xlsx or .csv by content (an .xlsx is a zip archive); see read_xlsx for `formulas`."""
    if not data:
        raise InputError(f"{name}: файл пуст")
    check_container(data, name)
    if data[:2] == b"PK":
        return read_xlsx(data, name, formulas=formulas)
    if data[:8] == _CFB:
        raise InputError(f"{name}: старый формат Excel .xls не поддерживается, сохраните файл как .xlsx")
    if Path(name).suffix.lower() in (".xlsx", ".xlsm", ".xls") and b"\x00" in data[:4096]:
        raise InputError(f"{name}: это не файл Excel — внутри не таблица Excel, хотя имя оканчивается "
                         f"на {Path(name).suffix}")
    return read_csv(data, name)  # text under an Excel name (a CSV saved as .xlsx) is still read as a table


@dataclass(frozen=True)
class Need:
    """Fields of which a header row must name at least one; `what` completes «нет столбца …»."""

    fields: tuple[str, ...]
    what: str


@dataclass
class Header:
    row: int                         # row number of the header
    columns: dict[str, int]          # field -> 0-based column index
    titles: dict[str, str]           # field -> header text as written
    unknown: list[str]               # header texts no field took
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # field -> every column naming it (2+)
    cells: list[tuple[int, str]] = field(default_factory=list)       # every non-empty header cell: index, text
    key: str = ""                    # the row's normalised header set: remembered mappings are keyed by it
    mapping: dict[str, str] = field(default_factory=dict)     # normalised header -> field ("" skipped): what a
                                                              # mapping changed against the synonyms in this row
    remembered: dict[str, str] = field(default_factory=dict)  # the remembered mapping applied to this row
    conflicts: list[tuple[str, int, int]] = field(default_factory=list)  # field, column, mapped column


class HeaderNotFound(InputError):
    """No row names the columns a file needs; `header` is the best candidate row (with no known name at all,
    the widest row; None for an empty sheet), whose columns a page offers to map."""

    def __init__(self, problems: list[str] | str, header: Header | None = None, hint: str | None = None):
        super().__init__(problems, hint=hint)
        self.header = header


class MappingError(HeaderNotFound):
    """A column mapping that does not fit the file (a usage error: exit code 2 in the CLI)."""

    exit_code = 2


def header_key(texts: Iterable[Any]) -> str:
    """The normalised set of a row's header texts, order and spelling aside: the key of a remembered mapping."""
    return "|".join(sorted({normalize_header(t) for t in texts if clean_text(t)} - {""}))


def parse_pairs(pairs: Iterable[str], option: str = "--map", form: str = "Название=код") -> dict[str, str]:
    """`--map "Название=значение"` options as {normalised name: value as written} (a name given twice is refused)."""
    result: dict[str, str] = {}
    for p in pairs:
        if "=" not in p:
            raise MappingError(f"{option} «{p}»: ожидается «{form}»")
        k, v = p.split("=", 1)
        key = normalize_header(k)
        if not key:
            raise MappingError(f"{option} «{p}»: не указано название слева от «=»")
        if key in result:
            raise MappingError(f"{option}: «{k.strip()}» указан дважды")
        result[key] = v.strip()
    return result


def _scan_row(number: int, values: list[Any], lookup: dict[str, str], mapping: dict[str, str],
              remembered: dict[str, dict[str, str]]) -> Header:
    cells = [(idx, clean_text(v)) for idx, v in enumerate(values) if clean_text(v)]
    key = header_key(t for _, t in cells)
    applied = {**remembered.get(key, {}), **mapping}
    header = Header(row=number, columns={}, titles={}, unknown=[], cells=cells, key=key,
                    remembered=dict(remembered.get(key, {})))
    mapped: set[int] = set()
    seen_texts: set[str] = set()
    for idx, text in cells:
        norm = normalize_header(text)
        if norm in applied:
            fld = applied[norm] or None
            if fld != lookup.get(norm):
                header.mapping[norm] = applied[norm]
                mapped.add(idx)
        else:
            fld = lookup.get(norm)
        if fld is None:
            if text not in seen_texts and norm not in applied:
                header.unknown.append(text)
        elif fld not in header.columns:
            header.columns[fld] = idx
            header.titles[fld] = text
        elif idx in mapped or header.columns[fld] in mapped:
            header.conflicts.append((fld, header.columns[fld], idx))
        else:
            header.duplicates.setdefault(fld, [header.columns[fld]]).append(idx)
        seen_texts.add(text)
    return header


def find_header(sheet: Sheet, synonyms: dict[str, Sequence[str]], required: Iterable[str | Need] = (),
                min_fields: int = 2, mapping: dict[str, str] | None = None,
                remembered: dict[str, dict[str, str]] | None = None, labels: dict[str, str] | None = None,
                hint: str | None = None) -> Header:
    """The row (among the first HEADER_SCAN_ROWS) whose cells name the most fields.

    synonyms maps a field to its header spellings; they are compared after normalize_header.
    `mapping` ({normalised header: field, or "" to skip the column}) overrides the synonyms in any row;
    `remembered` ({header_key: mapping}) adds the mapping remembered for a row with exactly these headers
    (the explicit mapping wins). When no row names `min_fields` fields, or the best one lacks a `required`
    group, HeaderNotFound says which fields were found in which cells and which are missing, then `hint`.
    `labels` names fields in messages (default: a field's first synonym).
    """
    mapping, remembered, labels = mapping or {}, remembered or {}, labels or {}
    for norm, fld in mapping.items():
        if fld and fld not in synonyms:
            raise MappingError(f"{sheet.name}: поле «{fld}» неизвестно")
    lookup: dict[str, str] = {}
    for fld, names in synonyms.items():
        for n in names:
            lookup[normalize_header(n)] = fld
    best: Header | None = None
    widest: Header | None = None   # with no known header at all, the row a user would map: the widest one
    for number, values in sheet.rows[:HEADER_SCAN_ROWS]:
        header = _scan_row(number, values, lookup, mapping, remembered)
        if header.columns and (best is None or len(header.columns) > len(best.columns)):
            best = header
        if widest is None or len(header.cells) > len(widest.cells):
            widest = header
    label = {f: labels.get(f) or synonyms[f][0] for f in synonyms}
    needs = [r if isinstance(r, Need) else Need((r,), f"«{label[r]}»") for r in required]
    if best is None:
        wanted = "; ".join(f"нет столбца {n.what}" for n in needs)
        raise HeaderNotFound([f"{sheet.name}: не найдена строка заголовков — в первых {HEADER_SCAN_ROWS} строках "
                              f"нет известных названий столбцов" + (f" ({wanted})" if wanted else "")],
                             widest if widest is not None and widest.cells else None, hint)
    present = {normalize_header(t) for _, t in best.cells}
    absent = [n for n in mapping if n not in present]
    if absent:
        raise MappingError(f"{sheet.name}: в строке заголовков {best.row} нет "
                           f"{'столбца' if len(absent) == 1 else 'столбцов'} {', '.join(f'«{n}»' for n in absent)}; "
                           f"есть: {', '.join(f'«{t}»' for _, t in best.cells)}", best)
    found = [f"{label[f]} ({sheet.cell_name(best.row, i)})" for f, i in sorted(best.columns.items(), key=lambda x: x[1])]
    found_text = f"{'найден столбец' if len(found) == 1 else 'найдены столбцы'} {', '.join(found)}"
    missing = [f"нет столбца {n.what}" for n in needs if not set(n.fields) & set(best.columns)]
    if len(best.columns) < min_fields:
        lack = "; ".join(missing) if missing else f"нужно не меньше {min_fields} известных столбцов"
        raise HeaderNotFound([f"{sheet.name}: не найдена строка заголовков — {found_text}; {lack}"], best, hint)
    if missing:
        raise HeaderNotFound([f"{sheet.name}, строка {best.row}: {'; '.join(missing)} ({found_text})"], best, hint)
    if best.conflicts:
        raise MappingError([f"{sheet.name}, строка {best.row}: столбец «{_text_at(best, j)}» ({sheet.cell_name(best.row, j)}) "
                            f"нельзя загрузить как «{label[f]}» — это поле уже у столбца «{_text_at(best, i)}» "
                            f"({sheet.cell_name(best.row, i)})" for f, i, j in best.conflicts], best)
    return best


def _text_at(header: Header, index: int) -> str:
    return next(t for i, t in header.cells if i == index)


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


def _missing(value: Any) -> bool:
    """NaN, NaT and pd.NA (missing values from pandas): empty cells."""
    try:
        return bool(value != value)
    except TypeError:  # pd.NA refuses to be a bool
        return True


def _cell_value(value: Any, kind: str) -> Any:
    """The value a cell of this kind holds: Decimal money, real dates, numbers as numbers, text as text."""
    if value is None or _missing(value):
        return None
    if kind == "money":
        return Decimal(value)
    if kind == "date":
        return value
    if kind in ("int", "number"):
        if isinstance(value, str):  # "600.00" is a number; "600; 400" (several plots) stays text
            text = value.strip().replace(",", ".")
            return Decimal(text) if _NUMBER.fullmatch(text) else value
        return value
    return value if type(value) is str else str(value)


_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,6})?")
_CONTROL = re.compile(r"[\000-\010\013\014\016-\037]")  # control characters: nothing a reader can show
_FORMATS = {"date": "dd.mm.yyyy", "money": "#,##0.00"}
MAX_CELL_TEXT = 32767  # Excel's limit for one cell


def title_lines(cooperative: str | None, what: str, as_of: date | datetime | None = None) -> list[str]:
    """The title block of a downloaded table: the cooperative's name, then what it is and as of when."""
    lines = [cooperative] if cooperative else []
    lines.append(f"{what} на {as_of:%d.%m.%Y}" if as_of else what)
    return lines


def write_xlsx(path: Path | io.BytesIO, columns: Sequence[Column], rows: Iterable[dict], sheet_title: str = "Данные",
               title: Sequence[str] = ()) -> None:
    """A formatted .xlsx streamed row by row (XlsxWriter, constant-memory mode: linear time, little memory).

    The header is bold with a filter and frozen below it; dates are real dates (ДД.ММ.ГГГГ), money and
    numbers are numbers, text is always a text cell (a value starting with "=" is never a formula; control
    characters are dropped).
    `title` lines (cooperative, what and as of when) go above the table, then an empty row; the register
    and statement importers find the header row below them.
    """
    import xlsxwriter

    target = str(path) if isinstance(path, Path) else path
    wb = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_formulas": False,
                                      "strings_to_numbers": False, "strings_to_urls": False,
                                      "default_date_format": _FORMATS["date"], "remove_timezone": True})
    ws = wb.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", sheet_title)[:31] or "Данные")
    row = 0
    for k, line in enumerate(title):
        ws.write_string(row, 0, _CONTROL.sub("", str(line)), wb.add_format({"bold": True,
                                                                            "font_size": 12 if k == 0 else 11}))
        row += 1
    if title:
        row += 1
    header_row = row
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "valign": "vcenter", "text_wrap": True})
    for i, c in enumerate(columns):
        ws.write_string(header_row, i, c.title, head)
    formats = {kind: wb.add_format({"num_format": f}) for kind, f in _FORMATS.items()}
    widths = [max(len(c.title), 6) for c in columns]
    plan = [(i, c.key, c.kind, formats.get(c.kind)) for i, c in enumerate(columns)]
    for record in rows:
        row += 1
        for i, key, kind, fmt in plan:
            v = _cell_value(record.get(key), kind)
            if v is None:
                continue
            if isinstance(v, str):
                if not v.isprintable():  # the fast check first: most texts have no control characters
                    v = _CONTROL.sub("", v)
                v = v[:MAX_CELL_TEXT]
                ws.write_string(row, i, v)
                size = len(v)
            elif isinstance(v, (date, datetime)):
                ws.write_datetime(row, i, v, fmt or formats["date"])
                size = 10
            elif isinstance(v, float) and math.isinf(v):
                continue
            else:
                ws.write_number(row, i, v, fmt)
                size = 12
            if size > widths[i]:
                widths[i] = min(size, 60)
    for i, c in enumerate(columns):
        ws.set_column(i, i, c.width or (widths[i] + 2))
    ws.freeze_panes(header_row + 1, 0)
    ws.autofilter(header_row, 0, row, max(len(columns) - 1, 0))
    wb.close()


def _csv_value(value: Any, kind: str) -> str:
    if value is None or _missing(value):
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
                csv_header: str = "title", title: Sequence[str] = ()) -> None:
    """Write .xlsx or .csv by the file's extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        write_xlsx(path, columns, rows, sheet_title, title)
    elif suffix == ".csv":
        write_csv(path, columns, rows, header=csv_header)
    else:
        raise InputError(f"{path.name}: поддерживаются только файлы .xlsx и .csv")


def xlsx_bytes(columns: Sequence[Column], rows: Iterable[dict], sheet_title: str = "Данные",
               title: Sequence[str] = ()) -> bytes:
    buf = io.BytesIO()
    write_xlsx(buf, columns, rows, sheet_title, title)
    return buf.getvalue()
