"""Reading a bank payment for matching: register numbers, plots, INNs, names and markers in its text.

Everything here works on one payment at a time (linear in the number of payments); the matcher joins
what is found to the members by keys. Names are compared through a vocabulary built from the register:
a word of the payment becomes a surname / first name / patronymic key only when one of its grammatical
forms (pymorphy3, any case, either gender), its transliteration (Latin) or a one-letter correction
(rapidfuzz) is a name some member has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import fields

# -- numbers ------------------------------------------------------------------------------------

# л/с 1234, Л/С 001234, лс1234, л.с. 12, л/сч 12, лицевой счет 1234, лиц. сч. 12, ЛС№1234, номер члена 12
_LS = re.compile(
    r"(?<![а-яёa-z])(?:л\s?[/\\.|-]?\s?с(?:ч(?:[её]т\w*)?)?\.?|лиц(?:ев\w*|\.)?\s*сч(?:[её]т\w*|\.)?"
    r"|номер\s+члена|членский\s+номер|№\s*члена)"
    r"\s*(?:№|n|#|:|-)?\s*(\d{1,8})(?!\d)(?![.,]\d)(?!\s*(?:руб|р\.|₽|коп))",
    0,
)

# уч. 45, участок № 45, уч-к 45а, УЧАСТОК 3-15, участки 12, 13 и 14, уч.№45, гараж 7, бокс 12
_PLOT_MARK = (r"(?<![а-яёa-z])(?:уч(?:аст(?:ок|ка|ку|ке|ком|ки|ков|кам|ках))?|уч-(?:ок|к[аиуе]?|ки)|у-к|з/у"
              r"|гараж(?:а|у|и|ей)?|бокс(?:а|у|ы|ов)?)\.?")
_PLOT_NUM = (r"\d{1,5}(?:(?:[а-еa-e]|\s[а-г])(?![а-яёa-z]))?"
             r"(?:\s?[-/]\s?\d{1,5}(?:[а-еa-e](?![а-яёa-z]))?)?")
_PLOTS = re.compile(
    _PLOT_MARK + r"\s*(?:№|n(?![a-z])|#|номер)?\s*(" + _PLOT_NUM + r"(?:\s*(?:,|;|\+|\bи\b)\s*№?\s*" + _PLOT_NUM + r")*)",
    0,
)
_ONE_PLOT = re.compile(_PLOT_NUM)
_YEAR_AFTER = re.compile(r"\s*(?:г\b|г\.|год)")
_LEADING_DIGITS = re.compile(r"\d+")
_RANGE_DASH = re.compile(r"[-/]")
_SPACES = re.compile(r"\s+")
_INN = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_DIGIT = re.compile(r"\d")
_NUMBERS = re.compile("|".join(f"(?:{p.pattern})" for p in (_LS, _PLOTS, _INN)))

# -- markers ------------------------------------------------------------------------------------

_NON_MEMBER = re.compile(
    r"процент|капитализ|субсид|возврат|грант|компенсац|депозит|вознагражд|кэшб|cashback|страхов|дивиденд",
    0)
_RELATIVE = re.compile(
    r"\bза\s+(?:сво\w+\s+)?(?:мужа|жену|супруг\w*|сына|дочь|дочку|маму|мать|отца|папу|брата|сестру|бабушку|дедушку"
    r"|т[её]щу|свекровь|свекра|тестя|внука|внучку|родител\w*|соседа|соседку|тётю|тетю|дядю|зятя|невестку)\b",
    0)
_ORG = re.compile(
    r"(?<![а-яёa-z])(?:ооо|ао|пао|зао|оао|нао|фгуп|гуп|муп|уфк|гку|мку|гбу|мбу|фгбу|ано|нко|тсн|снт|тсж|жск|гск"
    r"|llc|ltd|общество|администрац\w*|министерств\w*|казначейств\w*|фонд\w*|управлени\w*|департамент\w*"
    r"|комитет\w*|инспекц\w*|филиал\w*|отделени\w*|банк\w*|bank)(?![а-яёa-z])",
    0)
_BANK = re.compile(r"банк|bank|сбер|тинькофф|т-банк|втб|альфа")
# Accounts of people (40817 current, 40820 non-residents, 423 deposits) and sole traders (40802).
PERSON_ACCOUNT_PREFIXES = ("40817", "40820", "423", "40802")

# -- names --------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-zа-яё]+(?:-[a-zа-яё]+)*|\d+|//|[,;:()«»\"]")   # on folded text
# Words of purposes that are never names (also kept out of typo correction).
STOP_WORDS = frozenset("""
за от по для и в на с к о об у до из без при г гг год года году годы взнос взноса взносы взносов членский членские
членских членского целевой целевые целевых целевого оплата оплату оплаты оплачено платеж платёж платежа перевод
перевода переводу участок участка участки уч лс л сч счет счёт счета счету лицевой лицевого номер телефона телефону
снт тсн тсж жск гск днт днп кооператив товарищество ндс облагается не нет руб рубль рублей коп электроэнергия
электроэнергию электроэнергии свет вода воды воду мусор вывоз долг долга задолженность задолженности пени штраф
квартал месяц январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь января февраля марта
апреля мая июня июля августа сентября октября ноября декабря мужа жену сына дочь маму мать отца папу брата сестру
бабушку дедушку соседа соседку родителей мама папа муж жена сын дочка тещу свекровь взносу текущий текущие
содержание содержанию ремонт ремонта дороги дорог охрана охраны услуги услуг ежегодный ежегодные вступительный
вступительные целевой оплачиваю плачу через сбербанк онлайн мобильный банк сбп система быстрых платежей назначение
платежа дата сумма кв м договор договору договора счету квитанция квитанции согласно период период за период
""".split())
_FIO_BEFORE = frozenset({"от", "плательщик", "плательщика", "отправитель", "отправителя", "клиент", "клиента", "фио"})
_FIO_AFTER_RESET = frozenset({"за", "для", "по", "оплата", "взнос", "взносы", "участок", "уч"})

_CYR2LAT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s",
                     "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "iu", "ia"]))
_LAT_INITIAL = dict(zip("abvgdezik lmnoprstufh", "абвгдезик лмнопрстуфх"))
_LAT_FOLD = [("shch", "sh"), ("sch", "sh"), ("tch", "ch"), ("kh", "h"), ("tz", "c"), ("ts", "c"), ("x", "ks"),
             ("w", "v"), ("q", "k"), ("yo", "e"), ("ye", "e"), ("ya", "ia"), ("yu", "iu"), ("j", "i"), ("y", "i")]


def fold(word: str) -> str:
    """Lower case, ё as е: the form every name key is kept in."""
    return word.lower().replace("ё", "е")


@lru_cache(maxsize=100_000)
def latin_skeleton(word: str) -> str:
    """A spelling-independent Latin key: Иванова, IVANOVA, Ivanova give one key; Dmitriy/Dmitry/Дмитрий too."""
    text = word.lower()
    if re.search(r"[а-яё]", text):
        text = "".join(_CYR2LAT.get(ch, ch) for ch in text)
    for a, b in _LAT_FOLD:
        text = text.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", text)


def plot_key(number: str) -> str:
    """Plot numbers as compared: lower case, no spaces ("45 А" -> "45а")."""
    return _SPACES.sub("", number).lower()


def reg_key(reg_no: str) -> str:
    """Register numbers as compared: digits without leading zeros ("001234" -> "1234")."""
    text = reg_no.strip()
    return text.lstrip("0") or "0" if text.isdigit() else text.lower()


# -- numbers in a purpose -----------------------------------------------------------------------

def register_numbers(text: str) -> list[str]:
    return list(dict.fromkeys(reg_key(m.group(1)) for m in _LS.finditer(fold(text))))


def plot_numbers(text: str, known: set[str] | frozenset[str] = frozenset(), folded: bool = False) -> list[str]:
    """Plot numbers after a plot word; "12-13" is one plot when the register has it, else 12 and 13."""
    found: list[str] = []
    if not folded:
        text = fold(text)
    for m in _PLOTS.finditer(text):
        listed = m.group(1)
        for one in _ONE_PLOT.finditer(listed):
            number = plot_key(one.group(0))
            digits = _LEADING_DIGITS.match(number).group(0)
            tail = listed[one.end():] if number == digits else number[len(digits):]
            if len(digits) == 4 and digits[:2] in ("19", "20") and _YEAR_AFTER.match(tail or text[m.end():]):
                continue
            parts = _RANGE_DASH.split(number)
            if len(parts) == 2 and number not in known:
                left, right = parts
                if left in known and right in known and len(right) <= len(left) + 1:
                    found += [left, right]
                else:
                    found.append(left)
            else:
                found.append(number)
    return list(dict.fromkeys(found))


def without_numbers(text: str) -> str:
    """The text with register numbers, plots and INNs cut out (so "л/с" never reads as initials Л. С.)."""
    if _DIGIT.search(text) is None:
        return text
    return _NUMBERS.sub(" , ", text.lower())


def inns_in(text: str) -> list[str]:
    return [m.group(1) for m in _INN.finditer(text) if fields.inn_is_valid(m.group(1))]


def is_non_member_income(purpose: str) -> bool:
    return bool(_NON_MEMBER.search(fold(purpose)))


def pays_for_relative(purpose: str) -> bool:
    purpose = fold(purpose)
    return "за" in purpose and bool(_RELATIVE.search(purpose))


def person_account(account: str | None) -> bool:
    return bool(account) and account.startswith(PERSON_ACCOUNT_PREFIXES)


@dataclass
class Payer:
    """Who the payer is: a person, a bank paying on a person's behalf, or an organisation."""
    kind: str                      # person | agent | org
    name_parts: list[str]          # texts that may hold a person's name


