"""Bank statement parsers: every format Russian banks export, recognised by content, not by file name.

- 1CClientBankExchange (kl_to_1c.txt) 1.01–1.03 in cp1251, cp866 (DOS), UTF-8 with or without BOM;
- bank Excel exports (.xlsx, .xls): the Sber Business layout, VTB, and any layout whose headers match synonyms;
- CSV exports (delimiter and encoding sniffed, decimal comma);
- ISO 20022 camt.053 XML and SWIFT MT940.

Each parser returns a ParsedStatement: payments with our account, date, number, amount (Decimal), direction,
payer and payee requisites, purpose and the line or row in the file. Bad input raises InputError with the
file name and the line or row; nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable

from . import fields
from .formats import money
from .errors import InputError
from .spreadsheets import Sheet, _decode_text, find_header, normalize_header, read_sheet

MAX_STATEMENT_BYTES = 200 * 1024 * 1024   # the upload limit (Streamlit's default is the same)

FORMAT_LABELS = {
    "1c": "1С: обмен с банком (1CClientBankExchange)",
    "sber_xlsx": "Excel: выписка Сбербанк Бизнес",
    "vtb_xlsx": "Excel: выписка ВТБ",
    "xlsx": "Excel: выписка",
    "xls": "Excel 97–2003 (.xls): выписка",
    "csv": "CSV: выписка",
    "camt053": "ISO 20022 camt.053 (XML)",
    "mt940": "SWIFT MT940",
}

Progress = Callable[[float, str], None]


@dataclass(slots=True)
class BankPayment:
    line: int                        # line (text formats) or row (spreadsheets) in the source file
    doc_date: date
    doc_number: str | None
    amount: Decimal
    direction: str                   # in | out (for our account)
    our_account: str | None
    payer_name: str | None = None
    payer_inn: str | None = None
    payer_account: str | None = None
    payer_bik: str | None = None
    payee_name: str | None = None
    payee_inn: str | None = None
    payee_account: str | None = None
    payee_bik: str | None = None
    purpose: str | None = None
    doc_kind: str | None = None      # document kind as the bank wrote it
    posted_date: date | None = None  # ДатаПоступило / ДатаСписано / value date


PAYMENT_FIELDS = ["line", "doc_date", "doc_number", "amount", "direction", "our_account", "payer_name", "payer_inn",
                  "payer_account", "payer_bik", "payee_name", "payee_inn", "payee_account", "payee_bik", "purpose",
                  "doc_kind", "posted_date"]


def payment_schema():
    import pyarrow as pa

    types = {"line": pa.int32(), "doc_date": pa.date32(), "amount": pa.decimal128(18, 2), "posted_date": pa.date32()}
    return pa.schema([(f, types.get(f, pa.string())) for f in PAYMENT_FIELDS])


@dataclass
class ParsedStatement:
    """A parsed statement. Payments are a list (small files) or an Arrow table (the columnar 1C reader)."""

    name: str
    format: str
    items: list[BankPayment] | None = None
    our_account: str | None = None
    accounts: list[str] = field(default_factory=list)
    period_from: date | None = None
    period_to: date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    warnings: list[str] = field(default_factory=list)
    table: Any = None
    _sums: Any = field(default=None, repr=False, compare=False)

    @property
    def format_label(self) -> str:
        return FORMAT_LABELS.get(self.format, self.format)

    @property
    def payments(self) -> list[BankPayment]:
        if self.items is None:
            self.items = [BankPayment(**row) for row in self.table.to_pylist()] if self.table is not None else []
        return self.items

    def head(self, n: int) -> list[BankPayment]:
        if self.items is None and self.table is not None:
            return [BankPayment(**row) for row in self.table.slice(0, n).to_pylist()]
        return self.payments[:n]

    def to_table(self):
        """The payments as an Arrow table (PAYMENT_FIELDS), the shape the import writes."""
        if self.table is None:
            import pyarrow as pa

            items = self.payments
            self.table = pa.table({f: [getattr(p, f) for p in items] for f in PAYMENT_FIELDS}, schema=payment_schema())
        return self.table

    def __len__(self) -> int:
        return len(self.items) if self.items is not None else (self.table.num_rows if self.table is not None else 0)

    def sums(self) -> dict[tuple[str | None, str], tuple[int, Decimal]]:
        """(our account, direction) → (count, total); computed once (the payments do not change after parsing)."""
        if self._sums is not None:
            return self._sums
        result: dict[tuple[str | None, str], tuple[int, Decimal]] = {}
        if self.items is None and self.table is not None:
            grouped = self.table.group_by(["our_account", "direction"]).aggregate([("amount", "sum"), ("amount", "count")])
            for row in grouped.to_pylist():
                result[(row["our_account"], row["direction"])] = (row["amount_count"], row["amount_sum"].quantize(fields.KOPECK))
        else:
            for p in self.payments:
                n, total = result.get((p.our_account, p.direction), (0, Decimal("0.00")))
                result[(p.our_account, p.direction)] = (n + 1, total + p.amount)
        self._sums = result
        return result

    @property
    def incoming(self) -> int:
        return sum(n for (_, d), (n, _) in self.sums().items() if d == "in")

    @property
    def outgoing(self) -> int:
        return sum(n for (_, d), (n, _) in self.sums().items() if d == "out")

    def total(self, direction: str) -> Decimal:
        return sum((t for (_, d), (_, t) in self.sums().items() if d == direction), Decimal("0.00"))

    def fill_period(self) -> None:
        if len(self) and (self.period_from is None or self.period_to is None):
            if self.items is None:
                import pyarrow.compute as pc

                bounds = pc.min_max(self.table["doc_date"]).as_py()
                low, high = bounds["min"], bounds["max"]
            else:
                dates = [p.doc_date for p in self.items]
                low, high = min(dates), max(dates)
            self.period_from = self.period_from or low
            self.period_to = self.period_to or high


def parse_statement(data: bytes, name: str, default_account: str | None = None,
                    progress: Progress | None = None) -> ParsedStatement:
    """Recognise the format by content and parse the whole file (InputError on anything wrong)."""
    if not data:
        raise InputError(f"{name}: файл пуст")
    if len(data) > MAX_STATEMENT_BYTES:
        raise InputError(f"{name}: файл занимает {len(data) / 2**20:.0f} МБ, больше допустимых "
                         f"{MAX_STATEMENT_BYTES // 2**20} МБ")
    kind = detect_format(data)
    if kind == "1c":
        parsed = parse_1c(data, name, default_account, progress)
    elif kind == "camt053":
        parsed = parse_camt053(data, name)
    elif kind == "mt940":
        parsed = parse_mt940(data, name, default_account)
    elif kind == "xls":
        parsed = parse_table(read_xls(data, name), "xls", default_account)
    elif kind == "xml":
        raise InputError(f"{name}: это XML, но не выписка camt.053 (нет элемента BkToCstmrStmt)")
    else:
        sheet = read_sheet(data, name)
        parsed = parse_table(sheet, "xlsx" if data[:2] == b"PK" else "csv", default_account)
    parsed.fill_period()
    if not len(parsed):
        parsed.warnings.append(f"{name}: в выписке нет ни одного платежа")
    return parsed


def detect_format(data: bytes) -> str:
    """1c | xlsx | xls | camt053 | xml | mt940 | csv (the last one also for anything unrecognised)."""
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
    if re.search(rb"(^|[\r\n]):20:", stripped) and re.search(rb"[\r\n]:(25|60F|61):", stripped):
        return "mt940"
    return "csv"


def _problem(name: str, line: int | None, text: str) -> str:
    return f"{name}, строка {line}: {text}" if line else f"{name}: {text}"


# -- shared field helpers --------------------------------------------------------------------------

_INN_PREFIX = re.compile(r"^\s*(?:ИНН\s*)?\d{10,12}\s*[,;]?\s*", re.IGNORECASE)
_ACCOUNT = re.compile(r"(?<!\d)\d{20}(?!\d)")
_BIK = re.compile(r"(?<!\d)04\d{7}(?!\d)")
_INN = re.compile(r"(?<!\d)(\d{12}|\d{10})(?!\d)")


def _text(value: Any) -> str | None:
    text = fields.clean_text(value)
    return text or None


def _digits(value: Any) -> str | None:
    """An account, INN or BIK as digits; placeholders like "0" become None."""
    text = fields.clean_text(value).replace(" ", "")
    if not text or set(text) <= {"0"}:
        return None
    return text


def strip_inn_prefix(name: str | None) -> str | None:
    """"ИНН 7719617469 ОАО Крокус" and "7719617469, ООО Ромашка" → the name alone."""
    if not name:
        return None
    return _text(_INN_PREFIX.sub("", name, count=1)) or _text(name)


def join_purpose(base: str | None, lines: Iterable[str | None]) -> str | None:
    """НазначениеПлатежа continued in НазначениеПлатежа1..n; repeats of what is already there are dropped."""
    text = fields.clean_text(base)
    for line in lines:
        part = fields.clean_text(line)
        if not part:
            continue
        if not text:
            text = part
        elif part in text:
            continue
        elif part.startswith(text):   # base was a truncated copy of the lines
            text = part
        else:
            text = f"{text} {part}"
    return text or None


# -- 1CClientBankExchange -----------------------------------------------------------------------------

_1C_MARKERS = ("ВерсияФормата", "Кодировка", "СекцияДокумент", "КонецФайла", "СекцияРасчСчет")
_CHUNK = 4 * 1024 * 1024
_DOC_KEYS = ("Номер", "Дата", "Сумма", "ПлательщикСчет", "ПлательщикРасчСчет", "Плательщик", "Плательщик1",
             "ПлательщикИНН", "ПлательщикБИК", "ПолучательСчет", "ПолучательРасчСчет", "Получатель", "Получатель1",
             "ПолучательИНН", "ПолучательБИК", "ДатаСписано", "ДатаПоступило", r"НазначениеПлатежа\d?")
# Only the keys we keep are picked from a document (a regex per document is much faster than a loop per line).
_DOC_LINE = re.compile(r"\n[ \t]*(%s)[ \t]*=([^\r\n]*)" % "|".join(_DOC_KEYS))
_KEYLESS_LINE = re.compile(r"^[ \t]*[^\s=][^=\r\n]*\r?$", re.M)
_PURPOSE_LINES = tuple(f"НазначениеПлатежа{i}" for i in range(1, 10))
_BALANCE_KEYS = ("НачальныйОстаток", "ВсегоПоступило", "ВсегоСписано", "КонечныйОстаток")


def _1c_encoding(data: bytes, name: str) -> tuple[str, int]:
    """(codec, offset of the text): the bytes decide; the Кодировка line only breaks a tie."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    head = data[:65536]
    cut = head.rfind(b"\n")
    if cut > 0 and len(data) > len(head):
        head = head[:cut]
    candidates = []
    for codec in ("utf-8", "cp1251", "cp866"):
        try:
            text = head.decode(codec)
        except UnicodeDecodeError:
            continue
        if any(marker in text for marker in _1C_MARKERS):
            candidates.append((codec, text))
    if not candidates and any(m in head.decode("utf-8", errors="replace") for m in _1C_MARKERS):
        return "utf-8", 0   # mostly UTF-8: the strict decoding names the line that is not
    if not candidates:
        raise InputError(f"{name}: не удалось определить кодировку файла 1С (ожидается Windows-1251, DOS-866 "
                         f"или UTF-8): служебные строки не читаются")
    if len(candidates) > 1:
        declared = re.search(r"Кодировка\s*=\s*(\S+)", candidates[0][1])
        if declared and declared.group(1).lower() == "dos":
            return "cp866", 0
    return candidates[0][0], 0


