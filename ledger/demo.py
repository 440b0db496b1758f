"""A deterministic demo cooperative: about 300 members with plots, families and a few full namesakes.

The same seed always gives the same cooperative, so `make run` shows the same living app everywhere and
tests can rely on it. The person generator is shared with the matching benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from . import cooperative, fields
from .db import Database, utcnow

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
    "bik": "044525225", "bank_name": "ПАО Сбербанк", "chairman": "Кузнецова Ольга Петровна",
}


def demo_settings() -> dict[str, str]:
    values = dict(DEMO_SETTINGS)
    values["inn"] = org_inn_with_check("500701234")
    ogrn12 = "114500700123"
    values["ogrn"] = ogrn12 + str(int(ogrn12) % 11 % 10)
    values["bank_account"] = account_for_bik(values["bik"], "40703810040000012345")
    return values


def create_demo(db: Database, n: int = 300, seed: int = 2026) -> int:
    """Fill an empty database with the demo cooperative; returns the number of members."""
    if db.scalar("SELECT count(*) FROM members"):
        return 0
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
    return len(members)
