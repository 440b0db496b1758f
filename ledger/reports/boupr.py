"""FNS simplified annual accounting report of a non-profit (КНД 0710096, format 5.04, NO_BOUPR): the balance
(Баланс) and the report on the targeted use of funds (ЦелИсп), as XML in windows-1251.

Sums are in thousands of rubles (ОКЕИ 384). Entrance, membership and targeted contributions received in the
reporting year come from the ledger; every other line comes from the form the accountant fills in, prefilled
from last year's form (its reporting-year column becomes this year's previous-year column). The checks the
XSD cannot express (file name = ИдФайл, Актив = Пассив, line totals, lines required together) run on the
built XML, so a file made elsewhere is checked the same way before it is signed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from .. import accruals, cooperative
from ..db import Database
from ..errors import InputError
from . import ReportFile, load_form, log_built, save_form

KIND = "boupr"
FORMAT_VERSION = "5.04"
PROGRAM = "coop-ledger 0.1"
NAME_RE = re.compile(r"^NO_BOUPR_(\d{4})_(\d{4})_(\d{10})(\d{4}[0-9A-Z]{2}\d{3})_(\d{8})_"
                     r"([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$")


@dataclass(frozen=True)
class Line:
    code: str
    tag: str
    title: str


ASSETS = [Line("1150", "МатВнеАкт", "Материальные внеоборотные активы"),
          Line("1170", "НеМатФинАкт", "Нематериальные, финансовые и другие внеоборотные активы"),
          Line("1210", "Запасы", "Запасы"),
          Line("1250", "ДенежнСр", "Денежные средства и денежные эквиваленты"),
          Line("1230", "ФинВлож", "Финансовые и другие оборотные активы")]
LIABILITIES = [Line("1350", "ЦелевСредства", "Целевые средства"),
               Line("1410", "ДлгЗаемСредств", "Долгосрочные заемные средства"),
               Line("1450", "ДрДолгосрОбяз", "Другие долгосрочные обязательства"),
               Line("1510", "КртЗаемСредств", "Краткосрочные заемные средства"),
               Line("1520", "КредитЗадолж", "Краткосрочная кредиторская задолженность"),
               Line("1550", "ДрКраткосрОбяз", "Другие краткосрочные обязательства")]
RECEIVED = [Line("6210", "ВзносЦелПоступ", "Взносы и иные целевые поступления"),
            Line("6240", "ПрибПредДеят", "Прибыль от приносящей доход деятельности"),
            Line("6250", "Прочие", "Прочие поступления")]
SPENT = [Line("6310", "ЦелМер", "На целевые мероприятия"),
         Line("6320", "СодеожОрг", "На содержание организации"),
         Line("6330", "ПриобОСИн", "На приобретение основных средств и иного имущества"),
         Line("6350", "Прочие", "Прочее")]
OPENING = Line("6100", "ОстатНачОтч", "Остаток средств на начало отчетного года")
CLOSING = Line("6400", "ОстатКонОтч", "Остаток средств на конец отчетного года")
BALANCE_LINES = ASSETS + LIABILITIES
FORM_LINES = BALANCE_LINES + [OPENING] + RECEIVED + SPENT   # what the accountant fills in (6210 from the ledger)
CONTRIBUTION_CLASSES = {"entrance": "Вступительные взносы", "membership": "Членские взносы",
                        "targeted": "Целевые взносы"}
# ОКОПФ by the kind of cooperative (ОК 028-2012); the accountant can change it in the form.
OKOPF = {"СНТ": "20702", "ОНТ": "20702", "ТСН": "20700", "ТСЖ": "20716", "ЖСК": "20103", "ГСК": "20102",
         "КПК": "20105", "СПК": "20109", "ПО": "20115"}
OKFS_PRIVATE = "16"


@dataclass
class Form:
    """What the accountant fills in. Money in thousands of rubles: balance lines [reporting date, 31.12 of the
    previous year, 31.12 of the year before]; targeted-use lines [reporting year, previous year]."""
    year: int
    lines: dict[str, list[int]] = field(default_factory=dict)
    contributions: dict[str, list[int]] = field(default_factory=dict)   # class -> [reporting, previous]
    tax_office: str = ""          # код налогового органа-получателя (4 цифры)
    final_recipient: str = ""     # код конечного получателя (4 цифры)
    okpo: str = ""
    okfs: str = OKFS_PRIVATE
    okopf: str = ""
    correction: int = 0
    audit: bool = False
    approval_body: str = "Общее собрание членов"
    explanations_file: str = ""

    def value(self, code: str, col: int = 0) -> int:
        values = self.lines.get(code) or []
        return int(values[col]) if col < len(values) and values[col] is not None else 0

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "year"}


def thousands(value: Decimal) -> int:
    return int((Decimal(value) / 1000).quantize(Decimal(1), ROUND_HALF_UP))


def contribution_class(code: str, name: str) -> str:
    text = f"{code} {name}".lower()
    if "вступ" in text:
        return "entrance"
    if "целев" in text:
        return "targeted"
    return "membership"


def received_contributions(db: Database, year: int) -> dict[str, Decimal]:
    """Contributions received from members in the year, rubles, by class. A payment's part not allocated to any
    charge (an advance) counts as membership contributions; penalties paid are not contributions."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    with db.transaction() as con:
        accruals.refresh_in(con)
        names = dict(con.execute("SELECT code, name FROM contributions").fetchall())
        rows = con.execute("""
            SELECT c.contribution, sum(a.amount) FROM allocations a
            JOIN charges c ON c.id = a.charge_id JOIN payments p ON p.id = a.payment_id
            WHERE a.kind = 'principal' AND p.doc_date BETWEEN ? AND ? GROUP BY 1""", [start, end]).fetchall()
        paid = con.execute("SELECT coalesce(sum(amount), 0) FROM member_payments WHERE paid_on BETWEEN ? AND ?",
                           [start, end]).fetchone()[0]
        allocated = con.execute("""
            SELECT coalesce(sum(a.amount), 0) FROM allocations a JOIN payments p ON p.id = a.payment_id
            WHERE p.doc_date BETWEEN ? AND ?""", [start, end]).fetchone()[0]
    out = {k: Decimal(0) for k in CONTRIBUTION_CLASSES}
    for code, amount in rows:
        out[contribution_class(code, names.get(code, ""))] += Decimal(amount)
    out["membership"] += max(Decimal(paid) - Decimal(allocated), Decimal(0))
    return out


