"""A deterministic demo cooperative: about 300 members with plots, families and a few full namesakes.

The same seed always gives the same cooperative, so `make run` shows the same living app everywhere and
tests can rely on it. The person generator is shared with the matching benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from . import cooperative, fields
from .db import Database, insert_rows, utcnow

MALE_SURNAMES = [
    "Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков",
    "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов",
    "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев",
    "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров", "Дмитриев", "Королёв",
    "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев",
    "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев", "Герасимов", "Богданов",
    "Осипов", "Сидоренко", "Матвеев", "Титов", "Марков", "Миронов", "Крылов", "Куликов", "Карпов", "Власов",
    "Мельников", "Денисов", "Гаврилов", "Тихонов", "Казаков", "Афанасьев", "Данилов", "Савельев", "Тимофеев",
    "Фомин", "Чернов", "Абрамов", "Мартынов", "Ефимов", "Федотов", "Щербаков", "Назаров", "Калинин", "Исаев",
    "Чернышёв", "Быков", "Маслов", "Родионов", "Коновалов", "Лазарев", "Воронин", "Климов", "Филатов",
    "Пономарёв", "Голубев", "Кудрявцев", "Прохоров", "Наумов", "Потапов", "Журавлёв", "Овчинников", "Трофимов",
    "Леонов", "Соболев", "Ермаков", "Колесников", "Гончаров", "Емельянов", "Никифоров", "Грачёв", "Котов",
    "Гришин", "Ефремов", "Архипов", "Громов", "Кириллов", "Малышев", "Панов", "Моисеев", "Румянцев", "Акимов",
    "Кондратьев", "Бирюков", "Горбунов", "Анисимов", "Ерёмин", "Тихомиров", "Галкин", "Лукьянов", "Михеев",
    "Скворцов", "Юдин", "Белоусов", "Нестеров", "Симонов", "Прокофьев", "Харитонов", "Князев", "Цветков",
    "Левин", "Митрофанов", "Воронов", "Аксёнов", "Софронов", "Мальцев", "Логинов", "Горшков", "Савин",
    "Краснов", "Майоров", "Демидов", "Елисеев", "Рыбаков", "Сафонов", "Плотников", "Демин", "Хохлов", "Жданов",
]
# Surnames that do not change for women (and most of which do not decline).
INVARIABLE_SURNAMES = ["Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Черных", "Седых", "Дурново",
                       "Ким", "Цой", "Гайдай", "Шульц"]
MALE_NAMES = [("Александр", "Александрович", "Александровна"), ("Алексей", "Алексеевич", "Алексеевна"),
              ("Андрей", "Андреевич", "Андреевна"), ("Борис", "Борисович", "Борисовна"),
              ("Валерий", "Валерьевич", "Валерьевна"), ("Василий", "Васильевич", "Васильевна"),
              ("Виктор", "Викторович", "Викторовна"), ("Владимир", "Владимирович", "Владимировна"),
              ("Геннадий", "Геннадьевич", "Геннадьевна"), ("Григорий", "Григорьевич", "Григорьевна"),
              ("Дмитрий", "Дмитриевич", "Дмитриевна"), ("Евгений", "Евгеньевич", "Евгеньевна"),
              ("Иван", "Иванович", "Ивановна"), ("Игорь", "Игоревич", "Игоревна"), ("Илья", "Ильич", "Ильинична"),
              ("Константин", "Константинович", "Константиновна"), ("Михаил", "Михайлович", "Михайловна"),
              ("Николай", "Николаевич", "Николаевна"), ("Олег", "Олегович", "Олеговна"),
              ("Павел", "Павлович", "Павловна"), ("Пётр", "Петрович", "Петровна"), ("Сергей", "Сергеевич", "Сергеевна"),
              ("Юрий", "Юрьевич", "Юрьевна"), ("Фёдор", "Фёдорович", "Фёдоровна"), ("Анатолий", "Анатольевич", "Анатольевна")]
FEMALE_NAMES = ["Анна", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Мария", "Людмила", "Галина",
                "Марина", "Надежда", "Валентина", "Екатерина", "Любовь", "Нина", "Вера", "Лариса", "Юлия", "Зинаида",
                "Раиса", "Алла", "Тамара", "Оксана", "Жанна"]
STREETS = ["Садовая", "Лесная", "Центральная", "Вишнёвая", "Яблоневая", "Речная", "Полевая", "Сиреневая"]


def female_surname(male: str) -> str:
    if male in INVARIABLE_SURNAMES:
        return male
    if male.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return male + "а"
    if male.endswith("ий"):
        return male[:-2] + "ая"
    return male


@dataclass
class Person:
    last: str
    first: str
    middle: str
    female: bool

    @property
    def full_name(self) -> str:
        return f"{self.last} {self.first} {self.middle}"


def random_person(rng: random.Random, female: bool | None = None, surname: str | None = None) -> Person:
    female = rng.random() < 0.5 if female is None else female
    male_last = surname or rng.choice(MALE_SURNAMES + INVARIABLE_SURNAMES[:6])
    father = rng.choice(MALE_NAMES)
    if female:
        return Person(female_surname(male_last), rng.choice(FEMALE_NAMES), father[2], True)
    return Person(male_last, rng.choice(MALE_NAMES)[0], father[1], False)


def random_inn(rng: random.Random) -> str:
    return fields.make_person_inn(f"{rng.choice([50, 77, 71, 40, 69])}{rng.randrange(10**8):08d}")


def random_phone(rng: random.Random) -> str:
    return f"+79{rng.randrange(10**9):09d}"


def org_inn_with_check(first9: str) -> str:
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return first9 + str(sum(int(d) * w for d, w in zip(first9, weights)) % 11 % 10)


def account_for_bik(bik: str, body: str) -> str:
    """A 20-digit account "40703810K" + 11 digits whose key K agrees with the BIK."""
    for key in range(10):
        account = body[:8] + str(key) + body[9:]
        if cooperative.account_matches_bik(account, bik):
            return account
    raise ValueError("no key digit fits")


@dataclass
class DemoMember:
    reg_no: str
    person: Person
    status: str
    join_date: date
    exit_date: date | None
    inn: str | None
    phone: str | None
    email: str | None
    address: str
    plots: list[tuple[str, Decimal, tuple[int, int]]] = field(default_factory=list)  # number, area, share
    family_of: str | None = None


def build_members(n: int = 300, seed: int = 2026) -> list[DemoMember]:
    """n members: ~15 % spouses of another member (same surname and address), 3 pairs of full namesakes."""
    rng = random.Random(seed)
    members: list[DemoMember] = []
    plot_no = 0
    used_names: set[str] = set()
    namesake_at = {n // 5, n // 2, (4 * n) // 5}
    while len(members) < n:
        idx = len(members)
        reg_no = str(idx + 1)
        spouse_of: DemoMember | None = None
        if idx in namesake_at and members:
            src = members[rng.randrange(len(members))]
            person = Person(src.person.last, src.person.first, src.person.middle, src.person.female)
        elif members and members[-1].family_of is None and rng.random() < 0.15:
            spouse_of = members[-1]
            head = spouse_of.person
            person = random_person(rng, female=not head.female, surname=_male_form(head.last))
        else:
            person = random_person(rng)
            while person.full_name in used_names:
                person = random_person(rng)
        used_names.add(person.full_name)
        join = date(2005, 1, 1) + timedelta(days=rng.randrange(365 * 20))
        status = rng.choices(["member", "applicant", "withdrawn", "excluded", "deceased"], [90, 3, 4, 1, 2])[0]
        exit_date = join + timedelta(days=rng.randrange(300, 2000)) if status in ("withdrawn", "excluded", "deceased") else None
        m = DemoMember(
            reg_no=reg_no, person=person, status=status, join_date=join, exit_date=exit_date,
            inn=random_inn(rng) if rng.random() < 0.7 else None,
            phone=random_phone(rng) if rng.random() < 0.9 else None,
            email=f"user{idx + 1}@example.ru" if rng.random() < 0.4 else None,
            address=f"Московская обл., г. Дмитров, ул. {rng.choice(STREETS)}, д. {rng.randrange(1, 80)}",
        )
        if spouse_of is not None:
            m.family_of = spouse_of.reg_no
            m.address = spouse_of.address
            if rng.random() < 0.5:
                # Spouses co-own the head's plot half and half.
                number, area, _ = spouse_of.plots[0]
                spouse_of.plots[0] = (number, area, (1, 2))
                m.plots.append((number, area, (1, 2)))
        if not m.plots:
            for _ in range(rng.choices([1, 2, 3], [85, 12, 3])[0]):
                plot_no += 1
                suffix = "а" if rng.random() < 0.03 else ""
                m.plots.append((f"{plot_no}{suffix}", Decimal(rng.choice([400, 500, 600, 600, 600, 800, 1000, 1200])),
                                (1, 1)))
        members.append(m)
    return members


def _male_form(surname: str) -> str:
    if surname.endswith(("ова", "ева", "ёва", "ина", "ына")):
        return surname[:-1]
    if surname.endswith("ая"):
        return surname[:-2] + "ий"
    return surname


DEMO_SETTINGS = {
    "name": "СНТ «Рассвет»", "type": "СНТ", "kpp": "500701001",
    "address": "141800, Московская обл., Дмитровский р-н, СНТ «Рассвет»",
    "bik": "044525225", "bank_name": "ПАО Сбербанк", "corr_account": "30101810400000000225",
    "timezone": "Europe/Moscow", "chairman": "Кузнецова Ольга Петровна",
}


def demo_settings() -> dict[str, str]:
    values = dict(DEMO_SETTINGS)
    values["inn"] = org_inn_with_check("500701234")
    ogrn12 = "114500700123"
    values["ogrn"] = ogrn12 + str(int(ogrn12) % 11 % 10)
    values["bank_account"] = account_for_bik(values["bik"], "40703810040000012345")
    return values


DEMO_TARIFFS = Path(__file__).resolve().parent.parent / "data" / "demo-tariffs.toml"


def create_demo(db: Database, n: int = 300, seed: int = 2026, through: date | None = None) -> int:
    """Fill an empty database with the demo cooperative, its tariffs, charges and payments; returns members."""
    if db.scalar("SELECT count(*) FROM members"):
        return 0
    count = _create_members(db, n, seed)
    from . import accruals, matching, tariffs

    tariffs.load_tariffs(db, DEMO_TARIFFS.read_bytes(), DEMO_TARIFFS.name, actor="demo")
    through = through or date.today()
    accruals.accrue(db, through, actor="demo")
    demo_matched_payments(db, min(through, date(DEMO_YEAR, 1, 1) - timedelta(days=1)), seed)
    matching.match_payments(db, actor="demo")  # the demo statement's payments, as the accountant would run it
    demo_report_form(db)
    from . import notify

    notify.default_debt_rule(db, actor="demo")
    demo_consents(db)
    return count


def demo_consents(db: Database) -> None:
    """Two members in three signed the cooperative's form agreeing to SMS notices (e-mail needs none); the rest
    did not, so the demo plan shows members skipped for lack of consent."""
    now = utcnow()
    ids = [r[0] for r in db.fetchall("SELECT id FROM members WHERE phones IS NOT NULL ORDER BY id")]
    with db.transaction() as con:
        insert_rows(con, "member_consents", [
            {"member_id": mid, "channel": "sms", "granted": True, "since": None, "basis": "form",
             "basis_text": "заявление о согласии на SMS-уведомления", "recorded_at": now, "recorded_by": "demo"}
            for n, mid in enumerate(ids) if n % 3 != 2])


# Thousands of rubles: the lines of last year's report the ledger cannot know (balance, spending).
DEMO_BOUPR_LINES = {
    "1150": [1200, 1250, 1300], "1250": [850, 620, 400], "1230": [310, 280, 250],
    "1350": [2180, 2000, 1850], "1520": [180, 150, 100],
    "6100": [1500, 1365], "6250": [40, 35], "6310": [1200, 1100], "6320": [1100, 1000], "6330": [0, 200],
}


def demo_report_form(db: Database) -> None:
    """The accountant's saved NO_BOUPR form of the year before the demo year, so this year's is prefilled."""
    from .reports import boupr

    form = boupr.prefill(db, DEMO_YEAR - 1)
    form.lines.update({code: list(values) for code, values in DEMO_BOUPR_LINES.items()})
    form.contributions["membership"][1] = 2400
    form.lines["6210"][1] = sum(v[1] for v in form.contributions.values())
    boupr.save(db, form, actor="demo")


def demo_matched_payments(db: Database, through: date, seed: int = 2026) -> int:
    """Matched payments for the demo charges of the years before the demo bank statement (whose payments the
    matcher attributes): most on time, some late, some never. Only into a ledger without matched payments."""
    if db.scalar("SELECT count(*) FROM member_payments"):
        return 0
    rng = random.Random(seed)
    charges = db.fetchall("SELECT c.member_id, c.contribution, c.due_date, c.amount, m.full_name, c.period_start "
                          "FROM charges c JOIN members m ON m.id = c.member_id ORDER BY c.id")
    habits: dict[int, float] = {}
    payments, matches = [], []
    now = utcnow()
    words = {"member": "Членский взнос за {year} г.", "garbage": "Вывоз мусора за {month:02d}.{year}",
             "road": "Целевой взнос на дорогу"}
    for member_id, code, due, amount, name, period_start in charges:
        habit = habits.setdefault(member_id, rng.choices([1.0, 0.97, 0.9, 0.6, 0.0], [55, 20, 12, 8, 5])[0])
        if rng.random() >= habit:
            continue
        late = [-20, -10, -5, -1, 0] if habit == 1.0 else [-20, -10, -5, -1, 0, 0, 3, 15, 40, 120]
        day = due + timedelta(days=rng.choice(late))
        if day > through:
            continue
        pay = amount if habit > 0.95 or rng.random() < 0.8 else (amount / 2).quantize(Decimal("0.01"))
        purpose = words[code].format(year=period_start.year, month=period_start.month) \
            if rng.random() < 0.8 else "Оплата взносов"
        number = len(payments) + 1
        payments.append({"fingerprint": number, "doc_date": day, "doc_number": str(number),
                         "amount": pay, "direction": "in", "payer_name": name, "purpose": purpose, "created_at": now})
        matches.append({"fingerprint": number, "status": "auto", "member_id": member_id,
                        "confidence": Decimal(1), "reason": "демо", "decided_at": now})
    with db.transaction() as con:
        ids = dict((fp, pid) for pid, fp in insert_rows(con, "payments", payments, returning="id, fingerprint"))
        for m in matches:
            m["payment_id"] = ids[m.pop("fingerprint")]
        insert_rows(con, "matches", matches)
    return len(payments)


def _create_members(db: Database, n: int, seed: int) -> int:
    cooperative.save_settings(db, demo_settings(), actor="demo")
    members = build_members(n, seed)
    now = utcnow()
    with db.transaction() as con:
        plot_ids: dict[str, int] = {}
        for m in members:
            member_id = con.execute(
                "INSERT INTO members (reg_no, full_name, status, join_date, exit_date, inn, phones, emails, address, "
                "notes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [m.reg_no, m.person.full_name, m.status, m.join_date, m.exit_date, m.inn, m.phone, m.email, m.address,
                 f"супруг(а) члена л/с {m.family_of}" if m.family_of else None, now, now]).fetchone()[0]
            con.execute("INSERT INTO member_statuses VALUES (?, 'member', ?, ?, 'демо', NULL)", [member_id, m.join_date, now])
            if m.status != "member":
                con.execute("INSERT INTO member_statuses VALUES (?, ?, ?, ?, 'демо', NULL)",
                            [member_id, m.status, m.exit_date or m.join_date, now])
            for number, area, (num, den) in m.plots:
                if number not in plot_ids:
                    plot_ids[number] = con.execute(
                        "INSERT INTO plots (number, cadastral_no, area, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                        [number, f"50:04:0010{len(plot_ids) // 100 + 1:02d}:{len(plot_ids) + 100}", area, now]).fetchone()[0]
                con.execute("INSERT INTO plot_owners VALUES (?, ?, ?, ?, ?, ?)",
                            [plot_ids[number], member_id, num, den, m.join_date, m.exit_date])
    load_demo_statement(db, seed, members)
    from .members import seal_plaintext

    seal_plaintext(db)  # personal data is stored encrypted (152-ФЗ)
    return len(members)


# -- demo bank statement --------------------------------------------------------------------------------

DEMO_YEAR = 2026
FEE_PER_SOTKA = Decimal("1000.00")        # membership fee, rubles per 100 m² a year
PERSON_BANKS = [("044525225", "ПАО СБЕРБАНК"), ("044525974", "АО «ТБанк»"), ("044525187", "Банк ВТБ (ПАО)"),
                ("044525593", "АО «АЛЬФА-БАНК»")]
SBER_TRANSIT = "30232810838000000000"     # the bank's SBP settlement account, the payer of SBP transfers
COUNTERPARTIES = [  # name, INN (first 9 digits), account body, purpose incoming/outgoing
    ("ПАО «МТС»", "770704013", "40702810038180000001", "in", "Арендная плата за размещение антенны связи за {month} {year} г. по дог. 77/А. НДС не облагается"),
    ("АО «Мосэнергосбыт»", "773617217", "40702810938000000002", "out", "Оплата электроэнергии по договору 55/ЭС за {month} {year} г. Без НДС"),
    ("ООО «ЭкоЛайн»", "500703911", "40702810640000000003", "out", "Вывоз ТКО за {month} {year} г. по счету {number}. Без НДС"),
    ("ООО «Дорстрой»", "500704217", "40702810040000000004", "out", "Оплата по договору 12-Д от 01.03.{year} за ремонт дороги. Без НДС"),
    ("АО «Мосэнергосбыт»", "773617217", "40702810938000000002", "in", "Возврат излишне уплаченной суммы по договору 55/ЭС. Без НДС"),
]
MONTHS = ["январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь"]


def _initials(p: Person) -> str:
    return f"{p.last} {p.first[0]}.{p.middle[0]}."


def _person_account(reg_no: str, bik: str) -> str:
    return account_for_bik(bik, f"408178100{int(reg_no) * 7919 % 10**11:011d}")


def demo_payments(members: list[DemoMember], count: int | None = None, seed: int = 2026,
                  year: int = DEMO_YEAR):
    """Deterministic bank payments of a year for the demo members, as a real СНТ statement has them.

    Members pay their fee in many ways: a purpose naming the plot and the payer ("Членский взнос за 2026 г.
    уч. 12 Иванов И.И."), the register number ("л/с 15"), SBP transfers where only the purpose names the person
    ("Перевод от ИВАНОВ ИВАН И."), a spouse paying for the other, in two parts, with a target fee or electricity;
    besides there is non-member income and the cooperative's own outgoing payments. With `count` the patterns
    repeat until that many payments (the benchmark's 100,000-document statement).
    """
    from .bankformats import BankPayment

    rng = random.Random(seed)
    settings = demo_settings()
    ours, coop_inn, coop_name = settings["bank_account"], settings["inn"], settings["name"]
    active = [m for m in members if m.status in ("member", "applicant")] or members
    by_reg = {m.reg_no: m for m in members}
    result: list[BankPayment] = []
    number = 0

    def day() -> date:
        return date(year, 1, 9) + timedelta(days=rng.randrange(340))

    def incoming(m: DemoMember, amount: Decimal, purpose: str, when: date, sbp: bool = False, payer: DemoMember | None = None):
        nonlocal number
        number += 1
        who = payer or m
        bik, _ = PERSON_BANKS[int(who.reg_no) % len(PERSON_BANKS)]
        if sbp:
            name, inn, account, bik = "ПАО СБЕРБАНК", "7707083893", SBER_TRANSIT, "044525225"
        else:
            p = who.person
            name = p.full_name.upper() if int(who.reg_no) % 3 == 0 else p.full_name
            inn, account = who.inn, _person_account(who.reg_no, bik)
        result.append(BankPayment(
            line=0, doc_date=when, doc_number=str(number % 900000 + 1), amount=amount, direction="in", our_account=ours,
            payer_name=name, payer_inn=inn, payer_account=account, payer_bik=bik, payee_name=coop_name,
            payee_inn=coop_inn, payee_account=ours, payee_bik=settings["bik"], purpose=purpose,
            doc_kind="Платежное поручение", posted_date=when))

    def other(entry, when: date):
        nonlocal number
        number += 1
        name, inn9, body, direction, text = entry
        month = MONTHS[when.month - 1]
        account = account_for_bik("044525225", body)
        purpose = text.format(month=month, year=year, number=number)
        amount = Decimal(rng.randrange(1500, 60000)) + Decimal(rng.randrange(100)) / 100
        party = dict(name=name, inn=org_inn_with_check(inn9), account=account, bik="044525225")
        payment = BankPayment(line=0, doc_date=when, doc_number=str(number % 900000 + 1), amount=amount,
                              direction=direction, our_account=ours, purpose=purpose, doc_kind="Платежное поручение",
                              posted_date=when)
        us = dict(name=coop_name, inn=coop_inn, account=ours, bik=settings["bik"])
        payer, payee = (party, us) if direction == "in" else (us, party)
        payment.payer_name, payment.payer_inn, payment.payer_account, payment.payer_bik = payer.values()
        payment.payee_name, payment.payee_inn, payment.payee_account, payment.payee_bik = payee.values()
        result.append(payment)

    def bank_fee(when: date):
        nonlocal number
        number += 1
        result.append(BankPayment(
            line=0, doc_date=when, doc_number=str(number % 900000 + 1), amount=Decimal("1490.00"), direction="out",
            our_account=ours, payer_name=coop_name, payer_inn=coop_inn, payer_account=ours, payer_bik=settings["bik"],
            payee_name="ПАО СБЕРБАНК", payee_inn="7707083893", payee_account="70601810038002740201",
            payee_bik="044525225", purpose=f"Комиссия за ведение счета за {MONTHS[when.month - 1]} {year} г.",
            doc_kind="Банковский ордер", posted_date=when))

    rounds = 0
    while True:
        for m in active:
            if count is not None and len(result) >= count:
                break
            plots = m.plots or [("1", Decimal(600), (1, 1))]
            area = sum(a for _, a, _ in plots)
            fee = (FEE_PER_SOTKA * area / 100).quantize(Decimal("0.01"))
            plot_text = ", ".join(n for n, _, _ in plots)
            style = (int(m.reg_no) + rounds) % 10
            when = day()
            p = m.person
            if style in (0, 1, 2):
                incoming(m, fee, f"Членский взнос за {year} г. уч. {plot_text} {_initials(p)}", when)
            elif style == 3:
                incoming(m, fee, f"Оплата членских взносов л/с {m.reg_no}", when)
            elif style == 4:
                incoming(m, fee, f"Перевод от {p.last.upper()} {p.first.upper()} {p.middle[0].upper()}. "
                                 f"Назначение: взнос {year}. Без НДС", when, sbp=True)
            elif style == 5 and m.family_of and m.family_of in by_reg:
                head = by_reg[m.family_of]
                incoming(head, fee, f"Членский взнос {year} уч. {', '.join(n for n, _, _ in head.plots)} "
                                    f"за {_initials(head.person)}", when, payer=m)
            elif style == 6:
                half = (fee / 2).quantize(Decimal("0.01"))
                incoming(m, half, f"Членский взнос {year} (1 часть) участок {plot_text}", when)
                incoming(m, fee - half, f"Членский взнос {year} (2 часть) участок {plot_text}",
                         min(when + timedelta(days=60), date(year, 12, 30)))
            elif style == 7:
                incoming(m, Decimal("3000.00"), f"Целевой взнос на ремонт дороги {year}, участок {plot_text}", when)
            elif style == 8:
                incoming(m, Decimal(rng.randrange(300, 4000)) + Decimal("0.50"),
                         f"Оплата электроэнергии уч.{plot_text} показания {rng.randrange(1000, 99999)}", when)
            else:
                incoming(m, fee, "Взнос", when)
        if count is not None and len(result) >= count:
            break
        for month in range(1, 13):
            when = date(year, month, 1) + timedelta(days=rng.randrange(27))
            for entry in COUNTERPARTIES:
                if entry[3] == "out" or month % 3 == 0:
                    other(entry, when)
            bank_fee(date(year, month, 28))
        rounds += 1
        if count is None or len(result) >= count:
            break
    result = result[:count] if count is not None else result
    result.sort(key=lambda x: (x.doc_date, int(x.doc_number)))
    return result


def demo_statement(members: list[DemoMember] | None = None, count: int | None = None, seed: int = 2026,
                   year: int = DEMO_YEAR, **write_options) -> bytes:
    """The demo statement as a 1CClientBankExchange file (kl_to_1c.txt) in cp1251 with CRLF."""
    from .bankformats import write_1c

    payments = demo_payments(members if members is not None else build_members(), count, seed, year)
    last = max(p.doc_date for p in payments)
    return write_1c(payments, demo_settings()["bank_account"], date(year, 1, 1), last,
                    opening=Decimal("152340.17"), **write_options)


def load_demo_statement(db: Database, seed: int = 2026, members: list[DemoMember] | None = None) -> int:
    """Import the demo statement into the demo ledger; returns the number of new incoming payments."""
    from . import statements

    data = demo_statement(members if members is not None else build_members(300, seed), seed=seed)
    return statements.import_statement(db, data, f"kl_to_1c_{DEMO_YEAR}.txt", actor="demo").new