class _LineCounter:
    """Line numbers of positions in a chunk, counted forward only (positions come in increasing order)."""

    __slots__ = ("text", "pos", "line")

    def __init__(self, text: str, base: int):
        self.text, self.pos, self.line = text, 0, base

    def at(self, pos: int) -> int:
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


@dataclass
class _1CState:
    name: str
    header: dict[str, str] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    section: dict[str, Any] | None = None
    docs: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    payments: list[BankPayment] = field(default_factory=list)
    table: Any = None
    started: bool = False
    ended: bool = False
    trailing: bool = False
    dated_docs: int = 0


COLUMNAR_MIN_BYTES = 256 * 1024   # smaller files go straight to the line-by-line reader


def parse_1c(data: bytes, name: str, default_account: str | None = None,
             progress: Progress | None = None) -> ParsedStatement:
    """A 1CClientBankExchange file. Big files are read column-wise (Arrow); whenever that reader meets anything
    unusual it gives up and the line-by-line reader, which names every problem, reads the file instead."""
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.find(b"\x00")) + 1
        raise InputError(f"{name}, строка {line}: двоичные данные (нулевые байты) — это не текстовый файл 1С")
    codec, offset = _1c_encoding(data, name)
    if len(data) >= COLUMNAR_MIN_BYTES:
        parsed = _1c_columnar(data, name, codec, offset, default_account, progress)
        if parsed is not None:
            return parsed
    st = _1CState(name=name)
    for text, line_base in _1c_chunks(data, name, codec, offset, progress):
        _1c_chunk(st, text, line_base)
        _1c_convert(st, default_account)
    _1c_finish(st)
    return _1c_statement(st, default_account)


def _1c_finish(st: _1CState) -> None:
    name = st.name
    if not st.started:
        raise InputError(f"{name}: первая строка должна быть 1CClientBankExchange")
    if st.section is not None:
        st.problems.append(_problem(name, st.section["line"], "секция СекцияРасчСчет не закончена (нет КонецРасчСчет)"))
    if not st.ended:
        st.problems.append(f"{name}: нет строки КонецФайла — файл обрезан или записан не до конца")
    if st.problems:
        raise InputError(st.problems, name)


def _utf8_cyrillic_at(chunk: bytes) -> int | None:
    """Offset of two UTF-8 Cyrillic letters in a row (never seen in cp1251/cp866 text), or None."""
    import numpy as np

    a = np.frombuffer(chunk, np.uint8)
    if len(a) < 4:
        return None
    lead = np.flatnonzero((a[:-3] & 0xFE) == 0xD0)   # the rare candidates first, then the three bytes after them
    hits = lead[((a[lead + 1] & 0xC0) == 0x80) & ((a[lead + 2] & 0xFE) == 0xD0) & ((a[lead + 3] & 0xC0) == 0x80)]
    return int(hits[0]) if len(hits) else None


def _1c_spans(data: bytes, codec: str, offset: int):
    """(start, end) of pieces of about _CHUNK bytes, each ending at a line end after a КонецДокумента."""
    end_marker = "КонецДокумента".encode(codec)
    pos, total = offset, len(data)
    while pos < total:
        end = pos + _CHUNK
        if end >= total:
            end = total
        else:
            k = data.rfind(end_marker, pos, end)
            if k == -1:
                k = data.find(end_marker, end)
            nl = data.find(b"\n", k) if k != -1 else -1
            end = total if nl == -1 else nl + 1
        yield pos, end
        pos = end


def _1c_chunks(data: bytes, name: str, codec: str, offset: int, progress: Progress | None):
    """(text, number of its first line) for each piece of _1c_spans, decoded and checked."""
    line_base, total = 1, len(data)
    for pos, end in _1c_spans(data, codec, offset):
        chunk = data[pos:end]
        if codec != "utf-8":
            bad = _utf8_cyrillic_at(chunk)
            if bad is not None:
                raise InputError(_problem(name, line_base + chunk.count(b"\n", 0, bad),
                                          f"текст в UTF-8 внутри файла в кодировке {codec} — смешаны кодировки"))
        try:
            text = chunk.decode(codec)
        except UnicodeDecodeError as exc:
            line = line_base + chunk.count(b"\n", 0, exc.start)
            raise InputError(_problem(name, line, f"байты не в кодировке {codec.upper()} — файл повреждён "
                                                  f"или смешаны кодировки")) from None
        yield text, line_base
        line_base += text.count("\n")
        if progress:
            progress(0.6 * end / total, "Чтение выписки…")