def data_years(db: Database) -> tuple[int, int] | None:
    """The first and last years the ledger has accounting data for (payments, charges, opening balances, a saved
    form of this report); None for a ledger without any."""
    row = db.fetchone("""
        SELECT min(y), max(y) FROM (
            SELECT min(year(doc_date)) AS y FROM payments UNION ALL SELECT max(year(doc_date)) FROM payments
            UNION ALL SELECT min(year(coalesce(period_start, due_date))) FROM charges
            UNION ALL SELECT max(year(coalesce(period_end, due_date))) FROM charges
            UNION ALL SELECT min(year(as_of)) FROM opening_balances UNION ALL SELECT max(year(as_of)) FROM opening_balances
            UNION ALL SELECT min(year) FROM report_forms WHERE kind = ? UNION ALL SELECT max(year) FROM report_forms
            WHERE kind = ?)""", [KIND, KIND])
    return (int(row[0]), int(row[1])) if row and row[0] is not None else None


def registration_year(ogrn: str | None) -> int | None:
    """The year of the record in ЕГРЮЛ: the 2nd and 3rd digits of the ОГРН (cooperatives registered before 2002 got
    theirs on re-registration in 2002–2003)."""
    if not ogrn or not re.fullmatch(r"\d{13}", ogrn):
        return None
    return 2000 + int(ogrn[1:3])


