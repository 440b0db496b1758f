"""Synthetic bank statements (no real personal data) of one month of one account, in every supported format.

All formats carry the same five payments, so a statement loaded in one format and then in another must add
nothing. The expected values are written out by hand here, not produced by the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tests.conftest import xlsx_bytes

OUR = "40703810800000001234"
OUR_INN = "5007012345"


@dataclass(frozen=True)
class Expected:
    doc_date: date
    number: str
    amount: Decimal
    direction: str
    name: str          # the other side
    inn: str | None
    account: str       # the other side's account
    bik: str
    purpose: str


PAYMENTS = [
    Expected(date(2026, 1, 15), "101", Decimal("6000.00"), "in", "Иванов Иван Иванович", "500100732259",
             "40817810200000000101", "044525225", "Членский взнос за 2026 г. уч. 12 Иванов И.И."),
    Expected(date(2026, 1, 16), "7", Decimal("1234.56"), "in", "ПАО СБЕРБАНК", "7707083893",
             "30232810838000000000", "044525225", "Перевод от ПЕТРОВА АННА С. Без НДС"),
    Expected(date(2026, 1, 20), "55", Decimal("15000.00"), "out", "АО «Мосэнергосбыт»", "7736520080",
             "40702810938000000002", "044525225", "Оплата электроэнергии за декабрь 2025 г."),
    Expected(date(2026, 1, 20), "12", Decimal("6000.00"), "in", "Сидорова Ольга Петровна", None,
             "40817810300000000202", "044525974", "Членский взнос л/с 15, уч. 33"),
    Expected(date(2026, 1, 31), "900", Decimal("1490.00"), "out", "ПАО СБЕРБАНК", "7707083893",
             "70601810038002740201", "044525225", "Комиссия за ведение счета"),
]
INCOMING = 3
TOTAL_IN = Decimal("13234.56")
TOTAL_OUT = Decimal("16490.00")

# A statement from the bank to 1C as banks write it, with the usual quirks: "ИНН nnn" before the payer's
# name, the purpose continued in НазначениеПлатежа1..2, ё in a document kind, blank lines, empty fields.
KL_TO_1C = """1CClientBankExchange
ВерсияФормата=1.03
Кодировка={declared}
Отправитель=Сбербанк Бизнес Онлайн
Получатель=Бухгалтерия предприятия, редакция 3.0
ДатаСоздания=01.02.2026
ВремяСоздания=10:00:00
ДатаНачала=01.01.2026
ДатаКонца=31.01.2026
РасчСчет=40703810800000001234
Документ=Платежное поручение

СекцияРасчСчет
ДатаНачала=01.01.2026
ДатаКонца=31.01.2026
РасчСчет=40703810800000001234
НачальныйОстаток=10000.00
ВсегоПоступило=13234.56
ВсегоСписано=16490.00
КонечныйОстаток=6744.56
КонецРасчСчет
СекцияДокумент=Платежное поручение
Номер=101
Дата=15.01.2026
Сумма=6000.00
ПлательщикСчет=40817810200000000101
ДатаСписано=
Плательщик=ИНН 500100732259 Иванов Иван Иванович
ПлательщикИНН=500100732259
ПлательщикРасчСчет=40817810200000000101
ПлательщикБИК=044525225
ПолучательСчет=40703810800000001234
ДатаПоступило=15.01.2026
Получатель1=СНТ «Рассвет»
ПолучательИНН=5007012345
ПолучательРасчСчет=40703810800000001234
ПолучательБИК=044525225
НазначениеПлатежа=Членский взнос за 2026 г.
НазначениеПлатежа1=Членский взнос за 2026 г.
НазначениеПлатежа2=уч. 12 Иванов И.И.
КонецДокумента
СекцияДокумент=Платёжное поручение
Номер=7
Дата=16.01.2026
Сумма=1234.56
ПлательщикСчет=30232810838000000000
Плательщик=7707083893, ПАО СБЕРБАНК
ПлательщикИНН=7707083893
Плательщик1=ПАО СБЕРБАНК
ПлательщикБИК=044525225
ПолучательСчет=40703810800000001234
ДатаПоступило=16.01.2026
Получатель1=СНТ «Рассвет»
НазначениеПлатежа=Перевод от ПЕТРОВА АННА С. Без НДС

КонецДокумента