def _1c_chunk(st: _1CState, text: str, line_base: int) -> None:
    """Parse one chunk (it always ends at a line end, after a whole document)."""
    pos = 0
    n = len(text)
    lines = _LineCounter(text, line_base)
    while pos < n:
        start = text.find("СекцияДокумент", pos)
        while start > 0 and text[start - 1] not in "\n \t\ufeff":
            start = text.find("СекцияДокумент", start + 1)
        gap_end = n if start == -1 else text.rfind("\n", 0, start) + 1
        if gap_end > pos:
            _1c_lines(st, text[pos:gap_end], lines.at(pos))
        if start == -1:
            return
        doc_line = lines.at(start)
        if st.ended:
            st.problems.append(_problem(st.name, doc_line, "документ после строки КонецФайла"))
        if not st.started:
            raise InputError(f"{st.name}: первая строка должна быть 1CClientBankExchange")
        head_end = text.find("\n", start)
        head_end = n if head_end == -1 else head_end
        kind = text[start:head_end].partition("=")[2].strip()
        finish = text.find("КонецДокумента", head_end)
        while finish != -1 and text[text.rfind("\n", 0, finish) + 1:finish].strip():
            finish = text.find("КонецДокумента", finish + 1)
        body = text[head_end:finish if finish != -1 else n]
        nested = body.find("СекцияДокумент")
        if finish == -1 or nested != -1:
            raise InputError(_problem(st.name, doc_line, "документ не закончен (нет КонецДокумента) — файл обрезан"))
        doc = dict(_DOC_LINE.findall(body))
        lines_in_body = body.count("\n") - 1 - body.count("\n\n") - body.count("\n\r\n")
        keyless = _KEYLESS_LINE.search(body) if body.count("=") < lines_in_body else None
        if keyless:
            bad_line = doc_line + body.count("\n", 0, keyless.start())
            st.problems.append(_problem(st.name, bad_line, f"строка «{keyless.group(0).strip()[:60]}» не по формату "
                                                           f"1С (ожидается Ключ=Значение)"))
        st.docs.append((doc_line, kind, doc))
        line_end = text.find("\n", finish)
        pos = n if line_end == -1 else line_end + 1


def _1c_lines(st: _1CState, text: str, first_line: int) -> None:
    """Lines outside documents: the file header, СекцияРасчСчет blocks, КонецФайла."""
    for i, raw in enumerate(text.split("\n")):
        _1c_line(st, raw.strip().lstrip("\ufeff"), first_line + i)


def _1c_line(st: _1CState, line: str, number: int) -> None:
    if not line:
        return
    if not st.started:
        if line != "1CClientBankExchange":
            raise InputError(f"{st.name}: первая строка должна быть 1CClientBankExchange")
        st.started = True
        return
    if st.ended:
        if not st.trailing:
            st.warnings.append(_problem(st.name, number, "строки после КонецФайла пропущены"))
            st.trailing = True
        return
    if line == "КонецФайла":
        st.ended = True
        return
    if line == "СекцияРасчСчет":
        st.section = {"line": number}
        return
    if line == "КонецРасчСчет":
        if st.section is None:
            st.problems.append(_problem(st.name, number, "КонецРасчСчет без СекцияРасчСчет"))
        else:
            st.sections.append(st.section)
            st.section = None
        return
    if line == "КонецДокумента":
        st.problems.append(_problem(st.name, number, "КонецДокумента без СекцияДокумент"))
        return
    key, eq, value = line.partition("=")
    if not eq:
        st.problems.append(_problem(st.name, number, f"строка «{line[:60]}» не по формату 1С (ожидается Ключ=Значение)"))
        return
    key, value = key.strip(), value.strip()
    target = st.section if st.section is not None else st.header
    if key == "РасчСчет" and value:
        if value not in st.accounts:
            st.accounts.append(value)
        if st.section is None:
            return
    target[key] = value
    if st.section is not None:
        st.section.setdefault("lines", {})[key] = number


_DATES: dict[str, date] = {}
_PLAIN_AMOUNT = re.compile(r"\d{1,15}(?:\.\d{1,2})?")


def _date_1c(value: str | None) -> date:
    """DD.MM.YYYY, cached (a statement has few distinct dates); anything else through fields.parse_date."""
    value = (value or "").strip()
    found = _DATES.get(value)
    if found is None:
        found = fields.parse_date(value)
        if len(_DATES) < 10000:
            _DATES[value] = found
    return found


def _amount_1c(value: str | None) -> Decimal:
    value = (value or "").strip()
    if _PLAIN_AMOUNT.fullmatch(value):
        return Decimal(value).quantize(fields.KOPECK)
    return fields.money(value)