def check_year(db: Database, year: int, today: date | None = None) -> None:
    """Refuse a reporting year in the future or before the cooperative's accounting began: before its first data in
    the ledger, or before its registration when the ОГРН is set (a year without data then is filled in by hand)."""
    today = today or date.today()
    years = data_years(db)
    registered = registration_year(cooperative.get_settings(db).get("ogrn"))
    first = min(y for y in (registered, years and years[0]) if y) if (registered or years) else None
    if first is not None and first <= year <= today.year:
        return
    known = (f"данные в учёте есть за {years[0]}–{years[1]} гг." if years and years[0] != years[1] else
             f"данные в учёте есть за {years[0]} г." if years else "в учёте ещё нет данных ни за один год")
    if registered:
        known += f"; кооператив зарегистрирован в {registered} г. (по ОГРН)"
    if first is None:
        allowed = "загрузите выписки или входящие остатки, начислите взносы или укажите ОГРН в реквизитах"
    elif first > today.year:
        allowed = "проверьте ОГРН в реквизитах"
    else:
        allowed = f"отчёт формируется за {first}–{today.year} гг." if first < today.year else \
            f"отчёт формируется за {first} г."
    when = "ещё не наступил" if year > today.year else "не подходит" if first is None else "раньше начала учёта"
    raise InputError(f"Отчётный год {year} {when}: {known}; {allowed}")


def prefill(db: Database, year: int) -> Form:
    """This year's saved form, or one prefilled from last year's; contributions of the year from the ledger.
    A year outside the cooperative's accounting is refused (check_year)."""
    check_year(db, year)
    settings = cooperative.get_settings(db)
    saved = load_form(db, KIND, year)
    if saved:
        form = Form(year, **{k: v for k, v in saved.items() if k in Form.__dataclass_fields__ and k != "year"})
    else:
        form = Form(year, tax_office=(settings.get("kpp") or "")[:4], final_recipient=(settings.get("kpp") or "")[:4],
                    okopf=OKOPF.get(settings.get("type") or "", ""))
        last = load_form(db, KIND, year - 1)
        if last:
            for key in ("tax_office", "final_recipient", "okpo", "okfs", "okopf", "audit", "approval_body"):
                if key in last:
                    setattr(form, key, last[key])
            for line in BALANCE_LINES:
                old = (last.get("lines") or {}).get(line.code) or [0, 0, 0]
                form.lines[line.code] = [0, old[0], old[1] if len(old) > 1 else 0]
            for line in [OPENING] + RECEIVED + SPENT:
                old = (last.get("lines") or {}).get(line.code) or [0, 0]
                form.lines[line.code] = [0, old[0]]
            last_form = Form(year - 1, lines=last.get("lines") or {})
            form.lines[OPENING.code][0] = closing(last_form, 0)
            form.contributions = {k: [0, (last.get("contributions") or {}).get(k, [0])[0]]
                                  for k in CONTRIBUTION_CLASSES}
    ledger = received_contributions(db, year)
    for k in CONTRIBUTION_CLASSES:
        previous = (form.contributions.get(k) or [0, 0])
        form.contributions[k] = [thousands(ledger[k]), previous[1] if len(previous) > 1 else 0]
    form.lines["6210"] = [sum(v[0] for v in form.contributions.values()),
                          sum(v[1] for v in form.contributions.values())]
    return form


def total(form: Form, lines: list[Line], col: int) -> int:
    return sum(form.value(line.code, col) for line in lines)


def closing(form: Form, col: int) -> int:
    return form.value(OPENING.code, col) + total(form, RECEIVED, col) - total(form, SPENT, col)


# -- the XML --------------------------------------------------------------------------------------

def file_id(settings: dict, form: Form, day: date, guid: str | None = None) -> str:
    """FNS rule: NO_BOUPR_<recipient tax office>_<final recipient>_<ИНН><КПП>_<YYYYMMDD>_<GUID>."""
    return (f"NO_BOUPR_{form.tax_office}_{form.final_recipient}_{settings.get('inn') or ''}{settings.get('kpp') or ''}"
            f"_{day:%Y%m%d}_{(guid or str(uuid.uuid4())).upper()}")