def read_payer(name: str | None, inn: str | None) -> Payer:
    text = fields.clean_text(name)
    if not text:
        return Payer("org" if inn and len(inn) == 10 else "person", [])
    low = fold(text)
    if "//" in text:
        parts = [p.strip() for p in text.split("//") if p.strip()]
        if len(parts) > 1:      # "ПАО СБЕРБАНК//ИВАНОВ ИВАН ИВАНОВИЧ//адрес": a bank pays for a person
            return Payer("agent", [p for p in parts[1:] if not _ORG.search(fold(p)) and not _DIGIT.search(p)])
    org = _ORG.search(low) is not None
    if org and _BANK.search(low):
        return Payer("agent", [])
    if org or (inn and len(inn) == 10) or low.startswith(("ип ", "индивидуальный предприниматель ")):
        return Payer("org", [])      # a business (an ИП too: may be a member, never decided on its name alone)
    return Payer("person", [text])


# -- names --------------------------------------------------------------------------------------

@dataclass
class NameVocab:
    """The names members have, as folded keys; Latin skeletons point back to them."""
    surnames: set[str] = field(default_factory=set)
    firsts: set[str] = field(default_factory=set)
    patronymics: set[str] = field(default_factory=set)
    latin: dict[str, dict[str, set[str]]] = field(default_factory=lambda: {"s": {}, "f": {}, "p": {}})

    def add(self, surname: str, first: str, patronymic: str) -> None:
        for kind, word, bucket in (("s", surname, self.surnames), ("f", first, self.firsts),
                                   ("p", patronymic, self.patronymics)):
            if word:
                bucket.add(word)
                self.latin[kind].setdefault(latin_skeleton(word), set()).add(word)