def _account_1c(value: str | None) -> str | None:
    """Digits of an account, INN or BIK; empty and "0" placeholders become None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return None if value.count("0") == len(value) else value
    return _digits(value)


def _value(value: str | None) -> str | None:
    return (value.strip() or None) if value else None


def _optional_date(value: str | None) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return _date_1c(value)
    except ValueError:
        return None


def _1c_convert(st: _1CState, default_account: str | None) -> None:
    """Turn the documents read so far into payments (after each chunk, so raw documents never pile up).

    Our accounts come from the header and СекцияРасчСчет, which precede the documents. A document is incoming
    when its ПолучательСчет is one of them; every other document is outgoing.
    """
    own = set(st.accounts) or ({default_account} if default_account else set())
    name, payments, problems = st.name, st.payments, st.problems
    for line, kind, d in st.docs:
        if d.get("ДатаСписано") or d.get("ДатаПоступило"):
            st.dated_docs += 1
        number = d.get("Номер", "?")
        try:
            doc_date = _date_1c(d.get("Дата"))
        except ValueError as exc:
            problems.append(_problem(name, line, f"документ № {number}: поле «Дата»: {exc}"))
            continue
        try:
            amount = _amount_1c(d.get("Сумма"))
        except ValueError as exc:
            problems.append(_problem(name, line, f"документ № {number}: поле «Сумма»: {exc}"))
            continue
        if amount <= 0:
            problems.append(_problem(name, line, f"документ № {number}: сумма должна быть больше нуля"))
            continue
        payer_acc = _account_1c(d.get("ПлательщикСчет") or d.get("ПлательщикРасчСчет"))
        payee_acc = _account_1c(d.get("ПолучательСчет") or d.get("ПолучательРасчСчет"))
        incoming = payee_acc is not None and payee_acc in own
        if incoming:
            our = payee_acc
        elif payer_acc in own:
            our = payer_acc
        else:
            our = st.accounts[0] if st.accounts else default_account
        posted = d.get("ДатаПоступило") if incoming else d.get("ДатаСписано")
        continued = [d[k] for k in _PURPOSE_LINES if k in d]
        payments.append(BankPayment(
            line, doc_date, _value(d.get("Номер")), amount, "in" if incoming else "out", our,
            _value(d.get("Плательщик1")) or strip_inn_prefix(d.get("Плательщик")),
            _account_1c(d.get("ПлательщикИНН")), payer_acc, _account_1c(d.get("ПлательщикБИК")),
            _value(d.get("Получатель1")) or strip_inn_prefix(d.get("Получатель")),
            _account_1c(d.get("ПолучательИНН")), payee_acc, _account_1c(d.get("ПолучательБИК")),
            join_purpose(d.get("НазначениеПлатежа"), continued),
            kind or None, _optional_date(posted) if posted else None,
        ))
    st.docs.clear()


def _1c_statement(st: _1CState, default_account: str | None) -> ParsedStatement:
    name = st.name
    if not st.sections and (st.payments or st.table is not None) and not st.dated_docs:
        sender = st.header.get("Отправитель") or "программа бухгалтерии"
        raise InputError(f"{name}: это платёжные поручения для отправки в банк (Отправитель={sender}), а не выписка: "
                         f"в файле нет остатков по счёту (СекцияРасчСчет) и отметок банка о проведении. "
                         f"Загрузите выписку, полученную из банка")
    if not st.accounts and not default_account:
        raise InputError(f"{name}: в файле не указан расчётный счёт (РасчСчет), и в настройках кооператива его нет")
    parsed = ParsedStatement(
        name=name, format="1c", items=None if st.table is not None else st.payments, table=st.table,
        our_account=st.accounts[0] if st.accounts else default_account,
        accounts=list(st.accounts) or [default_account],
        period_from=_optional_date(st.header.get("ДатаНачала")), period_to=_optional_date(st.header.get("ДатаКонца")),
        warnings=list(st.warnings),
    )
    version = st.header.get("ВерсияФормата")
    if version and version not in ("1.01", "1.02", "1.03"):
        parsed.warnings.append(f"{name}: версия формата {version} (ожидается 1.01–1.03); файл прочитан как 1.03")
    _check_1c_balances(st, parsed)
    return parsed


def _check_1c_balances(st: _1CState, parsed: ParsedStatement) -> None:
    """НачальныйОстаток + ВсегоПоступило − ВсегоСписано = КонечныйОстаток, and the totals against documents."""
    for section in st.sections:
        values: dict[str, Decimal] = {}
        for key in _BALANCE_KEYS:
            if section.get(key, "") == "":
                continue
            try:
                values[key] = fields.money(section[key])
            except ValueError:
                parsed.warnings.append(_problem(st.name, section.get("lines", {}).get(key),
                                                f"остаток «{key}» не разобран: «{section[key]}»"))
        account = section.get("РасчСчет")
        where = _problem(st.name, section["line"], f"счёт {account}" if account else "остатки")
        if account == (st.accounts[0] if st.accounts else None):
            parsed.opening_balance = values.get("НачальныйОстаток")
            parsed.closing_balance = values.get("КонечныйОстаток")
        if len(values) == 4:
            expected = values["НачальныйОстаток"] + values["ВсегоПоступило"] - values["ВсегоСписано"]
            if expected != values["КонечныйОстаток"]:
                parsed.warnings.append(
                    f"{where}: остатки не сходятся: {rub(values['НачальныйОстаток'])} + {rub(values['ВсегоПоступило'])} − "
                    f"{rub(values['ВсегоСписано'])} = {rub(expected)}, а КонечныйОстаток {rub(values['КонечныйОстаток'])}")
        sums = parsed.sums()
        for key, direction, label in (("ВсегоПоступило", "in", "поступлений"), ("ВсегоСписано", "out", "списаний")):
            if key in values:
                got = sums.get((account, direction), (0, Decimal("0.00")))[1]
                if got != values[key]:
                    parsed.warnings.append(f"{where}: сумма {label} по документам {rub(got)} не равна {key} "
                                           f"{rub(values[key])} (выписка неполная или счета обезличены)")


rub = money  # 1 234,56 (ledger/formats.py)


# -- the columnar 1C reader (big files) -----------------------------------------------------------------------

_WANTED_1C = ("Номер", "Дата", "Сумма", "ПлательщикСчет", "ПлательщикРасчСчет", "Плательщик", "Плательщик1",
              "ПлательщикИНН", "ПлательщикБИК", "ПолучательСчет", "ПолучательРасчСчет", "Получатель", "Получатель1",
              "ПолучательИНН", "ПолучательБИК", "ДатаСписано", "ДатаПоступило", "НазначениеПлатежа") + _PURPOSE_LINES
_WS_RE2 = r"[\s\x{00A0}]+"
_INN_PREFIX_RE2 = r"^(?i:ИНН\s*)?\d{10,12}\s*[,;]?\s*"


class _Unusual(Exception):
    """The columnar reader met something only the line-by-line reader explains well."""


def _1c_columnar(data: bytes, name: str, codec: str, offset: int, default_account: str | None,
                 progress: Progress | None) -> ParsedStatement | None:
    """Read documents column-wise from the file's own bytes (numpy and Arrow, no Python loop per line, no decoding
    of lines we do not keep); None means "use the other reader".

    The pieces are read by two threads (numpy and Arrow let go of the GIL); the lines outside documents (header,
    account sections, КонецФайла) are then fed to the state in file order by this thread. Documents are turned
    into payments with the accounts the first piece declared: a later piece that declares another account sends
    the file to the line-by-line reader.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    if codec == "cp1251" and b"\x98" in data:   # the one byte cp1251 lacks: the line reader names its line
        return None
    # Arrow's bundled mimalloc keeps what the two reader threads freed (about 50 MB more at the peak of a
    # 100,000-document import); the system allocator gives it back. Buffers remember their pool, so switching
    # the process's default is safe at any time.
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
    keys = _key_table(codec)
    st = _1CState(name=name)
    spans = list(_1c_spans(data, codec, offset))
    bases, line = [], 1
    for pos, end in spans:
        bases.append(line)
        line += data.count(b"\n", pos, end)
    tables, total = [], len(data)

    def read(k: int, accounts: list[str] | None) -> _ScannedChunk:
        pos, end = spans[k]
        scanned = _1c_columnar_scan(keys, data, pos, end, bases[k])
        if accounts is not None and scanned.raw.num_rows:
            scanned.table, scanned.dated = _1c_columnar_payments(accounts, scanned.raw, default_account)
            scanned.raw = None
        return scanned

    def take(k: int, scanned: _ScannedChunk) -> None:
        _1c_columnar_outside(st, scanned)
        if scanned.raw is not None and scanned.raw.num_rows:   # the first piece: its header gives our accounts
            scanned.table, scanned.dated = _1c_columnar_payments(st.accounts, scanned.raw, default_account)
        if scanned.table is not None:
            tables.append(scanned.table)
            st.dated_docs += scanned.dated
        if progress:
            progress(0.6 * spans[k][1] / total, "Чтение выписки…")

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="1c-reader") if len(spans) > 1 else None
    try:
        take(0, read(0, None))
        accounts = list(st.accounts)
        pending: deque = deque()
        for k in range(1, len(spans)):
            pending.append((k, pool.submit(read, k, accounts)))
            if len(pending) > 4:   # a few pieces ahead, not the whole file in memory at once
                j, future = pending.popleft()
                take(j, future.result())
        while pending:
            j, future = pending.popleft()
            take(j, future.result())
        if st.accounts != accounts or not st.started or st.section is not None or not st.ended or st.problems:
            return None
        st.table = pa.concat_tables(tables) if tables else None
    except _Unusual:
        return None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if st.table is None:
        return None
    return _1c_statement(st, default_account)


_KEY_WORDS = 5                     # keys are told apart by up to 40 bytes (the longest we want is 36 in UTF-8)
_KEY_PAD = 8 * _KEY_WORDS + 16     # zero bytes after a chunk, so reading a key's words never runs off its end
_BYTE_MASKS = [(1 << (8 * r)) - 1 for r in range(9)]


class _KeyTable:
    """The 1C keys the columnar reader wants, as bytes in one codec, recognised for many lines at once."""

    def __init__(self, codec: str):
        import numpy as np

        self.codec = codec
        self.names = ("СекцияДокумент", "КонецДокумента") + _WANTED_1C
        encoded = [k.encode(codec) for k in self.names]
        buf = np.zeros(sum(len(e) for e in encoded) + _KEY_PAD, np.uint8)
        starts, at = [], 0
        for e in encoded:
            buf[at:at + len(e)] = np.frombuffer(e, np.uint8)
            starts.append(at)
            at += len(e)
        self.word_count = -(-max(map(len, encoded)) // 8)
        self.lengths = np.array([len(e) for e in encoded], np.int64)
        self.words = self.key_words(buf, np.array(starts, np.int64), self.lengths)
        hashes = self.hash(self.words, self.lengths)
        self.order = np.argsort(hashes)
        self.sorted = hashes[self.order]

    def key_words(self, buf, starts, lengths):
        """Each key's first 8 * word_count bytes as little-endian words, bytes past its end zeroed."""
        import numpy as np

        view = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))   # a word at every byte
        masks = np.array(_BYTE_MASKS, np.uint64)
        return [view[starts + 8 * j] & masks[np.clip(lengths - 8 * j, 0, 8)] for j in range(self.word_count)]

    @staticmethod
    def hash(words, lengths):
        import numpy as np

        h = lengths.astype(np.uint64)
        for word in words:
            h = (h * np.uint64(0x9E3779B97F4A7C15)) ^ word
            h ^= h >> np.uint64(29)
        return h

    def codes(self, buf, starts, lengths):
        """Index into self.names of each key, -1 for any other key (compared byte for byte, not just hashed)."""
        import numpy as np

        fits = lengths <= 8 * self.word_count
        lengths = np.where(fits, lengths, 0)
        words = self.key_words(buf, starts, lengths)
        h = self.hash(words, lengths)
        at = np.minimum(np.searchsorted(self.sorted, h), len(self.sorted) - 1)
        hit = fits & (self.sorted[at] == h)
        codes = np.where(hit, self.order[at], -1)
        found = np.flatnonzero(hit)
        same = lengths[found] == self.lengths[codes[found]]
        for mine, theirs in zip(words, self.words):
            same &= mine[found] == theirs[codes[found]]
        codes[found[~same]] = -1
        return codes