def _requisite_problems(settings: dict, form: Form) -> list[str]:
    problems = []
    where = "Настройки кооператива (страница «Кооператив»)"
    for key, label in (("name", "наименование"), ("inn", "ИНН"), ("kpp", "КПП"), ("address", "адрес"),
                       ("chairman", "председатель")):
        if not settings.get(key):
            problems.append(f"{where}: не задано поле «{label}»")
    if settings.get("inn") and not re.fullmatch(r"\d{10}", settings["inn"]):
        problems.append(f"{where}: ИНН организации должен состоять из 10 цифр")
    if settings.get("chairman") and len(settings["chairman"].split()) < 2:
        problems.append(f"{where}: председатель — нужны фамилия и имя")
    for value, label in ((form.tax_office, "код налогового органа"), (form.final_recipient, "код конечного получателя")):
        if not re.fullmatch(r"\d{4}", value or ""):
            problems.append(f"Форма отчёта {form.year}: {label} — 4 цифры (например, 5007)")
    if not re.fullmatch(r"\d{5}", form.okopf or ""):
        problems.append(f"Форма отчёта {form.year}: ОКОПФ — 5 цифр")
    if not re.fullmatch(r"\d{2}", form.okfs or ""):
        problems.append(f"Форма отчёта {form.year}: ОКФС — 2 цифры")
    if form.okpo and not re.fullmatch(r"\d{8}|\d{10}", form.okpo):
        problems.append(f"Форма отчёта {form.year}: ОКПО — 8 или 10 цифр")
    return problems


def _set_sums(el, values: list[int], names: tuple[str, ...]) -> None:
    for name, value in zip(names, values):
        el.set(name, str(int(value)))


def build_xml(db: Database, form: Form, day: date, guid: str | None = None) -> ReportFile:
    settings = cooperative.get_settings(db)
    problems = _requisite_problems(settings, form)
    if problems:
        raise InputError(problems)
    ident = file_id(settings, form, day, guid)
    root = etree.Element("Файл", ИдФайл=ident, ВерсПрог=PROGRAM, ВерсФорм=FORMAT_VERSION)
    doc = etree.SubElement(root, "Документ", КНД="0710096", ДатаДок=f"{day:%d.%m.%Y}", Период="34",
                           ОтчетГод=str(form.year), НомКорр=str(int(form.correction)), ОКЕИ="384",
                           ПрАудит="1" if form.audit else "0", ПрУтвер="1" if form.approval_body else "0")
    if form.approval_body:
        doc.set("НаимОргнУтв", form.approval_body)
    svnp = etree.SubElement(doc, "СвНП", ОКФС=form.okfs, ОКОПФ=form.okopf)
    if form.okpo:
        svnp.set("ОКПО", form.okpo)
    etree.SubElement(svnp, "НПЮЛ", НаимОрг=settings["name"], ИННЮЛ=settings["inn"], КПП=settings["kpp"],
                     АдрМН=settings["address"][:255])
    signer = etree.SubElement(doc, "Подписант", ПрПодп="1")
    fio = settings["chairman"].split()
    name = etree.SubElement(signer, "ФИО", Фамилия=fio[0], Имя=fio[1])
    if len(fio) > 2:
        name.set("Отчество", " ".join(fio[2:]))
    balance = etree.SubElement(doc, "Баланс", ОКУД="0710001")
    for section, lines in (("Актив", ASSETS), ("Пассив", LIABILITIES)):
        el = etree.SubElement(balance, section)
        for line in lines:
            values = [form.value(line.code, c) for c in range(3)]
            if any(values):
                _set_sums(etree.SubElement(el, line.tag), values, ("СумОтч", "СумПрдщ", "СумПрдшв"))
        _set_sums(el, [total(form, lines, c) for c in range(3)], ("СумОтч", "СумПрдщ", "СумПрдшв"))
    use = etree.SubElement(doc, "ЦелИсп", ОКУД="0710003")
    _set_sums(etree.SubElement(use, OPENING.tag), [form.value(OPENING.code, c) for c in range(2)], ("СумОтч", "СумПред"))
    for group, lines in (("Поступило", RECEIVED), ("Использовано", SPENT)):
        el = etree.SubElement(use, group)
        for line in lines:
            values = [form.value(line.code, c) for c in range(2)]
            if not any(values):
                continue
            item = etree.SubElement(el, line.tag)
            if line.code == "6210":
                for k, title in CONTRIBUTION_CLASSES.items():
                    detail = form.contributions.get(k) or [0, 0]
                    if any(detail):
                        _set_sums(etree.SubElement(item, "ДопПокОП", НаимПок=title), detail, ("СумОтч", "СумПред"))
            _set_sums(item, values, ("СумОтч", "СумПред"))
        _set_sums(el, [total(form, lines, c) for c in range(2)], ("СумОтч", "СумПред"))
    _set_sums(etree.SubElement(use, CLOSING.tag), [closing(form, c) for c in range(2)], ("СумОтч", "СумПред"))
    etree.SubElement(doc, "Пояснения", НаимФайлПЗ=form.explanations_file or f"{ident}_пояснения.pdf")
    data = etree.tostring(root, encoding="windows-1251", xml_declaration=True, pretty_print=True)
    return ReportFile(f"{ident}.xml", data)


