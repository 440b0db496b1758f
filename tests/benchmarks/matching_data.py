"""A labelled synthetic cooperative for the matching benchmarks.

Members come from ledger.demo.build_members (families, co-owned plots, namesakes), with extra full
namesakes, hyphenated surnames, INNs and people's bank accounts. Payments are written the many ways people
and banks write them; the phrasings and the declension of names here are written independently of the
matcher (no pymorphy, no shared regexes). Every payment carries its truth: the register number(s) it is
for (empty for income that is not from members) and whether the statement alone tells the member.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ledger import demo
from ledger.db import Database, insert_rows, utcnow
from ledger.demo import Person

BANKS = [("ПАО СБЕРБАНК", "7707083893", "30232810838000000000"), ("АО \"ТИНЬКОФФ БАНК\"", "7710140679",
         "30232810100000000004"), ("Банк ВТБ (ПАО)", "7702070139", "30232810300000000001"),
         ("АО \"АЛЬФА-БАНК\"", "7728168971", "30232810200000000002")]
HEADS = ["Членский взнос", "членские взносы", "Оплата членского взноса", "Взнос", "Целевой взнос",
         "оплата за электроэнергию", "Электроэнергия", "Вывоз мусора", "Членские и целевые взносы", "Оплата взносов",
         "ВЗНОСЫ", "Оплата по квитанции", "Взнос на ремонт дороги", "Оплата членских взносов", "членвзнос",
         "Платёж в СНТ", "Оплата услуг", "Взносы на содержание имущества"]
TAILS = ["за 2024 год", "за 2025 г.", "2025", "НДС не облагается", "Без НДС", "за 1 полугодие 2025",
         "по квитанции № 34", "за период 01.01.2025-31.12.2025", "долг за 2023 г", "сумма 4500 руб.",
         "по договору № 17 от 12.03.2021", "счет 45 от 01.02.2025", "за 2 кв. 2025", "участник 5", "", "", "", ""]
LS_FORMS = ["л/с {n}", "Л/С {z}", "лс{n}", "лицевой счет {n}", "ЛС№{n}", "л.с. {n}", "лиц. счёт № {n}",
            "по лицевому счету {n}", "Л/счет {n}", "ЛС {n}", "л/сч {n}", "номер л/с: {n}", "(л/с {n})",
            "лицевой счёт №{z}"]
PLOT_FORMS = ["уч. {p}", "участок № {p}", "уч-к {p}", "УЧАСТОК {p}", "за участок {p}", "уч.№{p}", "участок{p}",
              "уч {p}", "по участку {p}", "уч-ку {p}", "з/у {p}", "зем. участок {p}", "Участок №{p}", "уч.{p}"]
RELATIVE_WORDS = ["маму", "мужа", "жену", "отца", "сына", "дочь", "бабушку", "сестру", "брата", "тёщу"]
NON_MEMBER = [
    ("ООО \"ЭНЕРГОСБЫТ\"", "5024123456", "Возврат переплаты по договору № 45 от 01.03.2025"),
    ("ООО \"СТРОЙМАТЕРИАЛЫ\"", "5007012345", "Возврат ошибочно перечисленных средств по счету 12"),
    ("УФК по Московской области (Администрация Дмитровского г.о.)", "5007001234",
     "Субсидия на ремонт дороги по соглашению № 3"),
    ("ПАО СБЕРБАНК", "7707083893", "Выплата процентов на остаток по счету за март 2025"),
    ("ПАО СБЕРБАНК", "7707083893", "Капитализация процентов по вкладу"),
    ("АО \"МОСОБЛГАЗ\"", "5032292612", "Компенсация расходов по договору 17, уч. работ 2"),
    ("ООО \"ВОДОКАНАЛ-СЕРВИС\"", "5007098765", "Возврат аванса по счету № 88"),
    ("Министерство сельского хозяйства Московской области", "5024098765", "Грант на развитие инфраструктуры"),
]
SURNAME_ENDINGS = ("ов", "ев", "ёв", "ин", "ын")
_LAT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t",
                 "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


# -- declension written by hand (independent of the matcher's pymorphy3) ------------------------

def decline_surname(s: str, female: bool, case: str) -> str:
    if case == "nomn":
        return s
    if "-" in s:
        return "-".join(decline_surname(p, female, case) for p in s.split("-"))
    low = s.lower()
    if not female and low.endswith(SURNAME_ENDINGS):
        return s + {"gent": "а", "datv": "у", "accs": "а", "ablt": "ым"}[case]
    if female and low.endswith(("ова", "ева", "ёва", "ина", "ына")):
        return s[:-1] + {"gent": "ой", "datv": "ой", "accs": "у", "ablt": "ой"}[case]
    return s


def decline_first(name: str, female: bool, case: str) -> str:
    if case == "nomn":
        return name
    low = name.lower()
    if name == "Любовь":
        return {"gent": "Любови", "datv": "Любови", "accs": "Любовь", "ablt": "Любовью"}[case]
    if low.endswith(("ия", "ья")):
        return name[:-1] + {"gent": "и", "datv": "и" if low.endswith("ия") else "е", "accs": "ю", "ablt": "ей"}[case]
    if low.endswith("а"):
        soft = low[-2] in "гкхжшчщ"
        return name[:-1] + {"gent": "и" if soft else "ы", "datv": "е", "accs": "у", "ablt": "ой"}[case]
    if low.endswith("я"):
        return name[:-1] + {"gent": "и", "datv": "е", "accs": "ю", "ablt": "ей"}[case]
    if low.endswith("й"):
        return name[:-1] + {"gent": "я", "datv": "ю", "accs": "я", "ablt": "ем"}[case]
    if low.endswith("ь"):
        return name[:-1] + {"gent": "я", "datv": "ю", "accs": "я", "ablt": "ем"}[case]
    if name == "Пётр":
        return {"gent": "Петра", "datv": "Петру", "accs": "Петра", "ablt": "Петром"}[case]
    if name == "Павел":
        return {"gent": "Павла", "datv": "Павлу", "accs": "Павла", "ablt": "Павлом"}[case]
    return name + {"gent": "а", "datv": "у", "accs": "а", "ablt": "ом"}[case]


def decline_patronymic(p: str, female: bool, case: str) -> str:
    if case == "nomn":
        return p
    if female:
        return p[:-1] + {"gent": "ы", "datv": "е", "accs": "у", "ablt": "ой"}[case]
    return p + {"gent": "а", "datv": "у", "accs": "а", "ablt": "ем"}[case]


def latin(text: str) -> str:
    return "".join(_LAT.get(ch, ch) for ch in text.lower()).upper()


def typo(word: str, rng: random.Random) -> str:
    """One letter of the word (not the first) replaced by a neighbour on the keyboard or a vowel."""
    pos = rng.randrange(2, len(word) - 1) if len(word) > 4 else 1
    ch = word[pos].lower()
    swap = {"а": "о", "о": "а", "е": "и", "и": "е", "н": "м", "в": "ф", "с": "з", "к": "г", "р": "п", "т": "д",
            "л": "д", "у": "ю", "ы": "и", "м": "н", "д": "т", "я": "а", "ч": "щ", "ш": "щ", "б": "п", "г": "к"}
    new = swap.get(ch, "е" if ch != "е" else "и")
    if word[pos].isupper():
        new = new.upper()
    return word[:pos] + new + word[pos + 1:]


def render(p: Person, style: str, case: str = "nomn") -> str:
    s = decline_surname(p.last, p.female, case)
    f = decline_first(p.first, p.female, case)
    m = decline_patronymic(p.middle, p.female, case)
    i1, i2 = p.first[0], p.middle[0]
    return {
        "full": f"{s} {f} {m}", "FULL": f"{s} {f} {m}".upper(), "sii": f"{s} {i1}.{i2}.", "s_i_i": f"{s} {i1}. {i2}.",
        "iis": f"{i1}.{i2}. {s}", "fms": f"{f} {m} {s}", "fmi": f"{f} {m} {s[0]}.", "SII": f"{s.upper()} {i1} {i2}",
        "latin": f"{latin(p.last)} {latin(p.first)} {latin(p.middle)}", "latin2": f"{latin(p.last)} {latin(p.first)}",
        "si": f"{s} {i1}.", "s": s, "sf": f"{s} {f}", "e": f"{s} {f} {m}".replace("ё", "е").replace("Ё", "Е"),
    }[style]


# -- the cooperative ----------------------------------------------------------------------------

@dataclass
class Member:
    reg_no: str
    person: Person
    inn: str | None
    account: str | None
    plots: list[str]
    co_owned: set[str]
    address: str
    family: list[int]


@dataclass
class Sample:
    row: dict
    truth: frozenset[str]        # register numbers the money is for; empty for non-member income
    determinable: bool           # the statement alone tells the (single) member
    category: str
    fits: int = 1                # how many members the statement fits equally (namesakes, co-owners, conflicts)


def build_coop(n: int, seed: int) -> list[Member]:
    rng = random.Random(seed + 1)
    base = demo.build_members(n, seed)
    members: list[Member] = []
    owners: Counter = Counter()
    for d in base:
        for number, _, _ in d.plots:
            owners[number] += 1
    for d in base:
        p = Person(d.person.last, d.person.first, d.person.middle, d.person.female)
        account = f"40817810{rng.randrange(10**12):012d}" if rng.random() < 0.75 else None
        members.append(Member(d.reg_no, p, d.inn, account, [x[0] for x in d.plots],
                              {x[0] for x in d.plots if owners[x[0]] > 1}, d.address, []))
    # More full namesakes (1 %) and hyphenated surnames (1 %).
    for _ in range(max(3, n // 100)):
        a, b = rng.sample(range(n), 2)
        src = members[a].person
        members[b].person = Person(src.last, src.first, src.middle, src.female)
    for i in rng.sample(range(n), max(3, n // 100)):
        p = members[i].person
        other = rng.choice(demo.MALE_SURNAMES)
        p.last = p.last + "-" + (demo.female_surname(other) if p.female else other)
    index = {d.reg_no: i for i, d in enumerate(base)}
    for i, d in enumerate(base):
        if d.family_of is not None:       # spouses: same address, same surname
            j = index[d.family_of]
            members[i].family.append(j)
            members[j].family.append(i)
    return members


def store_coop(db: Database, members: list[Member]) -> None:
    now = utcnow()
    with db.transaction() as con:
        ids = insert_rows(con, "members", [
            {"reg_no": m.reg_no, "full_name": f"{m.person.last} {m.person.first} {m.person.middle}", "status": "member",
             "inn": m.inn, "address": m.address, "created_at": now, "updated_at": now} for m in members],
            returning="id")
        numbers = sorted({p for m in members for p in m.plots})
        plot_ids = insert_rows(con, "plots", [{"number": p, "created_at": now} for p in numbers],
                               returning="id, number")
        by_number = {num: pid for pid, num in plot_ids}
        insert_rows(con, "plot_owners", [
            {"plot_id": by_number[p], "member_id": mid[0], "share_num": 1, "share_den": 2 if p in m.co_owned else 1}
            for m, mid in zip(members, ids) for p in m.plots])


# -- payments -----------------------------------------------------------------------------------

class Generator:
    def __init__(self, members: list[Member], seed: int):
        self.rng = random.Random(seed + 2)
        self.members = members
        self.full_count = Counter(self._full(m.person) for m in members)
        self.sii_count = Counter(self._sii(m.person) for m in members)
        self.plot_owner_count = Counter(p for m in members for p in m.plots)
        self.name_count = Counter(self._style_key(m.person, st) for m in members
                                  for st in ("full", "sf", "fmi", "si", "s", "sii"))
        self.address_count = Counter(m.address for m in members)
        self.namesakes = [i for i, x in enumerate(members) if not self.unique_full(x)]
        self.hyphenated = [i for i, x in enumerate(members) if "-" in x.person.last]
        self.co_owners = [i for i, x in enumerate(members) if x.co_owned]
        self.by_plot: dict[str, list[int]] = {}
        for i, m in enumerate(members):
            for p in m.plots:
                self.by_plot.setdefault(p, []).append(i)
        self.seen_account: dict[str, str] = {}     # account -> reg_no of an earlier telling payment
        self.n = 0
        self.day = date(2025, 1, 9)

    @staticmethod
    def _full(p: Person) -> str:
        return f"{p.last}|{p.first}|{p.middle}".lower().replace("ё", "е")

    @staticmethod
    def _sii(p: Person) -> str:
        return f"{p.last}|{p.first[0]}|{p.middle[0]}".lower().replace("ё", "е")

    def unique_full(self, m: Member) -> bool:
        return self.full_count[self._full(m.person)] == 1

    def unique_sii(self, m: Member) -> bool:
        return self.sii_count[self._sii(m.person)] == 1

    def fits(self, m: Member, style: str) -> int:
        """How many members the name as written fits (surname gender left open: "Степанова" is both)."""
        return self.name_count[self._style_key(m.person, style)]

    @staticmethod
    def _style_key(p: Person, style: str) -> tuple:
        last = demo._male_form(p.last.replace("ё", "е").replace("Ё", "Е").split("-")[0]).lower()
        first, middle = p.first.lower().replace("ё", "е"), p.middle.lower().replace("ё", "е")
        if style in ("full", "FULL", "e", "fms", "latin"):
            return ("full", last, first, middle)
        if style in ("sf", "latin2"):
            return ("sf", last, first)
        if style == "fmi":
            return ("fmi", first, middle, last[0])
        if style == "si":
            return ("si", last, first[0])
        if style == "s":
            return ("s", last)
        return ("sii", last, first[0], middle[0])

    def stranger(self, surname: str | None = None) -> Person:
        p = demo.random_person(self.rng, surname=surname)
        return Person(p.last, p.first, p.middle, p.female)

    def payment(self, payer: str, purpose: str, inn: str | None = None, account: str | None = None,
                bik: str | None = "044525225") -> dict:
        self.n += 1
        if self.rng.random() < 0.02:
            self.day += timedelta(days=1)
        amount = Decimal(self.rng.choice([1500, 2500, 3000, 4500, 5000, 6000, 7500, 12000])) + \
            Decimal(self.rng.choice([0, 0, 0, 50])) + Decimal(self.rng.randrange(0, 100)) / 100
        return {"fingerprint": self.n, "doc_date": self.day, "doc_number": str(1000 + self.n),
                "amount": amount, "direction": "in", "payer_name": payer, "payer_inn": inn, "payer_account": account,
                "payer_bik": bik, "purpose": purpose, "created_at": utcnow()}

    def head(self) -> str:
        return self.rng.choice(HEADS)

    def tail(self) -> str:
        return self.rng.choice(TAILS)

    def ls(self, m: Member) -> str:
        return self.rng.choice(LS_FORMS).format(n=m.reg_no, z=m.reg_no.zfill(6))

    def plot_text(self, plots: list[str]) -> str:
        form = self.rng.choice(PLOT_FORMS)
        if len(plots) == 1:
            return form.format(p=plots[0])
        joined = self.rng.choice([", ", " и ", ","]).join(plots)
        return self.rng.choice(["уч. {p}", "участки {p}", "уч-ки {p}", "участки № {p}"]).format(p=joined)

    def join(self, *parts: str) -> str:
        parts = [p for p in parts if p]
        if self.rng.random() < 0.5:
            self.rng.shuffle(parts)
        sep = self.rng.choice([" ", ", ", "; ", ". "])
        text = sep.join(parts)
        return text.upper() if self.rng.random() < 0.1 else text

    def payer_self(self, m: Member, styles=("full", "FULL", "sii", "s_i_i", "iis", "fms", "e")) -> tuple[str, bool]:
        style = self.rng.choice(styles)
        name = render(m.person, style)
        tells = (style in ("full", "FULL", "fms", "e") and self.unique_full(m)) or \
            (style in ("sii", "s_i_i", "iis", "SII") and self.unique_sii(m))
        return name, tells

    def sample(self, category: str) -> Sample:
        rng = self.rng
        m_i = rng.randrange(len(self.members))
        m = self.members[m_i]
        reg = frozenset({m.reg_no})
        if category == "ls":
            payer, _ = self.payer_self(self.members[rng.choice(m.family)] if m.family and rng.random() < 0.3 else m)
            return Sample(self.payment(payer, self.join(self.head(), self.ls(m), self.tail()), account=m.account),
                          reg, True, category)
        if category == "plot":
            plots = [p for p in m.plots if p not in m.co_owned]
            if not plots:
                return self.sample("ls")
            chosen = plots if len(plots) > 1 and rng.random() < 0.3 else [rng.choice(plots)]
            payer = render(self.stranger(m.person.last if rng.random() < 0.5 else None), "sii")
            return Sample(self.payment(payer, self.join(self.head(), self.plot_text(chosen), self.tail())),
                          reg, True, category)
        if category == "ls_plot":
            payer, _ = self.payer_self(m)
            return Sample(self.payment(payer, self.join(self.head(), self.ls(m), self.plot_text([m.plots[0]]),
                                                        self.tail()), account=m.account), reg, True, category)
        if category == "name_in_purpose":
            case = rng.choice(["accs", "accs", "nomn", "gent", "datv"])
            style = rng.choice(["full", "sii", "s_i_i", "FULL", "iis"])
            lead = {"accs": "за ", "gent": "для ", "datv": "", "nomn": ""}[case]
            name = render(m.person, style, case)
            tells = self.unique_full(m) if style in ("full", "FULL") else self.unique_sii(m)
            payer = render(self.stranger(), rng.choice(["full", "sii"]))
            return Sample(self.payment(payer, self.join(self.head(), lead + name, self.tail())), reg, tells, category,
                          self.fits(m, style))
        if category == "payer_name":
            style = rng.choice(["full", "FULL", "sii", "s_i_i", "iis", "fms", "e"])
            payer = render(m.person, style)
            return Sample(self.payment(payer, self.join(self.head(), self.tail()), account=m.account),
                          reg, self.fits(m, style) == 1, category, self.fits(m, style))
        if category == "inn":
            if not m.inn:
                return self.sample("payer_name")
            payer = render(m.person, rng.choice(["si", "s"]))
            return Sample(self.payment(payer, self.join(self.head(), self.tail()), inn=m.inn), reg, True, category)
        if category == "sbp":
            bank, bank_inn, transit = rng.choice(BANKS)
            style = rng.choice(["FULL", "full", "fmi", "fms"])
            name = render(m.person, style)
            tells = self.unique_full(m) if style != "fmi" else False
            if rng.random() < 0.5:
                payer = f"{bank}//{name}//г. Дмитров, ул. Садовая"
                purpose = self.join(self.head(), self.tail())
            else:
                payer = bank
                purpose = f"Перевод от {name}. " + self.join(self.head(), self.tail())
            fits = self.fits(m, style)
            if rng.random() < 0.3:
                purpose += " " + self.ls(m)
                tells, fits = True, 1
            return Sample(self.payment(payer, purpose, inn=bank_inn, account=transit), reg, tells, category, fits)
        if category == "relative_named":
            relative = self.stranger(m.person.last if rng.random() < 0.4 else None)
            case = "accs"
            style = rng.choice(["full", "sii", "s_i_i"])
            who = rng.choice(RELATIVE_WORDS)
            name = render(m.person, style, case)
            tells = self.unique_full(m) if style == "full" else self.unique_sii(m)
            purpose = self.join(self.head(), f"за {who} {name}", self.tail())
            return Sample(self.payment(render(relative, rng.choice(["full", "sii"])), purpose,
                                       account=f"40817810{rng.randrange(10**12):012d}"), reg, tells, category,
                          self.fits(m, style))
        if category == "relative_unnamed":
            if not m.family:
                return self.sample("relative_named")
            spouse = self.members[rng.choice(m.family)]
            payer, _ = self.payer_self(spouse)
            purpose = self.join(self.head(), f"за {rng.choice(['мужа', 'жену', 'супруга', 'супругу'])}", self.tail())
            return Sample(self.payment(payer, purpose, account=spouse.account), reg, False, category,
                          self.address_count[spouse.address] - 1)
        if category == "account_history":
            if not m.account:
                return self.sample("ls")
            tells = m.account in self.seen_account and self.seen_account[m.account] == m.reg_no
            if not tells and rng.random() < 0.8:
                purpose = self.join(self.head(), self.ls(m))
                self.seen_account[m.account] = m.reg_no
                tells = True
            else:
                purpose = self.join(self.head(), self.tail())
            return Sample(self.payment(render(m.person, "si"), purpose, account=m.account), reg, tells, category,
                          1 if tells else self.fits(m, "si"))
        if category == "namesake":
            m = self.members[rng.choice(self.namesakes)]
            reg = frozenset({m.reg_no})
            if rng.random() < 0.5:
                return Sample(self.payment(render(m.person, "full"), self.join(self.head(), self.tail())),
                              reg, False, "namesake_only", self.fits(m, "full"))
            return Sample(self.payment(render(m.person, "full"), self.join(self.head(), self.ls(m), self.tail())),
                          reg, True, "namesake_ls")
        if category == "two_members":
            other = self.members[rng.randrange(len(self.members))]
            if other.reg_no == m.reg_no or set(other.plots) & set(m.plots):
                return self.sample("ls")
            if rng.random() < 0.5:
                purpose = self.join(self.head(), self.plot_text([m.plots[0], other.plots[0]]))
            else:
                purpose = self.join(self.head(), f"за {render(m.person, 'sii', 'accs')} и "
                                                 f"{render(other.person, 'sii', 'accs')}")
            return Sample(self.payment(render(self.stranger(), "full"), purpose), reg | {other.reg_no}, False,
                          category)
        if category == "conflict":
            other = self.members[rng.randrange(len(self.members))]
            plots = [p for p in other.plots if p not in m.plots]
            if other.reg_no == m.reg_no or not plots:
                return self.sample("ls")
            truth = reg if rng.random() < 0.5 else frozenset({other.reg_no})
            purpose = self.join(self.head(), self.ls(m), self.plot_text([plots[0]]))
            return Sample(self.payment(render(self.stranger(), "sii"), purpose), truth, False, category, 2)
        if category == "non_member":
            name, inn, purpose = rng.choice(NON_MEMBER)
            if rng.random() < 0.15:
                name, inn = "ИП " + render(self.stranger(), "full"), None
                purpose = rng.choice(["Оплата по счету № 15 за аренду помещения", "Возврат займа по договору 3"])
            return Sample(self.payment(name, purpose, inn=inn, account="40702810" + f"{rng.randrange(10**12):012d}"),
                          frozenset(), False, category)
        if category == "no_info":
            payer = render(self.stranger(), rng.choice(["full", "sii", "fmi"]))
            purpose = rng.choice(["Взнос", "Оплата", "Перевод по номеру телефона", "За свет", self.head(),
                                  "оплата по квитанции", "Перевод денежных средств"])
            return Sample(self.payment(payer, purpose, account=f"40817810{rng.randrange(10**12):012d}"),
                          reg, False, category, 0)
        if category == "variant":
            style = rng.choice(["typo", "latin", "latin2", "e", "hyphen", "upper_init"])
            if style == "hyphen":
                m = self.members[rng.choice(self.hyphenated)]
                reg = frozenset({m.reg_no})
                name = render(m.person, rng.choice(["full", "sii", "s_i_i"]), rng.choice(["nomn", "accs"]))
                tells = self.unique_sii(m)
                return Sample(self.payment(render(self.stranger(), "sii"), self.join(self.head(), "за " + name)),
                              reg, tells, "hyphen", 1 if tells else 2)
            if style == "typo":
                p = m.person
                name = f"{typo(p.last, rng)} {p.first} {p.middle}"
                return Sample(self.payment(name, self.join(self.head(), self.tail())), reg, self.unique_full(m), "typo",
                              self.fits(m, "full"))
            if style == "latin":
                return Sample(self.payment(render(m.person, "latin"), self.join(self.head(), self.tail())),
                              reg, self.unique_full(m), "latin", self.fits(m, "latin"))
            if style == "latin2":
                same = self.fits(m, "latin2")
                return Sample(self.payment(render(m.person, "latin2"), self.join(self.head(), self.tail())),
                              reg, same == 1, "latin2", self.fits(m, "latin2"))
            if style == "e":
                name = render(m.person, "e")
                return Sample(self.payment(name.upper(), self.join(self.head(), self.tail())), reg,
                              self.unique_full(m), "yo", self.fits(m, "full"))
            name = render(m.person, "SII")
            return Sample(self.payment(name, self.join(self.head(), self.tail())), reg, self.unique_sii(m), "caps",
                          self.fits(m, "SII"))
        if category == "co_owned":
            m = self.members[rng.choice(self.co_owners)]
            reg = frozenset({m.reg_no})
            plot = sorted(m.co_owned)[0]
            purpose = self.join(self.head(), self.plot_text([plot]))
            return Sample(self.payment(render(self.stranger(), "sii"), purpose), reg, False, category,
                          self.plot_owner_count[plot])
        raise ValueError(category)


MIX = {"ls": 12, "plot": 12, "ls_plot": 6, "name_in_purpose": 10, "payer_name": 12, "inn": 5, "sbp": 8,
       "relative_named": 6, "relative_unnamed": 2, "account_history": 8, "namesake": 2.5, "two_members": 2,
       "conflict": 1.5, "non_member": 4, "no_info": 3, "variant": 6, "co_owned": 1}


def generate(members: list[Member], n: int, seed: int) -> list[Sample]:
    gen = Generator(members, seed)
    cats, weights = zip(*MIX.items())
    return [gen.sample(c) for c in gen.rng.choices(cats, weights, k=n)]


def store_payments(db: Database, samples: list[Sample]) -> list[int]:
    with db.transaction() as con:
        ids = insert_rows(con, "payments", [s.row for s in samples], returning="id")
    return [i[0] for i in ids]