def split_name(full_name: str) -> tuple[str, str, str]:
    """Surname, first name, patronymic (folded) of a register name "Фамилия Имя Отчество"."""
    words = fold(fields.clean_text(full_name)).split(" ")
    words += ["", "", ""]
    return words[0], words[1], " ".join(w for w in words[2:] if w)


@dataclass(frozen=True, slots=True)
class Token:
    text: str                # folded
    surnames: frozenset      # member surnames this word may be
    firsts: frozenset
    patronymics: frozenset
    initial: str | None      # a lone letter ("И." or "I")
    fuzzy: bool              # keys found only through a one-letter correction
    wordlike: bool           # an unknown word that may still be a name (its first letter serves as an initial)
    letter: str | None = None   # what the word gives as an initial: the lone letter, or an unknown word's first


_MORPH = None


def morph():
    global _MORPH
    if _MORPH is None:
        import pymorphy3

        _MORPH = pymorphy3.MorphAnalyzer()
    return _MORPH


@lru_cache(maxsize=200_000)
def word_forms(word: str) -> frozenset[str]:
    """Nominative forms a (folded, Cyrillic) word may stand for, both genders: "иванову" -> иванов, иванова."""
    if "-" in word:
        parts = [word_forms(p) for p in word.split("-")]
        if len(parts) == 2:
            return frozenset({word} | {a + "-" + b for a in parts[0] for b in parts[1]})
        return frozenset({word})
    forms = {word}
    for parse in morph().parse(word)[:8]:
        forms.add(fold(parse.normal_form))
        tag = parse.tag
        # The lemma of a surname, patronymic or adjective-like word is its masculine form; the nominative of
        # the word's own gender takes an inflection (the slow part: only where the lemma may differ).
        if tag.case != "nomn" and ("Surn" in tag or "Patr" in tag or ("femn" in tag and tag.POS in ("ADJF", "PRTF"))):
            nominative = parse.inflect({"nomn"})
            if nominative is not None:
                forms.add(fold(nominative.word))
    # Surnames in -ов/-ев/-ин/-ын the dictionary may not know: strip the case ending.
    m = re.match(r"^(.+?(?:ов|ев|ин|ын))(?:а|у|ым|ой|ою|ом|е|ых|ыми|ого|ому)?$", word)
    if m:
        forms |= {m.group(1), m.group(1) + "а"}
    return frozenset(forms)