def build(db: Database, year: int, day: date | None = None, actor: str | None = None, form: Form | None = None,
          guid: str | None = None) -> tuple[ReportFile, list[str]]:
    """The report for a year (the saved or prefilled form unless one is given) and the problems its checks found.
    `day` is the date the document is made (ДатаДок and the file name); the caller gives it."""
    if form is not None:
        check_year(db, form.year)
    form = form or prefill(db, year)
    day = day or date.today()
    report = build_xml(db, form, day, guid)
    problems = check_xml(report.data, report.name)
    log_built(db, actor, KIND, [report], personal=False, year=year, problems=len(problems))
    return report, problems


def save(db: Database, form: Form, actor: str | None = None) -> None:
    save_form(db, KIND, form.year, form.as_json(), actor)


# -- checks the XSD cannot express ----------------------------------------------------------------

def _int(el, attr: str) -> int:
    value = el.get(attr)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def check_xml(data: bytes, file_name: str) -> list[str]:
    """Russian explanations of what is wrong with a NO_BOUPR file; empty when nothing is."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        return [f"{file_name}: не читается как XML (строка {exc.lineno}: {exc.msg})"]
    problems: list[str] = []
    stem = Path(file_name).stem
    ident = root.get("ИдФайл") or ""
    if root.tag != "Файл":
        return [f"{file_name}: это не отчёт NO_BOUPR (корневой элемент «{root.tag}»)"]
    if ident != stem:
        problems.append(f"Имя файла «{stem}» не совпадает с ИдФайл «{ident}»: файл переименован — "
                        f"сформируйте отчёт заново")
    m = NAME_RE.match(ident)
    doc = root.find("Документ")
    if doc is None:
        return problems + ["Нет элемента «Документ»"]
    org = doc.find("СвНП/НПЮЛ")
    if not m:
        problems.append(f"ИдФайл «{ident}» не по правилу ФНС: NO_BOUPR_<код НО>_<код НО>_<ИНН><КПП>_<ГГГГММДД>_<GUID>")
    elif org is not None and (m.group(3) != org.get("ИННЮЛ") or m.group(4) != org.get("КПП")):
        problems.append("ИНН и КПП в имени файла не совпадают с ИНН и КПП организации в отчёте")
    elif doc.get("ДатаДок") and m.group(5) != "".join(reversed((doc.get("ДатаДок") or "").split("."))):
        problems.append(f"Дата в имени файла ({m.group(5)}) не совпадает с датой документа {doc.get('ДатаДок')}")
    # lines required together
    if doc.get("ПрАудит") == "0" and doc.find("СвАудит") is not None:
        problems.append("Отчётность не подлежит аудиту (ПрАудит = 0), но указаны сведения об аудиторе")
    if doc.get("ПрАудит") == "1" and doc.find("СвАудит") is None:
        problems.append("Отчётность подлежит аудиту (ПрАудит = 1): укажите аудиторскую организацию")
    if doc.get("ПрАудит") == "1" and doc.find("АудитЗакл") is None:
        problems.append("Отчётность подлежит аудиту: приложите аудиторское заключение (АудитЗакл)")
    signer = doc.find("Подписант")
    if signer is not None and signer.get("ПрПодп") == "2" and signer.find("СвПред") is None:
        problems.append("Подписывает представитель (ПрПодп = 2): укажите документ о его полномочиях")
    if doc.get("ПрУтвер") == "0" and doc.get("НаимОргнУтв"):
        problems.append("Отчётность не подлежит утверждению (ПрУтвер = 0), но указан утверждающий орган")
    if doc.get("ПрУтвер") == "1" and not doc.get("НаимОргнУтв"):
        problems.append("Отчётность подлежит утверждению (ПрУтвер = 1): укажите утверждающий орган")
    # balance: totals and Актив = Пассив for each date
    dates = (("СумОтч", "на отчётную дату"), ("СумПрдщ", "на 31 декабря предыдущего года"),
             ("СумПрдшв", "на 31 декабря года, предшествующего предыдущему"))
    balance = doc.find("Баланс")
    if balance is None:
        problems.append("Нет бухгалтерского баланса (Баланс)")
    else:
        asset, liability = balance.find("Актив"), balance.find("Пассив")
        for el, code, title in ((asset, "1600", "Актив"), (liability, "1700", "Пассив")):
            if el is None:
                problems.append(f"Баланс: нет раздела «{title}»")
                continue
            for attr, when in dates:
                parts = sum(_int(child, attr) for child in el)
                if parts != _int(el, attr):
                    problems.append(f"Баланс, строка {code} ({title}) {when}: итог {_int(el, attr)} не равен "
                                    f"сумме строк {parts}")
        if asset is not None and liability is not None:
            for attr, when in dates:
                if _int(asset, attr) != _int(liability, attr):
                    problems.append(f"Баланс {when}: актив (строка 1600) {_int(asset, attr)} не равен пассиву "
                                    f"(строка 1700) {_int(liability, attr)} — проверьте строки баланса")
        for el in balance.iter():
            for attr, when in dates:
                if _int(el, attr) < 0 and el.tag not in ("КапРез",):
                    problems.append(f"Баланс, «{el.tag}» {when}: отрицательная сумма {_int(el, attr)}")
    # targeted use: totals and the closing balance
    use = doc.find("ЦелИсп")
    if use is None:
        problems.append("Нет отчёта о целевом использовании средств (ЦелИсп)")
    else:
        for attr, when in (("СумОтч", "за отчётный год"), ("СумПред", "за предыдущий год")):
            sums = {}
            for group, code in (("Поступило", "6200"), ("Использовано", "6300")):
                el = use.find(group)
                sums[group] = _int(el, attr) if el is not None else 0
                if el is None:
                    continue
                parts = sum(_int(child, attr) for child in el)
                if parts != _int(el, attr):
                    problems.append(f"Целевое использование, строка {code} ({group}) {when}: итог {_int(el, attr)} "
                                    f"не равен сумме строк {parts}")
                for child in el:
                    details = child.findall("ДопПокОП")
                    if details and sum(_int(d, attr) for d in details) > _int(child, attr):
                        problems.append(f"Целевое использование, «{child.tag}» {when}: расшифровка больше строки")
            opening_el, closing_el = use.find(OPENING.tag), use.find(CLOSING.tag)
            expected = (_int(opening_el, attr) if opening_el is not None else 0) + sums["Поступило"] - sums["Использовано"]
            if closing_el is not None and _int(closing_el, attr) != expected:
                problems.append(f"Целевое использование {when}: остаток на конец (строка 6400) "
                                f"{_int(closing_el, attr)} не равен остатку на начало + поступило − использовано "
                                f"= {expected}")
    return problems
