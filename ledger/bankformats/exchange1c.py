"""1CClientBankExchange (kl_to_1c.txt) 1.01–1.03: the line-by-line reader, the columnar reader for big files
and the writer (demo data, benchmarks, test fixtures)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from .. import bankformats as _package   # the tuning knobs live in the package
from .. import fields
from ..errors import InputError
from .common import (BankPayment, ParsedStatement, Progress, _date_1c, _digits, _optional_date, _problem, _value,
                     account_currency, join_purpose, payment_schema, rub, strip_inn_prefix)


# -- 1CClientBankExchange -----------------------------------------------------------------------------

_1C_MARKERS = ("ВерсияФормата", "Кодировка", "СекцияДокумент", "КонецФайла", "СекцияРасчСчет")
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
    zero: int = 0


def parse_1c(data: bytes, name: str, default_account: str | None = None,
             progress: Progress | None = None) -> ParsedStatement:
    """A 1CClientBankExchange file. Big files are read column-wise (Arrow); whenever that reader meets anything
    unusual it gives up and the line-by-line reader, which names every problem, reads the file instead."""
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.find(b"\x00")) + 1
        raise InputError(f"{name}, строка {line}: двоичные данные (нулевые байты) — это не текстовый файл 1С")
    codec, offset = _1c_encoding(data, name)
    if len(data) >= _package.COLUMNAR_MIN_BYTES:
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
        end = pos + _package._CHUNK
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
    if not eq:   # some bank clients leave stray lines between documents: skipped, and said so
        st.warnings.append(_problem(st.name, number, f"строка «{line[:60]}» не по формату 1С (ожидается Ключ=Значение) "
                                                     f"— пропущена"))
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

_PLAIN_AMOUNT = re.compile(r"\d{1,15}(?:\.\d{1,2})?")


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
        if amount == 0:   # a zero-amount document moves no money: not a payment
            st.zero += 1
            continue
        if amount < 0:
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
            kind or None, _optional_date(posted) if posted else None, account_currency(our) or "RUB",
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
        warnings=list(st.warnings), zero=st.zero,
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


def _currencies(our):
    """The currency of each payment: its account's (a statement has a few accounts, so per distinct account)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    coded = our.dictionary_encode()
    if isinstance(coded, pa.ChunkedArray):
        coded = coded.combine_chunks()
    names = pa.array([account_currency(a) or "RUB" for a in coded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(pa.DictionaryArray.from_arrays(coded.indices, names).cast(pa.string()), "RUB")


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
        "currency": _currencies(our),
    }
    schema = payment_schema()
    return pa.table([pc.cast(columns[f.name], f.type) for f in schema], schema=schema), dated_docs


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