class NameReader:
    """Turns words into tokens against the members' names (cached per distinct word)."""

    def __init__(self, vocab: NameVocab):
        self.vocab = vocab
        self.cache: dict[str, Token] = {}

    def exact(self, word: str) -> Token:
        token = self.cache.get(word)
        if token is None:
            token = self.cache[word] = self._read(word)
        return token

    def _read(self, word: str) -> Token:
        if len(word) == 1:
            initial = word if re.match(r"[а-я]", word) else _LAT_INITIAL.get(word)
            return Token(word, frozenset(), frozenset(), frozenset(), initial, False, False, initial)
        if word in STOP_WORDS:
            return Token(word, frozenset(), frozenset(), frozenset(), None, False, False)
        v = self.vocab
        if re.match(r"[a-z]", word):
            sk = latin_skeleton(word)
            s, f, p = (frozenset(v.latin[k].get(sk, ())) for k in "sfp")
        else:
            forms = word_forms(word)
            s, f, p = frozenset(forms & v.surnames), frozenset(forms & v.firsts), frozenset(forms & v.patronymics)
        wordlike = not (s or f or p) and len(word) >= 3 and "-" not in word
        letter = word[0] if re.match(r"[а-я]", word) and (wordlike or f or p) else None
        return Token(word, s, f, p, None, False, wordlike, letter)

    def correct_typos(self, words: set[str]) -> None:
        """One-letter corrections for unknown words of 5+ letters, all at once (rapidfuzz, no Python pair loop)."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        todo = sorted(w for w in words if (t := self.exact(w)).wordlike and len(w) >= 5 and re.match(r"[а-я]", w))
        if not todo:
            return
        forms_of = {w: sorted(word_forms(w)) for w in todo}
        queries = sorted({f for fs in forms_of.values() for f in fs if len(f) >= 5})
        found: dict[str, dict[str, set[str]]] = {w: {"s": set(), "f": set(), "p": set()} for w in todo}
        near: dict[str, dict[str, set[str]]] = {q: {"s": set(), "f": set(), "p": set()} for q in queries}
        for kind, bucket in (("s", self.vocab.surnames), ("f", self.vocab.firsts), ("p", self.vocab.patronymics)):
            choices = sorted(c for c in bucket if len(c) >= 5)
            if not choices or not queries:
                continue
            dist = process.cdist(queries, choices, scorer=Levenshtein.distance, score_cutoff=1, workers=1,
                                 dtype="uint8")
            import numpy as np

            qi, ci = np.nonzero(dist <= 1)
            for q, c in zip(qi.tolist(), ci.tolist()):
                near[queries[q]][kind].add(choices[c])
        for w in todo:
            for f in forms_of[w]:
                if f in near:
                    for kind in "sfp":
                        found[w][kind] |= near[f][kind]
            keys = found[w]
            if keys["s"] or keys["f"] or keys["p"]:
                self.cache[w] = Token(w, frozenset(keys["s"]), frozenset(keys["f"]), frozenset(keys["p"]), None, True,
                                      True, w[0])


def name_words(folded: str) -> tuple[str, ...]:
    """Words of a folded text for reading names (numbers and punctuation only separate names)."""
    return tuple(_WORD.findall(folded))


def name_hypotheses(tokens: list[Token | None], side_of: list[str]) -> list[tuple[str, str, str, bool, int]]:
    """(side, kind, key, fuzzy, position) of every way the words may name a person.

    kinds: full (Фамилия Имя Отчество in either order), sii (surname and two initials), fpi (Имя Отчество
    and the surname's initial, as SBP shows payers), sf (surname and first name), si (surname and one
    initial), s (surname alone).
    Keys are built like NameIndex keys on the member side.
    """
    out = []
    n = len(tokens)
    tokens = [None, None] + tokens + [None, None]      # positions shift by 2: no bounds checks below
    side_of = ["", ""] + side_of + ["", ""]

    def tok(i):
        return tokens[i]

    def initial_of(t: Token | None) -> str | None:
        return t.letter if t is not None else None

    for i in range(2, n + 2):
        t = tokens[i]
        if t is None or not (t.surnames or t.firsts):
            continue
        side = side_of[i]
        if t.surnames:
            done = False
            for a, b in ((i + 1, i + 2), (i - 2, i - 1)):
                ta, tb = tok(a), tok(b)
                if ta is None or tb is None or side_of[a] != side or side_of[b] != side:
                    continue
                if ta.firsts and tb.patronymics:
                    fz = t.fuzzy or ta.fuzzy or tb.fuzzy
                    out += [(side, "full", f"{s}|{f}|{p}", fz, i) for s in t.surnames for f in ta.firsts
                            for p in tb.patronymics]
                    done = True
                    break
                ia, ib = initial_of(ta), initial_of(tb)
                if ia and ib and (ta.initial or tb.initial or ta.firsts or tb.patronymics or
                                  (ta.wordlike and tb.wordlike)):
                    out += [(side, "sii", f"{s}|{ia}|{ib}", t.fuzzy, i) for s in t.surnames]
                    done = True
                    break
            if done:
                continue
            for a in (i + 1, i - 1):
                ta = tok(a)
                if ta is not None and side_of[a] == side and ta.firsts:
                    out += [(side, "sf", f"{s}|{f}", t.fuzzy or ta.fuzzy, i) for s in t.surnames for f in ta.firsts]
                    done = True
                    break
                if ta is not None and side_of[a] == side and ta.initial:
                    out += [(side, "si", f"{s}|{ta.initial}", t.fuzzy, i) for s in t.surnames]
                    done = True
                    break
            if not done:
                out += [(side, "s", s, t.fuzzy, i) for s in t.surnames]
        elif t.firsts:
            tb, tc = tok(i + 1), tok(i + 2)
            if tb is not None and tc is not None and tb.patronymics and tc.initial and \
                    side_of[i + 1] == side_of[i + 2] == side:  # noqa: E127
                out += [(side, "fpi", f"{f}|{p}|{tc.initial}", t.fuzzy or tb.fuzzy, i)
                        for f in t.firsts for p in tb.patronymics]
    return out


@dataclass(slots=True)
class Reading:
    """What one payment says."""
    register_numbers: list[str]
    plots: list[str]
    inns: list[str]
    names: list[tuple[str, str, str, bool, int]]
    payer_kind: str
    relative: bool
    non_member: bool


class PaymentReader:
    """Reads payments against one register: plot numbers known, member names as a vocabulary.

    Statements repeat the same texts a lot, so every distinct purpose, payer name, word and name segment
    is read once. A segment is cached in a canonical form: each word stands for what it may mean as a
    name (words that cannot be part of a name become one gap), so "взнос за Иванову М.П. 2024" and
    "оплата за Иванову М.П., уч. 7" share one reading.
    """

    def __init__(self, vocab: NameVocab, plots: set[str]):
        self.names = NameReader(vocab)
        self.plots = plots
        self._segment_names: dict[tuple, list] = {}
        self.anchors: frozenset[str] = frozenset()
        self._class_of: dict[str, int | None] = {}      # word -> canonical class (None: a gap)
        self._class_token: list[Token] = []
        self._class_marker: list[str] = []               # a word switching sides ("от"), else ""

    def read_all(self, texts: list[tuple[str | None, str | None, str | None]]) -> list[Reading]:
        """Read many payments (payer name, payer INN, purpose): every distinct text, word and segment once."""
        payers: dict[tuple, tuple[Payer, list[tuple[str, ...]]]] = {}
        purposes: dict[str | None, tuple[str, tuple[str, ...]]] = {}
        keys: list[tuple[tuple, str | None]] = []
        words: set[str] = set()
        for name, inn, purpose in texts:
            pkey = (name, len(inn) if inn else 0)
            if pkey not in payers:
                payer = read_payer(name, inn)
                segs = [name_words(fold(part)) for part in payer.name_parts]
                for ws in segs:
                    words.update(ws)
                payers[pkey] = (payer, segs)
            if purpose not in purposes:
                low = fold(purpose) if purpose else ""
                ws = name_words(without_numbers(low))
                words.update(ws)
                purposes[purpose] = (low, ws)
            keys.append((pkey, purpose))
        words = {w for w in words if w[0].isalpha()}
        for w in words:
            self.names.exact(w)
        self.names.correct_typos(words)
        self.anchors = frozenset(w for w in words if (t := self.names.exact(w)).surnames or t.firsts)
        self._classify(words)

        payer_read = {}
        for pkey, (payer, segs) in payers.items():
            if len(segs) == 1:      # positions in the first segment need no offset (read-only, shared)
                names = self._names("payer", segs[0])
            else:
                names = []
                for i, ws in enumerate(segs):
                    names += [(s, kind, key, fz, i * 1000 + pos) for s, kind, key, fz, pos in self._names("payer", ws)]
            payer_read[pkey] = (payer.kind, names, len(segs) * 1000)
        purpose_read = {}
        for purpose, (low, ws) in purposes.items():
            digits = _DIGIT.search(low) is not None
            purpose_read[purpose] = (
                list(dict.fromkeys(reg_key(m.group(1)) for m in _LS.finditer(low))) if digits else [],
                plot_numbers(low, self.plots, folded=True) if digits else [],
                inns_in(low) if digits else [],
                self._names("purpose", ws),
                "за" in low and _RELATIVE.search(low) is not None,
                _NON_MEMBER.search(low) is not None,
            )
        out = []
        for pkey, purpose in keys:
            payer_kind, payer_names, offset = payer_read[pkey]
            regs, plots, inns, found, relative, non_member = purpose_read[purpose]
            if found and offset:
                names = payer_names + [(s, kind, key, fz, offset + pos) for s, kind, key, fz, pos in found]
            else:
                names = payer_names + found if found else payer_names
            out.append(Reading(regs, plots, inns, names, payer_kind, relative, non_member))
        return out

    def read(self, payer_name: str | None, payer_inn: str | None, purpose: str | None) -> Reading:
        return self.read_all([(payer_name, payer_inn, purpose)])[0]

    def _classify(self, words: set[str]) -> None:
        """Canonical classes of words: equal for words that read the same as (parts of) names."""
        by_content: dict[tuple, int] = {}
        cache = self.names.cache
        for w in words:
            if w in self._class_of:
                continue
            t = cache[w]
            marker = w if (w in _FIO_BEFORE or w in _FIO_AFTER_RESET) else ""
            if not (t.surnames or t.firsts or t.patronymics or t.initial or t.letter or marker):
                self._class_of[w] = None
                continue
            content = (t.surnames, t.firsts, t.patronymics, t.initial, t.fuzzy, t.wordlike, t.letter, marker)
            cls = by_content.get(content)
            if cls is None:
                cls = by_content[content] = len(self._class_token)
                self._class_token.append(t)
                self._class_marker.append(marker)
            self._class_of[w] = cls

    def _names(self, side: str, words: tuple[str, ...]) -> list:
        if self.anchors.isdisjoint(words):      # no word that may be a member's surname or first name
            return []
        class_of = self._class_of
        canon: list[int | None] = []
        for w in words:
            c = class_of.get(w)     # None for numbers, separators and words that are no part of a name
            if c is not None or (canon and canon[-1] is not None):
                canon.append(c)
        key = (side, tuple(canon))
        found = self._segment_names.get(key)
        if found is None:
            tokens = [None if c is None else self._class_token[c] for c in canon]
            markers = [c is not None and self._class_marker[c] for c in canon]
            if side == "purpose" and any(m in _FIO_BEFORE for m in markers if m):
                sides, current = [], side
                for m in markers:
                    if m in _FIO_BEFORE:
                        current = "payer"
                    elif m in _FIO_AFTER_RESET:
                        current = "purpose"
                    sides.append(current)
            else:
                sides = [side] * len(canon)
            found = self._segment_names[key] = name_hypotheses(tokens, sides)
        return found
