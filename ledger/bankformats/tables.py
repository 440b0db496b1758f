"""Bank statements as spreadsheets: Excel (.xlsx, .xls) and CSV exports — the Sber Business layout, VTB, and any
layout whose headers match synonyms."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from .. import fields
from ..errors import InputError
from ..spreadsheets import Sheet, find_header, normalize_header
from .common import (_ACCOUNT, _BIK, _INN, BankPayment, ParsedStatement, _digits, _optional_date, _problem, _text,
                     account_currency, currency_code)


TABLE_SYNONYMS: dict[str, list[str]] = {
    "date": ["Дата", "Дата операции", "Дата проводки", "Дата документа", "Дата платежа", "Дата списания/зачисления",
             "date"],
    "number": ["Номер", "№ документа", "Референс проводки", "Номер документа", "№ док", "№ док.", "Номер док", "№ платежного документа",
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
    "purpose": ["Назначение", "Назначение платежа", "Основание", "Описание", "Описание операции", "Детали платежа",
                "Комментарий",
                "Основание операции (назначение платежа)"],
    # our own account when the export names it per row (Альфа-Банк: «Номер счета»)
    "our_account": ["Номер счета", "Номер счёта", "Счет клиента", "Счет организации", "Наш счет"],
    "currency": ["Валюта", "Валюта счета", "Код валюты"],
    # ВТБ: the operation in its own currency and converted to the account's; the latter is what moved
    "account_amount": ["Сумма пересчитанная в валюту счета", "Сумма в валюте счета", "Сумма в валюте счёта"],
    "status": ["Статус", "Статус операции", "Состояние", "Статус документа"],
}
# Rows the bank has not booked yet: not payments (yet); skipped and counted.
_PENDING = {"в обработке", "hold", "не проведена", "ожидает обработки", "в процессе"}
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
    from ..spreadsheets import HEADER_SCAN_ROWS

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
    pending = 0
    for number, values in sheet.rows:
        if number < data_from:
            continue
        cell = {f: (values[i] if i < len(values) else None) for f, i in cols.items()}
        texts = [fields.clean_text(v).lower() for v in values if fields.clean_text(v)]
        if not texts:
            continue
        if any(_FOOTER.match(t) for t in texts[:3]):
            continue
        if any(t in _PENDING for t in texts) or \
                fields.clean_text(cell.get("status")).lower() in _PENDING or fields.clean_text(cell.get("number")).lower() == "hold":
            pending += 1
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
    parsed = ParsedStatement(name=name, format=fmt, items=payments, pending=pending,
                             our_account=title_account or (accounts[0] if accounts else our_default),
                             accounts=accounts or [our_default], period_from=period_from, period_to=period_to)
    if pending:
        parsed.warnings.append(f"{name}: пропущено операций «В обработке» (банк их ещё не провёл): {pending}")
    return parsed


def _own_account(value: Any) -> str | None:
    """Our account from its column: the 20 digits (some exports write it with spaces or a prefix)."""
    text = fields.clean_text(value).replace(" ", "")
    found = _ACCOUNT.search(text)
    return found.group(0) if found else _digits(text)


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
    converted = _money_cell(cell.get("account_amount"), "Сумма в валюте счета")
    if converted is not None:   # what moved on the account, not the operation in its own currency
        amount = converted
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
        our_account = _own_account(cell.get("our_account")) or our_default
        other_account = _digits(cell.get("account"))
        other_inn = _digits(cell.get("inn"))
        other_name = _text(cell.get("counterparty"))
    payment = BankPayment(line=number, doc_date=doc_date, doc_number=_text(cell.get("number")), amount=amount,
                          direction=direction, our_account=our_account, purpose=purpose,
                          doc_kind=_text(cell.get("kind")),
                          currency=currency_code(_text(cell.get("currency"))) or account_currency(our_account) or "RUB")
    if direction == "in":
        payment.payer_name, payment.payer_inn, payment.payer_account, payment.payer_bik = other_name, other_inn, other_account, bik
        payment.payee_account = our_account
    else:
        payment.payee_name, payment.payee_inn, payment.payee_account, payment.payee_bik = other_name, other_inn, other_account, bik
        payment.payer_account = our_account
    return payment