_KEY_TABLES: dict[str, _KeyTable] = {}


def _key_table(codec: str) -> _KeyTable:
    if codec not in _KEY_TABLES:
        _KEY_TABLES[codec] = _KeyTable(codec)
    return _KEY_TABLES[codec]


_BLANK_BYTES = [9, 11, 12, 13, 32]


def _trim(buf, blank, lo, hi, start: bool = True) -> None:
    """Move line starts `lo` forward (unless start is False) and ends `hi` back over blank bytes, in place,
    vectorised over lines."""
    import numpy as np

    if start:
        idx = np.flatnonzero(blank[buf[lo]] & (lo < hi))
        while len(idx):
            lo[idx] += 1
            idx = idx[(lo[idx] < hi[idx]) & blank[buf[lo[idx]]]]
    idx = np.flatnonzero(blank[buf[hi - 1]] & (hi > lo))
    while len(idx):
        hi[idx] -= 1
        idx = idx[(hi[idx] > lo[idx]) & blank[buf[hi[idx] - 1]]]


@dataclass
class _ScannedChunk:
    """One piece of a 1C file read column-wise: the wanted values per document (raw) or, once converted, the
    payments (table); the lines outside documents; where its documents are."""

    raw: Any
    outside: list[tuple[int, str]]
    line_base: int
    docs: int
    last_end: int
    table: Any = None
    dated: int = 0


