"""Bank statement parsers: every format Russian banks export, recognised by content, not by file name.

- 1CClientBankExchange (kl_to_1c.txt) 1.01–1.03 in cp1251, cp866 (DOS), UTF-8 with or without BOM;
- bank Excel exports (.xlsx, .xls): the Sber Business layout, VTB, and any layout whose headers match synonyms;
- CSV exports (delimiter and encoding sniffed, decimal comma);
- ISO 20022 camt.053 XML and SWIFT MT940;
- the raw answers of bank APIs (open_banking: Точка's Open Banking JSON, tbank: T-Business, sber: SberBusiness), kept as a statement's original.

Each parser returns a ParsedStatement: payments with our account, date, number, amount (Decimal), direction,
payer and payee requisites, purpose and the line or row in the file. Bad input raises InputError with the
file name and the line or row; nothing here touches the database.

One module per format (exchange1c, tables, camt053, swift_mt940), the shared types in common; every public
name is importable from here.
"""

from __future__ import annotations

import re

from ..errors import InputError
from ..spreadsheets import check_container, read_sheet
from .camt053 import parse_camt053
from .common import (FORMAT_LABELS, PAYMENT_FIELDS, BankPayment, ParsedStatement, Progress, join_purpose,
                     payment_schema, rub, strip_inn_prefix)
from .exchange1c import _1c_columnar, _1c_spans, parse_1c, write_1c
from . import open_banking, sber, tbank
from .open_banking import parse_open_banking
from .sber import parse_sber
from .tbank import parse_tbank
from .swift_mt940 import parse_mt940
from .tables import TABLE_SYNONYMS, parse_table, read_xls

__all__ = ["COLUMNAR_MIN_BYTES", "FORMAT_LABELS", "MAX_STATEMENT_BYTES", "PAYMENT_FIELDS", "TABLE_SYNONYMS", "BankPayment", "ParsedStatement",
           "Progress", "detect_format", "join_purpose", "parse_1c", "parse_camt053", "parse_mt940", "parse_open_banking", "parse_sber", "parse_statement", "parse_tbank",
           "parse_table", "payment_schema", "read_xls", "rub", "strip_inn_prefix", "write_1c", "_1c_columnar", "_1c_spans"]

# Tuning knobs of the 1C reader, read from here at call time (tests and benchmarks set them in one place).
_CHUNK = 4 * 1024 * 1024                # the 1C reader works on pieces of about this many bytes
COLUMNAR_MIN_BYTES = 256 * 1024         # smaller 1C files go straight to the line-by-line reader
MAX_STATEMENT_BYTES = 200 * 1024 * 1024   # the upload limit (Streamlit's default is the same)
# A bank writes a purpose of a few hundred characters at most (1C: 210); far longer is a broken or hostile file
# that would stall matching and the pages.
MAX_PURPOSE_CHARS = 10_000


def parse_statement(data: bytes, name: str, default_account: str | None = None,
                    progress: Progress | None = None) -> ParsedStatement:
    """Recognise the format by content and parse the whole file (InputError on anything wrong)."""
    if not data:
        raise InputError(f"{name}: файл пуст")
    if len(data) > MAX_STATEMENT_BYTES:
        raise InputError(f"{name}: файл занимает {len(data) / 2**20:.0f} МБ, больше допустимых "
                         f"{MAX_STATEMENT_BYTES // 2**20} МБ")
    kind = detect_format(data)
    if kind in ("xls", "csv"):
        check_container(data, name)   # a password-protected workbook, a PDF or a picture: say what it is
    if kind == "1c":
        parsed = parse_1c(data, name, default_account, progress)
    elif kind == "camt053":
        parsed = parse_camt053(data, name)
    elif kind == "mt940":
        parsed = parse_mt940(data, name, default_account)
    elif kind == "open_banking":
        parsed = parse_open_banking(data, name, default_account)
    elif kind == "tbank":
        parsed = parse_tbank(data, name, default_account)
    elif kind == "sber":
        parsed = parse_sber(data, name, default_account)
    elif kind == "xls":
        parsed = parse_table(read_xls(data, name), "xls", default_account)
    elif kind == "xml":
        raise InputError(f"{name}: это XML, но не выписка camt.053 (нет элемента BkToCstmrStmt)")
    else:
        sheet = read_sheet(data, name)
        parsed = parse_table(sheet, "xlsx" if data[:2] == b"PK" else "csv", default_account)
    _check_purposes(parsed)
    parsed.fill_period()
    if not len(parsed):
        parsed.warnings.append(f"{name}: в выписке нет ни одного платежа")
    return parsed


def detect_format(data: bytes) -> str:
    """1c | xlsx | xls | camt053 | xml | mt940 | open_banking | tbank | sber | csv (the last one also for anything unrecognised)."""
    head = data[:4096]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"1CClientBankExchange"):
        return "1c"
    if head[:2] == b"PK":
        return "xlsx"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    if stripped.startswith(b"<"):
        return "camt053" if (b"BkToCstmrStmt" in data[:65536] or b"camt.053" in head) else "xml"
    if open_banking.looks_like(head):
        return "open_banking"
    if tbank.looks_like(head):
        return "tbank"
    if sber.looks_like(head):
        return "sber"
    if re.search(rb"(^|[\r\n]):20:", stripped) and re.search(rb"[\r\n]:(25|60F|61):", stripped):
        return "mt940"
    return "csv"


def _check_purposes(parsed: ParsedStatement) -> None:
    if parsed.items is None and parsed.table is not None:
        import pyarrow.compute as pc

        lengths = pc.utf8_length(parsed.table["purpose"])
        longest = pc.max(lengths).as_py()
        if not longest or longest <= MAX_PURPOSE_CHARS:
            return
        at = pc.index(lengths, longest).as_py()
        line = parsed.table["line"][at].as_py()
    else:
        found = [(len(p.purpose), p.line) for p in parsed.payments if p.purpose and len(p.purpose) > MAX_PURPOSE_CHARS]
        if not found:
            return
        longest, line = max(found)
    size = f"{longest:,}".replace(",", " ")
    raise InputError(f"{parsed.name}, строка {line}: назначение платежа длиной {size} символов (банки пишут не больше "
                     f"нескольких сотен) — файл повреждён, выписка не загружена")