СекцияДокумент=Платежное поручение
Номер=55
Дата=20.01.2026
Сумма=15000
ПлательщикСчет=40703810800000001234
ДатаСписано=20.01.2026
Плательщик1=СНТ «Рассвет»
ПолучательСчет=40702810938000000002
Получатель=ИНН 7736520080 АО «Мосэнергосбыт»
ПолучательИНН=7736520080
ПолучательБИК=044525225
НазначениеПлатежа=Оплата электроэнергии за декабрь 2025 г.
КонецДокумента
СекцияДокумент=Инкассовое поручение
Номер=12
Дата=20.01.2026
Сумма=6000.00
ПлательщикСчет=40817810300000000202
ПлательщикИНН=0
Плательщик1=Сидорова Ольга Петровна
ПлательщикБИК=044525974
ПолучательСчет=40703810800000001234
ДатаПоступило=20.01.2026
НазначениеПлатежа=Членский взнос л/с 15, уч. 33
КонецДокумента
СекцияДокумент=Банковский ордер
Номер=900
Дата=31.01.2026
Сумма=1490.00
ПлательщикСчет=40703810800000001234
ДатаСписано=31.01.2026
ПолучательСчет=70601810038002740201
Получатель1=ПАО СБЕРБАНК
ПолучательИНН=7707083893
ПолучательБИК=044525225
НазначениеПлатежа=Комиссия за ведение счета
КонецДокумента
КонецФайла
"""


def kl_to_1c(encoding: str = "cp1251", newline: str = "\r\n", bom: bool = False, declared: str | None = None) -> bytes:
    declared = declared or {"cp1251": "Windows", "cp866": "DOS"}.get(encoding, "Windows")
    text = KL_TO_1C.format(declared=declared).replace("\n", newline)
    if encoding == "cp866":  # DOS has no «»
        text = text.replace("«", '"').replace("»", '"')
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def _cell(account: str, inn: str | None, name: str) -> str:
    return "\n".join(x for x in (account, inn, name) if x)


def sber_xlsx() -> bytes:
    """Sber Business layout: title rows, "Счет" over Дебет/Кредит sub-columns, footer "Итого оборотов"."""
    us = _cell(OUR, OUR_INN, "СНТ «Рассвет»")
    rows = [
        ["ПАО СБЕРБАНК", None, None, None, None, None, None, None, None],
        [f"ВЫПИСКА ОПЕРАЦИЙ ПО ЛИЦЕВОМУ СЧЕТУ {OUR}", None, None, None, None, None, None, None, None],
        ["СНТ «Рассвет»", None, None, None, None, None, None, None, None],
        ["за период с 01.01.2026 по 31.01.2026", None, None, None, None, None, None, None, None],
        ["Дата проводки", "Счет", None, "Сумма по дебету", "Сумма по кредиту", "№ документа", "ВО",
         "Банк (БИК и наименование)", "Назначение платежа"],
        [None, "Дебет", "Кредит", None, None, None, None, None, None],
    ]
    for p in PAYMENTS:
        other = _cell(p.account, p.inn, p.name)
        debit_cell, credit_cell = (other, us) if p.direction == "in" else (us, other)
        rows.append([p.doc_date.strftime("%d.%m.%Y"), debit_cell, credit_cell,
                     float(p.amount) if p.direction == "out" else None,
                     float(p.amount) if p.direction == "in" else None,
                     p.number, "01", f"БИК {p.bik} ПАО СБЕРБАНК, г. Москва", p.purpose])
    rows.append(["Итого оборотов", None, None, 16490.00, 13234.56, None, None, None, None])
    rows.append(["Количество операций", None, None, 2, 3, None, None, None, None])
    return xlsx_bytes(rows, merges=["B5:C5", "A5:A6", "D5:D6", "E5:E6", "F5:F6", "G5:G6", "H5:H6", "I5:I6"])


def vtb_xlsx() -> bytes:
    """VTB layout with per-day subtotal rows "ИТОГО ЗА ДЕНЬ"."""
    rows = [
        ["Выписка по счету", OUR, None, None, None, None, None, None, None, None],
        ["Период: 01.01.2026 - 31.01.2026", None, None, None, None, None, None, None, None, None],
        [],
        ["Дата", "Номер", "Вид операции", "Контрагент", "ИНН контрагента", "БИК банка контрагента",
         "Счет контрагента", "Дебет, RUR", "Кредит, RUR", "Назначение"],
    ]
    last = None
    for p in PAYMENTS:
        if last and p.doc_date != last:
            rows.append(["ИТОГО ЗА ДЕНЬ", None, None, None, None, None, None, None, None, None])
        last = p.doc_date
        rows.append([p.doc_date, p.number, "Платежное поручение", p.name, p.inn, p.bik, p.account,
                     float(p.amount) if p.direction == "out" else None,
                     float(p.amount) if p.direction == "in" else None, p.purpose])
    rows.append(["ИТОГО ЗА ДЕНЬ", None, None, None, None, None, None, 1490.0, None, None])
    return xlsx_bytes(rows)


def generic_xlsx() -> bytes:
    """Some other bank: one signed amount column and a payer column."""
    rows = [["Дата операции", "№ док.", "Плательщик/Получатель", "ИНН", "Счет", "БИК", "Сумма", "Назначение платежа"]]
    for p in PAYMENTS:
        amount = p.amount if p.direction == "in" else -p.amount
        rows.append([p.doc_date, int(p.number), p.name, p.inn, p.account, p.bik, float(amount), p.purpose])
    return xlsx_bytes(rows)


def csv_bytes(encoding: str = "cp1251") -> bytes:
    """Semicolons, decimal comma, thousands separated by spaces, a separate debit and credit."""
    lines = [f"Выписка по счету {OUR}", "Дата;Номер документа;Контрагент;ИНН контрагента;Счет контрагента;"
             "БИК;Списание;Поступление;Назначение платежа"]
    for p in PAYMENTS:
        money = f"{p.amount:,.2f}".replace(",", " ").replace(".", ",")
        lines.append(";".join([p.doc_date.strftime("%d.%m.%Y"), p.number, f'"{p.name}"', p.inn or "", p.account, p.bik,
                               money if p.direction == "out" else "", money if p.direction == "in" else "",
                               f'"{p.purpose}"']))
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def camt053() -> bytes:
    entries = []
    for p in PAYMENTS:
        party = f"""<Nm>{p.name}</Nm>{f'<Id><OrgId><Othr><Id>{p.inn}</Id><SchmeNm><Prtry>INN</Prtry></SchmeNm></Othr></OrgId></Id>' if p.inn else ''}"""
        if p.direction == "in":
            parties = (f"<Dbtr>{party}</Dbtr><DbtrAcct><Id><Othr><Id>{p.account}</Id></Othr></Id></DbtrAcct>"
                       f"<Cdtr><Nm>СНТ «Рассвет»</Nm></Cdtr><CdtrAcct><Id><Othr><Id>{OUR}</Id></Othr></Id></CdtrAcct>")
            agents = f"<DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{p.bik}</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>"
        else:
            parties = (f"<Dbtr><Nm>СНТ «Рассвет»</Nm></Dbtr><DbtrAcct><Id><Othr><Id>{OUR}</Id></Othr></Id></DbtrAcct>"
                       f"<Cdtr>{party}</Cdtr><CdtrAcct><Id><Othr><Id>{p.account}</Id></Othr></Id></CdtrAcct>")
            agents = f"<CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>{p.bik}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>"
        entries.append(f"""
      <Ntry>
        <Amt Ccy="RUB">{p.amount}</Amt>
        <CdtDbtInd>{'CRDT' if p.direction == 'in' else 'DBIT'}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{p.doc_date.isoformat()}</Dt></BookgDt>
        <ValDt><Dt>{p.doc_date.isoformat()}</Dt></ValDt>
        <NtryDtls><TxDtls>
          <Refs><InstrId>{p.number}</InstrId><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
          <RltdPties>{parties}</RltdPties>
          <RltdAgts>{agents}</RltdAgts>
          <RmtInf><Ustrd>{p.purpose}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>ST-2026-01</MsgId><CreDtTm>2026-02-01T10:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>1</Id>
      <CreDtTm>2026-02-01T10:00:00</CreDtTm>
      <FrToDt><FrDtTm>2026-01-01T00:00:00</FrDtTm><ToDtTm>2026-01-31T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><Othr><Id>{OUR}</Id></Othr></Id><Ccy>RUB</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="RUB">10000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-01</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="RUB">6744.56</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-01-31</Dt></Dt></Bal>{''.join(entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode("utf-8")


def mt940() -> bytes:
    """SWIFT MT940 as Russian banks send it to foreign systems: Cyrillic in :86:, UTF-8."""
    lines = [":20:STMT2026-01", f":25:{OUR}", ":28C:1/1", ":60F:C260101RUB10000,00"]
    for p in PAYMENTS:
        amount = f"{p.amount:.2f}".replace(".", ",")
        mark = "C" if p.direction == "in" else "D"
        lines.append(f":61:{p.doc_date:%y%m%d}{p.doc_date:%m%d}{mark}{amount}NTRF{p.number}//B{p.number}")
        lines.append(f":86:{p.purpose} ИНН {p.inn or '-'} {p.name} счет {p.account}")
    lines.append(":62F:C260131RUB6744,56")
    return ("\r\n".join(lines) + "\r\n-\r\n").encode("utf-8")


def vtb_xls() -> bytes:
    """The VTB layout saved as Excel 97–2003 (.xls): a merged title, real date cells, numbers."""
    import io

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("Выписка")
    ws.write_merge(0, 0, 0, 3, f"Выписка по счету {OUR}")
    ws.write(1, 0, "Период: 01.01.2026 - 31.01.2026")
    header = ["Дата", "Номер", "Вид операции", "Контрагент", "ИНН контрагента", "БИК банка контрагента",
              "Счет контрагента", "Дебет, RUR", "Кредит, RUR", "Назначение"]
    for c, title in enumerate(header):
        ws.write(3, c, title)
    dates = xlwt.easyxf(num_format_str="DD.MM.YYYY")
    for r, p in enumerate(PAYMENTS, start=4):
        ws.write(r, 0, p.doc_date, dates)
        values = [p.number, "Платежное поручение", p.name, p.inn or "", p.bik, p.account,
                  float(p.amount) if p.direction == "out" else "", float(p.amount) if p.direction == "in" else "",
                  p.purpose]
        for c, value in enumerate(values, start=1):
            ws.write(r, c, value)
    ws.write(len(PAYMENTS) + 4, 0, "ИТОГО ЗА ДЕНЬ")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