def _1c_columnar_scan(keys: _KeyTable, data: bytes, pos: int, end: int, line_base: int) -> _ScannedChunk:
    """data[pos:end] (bytes in keys.codec, whole documents) → its documents' wanted values, without touching any
    state, so pieces can be read side by side."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    chunk = np.frombuffer(data, np.uint8, end - pos, pos)
    if keys.codec == "utf-8":
        try:
            pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([pos, end], np.int64)),
                                             pa.py_buffer(data)).validate(full=True)
        except pa.ArrowInvalid:
            raise _Unusual() from None
    elif _utf8_cyrillic_at(chunk) is not None:
        raise _Unusual()
    size = len(chunk)
    buf = np.zeros(size + _KEY_PAD, np.uint8)
    buf[:size] = chunk
    blank = np.zeros(256, dtype=bool)
    blank[_BLANK_BYTES] = True
    newlines = np.flatnonzero(chunk == 10)
    lo = np.concatenate(([0], newlines + 1)).astype(np.int64)
    hi = np.concatenate((newlines, [size])).astype(np.int64)
    if lo[-1] == size:   # the chunk ends with a line end
        lo, hi = lo[:-1], hi[:-1]
    n = len(lo)
    hi -= (buf[hi - 1] == 13) & (hi > lo)   # CR LF line ends
    _trim(buf, blank, lo, hi)
    eqs = np.flatnonzero(chunk == 61)
    first_eq = np.searchsorted(eqs, lo)
    eq_at = eqs[np.minimum(first_eq, len(eqs) - 1)] if len(eqs) else np.zeros(n, np.int64)
    has_eq = (first_eq < len(eqs)) & (eq_at < hi)
    key_end = np.where(has_eq, eq_at, hi)
    _trim(buf, blank, lo, key_end, start=False)
    codes = keys.codes(buf, lo, key_end - lo)
    blank_line = lo == hi
    starts = (codes == 0) & has_eq
    ends = (codes == 1) & ~has_eq
    first, last = np.flatnonzero(starts), np.flatnonzero(ends)
    if len(first) != len(last) or (len(first) and (np.any(first >= last) or np.any(last[:-1] >= first[1:]))):
        raise _Unusual()
    opened = np.cumsum(starts) - np.cumsum(ends) + ends
    inside = opened == 1
    if np.any(inside & ~has_eq & ~starts & ~ends & ~blank_line):
        raise _Unusual()
    outside = [(int(i), chunk[lo[i]:hi[i]].tobytes().decode(keys.codec).strip().lstrip("\ufeff"))
               for i in np.flatnonzero(~inside & ~blank_line)]
    # the values we keep (the document kind and the wanted keys inside documents), each with its line end,
    # copied next to each other by Arrow, made UTF-8 in one go, then cut at the line ends again
    keep = inside & has_eq & (starts | (codes >= 2))
    kept = np.flatnonzero(keep)
    bounds = np.empty(2 * len(kept), np.int64)
    bounds[0::2] = eq_at[kept] + 1
    bounds[1::2] = newlines[kept] + 1   # a kept line is inside a document, so a line end follows it
    size = int(bounds[1::2].sum() - bounds[0::2].sum())
    text = b""
    if size:   # pieces: value, the bytes up to the next value, value, …; the even ones are what we keep
        pieces = pa.Array.from_buffers(pa.large_binary(), len(bounds) - 1,
                                       [None, pa.py_buffer(bounds), pa.py_buffer(buf)])
        text = pieces.take(pa.array(np.arange(0, len(bounds) - 1, 2))).buffers()[2].to_pybytes()[:size]
    if keys.codec != "utf-8":
        text = text.decode(keys.codec).encode("utf-8")
    offsets = np.concatenate(([0], np.flatnonzero(np.frombuffer(text, np.uint8) == 10) + 1)).astype(np.int64)
    values = pc.utf8_trim_whitespace(pa.LargeStringArray.from_buffers(
        len(kept), pa.py_buffer(offsets), pa.py_buffer(text)))
    value_of_line = np.cumsum(keep) - 1
    doc_of_line = np.cumsum(starts) - 1
    ndocs = len(first)
    columns = {"line": pa.array(line_base + first, pa.int32()), "kind": values.take(pa.array(value_of_line[first]))}
    wanted = kept[codes[kept] >= 2]
    wanted = wanted[np.argsort(codes[wanted], kind="stable")]
    cuts = np.searchsorted(codes[wanted], np.arange(2, len(keys.names) + 1))
    for i, key in enumerate(keys.names[2:]):
        where = wanted[cuts[i]:cuts[i + 1]]
        pick = np.full(ndocs, -1, dtype=np.int64)
        pick[doc_of_line[where]] = value_of_line[where]
        columns[key] = values.take(pa.array(pick, mask=pick < 0))
    return _ScannedChunk(raw=pa.table(columns), outside=outside, line_base=line_base, docs=ndocs,
                         last_end=int(last[-1]) if ndocs else -1)


def _1c_columnar_outside(st: _1CState, scanned: _ScannedChunk) -> None:
    """The lines outside documents of one piece, in file order: header, account sections, КонецФайла."""
    for i, text in scanned.outside:
        _1c_line(st, text, scanned.line_base + i)
        if st.ended and scanned.docs and i < scanned.last_end or (scanned.docs and not st.started):
            raise _Unusual()
    if scanned.docs and not st.started:
        raise _Unusual()


def _1c_columnar_payments(accounts: list[str], raw, default_account: str | None):
    """The wanted values per document → payments (PAYMENT_FIELDS) and the number of documents the bank dated."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    null = pa.scalar(None, pa.large_string())

    def nz(a):
        return pc.if_else(pc.equal(a, ""), null, a)

    def digits(a):
        a = nz(pc.replace_substring(a, " ", ""))
        return pc.if_else(pc.match_substring_regex(a, "^0+$"), null, a)

    def collapse(a):
        if pc.any(pc.match_substring_regex(a, r"\s\s|[^ \S]|\x{00A0}")).as_py():   # else nothing to collapse
            a = pc.replace_substring_regex(a, _WS_RE2, " ")
        return nz(pc.utf8_trim_whitespace(a))

    def day(a):
        return pc.cast(pc.strptime(a, format="%d.%m.%Y", unit="s", error_is_null=True), pa.date32())

    doc_date = day(raw["Дата"])
    amounts = raw["Сумма"]
    if doc_date.null_count or amounts.null_count or \
            not pc.all(pc.match_substring_regex(amounts, r"^\d{1,15}(\.\d{1,2})?$")).as_py():
        raise _Unusual()
    amount = pc.cast(amounts, pa.decimal128(18, 2))
    if pc.any(pc.less_equal(amount, pa.scalar(Decimal("0.00"), pa.decimal128(18, 2)))).as_py():
        raise _Unusual()
    own = accounts or ([default_account] if default_account else [])
    own_set = pa.array(own, pa.large_string())
    payer_acc = digits(pc.coalesce(nz(raw["ПлательщикСчет"]), nz(raw["ПлательщикРасчСчет"])))
    payee_acc = digits(pc.coalesce(nz(raw["ПолучательСчет"]), nz(raw["ПолучательРасчСчет"])))
    incoming = pc.fill_null(pc.is_in(payee_acc, value_set=own_set), False)
    payer_ours = pc.fill_null(pc.is_in(payer_acc, value_set=own_set), False)
    fallback = pa.scalar(accounts[0] if accounts else default_account, pa.large_string())
    our = pc.if_else(incoming, payee_acc, pc.if_else(payer_ours, payer_acc, fallback))
    posted_raw = pc.if_else(incoming, raw["ДатаПоступило"], raw["ДатаСписано"])
    dated = pc.or_(pc.fill_null(pc.greater(pc.utf8_length(raw["ДатаСписано"]), 0), False),
                   pc.fill_null(pc.greater(pc.utf8_length(raw["ДатаПоступило"]), 0), False))
    dated_docs = pc.sum(pc.cast(dated, pa.int64())).as_py() or 0

    def name(first_col, full_col):
        first_col = nz(first_col)
        if not first_col.null_count:
            return first_col
        plain = collapse(full_col)
        stripped = collapse(pc.replace_substring_regex(full_col, _INN_PREFIX_RE2, "", max_replacements=1))
        return pc.coalesce(first_col, stripped, plain)

    purpose = collapse(raw["НазначениеПлатежа"])
    continued = np.zeros(raw.num_rows, dtype=bool)
    for key in _PURPOSE_LINES:
        continued |= pc.fill_null(pc.greater(pc.utf8_length(raw[key]), 0), False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(continued)
    if len(rows):
        texts = purpose.to_pylist()
        bases = raw["НазначениеПлатежа"].take(pa.array(rows)).to_pylist()
        parts = {key: raw[key].take(pa.array(rows)).to_pylist() for key in _PURPOSE_LINES}
        for j, row in enumerate(rows):
            texts[row] = join_purpose(bases[j], [parts[key][j] for key in _PURPOSE_LINES if parts[key][j] is not None])
        purpose = pa.array(texts, pa.large_string())
    columns = {
        "line": raw["line"], "doc_date": doc_date, "doc_number": nz(raw["Номер"]), "amount": amount,
        "direction": pc.if_else(incoming, "in", "out"), "our_account": our,
        "payer_name": name(raw["Плательщик1"], raw["Плательщик"]), "payer_inn": digits(raw["ПлательщикИНН"]),
        "payer_account": payer_acc, "payer_bik": digits(raw["ПлательщикБИК"]),
        "payee_name": name(raw["Получатель1"], raw["Получатель"]), "payee_inn": digits(raw["ПолучательИНН"]),
        "payee_account": payee_acc, "payee_bik": digits(raw["ПолучательБИК"]),
        "purpose": purpose, "doc_kind": nz(raw["kind"]), "posted_date": day(posted_raw),
    }
    schema = payment_schema()
    return pa.table([pc.cast(columns[f.name], f.type) for f in schema], schema=schema), dated_docs


# -- spreadsheets: Sber Business, VTB, any layout with recognisable headers --------------------------

TABLE_SYNONYMS: dict[str, list[str]] = {
    "date": ["Дата", "Дата операции", "Дата проводки", "Дата документа", "Дата платежа", "Дата списания/зачисления",
             "date"],
    "number": ["Номер", "№ документа", "Номер документа", "№ док", "№ док.", "Номер док", "№ платежного документа",
               "Номер платежного документа"],
    "kind": ["Вид операции", "ВО", "Шифр операции", "Тип документа", "Вид документа"],
    "counterparty": ["Контрагент", "Корреспондент", "Плательщик", "Наименование плательщика", "Плательщик/Получатель",
                     "Плательщик / получатель", "Наименование контрагента", "Наименование корреспондента"],
    "inn": ["ИНН контрагента", "ИНН", "ИНН плательщика", "ИНН корреспондента", "ИНН плательщика/получателя"],
    "bik": ["БИК банка контрагента", "БИК", "БИК банка", "БИК банка плательщика", "БИК банка корреспондента"],
    "account": ["Счет контрагента", "Счет плательщика", "Счет корреспондента", "Счет", "Расчетный счет контрагента",
                "Номер счета контрагента", "Счет плательщика/получателя"],
    "bank": ["Банк", "Банк (БИК и наименование)", "Банк контрагента", "Наименование банка"],
    "debit": ["Дебет", "Дебет, RUR", "Дебет, руб", "Дебет, руб.", "Списание", "Расход", "Сумма по дебету",
              "Сумма списания", "Списано", "Сумма по дебету, руб"],
    "credit": ["Кредит", "Кредит, RUR", "Кредит, руб", "Кредит, руб.", "Поступление", "Приход", "Сумма по кредиту",
               "Сумма поступления", "Зачислено", "Сумма по кредиту, руб"],
    "amount": ["Сумма", "Сумма операции", "Сумма, руб", "Сумма, руб.", "Сумма RUR", "Сумма платежа"],
    "direction": ["Направление", "Тип операции", "Приход/расход", "Дебет/Кредит", "Д/К"],
    "purpose": ["Назначение", "Назначение платежа", "Основание", "Описание", "Детали платежа", "Комментарий",
                "Основание операции (назначение платежа)"],
}
_FOOTER = re.compile(r"^(итог|всего|обороты|остаток|входящий остаток|исходящий остаток|количество операций|сальдо)")
_PERIOD = re.compile(r"(\d{2}\.\d{2}\.\d{4})\s*(?:г\.?)?\s*(?:по|-|—|–)\s*(\d{2}\.\d{2}\.\d{4})")


def read_xls(data: bytes, name: str) -> Sheet:
    """The first non-empty sheet of an Excel 97–2003 workbook (xlrd), merged ranges filled like read_xlsx."""
    import xlrd

    try:
        try:
            book = xlrd.open_workbook(file_contents=data, formatting_info=True)
        except NotImplementedError:
            book = xlrd.open_workbook(file_contents=data)
    except Exception as exc:  # xlrd raises many kinds on broken files
        raise InputError(f"{name}: не удалось прочитать файл Excel .xls ({type(exc).__name__})") from None
    sheets = book.sheets()
    ws = next((s for s in sheets if s.nrows > 1), sheets[0])
    grid: list[list[Any]] = []
    for r in range(ws.nrows):
        row = []
        for c in range(ws.ncols):
            cell = ws.cell(r, c)
            if cell.ctype == xlrd.XL_CELL_DATE:
                try:
                    row.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                except Exception:
                    row.append(cell.value)
            elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                row.append(None)
            else:
                row.append(cell.value)
        grid.append(row)
    for r0, r1, c0, c1 in getattr(ws, "merged_cells", []):
        top_left = grid[r0][c0]
        for r in range(r0, r1):
            for c in range(c0, c1):
                grid[r][c] = top_left
    label = name if len(sheets) == 1 else f"{name} (лист «{ws.name}»)"
    return Sheet(name=label, rows=[(i + 1, row) for i, row in enumerate(grid)])


def _sber_header(sheet: Sheet) -> tuple[int, int, dict[str, int]] | None:
    """(header row, first data row, field -> column) of the Sber Business layout, or None."""
    from .spreadsheets import HEADER_SCAN_ROWS

    rows = sheet.rows[:HEADER_SCAN_ROWS + 1]
    for i, (number, values) in enumerate(rows):
        texts = [normalize_header(v) for v in values]
        if "дата проводки" not in texts or "сумма по дебету" not in texts or "сумма по кредиту" not in texts:
            continue
        cols = {"date": texts.index("дата проводки"), "debit": texts.index("сумма по дебету"),
                "credit": texts.index("сумма по кредиту")}
        for fld, title in (("number", "№ документа"), ("kind", "во"), ("bank", "банк бик и наименование"),
                           ("purpose", "назначение платежа")):
            if normalize_header(title) in texts:
                cols[fld] = texts.index(normalize_header(title))
        account_cols = [j for j, t in enumerate(texts) if t == "счет"]
        data_from = number + 1
        if i + 1 < len(rows):
            below = [normalize_header(v) for v in rows[i + 1][1]]
            if "дебет" in below and "кредит" in below:
                cols["acc_debit"], cols["acc_credit"] = below.index("дебет"), below.index("кредит")
                data_from = rows[i + 1][0] + 1
        if "acc_debit" not in cols and len(account_cols) >= 2:
            cols["acc_debit"], cols["acc_credit"] = account_cols[0], account_cols[1]
        if "acc_debit" not in cols:
            return None
        return number, data_from, cols
    return None


def _party_cell(value: Any) -> tuple[str | None, str | None, str | None]:
    """Sber's "account\\nINN\\nname" cell → (account, INN, name)."""
    text = "" if value is None else str(value)
    account = inn = None
    rest = []
    for part in re.split(r"[\r\n]+", text):
        part = part.strip()
        if not part:
            continue
        if account is None and _ACCOUNT.fullmatch(part.replace(" ", "")):
            account = part.replace(" ", "")
        elif inn is None and _INN.fullmatch(part.replace(" ", "")):
            inn = part.replace(" ", "")
        else:
            rest.append(part)
    return account, inn, _text(" ".join(rest))


def _title_info(sheet: Sheet, before_row: int) -> tuple[str | None, date | None, date | None]:
    """Our account and period from the title rows above the header ("Выписка по счёту 40703…")."""
    account = period_from = period_to = None
    for number, values in sheet.rows:
        if number >= before_row:
            break
        text = " ".join(fields.clean_text(v) for v in values if v is not None)
        if account is None:
            m = _ACCOUNT.search(text.replace(" ", "")) if "сч" in text.lower() else None
            account = m.group(0) if m else None
        m = _PERIOD.search(text)
        if m and period_from is None:
            period_from, period_to = _optional_date(m.group(1)), _optional_date(m.group(2))
    return account, period_from, period_to


def parse_table(sheet: Sheet, fmt: str, default_account: str | None = None) -> ParsedStatement:
    name = sheet.name
    sber = _sber_header(sheet)
    if sber:
        header_row, data_from, cols = sber
        fmt = "sber_xlsx" if fmt == "xlsx" else fmt
    else:
        try:
            header = find_header(sheet, TABLE_SYNONYMS, min_fields=3)
        except InputError:
            raise InputError(f"{name}: не найдена строка заголовков выписки (в первых строках нет столбцов «Дата», "
                             f"«Сумма» или «Дебет»/«Кредит», «Назначение платежа»)") from None
        cols = header.columns
        header_row = data_from = header.row
        data_from = header.row + 1
        if "date" not in cols or not ({"amount", "debit", "credit"} & set(cols)):
            raise InputError(f"{name}, строка {header.row}: в заголовке нет столбцов «Дата» и «Сумма» "
                             f"(или «Дебет»/«Кредит»)")
        titles = {normalize_header(t) for t in header.titles.values()}
        if fmt == "xlsx" and {"дебет rur", "кредит rur", "контрагент"} <= titles:
            fmt = "vtb_xlsx"
    title_account, period_from, period_to = _title_info(sheet, header_row)
    our_default = title_account or default_account
    payments: list[BankPayment] = []
    problems: list[str] = []
    for number, values in sheet.rows:
        if number < data_from:
            continue
        cell = {f: (values[i] if i < len(values) else None) for f, i in cols.items()}
        texts = [fields.clean_text(v).lower() for v in values if fields.clean_text(v)]
        if not texts:
            continue
        if any(_FOOTER.match(t) for t in texts[:3]):
            continue
        try:
            payment = _table_payment(number, cell, cols, our_default)
        except ValueError as exc:
            problems.append(_problem(name, number, str(exc)))
            continue
        if payment is not None:
            payments.append(payment)
    if problems:
        raise InputError(problems, name)
    accounts = sorted({p.our_account for p in payments if p.our_account})
    if not accounts and not our_default:
        raise InputError(f"{name}: в файле не указан наш расчётный счёт, и в настройках кооператива его нет — "
                         f"укажите расчётный счёт на странице «Кооператив»")
    return ParsedStatement(name=name, format=fmt, items=payments, our_account=title_account or (accounts[0] if accounts else our_default),
                           accounts=accounts or [our_default], period_from=period_from, period_to=period_to)


def _money_cell(value: Any, title: str) -> Decimal | None:
    if value is None or fields.clean_text(value) in ("", "-", "—"):
        return None
    try:
        return fields.money(value)
    except ValueError as exc:
        raise ValueError(f"столбец «{title}»: {exc}") from None


_IN_WORDS = ("приход", "поступ", "кредит", "зачисл", "к", "c", "cr", "crdt", "+", "in")
_OUT_WORDS = ("расход", "списан", "дебет", "д", "d", "dr", "dbit", "-", "out")


def _table_payment(number: int, cell: dict[str, Any], cols: dict[str, int], our_default: str | None) -> BankPayment | None:
    debit = _money_cell(cell.get("debit"), "Дебет")
    credit = _money_cell(cell.get("credit"), "Кредит")
    amount = _money_cell(cell.get("amount"), "Сумма")
    raw_date = cell.get("date")
    if debit is None and credit is None and amount is None:
        if fields.clean_text(raw_date):
            raise ValueError("нет суммы операции")
        return None
    try:
        doc_date = fields.parse_date(raw_date)
    except ValueError as exc:
        raise ValueError(f"столбец «Дата»: {exc}") from None
    if debit and credit:
        raise ValueError("сумма указана и в дебете, и в кредите")
    if credit:
        direction, amount = "in", credit
    elif debit:
        direction, amount = "out", debit
    elif amount is not None:
        word = fields.clean_text(cell.get("direction")).lower()
        if amount < 0:
            direction, amount = "out", -amount
        elif word and (word in _OUT_WORDS or word.startswith(_OUT_WORDS[:3])):
            direction = "out"
        elif word and not (word in _IN_WORDS or word.startswith(_IN_WORDS[:4])):
            raise ValueError(f"направление «{cell.get('direction')}» не разобрано (приход или расход)")
        else:
            direction = "in"
    else:
        return None
    if amount == 0:
        return None
    if amount < 0:
        raise ValueError("отрицательная сумма в столбце дебета или кредита")
    purpose = _text(cell.get("purpose"))
    bank = fields.clean_text(cell.get("bank"))
    bik = _digits(cell.get("bik")) or (_BIK.search(bank).group(0) if _BIK.search(bank) else None)
    if "acc_debit" in cols:  # Sber: both sides in "account\nINN\nname" cells
        debit_side = _party_cell(cell.get("acc_debit"))
        credit_side = _party_cell(cell.get("acc_credit"))
        ours, theirs = (credit_side, debit_side) if direction == "in" else (debit_side, credit_side)
        our_account = ours[0] or our_default
        other_account, other_inn, other_name = theirs
    else:
        our_account = our_default
        other_account = _digits(cell.get("account"))
        other_inn = _digits(cell.get("inn"))
        other_name = _text(cell.get("counterparty"))
    payment = BankPayment(line=number, doc_date=doc_date, doc_number=_text(cell.get("number")), amount=amount,
                          direction=direction, our_account=our_account, purpose=purpose,
                          doc_kind=_text(cell.get("kind")))
    if direction == "in":
        payment.payer_name, payment.payer_inn, payment.payer_account, payment.payer_bik = other_name, other_inn, other_account, bik
        payment.payee_account = our_account
    else:
        payment.payee_name, payment.payee_inn, payment.payee_account, payment.payee_bik = other_name, other_inn, other_account, bik
        payment.payer_account = our_account
    return payment


# -- ISO 20022 camt.053 ----------------------------------------------------------------------------------

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


# -- SWIFT MT940 ---------------------------------------------------------------------------------------

def parse_mt940(data: bytes, name: str, default_account: str | None = None) -> ParsedStatement:
    import mt940

    text = _decode_text(data, name).replace("\r\n", "\n")
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as exc:  # the library raises plain exceptions on malformed tags
        raise InputError(f"{name}: файл MT940 не разобран ({type(exc).__name__}: {str(exc)[:120]})") from None
    account_id = fields.clean_text(transactions.data.get("account_identification"))
    m = _ACCOUNT.search(account_id.replace(" ", ""))
    account = m.group(0) if m else (account_id.split("/")[-1] or default_account)
    lines = [text.count("\n", 0, mm.start()) + 1 for mm in re.finditer(r"(?m)^:61:", text)]
    payments: list[BankPayment] = []
    problems: list[str] = []
    for i, tx in enumerate(transactions):
        d = tx.data
        line = lines[i] if i < len(lines) else None
        amount_obj = d.get("amount")
        if amount_obj is None or d.get("date") is None:
            problems.append(_problem(name, line, "в строке :61: нет даты или суммы"))
            continue
        value = Decimal(amount_obj.amount)
        status = d.get("status", "")
        direction = "in" if status in ("C", "RD") else "out"
        details = fields.clean_text(d.get("transaction_details"))
        ref = fields.clean_text(d.get("customer_reference"))
        inn = re.search(r"ИНН\s*(\d{10}|\d{12})\b", details)
        payment = BankPayment(
            line=line or 0, doc_date=date(d["date"].year, d["date"].month, d["date"].day),
            doc_number=None if not ref or ref.upper() == "NONREF" else ref,
            amount=abs(value).quantize(fields.KOPECK), direction=direction, our_account=account,
            purpose=_text(details) or _text(d.get("extra_details")),
        )
        other_account = _ACCOUNT.search(details.replace(" ", ""))
        if direction == "in":
            payment.payee_account = account
            payment.payer_inn = inn.group(1) if inn else None
            payment.payer_account = other_account.group(0) if other_account and other_account.group(0) != account else None
        else:
            payment.payer_account = account
            payment.payee_inn = inn.group(1) if inn else None
            payment.payee_account = other_account.group(0) if other_account and other_account.group(0) != account else None
        if payment.amount <= 0:
            continue
        payments.append(payment)
    if problems:
        raise InputError(problems, name)
    if not account:
        raise InputError(f"{name}: в MT940 нет счёта (:25:), и в настройках кооператива его нет")
    opening = transactions.data.get("final_opening_balance")
    closing = transactions.data.get("final_closing_balance")
    return ParsedStatement(name=name, format="mt940", items=payments, our_account=account, accounts=[account],
                           opening_balance=Decimal(opening.amount.amount) if opening else None,
                           closing_balance=Decimal(closing.amount.amount) if closing else None)


# -- writing 1CClientBankExchange (demo data, benchmarks, test fixtures) --------------------------------------

def _fmt_date(value: date | None) -> str:
    return value.strftime("%d.%m.%Y") if value else ""


def _party_1c(role: str, date_key: str, date_value: str, name: str | None, inn: str | None, account: str | None,
              bik: str, bank_name: str, corr: str) -> tuple[str, ...]:
    """The payer's or payee's lines of a 1C document, in the order banks write them."""
    return (f"{role}Счет={account or ''}", f"{date_key}={date_value}",
            f"{role}=ИНН {inn or ''} {name or ''}".replace("ИНН  ", ""), f"{role}ИНН={inn or ''}",
            f"{role}1={name or ''}", f"{role}РасчСчет={account or ''}", f"{role}Банк1={bank_name}",
            f"{role}Банк2=г. Москва", f"{role}БИК={bik}", f"{role}Корсчет={corr}")


def write_1c(payments: Iterable[BankPayment], account: str, period_from: date, period_to: date,
             opening: Decimal = Decimal("0.00"), encoding: str = "cp1251", newline: str = "\r\n",
             sender: str = "СберБизнес", bank: tuple[str, str, str] = ("044525225", "ПАО СБЕРБАНК", "30101810400000000225"),
             version: str = "1.03") -> bytes:
    """A statement from the bank to 1C as banks write it: header, balances, one block per document."""
    payments = list(payments)
    total_in = sum((p.amount for p in payments if p.direction == "in"), Decimal("0.00"))
    total_out = sum((p.amount for p in payments if p.direction == "out"), Decimal("0.00"))
    declared = {"cp1251": "Windows", "cp866": "DOS"}.get(encoding.replace("-", "").lower(), "Windows")
    head = [
        "1CClientBankExchange", f"ВерсияФормата={version}", f"Кодировка={declared}", f"Отправитель={sender}",
        "Получатель=Бухгалтерия предприятия, редакция 3.0", f"ДатаСоздания={_fmt_date(period_to)}",
        "ВремяСоздания=09:15:00", f"ДатаНачала={_fmt_date(period_from)}", f"ДатаКонца={_fmt_date(period_to)}",
        f"РасчСчет={account}", "Документ=Платежное поручение", "Документ=Банковский ордер",
        "СекцияРасчСчет", f"ДатаНачала={_fmt_date(period_from)}", f"ДатаКонца={_fmt_date(period_to)}",
        f"РасчСчет={account}", f"НачальныйОстаток={opening:.2f}", f"ВсегоПоступило={total_in:.2f}",
        f"ВсегоСписано={total_out:.2f}", f"КонечныйОстаток={opening + total_in - total_out:.2f}", "КонецРасчСчет",
    ]
    parts = [newline.join(head), newline]
    bik, bank_name, corr = bank
    for p in payments:
        incoming = p.direction == "in"
        booked = _fmt_date(p.posted_date or p.doc_date)
        lines = (
            f"СекцияДокумент={p.doc_kind or 'Платежное поручение'}",
            f"Номер={p.doc_number or ''}", f"Дата={_fmt_date(p.doc_date)}", f"Сумма={p.amount:.2f}",
            *_party_1c("Плательщик", "ДатаСписано", "" if incoming else booked, p.payer_name, p.payer_inn,
                       p.payer_account, (p.payer_bik or bik) if incoming else bik, bank_name, corr),
            *_party_1c("Получатель", "ДатаПоступило", booked if incoming else "", p.payee_name, p.payee_inn,
                       p.payee_account, bik if incoming else (p.payee_bik or bik), bank_name, corr),
            "ВидПлатежа=", "ВидОплаты=01", "Код=0", "СтатусСоставителя=", "ПлательщикКПП=", "ПолучательКПП=",
            "ПоказательКБК=", "ОКАТО=", "ПоказательОснования=", "ПоказательПериода=", "ПоказательНомера=",
            "ПоказательДаты=", "ПоказательТипа=", "Очередность=5",
            f"НазначениеПлатежа={p.purpose or ''}", "КонецДокумента",
        )
        parts.append(newline.join(lines))
        parts.append(newline)
    parts.append("КонецФайла" + newline)
    return "".join(parts).encode(encoding)
