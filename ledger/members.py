"""The member register: members, statuses with dated history, plots and co-owners; import and export."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from . import audit, column_maps, fields, vault
from .cooperative import ObjectWords, object_words, objects_of
from .formats import plural
from .db import Database, frame, insert_rows, path_of, update_rows, utcnow
from .errors import InputError
from . import consent
from .spreadsheets import Column, Header, Need, Sheet, data_rows, find_header, read_sheet, write_table

STATUSES = {
    "applicant": "Кандидат",
    "member": "Член",
    "withdrawn": "Выбыл",
    "excluded": "Исключён",
    "deceased": "Умер",
}
ACTIVE_STATUSES = ("applicant", "member")
_STATUS_WORDS = [
    ("applicant", ("кандидат", "заявител", "претендент", "заявлени", "applicant")),
    ("excluded", ("исключ", "excluded")),
    ("deceased", ("умер", "скончал", "deceased")),
    ("withdrawn", ("выбы", "вышел", "выход", "withdrawn")),
    ("member", ("член", "пайщик", "действ", "member")),
]

# Header spellings of the register, compared after spreadsheets.normalize_header.
REGISTER_SYNONYMS: dict[str, list[str]] = {
    "reg_no": ["№ л/с", "Лицевой счет", "Номер члена", "л/с", "№ лс", "лицевой счёт", "номер л/с", "№ лицевого счета",
               "номер лицевого счета", "лс", "№ члена", "членский номер", "регистрационный номер", "рег. номер"],
    "full_name": ["ФИО", "Ф.И.О.", "Фамилия, имя, отчество", "Член товарищества", "Пайщик", "член кооператива",
                  "член снт", "член тсн", "фамилия имя отчество", "ф и о", "фио члена", "фио собственника",
                  "собственник", "владелец"],
    "last_name": ["Фамилия"],
    "first_name": ["Имя"],
    "middle_name": ["Отчество"],
    # Plots of СНТ, and the premises of ЖСК/ТСЖ (flats, premises) and ГСК (boxes, garages, parking places): all are
    # the member's objects in the `plots` table.
    "plots": ["№ участка", "Участок", "номер участка", "участки", "№ уч", "уч", "номера участков", "№ участков",
              "Кв №", "№ кв", "кв", "Квартира", "Номер квартиры", "№ квартиры", "квартиры", "Номер помещения",
              "№ помещения", "Помещение", "помещения", "Бокс", "№ бокса", "номер бокса", "бокс №", "Гараж №",
              "№ гаража", "Гараж", "номер гаража", "Машиноместо", "№ машиноместа", "номер машиноместа"],
    "area": ["Площадь", "Площадь, м2", "площадь м²", "площадь кв м", "площадь участка", "площадь участка м2",
             "площадь, кв.м.", "площадь (м2)", "площадь м2", "Площадь, м²", "площадь квартиры", "площадь помещения",
             "общая площадь", "общая площадь м2", "площадь бокса", "площадь гаража", "площадь машиноместа",
             "площадь кв м квартиры"],
    "cadastral_no": ["Кадастровый номер", "кад номер", "кадастровый №", "кадастровый номер участка"],
    "share": ["Доля", "доля в праве", "доля собственности"],
    "inn": ["ИНН", "инн члена"],
    "phones": ["Телефон", "тел", "телефоны", "контактный телефон", "мобильный телефон", "номер телефона"],
    "emails": ["Эл. почта", "E-mail", "email", "электронная почта", "адрес электронной почты", "e mail", "почта"],
    "telegram_chat_id": ["Telegram", "телеграм", "telegram chat id", "чат telegram"],
    "join_date": ["Дата вступления", "дата приема", "дата приёма", "дата приема в члены", "дата вступления в члены",
                  "принят"],
    "exit_date": ["Дата выхода", "дата исключения", "дата выбытия", "дата прекращения членства"],
    "owned_from": ["Дата начала владения", "владеет с", "дата приобретения", "дата приобретения участка",
                   "дата начала владения участком", "дата перехода", "дата перехода права"],
    "status": ["Статус", "статус члена"],
    "address": ["Адрес", "почтовый адрес", "адрес для корреспонденции", "адрес регистрации", "адрес проживания"],
    "notes": ["Примечание", "примечания", "комментарий"],
    # The row's ordinal in the file: recognised so that it is not reported as unknown, never loaded.
    "row_no": ["№ п/п", "п/п", "№ пп", "номер п/п", "порядковый номер"],
}

# English headers of other СНТ software (normalize_header splits camelCase and snake_case: plotNumber,
# plot_number and "Plot Number" are one spelling).
for _field, _names in {
    "reg_no": ["memberId", "member number", "accountNumber", "account no", "personal account"],
    "full_name": ["ownerName", "owner", "full name", "member name", "name"],
    "last_name": ["lastName", "surname"], "first_name": ["firstName"], "middle_name": ["middleName", "patronymic"],
    "plots": ["plotNumber", "plot", "plot no", "plots"], "area": ["area", "plotArea", "area m2"],
    "cadastral_no": ["cadastral", "cadastralNumber", "cadastral no"], "share": ["share"], "inn": ["inn"],
    "phones": ["phone", "phoneNumber", "phones", "mobile"], "emails": ["emails"],
    "join_date": ["joinDate", "joined"], "exit_date": ["exitDate"], "status": ["status"], "address": ["address"],
    "notes": ["notes", "comment"],
}.items():
    REGISTER_SYNONYMS[_field] += _names

# The groups of columns a register cannot do without (spreadsheets.find_header names the missing ones).
# A л/с column stands in for the plot or premises number as long as registers are matched by л/с.
REGISTER_REQUIRED = [Need(("full_name", "last_name"), "ФИО"), Need(("plots", "reg_no"), "участка или помещения")]
MAP_HINT = ("Укажите, что в каком столбце: в командной строке --map \"Заголовок=поле\" (например "
            "--map \"Садовод=ФИО\"), на странице загрузки — в сопоставлении столбцов")

# Longest text each register field may hold (characters, after spaces are collapsed); anything longer is
# refused with its row: a real ФИО is under 100, an address under 300.
TEXT_LIMITS = {"reg_no": 50, "full_name": 300, "last_name": 100, "first_name": 100, "middle_name": 100,
               "plots": 1000, "area": 1000, "cadastral_no": 2000, "share": 500, "inn": 50, "phones": 500,
               "emails": 500, "telegram_chat_id": 100, "join_date": 50, "exit_date": 50, "status": 100,
               "address": 500, "notes": 2000, "row_no": 50}

MEMBER_FIELDS = {
    "reg_no": "Л/с", "full_name": "ФИО", "status": "Статус", "join_date": "Дата вступления",
    "exit_date": "Дата выхода", "inn": "ИНН", "phones": "Телефоны", "emails": "Эл. почта",
    "telegram_chat_id": "Telegram", "address": "Адрес", "notes": "Примечание",
}
# Every register field by its Russian name: column mapping choices and messages.
REGISTER_LABELS = {**MEMBER_FIELDS, "last_name": "Фамилия", "first_name": "Имя", "middle_name": "Отчество",
                   "plots": "Участки", "area": "Площадь", "cadastral_no": "Кадастровый номер", "share": "Доля",
                   "owned_from": "Дата начала владения"}
PERSONAL_FIELDS = ("inn", "phones", "emails", "telegram_chat_id", "address")
# Stored encrypted at field level (152-ФЗ): AES-256-GCM tokens under the vault's master key. Every public
# function here takes and returns plaintext; only this module sees the tokens.
ENCRYPTED_FIELDS = ("inn", "phones", "emails")


def _seal(key: vault.MasterKey, fld: str, value: Any, table: str = "members") -> Any:
    return vault.encrypt_field(key, value, f"{table}.{fld}") if fld in ENCRYPTED_FIELDS and value else value


def _unseal(key: vault.MasterKey, fld: str, value: Any, table: str = "members") -> Any:
    return vault.decrypt_field(key, value, f"{table}.{fld}") if fld in ENCRYPTED_FIELDS and value else value


def _sealed(key: vault.MasterKey, row: dict[str, Any]) -> dict[str, Any]:
    return {k: _seal(key, k, v) for k, v in row.items()}


def _open_rows(key: vault.MasterKey, rows: list[dict]) -> list[dict]:
    for r in rows:
        for fld in ENCRYPTED_FIELDS:
            if r.get(fld):
                r[fld] = vault.decrypt_field(key, r[fld], f"members.{fld}")
    return rows


def _seal_changes(key: vault.MasterKey, changes: list[dict]) -> list[dict]:
    for c in changes:
        if c["field"] in ENCRYPTED_FIELDS:
            c["old_value"] = _seal(key, c["field"], c["old_value"], "member_changes")
            c["new_value"] = _seal(key, c["field"], c["new_value"], "member_changes")
    return changes


def _reencrypt(con, old: vault.MasterKey, new: vault.MasterKey) -> int:
    """Vault rotation step: members' encrypted fields and their change history under the new key."""
    cols = ", ".join(ENCRYPTED_FIELDS)
    rows = [{"id": r[0], **{f: _seal(new, f, _unseal(old, f, v)) for f, v in zip(ENCRYPTED_FIELDS, r[1:])}}
            for r in con.execute(f"SELECT id, {cols} FROM members").fetchall()]
    update_rows(con, "members", ["id"], rows, list(ENCRYPTED_FIELDS))
    changes = [{"id": r[0], "old_value": _seal(new, r[1], _unseal(old, r[1], r[2], "member_changes"), "member_changes"),
                "new_value": _seal(new, r[1], _unseal(old, r[1], r[3], "member_changes"), "member_changes")}
               for r in con.execute("SELECT id, field, old_value, new_value FROM member_changes WHERE field IN "
                                    f"({', '.join('?' * len(ENCRYPTED_FIELDS))})", list(ENCRYPTED_FIELDS)).fetchall()]
    update_rows(con, "member_changes", ["id"], changes, ["old_value", "new_value"])
    return len(rows)


vault.register_reencryptor("members", _reencrypt)
vault.register_sealed_columns("members", ENCRYPTED_FIELDS)
vault.register_sealed_columns("member_changes", ("old_value", "new_value"))


def seal_plaintext(db: Database) -> int:
    """Encrypt personal data still stored in the clear (ledgers made before field encryption); rows done."""
    where = " OR ".join(f"({f} IS NOT NULL AND {f} <> '' AND NOT starts_with({f}, 'v1:'))" for f in ENCRYPTED_FIELDS)
    if not db.scalar(f"SELECT count(*) FROM members WHERE {where}") and not db.scalar(
            "SELECT count(*) FROM member_changes WHERE field IN ('inn', 'phones', 'emails') AND "
            "(NOT starts_with(coalesce(old_value, 'v1:'), 'v1:') OR NOT starts_with(coalesce(new_value, 'v1:'), 'v1:'))"):
        return 0
    key = vault.master_key(db)
    with db.transaction() as con:
        return _reencrypt(con, key, key)


def personal_data(db: Database) -> dict[int, dict[str, str | None]]:
    """Decrypted INN, phones and e-mail of every member by id (for matching payments to members)."""
    key = vault.master_key(db)
    rows = db.records(f"SELECT id, {', '.join(ENCRYPTED_FIELDS)} FROM members")
    return {r.pop("id"): r for r in _open_rows(key, rows)}


def key_of_connection(con) -> vault.MasterKey:
    """The master key of the ledger an open connection belongs to (for readers that only hold a connection)."""
    return vault.key_for(con, path_of(con))


def member_inns(con):
    """DataFrame (member_id, inn) of members with an INN, decrypted — for payment matching."""
    df = frame(con, "SELECT id AS member_id, inn FROM members WHERE inn IS NOT NULL AND inn <> ''")
    if len(df):
        key = key_of_connection(con)
        df["inn"] = [vault.decrypt_field(key, v, "members.inn") for v in df["inn"].tolist()]
    return df


REVEAL_IDS_LIMIT = 1000   # a reveal names the members shown (for their pd-report) up to this many


def log_reveal(db: Database, actor: str | None, target: str, rows: int, member_ids: list[int] | None = None) -> None:
    """A user was shown members' personal data unmasked (152-ФЗ: every reveal is logged). The entry names the
    members shown by id (never by what was searched for: a search text may be a name or a phone)."""
    details: dict[str, Any] = {"rows": rows}
    if member_ids is not None and len(member_ids) <= REVEAL_IDS_LIMIT:
        details["member_ids"] = list(member_ids)
    audit.record(db, actor, "personal_data_revealed", target, **details)


def find_by_inn(db: Database, inn: str) -> list[dict]:
    """Members with this INN (decrypt-then-compare; INN is stored encrypted)."""
    return [get_member(db, mid) for mid, pd in personal_data(db).items() if pd["inn"] == inn]


def parse_status(value: Any) -> str:
    text = fields.clean_text(value).lower().replace("ё", "е")
    if text in STATUSES:
        return text
    for code, words in _STATUS_WORDS:
        if any(text.startswith(w) or w in text for w in words):
            return code
    raise ValueError(f"статус «{value}» неизвестен (член, кандидат, выбыл, исключён, умер)")


def normalize_name(value: Any) -> str:
    return re.sub(r"\s+", " ", fields.clean_text(value)).strip()


def mask(value: str | None, keep: int = 2) -> str | None:
    """Personal data for roles that may not see it: first and last characters only."""
    if not value:
        return value
    return ", ".join(_mask_one(v.strip(), keep) for v in str(value).split(","))


def _mask_one(text: str, keep: int) -> str:
    if len(text) <= keep * 2:
        return "*" * len(text)
    return text[:keep] + "*" * (len(text) - keep * 2) + text[-keep:]


# -- register rows ------------------------------------------------------------------------------

@dataclass
class PlotRow:
    number: str
    area: Decimal | None = None
    cadastral_no: str | None = None
    share: tuple[int, int] | None = None


@dataclass
class MemberRow:
    row: int
    reg_no: str | None                     # None when the file has no л/с column (assigned on import)
    values: dict[str, Any]                 # member fields present in the file
    plots: list[PlotRow] | None = None     # None when the file has no plot column
    area: Decimal | None = None            # «Площадь» of a file without an object column
    rows: list[int] = field(default_factory=list)   # every row of the file this member came from


@dataclass
class RegisterFile:
    sheet: Sheet
    header: Header
    members: list[MemberRow]
    warnings: list[str]


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    plots_added: int = 0
    ownerships_closed: int = 0
    not_in_file: int = 0
    consents: int = 0                      # consent rows written from the register's consent columns
    warnings: list[str] = field(default_factory=list)
    objects: ObjectWords = field(default_factory=object_words)
    # A file without л/с: members found again by their objects or ФИО and phone, and numbers given by each rule.
    found_again: int = 0
    numbered_by_plot: int = 0
    numbered_in_order: int = 0
    first_in_order: str | None = None
    remembered: str = ""    # the remembered column mapping applied: «Владелец» → ФИО

    def summary(self) -> str:
        text = (f"добавлено {self.added}, изменено {self.updated}, без изменений {self.unchanged}; "
                f"новых {self.objects.gen_many} {self.plots_added}")
        rules = []
        if self.numbered_by_plot:
            rules.append(f"{self.numbered_by_plot} — по наименьшему номеру {self.objects.gen} члена")
        if self.numbered_in_order:
            rules.append(f"{self.numbered_in_order} — по порядку после наибольшего номера (с {self.first_in_order})")
        if rules:
            text += "; в файле нет л/с, номера присвоены: " + ", ".join(rules)
        if self.found_again:
            text += (f"; в файле нет л/с, {self.found_again} "
                     f"{plural(self.found_again, 'член найден', 'члена найдены', 'членов найдены')} "
                     f"в реестре по {self.objects.dat_many}, ФИО и телефону")
        return text


def parse_register(data: bytes, name: str, mapping: dict[str, str] | None = None,
                   remembered: dict[str, dict[str, str]] | None = None) -> RegisterFile:
    """Read and validate a register file completely; raise InputError listing every bad row.

    `mapping` and `remembered`: column mappings (see column_maps), the explicit one winning."""
    sheet = read_sheet(data, name, formulas=True)
    header = find_header(sheet, REGISTER_SYNONYMS, REGISTER_REQUIRED, min_fields=2, mapping=mapping,
                         remembered=remembered, labels=REGISTER_LABELS, hint=MAP_HINT)
    cols = header.columns
    layout = _layout_problems(sheet, header)
    if layout:
        raise InputError(layout, source=name)
    if "full_name" not in cols and "last_name" not in cols:
        raise InputError(f"{sheet.name}, строка {header.row}: нет столбца с ФИО («ФИО» или «Фамилия»)")
    warnings = [f"{sheet.name}, строка {header.row}: столбец «{t}» не распознан и не загружен (чтобы загрузить, "
                f"укажите его поле: --map \"{t}=поле\" или сопоставление столбцов на странице)" for t in header.unknown]
    problems: list[str] = []
    formulas = _formula_cells(sheet, header)
    if header.row in formulas:
        problems.append(f"{sheet.name}, строка {header.row}: в заголовке формулы ({', '.join(formulas[header.row])}) "
                        f"— сохраните значения")
    by_reg: dict[str, MemberRow] = {}
    order: list[MemberRow] = []
    persons: list[MemberRow] = []   # rows of a file without л/с, one per row until gathered by person
    for number, rec in data_rows(sheet, header):
        where = f"{sheet.name}, строка {number}"
        if number in formulas:
            cells = formulas[number]
            problems.append(f"{where}: {'в ячейке ' if len(cells) == 1 else 'в ячейках '}{', '.join(cells)} "
                            f"{'формула' if len(cells) == 1 else 'формулы'} — сохраните значения "
                            f"(Копировать → Специальная вставка → Значения)")
            continue
        try:
            _check_texts(rec)
            parsed = _parse_row(rec, cols, header.titles)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if parsed is None:
            continue
        reg_no, values, plots, area = parsed
        if reg_no is None:
            persons.append(MemberRow(row=number, reg_no=None, values=values, plots=plots, area=area, rows=[number]))
            continue
        prev = by_reg.get(reg_no)
        if prev is not None:
            same_person = normalize_name(prev.values.get("full_name", "")).lower() == \
                normalize_name(values.get("full_name", "")).lower()
            if not same_person:
                problems.append(f"{where}: л/с {reg_no} повторяется (уже в строке {prev.row})")
                continue
            # A member spread over several rows (a merged name cell, one plot per row): gather plots.
            # A plot listed again (a repeated row) is the same plot, as in _same_persons: its first row wins.
            listed = {p.number for p in prev.plots or []}
            more = [p for p in plots or [] if p.number not in listed]
            if more:
                prev.plots = (prev.plots or []) + more
            prev.rows.append(number)
            continue
        item = MemberRow(row=number, reg_no=reg_no, values=values, plots=plots, area=area, rows=[number])
        by_reg[reg_no] = item
        order.append(item)
    order += _same_persons(persons, sheet.name, problems)
    if problems:
        raise InputError(problems, source=name)
    if not order:
        raise InputError(f"{sheet.name}: под строкой заголовков {header.row} нет ни одного члена")
    warnings = consent.without_consent_columns(warnings, header.unknown)     # read by consent.import_from_register
    return RegisterFile(sheet=sheet, header=header, members=order, warnings=warnings)


def name_key(name: Any) -> str:
    """A ФИО compared between rows and with the register: spaces collapsed, case and ё folded."""
    return normalize_name(name).lower().replace("ё", "е")


def _phone_set(values: dict[str, Any]) -> set[str]:
    return {p for p in (values.get("phones") or "").split(",") if p}


def _same_persons(rows: list[MemberRow], where: str, problems: list[str]) -> list[MemberRow]:
    """Rows of a register without л/с gathered into persons: one member per ФИО and phone.

    Rows with the same ФИО and a phone in common are one person (one row per plot); a row without a phone
    joins the only person of that ФИО; namesakes with different phones stay apart, and a row without a phone
    among such namesakes is refused (whose plot it is cannot be told). A person's fields come from their
    first row, completed from the next ones; their phones are all the phones of their rows.
    """
    groups: list[list[MemberRow]] = []
    by_name: dict[str, list[list[MemberRow]]] = {}
    for row in sorted(rows, key=lambda r: not r.values.get("phones")):   # rows with a phone first, order kept
        namesakes = by_name.setdefault(name_key(row.values["full_name"]), [])
        phones = _phone_set(row.values)
        if phones:
            same = [g for g in namesakes if any(_phone_set(r.values) & phones for r in g)]
        elif len(namesakes) > 1:
            lines = ", ".join(str(r.row) for g in namesakes for r in g)
            problems.append(f"{where}, строка {row.row}: «{row.values['full_name']}» без телефона, а в файле "
                            f"несколько человек с этим ФИО и разными телефонами (строки {lines}) — укажите телефон")
            continue
        else:
            same = namesakes
        if same:
            same[0].append(row)
        else:
            namesakes.append([row])
            groups.append(namesakes[-1])
    persons = []
    for group in groups:
        group.sort(key=lambda r: r.row)
        person, numbers = group[0], {p.number for p in group[0].plots or []}
        person.rows = [r.row for r in group]
        for row in group[1:]:
            for plot in row.plots or []:
                if plot.number not in numbers:
                    person.plots = (person.plots or []) + [plot]
                    numbers.add(plot.number)
            for k, v in row.values.items():
                if k == "phones" and v:
                    person.values[k] = ",".join(dict.fromkeys([p for p in (person.values.get(k) or "").split(",")
                                                               if p] + v.split(",")))
                elif person.values.get(k) in (None, "") and v not in (None, ""):
                    person.values[k] = v
            if person.area is None:
                person.area = row.area
        persons.append(person)
    return sorted(persons, key=lambda p: p.row)


def _label(fld: str) -> str:
    return REGISTER_SYNONYMS[fld][0]


def _layout_problems(sheet: Sheet, header: Header) -> list[str]:
    """A field named by two columns, or its header merged over two: which column to take is not for us to guess."""
    where = f"{sheet.name}, строка {header.row}"
    problems = []
    for fld, idxs in header.duplicates.items():
        names = ", ".join(sheet.column_name(i) for i in idxs)
        merged = any(r0 <= header.row <= r1 and c0 - 1 <= min(idxs) and max(idxs) <= c1 - 1
                     for r0, c0, r1, c1 in sheet.merged)
        if merged:
            problems.append(f"{where}: заголовок «{header.titles[fld]}» объединён над столбцами {names} — "
                            f"значения из них не соединить в одно поле; разъедините ячейки и оставьте "
                            f"«{_label(fld)}» в одном столбце (или разделите на «Фамилия», «Имя», «Отчество»)")
        else:
            problems.append(f"{where}: столбец «{_label(fld)}» повторяется (столбцы {names}) — непонятно, "
                            f"какой из них загружать; оставьте один")
    return problems


def _formula_cells(sheet: Sheet, header: Header) -> dict[int, list[str]]:
    """Row -> addresses of formula cells in the columns the import reads (header row and below)."""
    used = set(header.columns.values())
    found: dict[int, list[str]] = {}
    for (row, col), coordinate in sorted(sheet.formulas.items()):
        if row >= header.row and col in used:
            found.setdefault(row, []).append(coordinate)
    return found


def _check_texts(rec: dict[str, Any]) -> None:
    """Every cell of the row within its field's length, and none of them a formula (before any parsing)."""
    errors = []
    for key, value in rec.items():
        if value is None or isinstance(value, (int, float, Decimal, date)):
            continue
        try:
            fields.bounded_text(value, TEXT_LIMITS.get(key, 300))
        except ValueError as exc:
            errors.append(f"«{_label(key)}»: {exc}")
    if errors:
        raise ValueError("; ".join(errors))


def _parse_row(rec: dict[str, Any], cols: dict[str, int], titles: dict[str, str] | None = None):
    reg_no = fields.clean_text(rec.get("reg_no"))
    if "full_name" in cols:
        name = normalize_name(rec.get("full_name"))
    else:
        name = " ".join(normalize_name(rec.get(k)) for k in ("last_name", "first_name", "middle_name")
                        if normalize_name(rec.get(k)))
    if any(t.lower().startswith(("итого", "всего")) for t in (reg_no, name)):
        return None         # a totals row under the register («Итого: 58 участков, 35 000 м²»)
    if not reg_no and not name:
        # A row of the ordinal alone (a numbered blank form) or of areas alone (a totals row) is no member; any
        # other data without a name would be lost silently.
        filled = [f for f, v in rec.items() if fields.clean_text(v) and f not in ("row_no", "area")]
        if not filled:
            return None
        titles = titles or {}
        shown = ", ".join(f"«{titles.get(f) or _label(f)}»: {fields.clean_text(rec[f])[:40]}" for f in filled)
        raise ValueError(f"не указано ФИО, а в строке есть данные ({shown}); если это ещё один участок члена "
                         f"из строки выше, впишите ФИО и в эту строку")
    if not reg_no and "reg_no" in cols:
        raise ValueError("не указан номер л/с")
    if not name:
        raise ValueError("не указано ФИО")
    values: dict[str, Any] = {"full_name": name}
    errors = []

    def take(key: str, parser: Callable[[Any], Any], label: str) -> None:
        if key not in cols:
            return
        try:
            values[key] = parser(rec.get(key))
        except ValueError as exc:
            errors.append(f"{label}: {exc}")

    take("inn", fields.person_inn, "ИНН")
    take("phones", fields.phones, "телефон")
    take("emails", fields.emails, "эл. почта")
    take("join_date", fields.optional_date, "дата вступления")
    take("exit_date", fields.optional_date, "дата выхода")
    take("owned_from", fields.optional_date, "дата начала владения")
    take("status", lambda v: parse_status(v) if fields.clean_text(v) else None, "статус")
    for key in ("telegram_chat_id", "address", "notes"):
        take(key, lambda v: fields.clean_text(v) or None, key)
    plots = None
    if "plots" in cols:
        try:
            numbers = fields.plot_numbers(rec.get("plots"))
            areas = fields.area_values(rec.get("area")) if "area" in cols else []
            cadastral = [c.strip() for c in re.split(r"[;,]\s*|\s+", fields.clean_text(rec.get("cadastral_no"))) if c.strip()] \
                if "cadastral_no" in cols else []
            share_text = fields.clean_text(rec.get("share")) if "share" in cols else ""
            shares = [fields.share(x) for x in share_text.split(";") if x.strip()]
        except ValueError as exc:
            errors.append(str(exc))
        else:
            if areas and len(areas) != len(numbers):
                errors.append(f"площадей {len(areas)}, а участков {len(numbers)}: укажите площадь каждого участка "
                              f"через «;»")
            if cadastral and len(cadastral) != len(numbers):
                errors.append(f"кадастровых номеров {len(cadastral)}, а участков {len(numbers)}")
            if len(shares) > 1 and len(shares) != len(numbers):
                errors.append(f"долей {len(shares)}, а участков {len(numbers)}")
            elif len(shares) == 1:
                shares = shares * len(numbers)
            plots = [PlotRow(number=n, area=areas[i] if areas else None,
                             cadastral_no=cadastral[i] if cadastral else None,
                             share=shares[i] if shares else None)
                     for i, n in enumerate(numbers)]
    area = None
    if "area" in cols and "plots" not in cols:   # the area of the member's only object (see _place_areas)
        try:
            areas = fields.area_values(rec.get("area"))
        except ValueError as exc:
            errors.append(str(exc))
        else:
            if len(areas) > 1:
                errors.append(f"площадей {len(areas)}, а столбца с номером участка или помещения нет — не понять, "
                              f"какая площадь чья; добавьте столбец «№ участка» (или «Кв №», «Бокс»)")
            area = areas[0] if areas else None
    if errors:
        raise ValueError("; ".join(errors))
    return reg_no or None, values, plots, area


# -- writing the register -----------------------------------------------------------------------

def import_register(db: Database, data: bytes, name: str, actor: str | None = None,
                    progress: Callable[[float, str], None] | None = None, as_of: date | None = None,
                    numbering: str = "plot", mapping: dict[str, str] | None = None) -> ImportResult:
    """Import a register file all-or-nothing; importing the same file again changes nothing.

    Members are matched by л/с: new ones are added, changed fields are updated with a logged history,
    plots are created or updated, and ownerships opened, re-shared or closed. All writes are set-based.

    `as_of` (default today) is the day the file's changes take effect: a plot that moves to another member
    changes hands on it, a member marked withdrawn without «Дата выхода» leaves on it. Dates in the file
    («Дата вступления», «Дата выхода», «Дата начала владения») win. A plot seen for the first time without a
    date has no known start (NULL). A plot given 1/1 to a second owner while the first keeps it is refused.

    A file without л/с: each person (see _same_persons) is first looked for in the register — by the objects
    they own under the same ФИО, else by ФИО and phone — and keeps their л/с; a new person gets a number by
    `numbering`: "plot" (default) their smallest object number when free, else — and with "sequential" —
    the next number above the highest in the register. An existing member is never renumbered.

    «Площадь» without an object column goes to the member's only object; a member without objects gets one
    numbered by their л/с (a warning says so); a member with several objects is refused with the row.

    `mapping` ({normalised header: field}) places columns the synonyms do not know; the mapping remembered
    for a file with the same headers applies too, and the one the file was loaded with is remembered.
    """
    if numbering not in NUMBERING:
        raise InputError(f"Нумерация л/с «{numbering}» неизвестна; допустимы: {', '.join(NUMBERING)}")
    register = parse_register(data, name, mapping, column_maps.load(db, "register"))
    if progress:
        progress(0.3, "Файл прочитан")
    applied = {h: f for h, f in register.header.remembered.items() if h not in (mapping or {})}
    result = ImportResult(warnings=list(register.warnings), objects=objects_of(db),
                          remembered=column_maps.describe(register.header, applied, REGISTER_LABELS))
    source = f"импорт {name}"
    effective, now = as_of or date.today(), utcnow()
    member_cols = [k for k in MEMBER_FIELDS if k != "reg_no"]
    key = vault.master_key(db)
    with db.transaction() as con:
        cur = con.execute(f"SELECT id, reg_no, anonymized_at, {', '.join(member_cols)} FROM members")
        names = [d[0] for d in cur.description]
        existing = {r["reg_no"]: r for r in _open_rows(key, [dict(zip(names, r)) for r in cur.fetchall()])}
        plots = {r[1]: {"id": r[0], "area": r[2], "cadastral_no": r[3]}
                 for r in con.execute("SELECT id, number, area, cadastral_no FROM plots").fetchall()}
        open_rows = con.execute("SELECT member_id, plot_id, share_num, share_den, owned_from FROM plot_owners "
                                "WHERE owned_to IS NULL").fetchall()
        open_owners = {(r[0], r[1]): (r[2], r[3]) for r in open_rows}
        open_since = {(r[0], r[1]): r[4] for r in open_rows}
        _assign_reg_numbers(register, existing, plots, open_owners, numbering, result)
        _place_areas(register, existing, plots, open_owners, result)

        # Members: new ones, and changed fields of known ones.
        new_rows, updates, changes, statuses, refused = [], [], [], [], []
        touched: set[int] = set()
        for item in register.members:
            values = item.values
            old = existing.get(item.reg_no)
            if old is None:
                status = values.get("status") or ("withdrawn" if values.get("exit_date") else "member")
                if status not in ACTIVE_STATUSES and not values.get("exit_date"):
                    values["exit_date"] = effective
                    result.warnings.append(_left_without_date(register, item, effective))
                new_rows.append({**{k: values.get(k) for k in member_cols}, "reg_no": item.reg_no, "status": status,
                                 "created_at": now, "updated_at": now})
                continue
            diff = {k: v for k, v in values.items()
                    if k in member_cols and not (k == "status" and v is None) and old.get(k) != v}
            if values.get("status") and values["status"] not in ACTIVE_STATUSES and not values.get("exit_date") \
                    and not old.get("exit_date"):
                diff["exit_date"] = effective
                result.warnings.append(_left_without_date(register, item, effective))
            if not diff:
                continue
            if old.get("anonymized_at"):     # his personal data is gone on purpose (152-ФЗ): none comes back
                refused.append(f"{register.sheet.name}, строка {item.row}: л/с {item.reg_no} обезличен "
                               f"{old['anonymized_at']:%d.%m.%Y} — его сведения не меняются (поля: "
                               f"{', '.join(_label(k) for k in diff)}); уберите строку или верните прежние значения")
                continue
            touched.add(old["id"])
            updates.append(_sealed(key, {**old, **diff, "updated_at": now}))
            changes += [_change(old["id"], k, old.get(k), v, now, actor, source) for k, v in diff.items()]
            if "status" in diff:
                valid_from = (diff.get("exit_date") or old.get("exit_date")) \
                    if diff["status"] not in ACTIVE_STATUSES else effective
                statuses.append({"member_id": old["id"], "status": diff["status"], "valid_from": valid_from,
                                 "recorded_at": now, "source": source})
        if refused:
            raise InputError(refused, source=name)
        inserted = insert_rows(con, "members", [_sealed(key, r) for r in new_rows], returning="id, reg_no")
        member_ids = {reg: m["id"] for reg, m in existing.items()}
        member_ids.update({reg: mid for mid, reg in inserted})
        new_ids = {mid for mid, _ in inserted}
        result.consents = consent.import_from_register(con, register, member_ids, name, actor)[0]
        for row in new_rows:
            statuses.append({"member_id": member_ids[row["reg_no"]], "status": row["status"],
                             "valid_from": row["join_date"] if row["status"] in ACTIVE_STATUSES else row["exit_date"],
                             "recorded_at": now, "source": source})
        update_rows(con, "members", ["id"], updates, member_cols + ["updated_at"])
        if progress:
            progress(0.6, "Члены записаны")

        # Plots and ownership.
        wanted: dict[str, list[tuple[int, PlotRow, MemberRow]]] = {}
        for item in register.members:
            for plot in item.plots or []:
                wanted.setdefault(plot.number, []).append((member_ids[item.reg_no], plot, item))
        new_plots, plot_updates = [], []
        for number, owners in wanted.items():
            area = next((p.area for _, p, _ in owners if p.area is not None), None)
            cad = next((p.cadastral_no for _, p, _ in owners if p.cadastral_no), None)
            known = plots.get(number)
            if known is None:
                new_plots.append({"number": number, "cadastral_no": cad, "area": area, "created_at": now})
                continue
            area, cad = (area if area is not None else known["area"]), (cad or known["cadastral_no"])
            if area != known["area"] or cad != known["cadastral_no"]:
                plot_updates.append({"id": known["id"], "area": area, "cadastral_no": cad})
                for member_id, _, _ in owners:
                    if member_id not in new_ids:
                        changes.append(_change(member_id, f"участок {number}",
                                               f"{known['area']} м², {known['cadastral_no'] or ''}",
                                               f"{area} м², {cad or ''}", now, actor, source))
                        touched.add(member_id)
        for plot_id, number in insert_rows(con, "plots", new_plots, returning="id, number"):
            plots[number] = {"id": plot_id}
        result.plots_added = len(new_plots)
        update_rows(con, "plots", ["id"], plot_updates, ["area", "cadastral_no"])

        new_owners, reshared, closed, reshare_closed, conflicts = [], [], [], [], []
        numbers = {v["id"]: k for k, v in plots.items()}
        reg_of = {mid: reg for reg, mid in member_ids.items()}
        in_file = {member_ids[item.reg_no] for item in register.members}
        with_plots = "plots" in register.header.columns
        by_plot: dict[int, dict[int, tuple[int, int]]] = {}
        for (member_id, plot_id), share in open_owners.items():
            by_plot.setdefault(plot_id, {})[member_id] = share
        known_plots = {r[0] for r in con.execute("SELECT DISTINCT plot_id FROM plot_owners").fetchall()}
        transfer_on: dict[int, date] = {}   # plot -> the day it changed hands (a date in the file, else as_of)
        for number, owners in wanted.items():
            plot_id = plots[number]["id"]
            current = by_plot.get(plot_id, {})
            given = [i.values.get("owned_from") for m, _, i in owners if m not in current and i.values.get("owned_from")]
            if given:
                transfer_on[plot_id] = min(given)
            others = {m: s for m, s in current.items() if m not in {o[0] for o in owners}}
            # A previous owner who is in the file without the plot, or any when the file gives the date of the
            # transfer, gives it up; one who is not in the file keeps it, and the shares must then add up.
            kept = {m: s for m, s in others.items() if not ((with_plots and m in in_file) or plot_id in transfer_on)}
            shares = [p.share or current.get(m) or (1, 1) for m, p, _ in owners]
            total = sum(Fraction(a, b) for a, b in shares) + sum(Fraction(a, b) for a, b in kept.values())
            if total > 1:
                where = register.sheet.name
                if kept:
                    holders = ", ".join(f"л/с {reg_of.get(m, m)}" for m in sorted(kept))
                    conflicts += [f"{where}, строка {i.row}: участок {number} уже принадлежит {holders} — укажите доли "
                                  f"или дату перехода («Дата начала владения»)"
                                  for m, _, i in owners if m not in current]
                else:
                    regs = ", ".join(f"л/с {i.reg_no}" for _, _, i in owners)
                    conflicts.append(f"{where}, строка {owners[-1][2].row}: участок {number} указан у {regs}, а доли "
                                     f"в сумме больше 1 — укажите доли («Доля»: 1/2, 1/3…)")
                continue
            for (member_id, _, item), share in zip(owners, shares):
                have = current.get(member_id)
                if have is None:
                    # A plot seen for the first time without a date has no known start; one that changes hands
                    # does so on the day given in the file or on the register's effective date.
                    since = item.values.get("owned_from") or (effective if plot_id in known_plots else None)
                    new_owners.append({"plot_id": plot_id, "member_id": member_id, "share_num": share[0],
                                       "share_den": share[1], "owned_from": since})
                    if member_id not in new_ids:
                        changes.append(_change(member_id, "участок", None, number, now, actor, source))
                        touched.add(member_id)
                elif have != share:
                    # A new share holds from the effective date: the old one is closed then, history kept.
                    if open_since.get((member_id, plot_id)) == effective:
                        reshared.append({"plot_id": plot_id, "member_id": member_id, "share_num": share[0],
                                         "share_den": share[1]})
                    else:
                        reshare_closed.append({"plot_id": plot_id, "member_id": member_id, "owned_to": effective})
                        new_owners.append({"plot_id": plot_id, "member_id": member_id, "share_num": share[0],
                                           "share_den": share[1], "owned_from": effective})
                    changes.append(_change(member_id, f"доля в участке {number}", f"{have[0]}/{have[1]}",
                                           f"{share[0]}/{share[1]}", now, actor, source))
                    touched.add(member_id)
        if conflicts:
            raise InputError(conflicts, source=name)
        listed = {(member_id, plots[number]["id"]) for number, owners in wanted.items() for member_id, _, _ in owners}
        for (member_id, plot_id) in open_owners:
            if (member_id, plot_id) in listed:
                continue
            # Plots a listed member no longer has in the file, or that the file gives to another from a date:
            # ownership closed on that day, history kept.
            if (with_plots and member_id in in_file) or plot_id in transfer_on:
                closed.append({"plot_id": plot_id, "member_id": member_id,
                               "owned_to": transfer_on.get(plot_id, effective)})
                changes.append(_change(member_id, "участок", numbers.get(plot_id), None, now, actor, source))
                touched.add(member_id)
        update_rows(con, "plot_owners", ["plot_id", "member_id"], closed + reshare_closed, ["owned_to"],
                    where="plot_owners.owned_to IS NULL")
        update_rows(con, "plot_owners", ["plot_id", "member_id"], reshared, ["share_num", "share_den"],
                    where="plot_owners.owned_to IS NULL")
        insert_rows(con, "plot_owners", new_owners)
        result.ownerships_closed = len(closed)
        insert_rows(con, "member_statuses", statuses)
        insert_rows(con, "member_changes", _seal_changes(key, changes))

        listed_existing = {member_ids[i.reg_no] for i in register.members} - new_ids
        result.added = len(new_rows)
        result.updated = len(touched & listed_existing)
        result.unchanged = len(listed_existing - touched)
        result.not_in_file = len(existing) - len(listed_existing)
        if result.added or result.updated or result.plots_added or result.ownerships_closed:
            audit.log(con, actor, "register_imported", name, added=result.added, updated=result.updated)
        column_maps.save(con, "register", register.header, actor)
    if progress:
        progress(1.0, "Готово")
    return result


NUMBERING = {"plot": "по наименьшему номеру участка", "sequential": "по порядку после наибольшего"}


def object_key(number: str) -> tuple:
    """Natural order of object numbers: "36" < "100", "12" < "12а" < "13", "3-15" after "3"."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", number))


def _assign_reg_numbers(register: RegisterFile, existing: dict[str, dict], plots: dict[str, dict],
                        open_owners: dict[tuple[int, int], Any], numbering: str, result: ImportResult) -> None:
    """Give every person of a file without л/с the л/с of the member they already are, or a new number."""
    persons = [m for m in register.members if m.reg_no is None]
    if not persons:
        return
    owners: dict[int, set[int]] = {}
    for member_id, plot_id in open_owners:
        owners.setdefault(plot_id, set()).add(member_id)
    by_name: dict[str, list[dict]] = {}
    for m in existing.values():
        by_name.setdefault(name_key(m["full_name"]), []).append(m)
    claimed: set[int] = set()
    fresh: list[MemberRow] = []
    for item in persons:
        key, phones = name_key(item.values["full_name"]), _phone_set(item.values)
        namesakes = [m for m in by_name.get(key, ()) if m["id"] not in claimed]
        # The same ФИО owning one of the file's objects now; else the same ФИО and a phone in common (or no
        # phone on record); else, when the row has no phone, the only namesake.
        ids = {mid for p in item.plots or [] if p.number in plots for mid in owners.get(plots[p.number]["id"], ())}
        found = [m for m in namesakes if m["id"] in ids]
        if not found and phones:
            found = [m for m in namesakes if _phone_set(m) & phones] or \
                [m for m in namesakes if not _phone_set(m)]
        elif not found:
            found = namesakes
        if len(found) == 1:
            item.reg_no = found[0]["reg_no"]
            claimed.add(found[0]["id"])
            result.found_again += 1
        else:
            fresh.append(item)
    taken = set(existing)
    rest = []
    for item in fresh:
        numbers = sorted((p.number for p in item.plots or []), key=object_key)
        if numbering == "plot" and numbers and numbers[0] not in taken:
            item.reg_no = numbers[0]
            taken.add(item.reg_no)
            result.numbered_by_plot += 1
        else:
            rest.append(item)
    top = max((reg_no_key(r)[1] for r in taken if reg_no_key(r)[0] == 0), default=0)
    for item in rest:
        top += 1
        while str(top) in taken:
            top += 1
        item.reg_no = str(top)
        taken.add(item.reg_no)
        result.first_in_order = result.first_in_order or item.reg_no
        result.numbered_in_order += 1


def _place_areas(register: RegisterFile, existing: dict[str, dict], plots: dict[str, dict],
                 open_owners: dict[tuple[int, int], Any], result: ImportResult) -> None:
    """«Площадь» of a file without an object column: on the member's only object, else a new one by л/с."""
    if "plots" in register.header.columns or "area" not in register.header.columns:
        return
    words = result.objects
    number_of = {v["id"]: k for k, v in plots.items()}
    held: dict[int, list[str]] = {}
    for member_id, plot_id in open_owners:
        held.setdefault(member_id, []).append(number_of[plot_id])
    owned = {number_of[plot_id] for _, plot_id in open_owners}
    problems, created = [], []
    for item in register.members:
        if item.area is None:
            continue
        old = existing.get(item.reg_no)
        mine = sorted(held.get(old["id"], []), key=object_key) if old else []
        where = f"{register.sheet.name}, строка {item.row}"
        if len(mine) == 1:
            item.plots = [PlotRow(number=mine[0], area=item.area)]
        elif mine:
            problems.append(f"{where}: площадь {item.area} м² без номера {words.gen}, а у л/с {item.reg_no} "
                            f"{words.count(len(mine))} ({', '.join(mine)}) — не понять, чья это площадь; добавьте "
                            f"столбец с номером {words.gen}")
        elif item.reg_no in owned:
            problems.append(f"{where}: площадь {item.area} м² без номера {words.gen}: у л/с {item.reg_no} нет "
                            f"{words.gen_many}, а {words.one} № {item.reg_no} уже принадлежит другому — добавьте "
                            f"столбец с номером {words.gen}")
        else:
            item.plots = [PlotRow(number=item.reg_no, area=item.area)]
            created.append(item.reg_no)
    if problems:
        raise InputError(problems, source=register.sheet.name)
    if created:
        shown = ", ".join(created[:10]) + (" …" if len(created) > 10 else "")
        result.warnings.append(f"В файле площадь без номера {words.gen}: {words.many} заведены с номером, равным "
                               f"л/с члена ({shown}; всего {len(created)}), чтобы площадь учитывалась в начислениях "
                               f"за м²; если номер другой, исправьте его в карточке члена")


def _left_without_date(register: RegisterFile, item: MemberRow, effective: date) -> str:
    return (f"{register.sheet.name}, строка {item.row}: л/с {item.reg_no} выбыл без «Дата выхода» — считается "
            f"выбывшим с {effective:%d.%m.%Y} (дата, с которой действуют изменения)")


def _change(member_id: int, fld: str, old: Any, new: Any, now, actor: str | None, source: str | None) -> dict:
    return {"member_id": member_id, "field": fld, "old_value": None if old is None else str(old),
            "new_value": None if new is None else str(new), "changed_at": now, "changed_by": actor, "source": source}


def _shares(owners: list[tuple[MemberRow, PlotRow]]) -> list[tuple[int, int]]:
    if len(owners) == 1:
        return [owners[0][1].share or (1, 1)]
    if all(p.share for _, p in owners):
        return [p.share for _, p in owners]  # type: ignore[misc]
    return [(1, len(owners))] * len(owners)


def _insert_member(con, reg_no: str, values: dict[str, Any], actor: str | None) -> int:
    now = utcnow()
    cols = ["reg_no", "created_at", "updated_at"] + [k for k in MEMBER_FIELDS if k in values and k != "reg_no"]
    params = [reg_no, now, now] + [values[k] for k in cols[3:]]
    return con.execute(f"INSERT INTO members ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING id",
                       params).fetchone()[0]


def _log_change(con, member_id: int, fld: str, old: Any, new: Any, actor: str | None, source: str | None) -> None:
    con.execute("INSERT INTO member_changes (member_id, field, old_value, new_value, changed_at, changed_by, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [member_id, fld, None if old is None else str(old), None if new is None else str(new), utcnow(),
                 actor, source])


def _update_member(con, member_id: int, current: dict[str, Any], values: dict[str, Any], actor: str | None,
                   source: str | None, key: vault.MasterKey) -> list[str]:
    """current and values are plaintext; personal fields are written encrypted."""
    changed = [k for k, v in values.items() if k in MEMBER_FIELDS and k != "reg_no" and current.get(k) != v]
    if not changed:
        return []
    for k in changed:
        _log_change(con, member_id, k, _seal(key, k, current.get(k), "member_changes"),
                    _seal(key, k, values[k], "member_changes"), actor, source)
    sets = ", ".join(f"{k} = ?" for k in changed)
    con.execute(f"UPDATE members SET {sets}, updated_at = ? WHERE id = ?",
                [_seal(key, k, values[k]) for k in changed] + [utcnow(), member_id])
    if "status" in changed:
        status = values["status"]
        valid_from = values.get("exit_date") or current.get("exit_date") if status not in ACTIVE_STATUSES else date.today()
        con.execute("INSERT INTO member_statuses VALUES (?, ?, ?, ?, ?, NULL)",
                    [member_id, status, valid_from, utcnow(), source])
    return changed


def _ensure_owner(con, plot_id: int, member_id: int, share: tuple[int, int], since: date | None, actor, source, number,
                  log: bool = True) -> bool:
    """Open (or re-share) the member's ownership of the plot; True when something changed."""
    row = con.execute("SELECT share_num, share_den FROM plot_owners WHERE plot_id = ? AND member_id = ? "
                      "AND owned_to IS NULL", [plot_id, member_id]).fetchone()
    if row is None:
        con.execute("INSERT INTO plot_owners VALUES (?, ?, ?, ?, ?, NULL)", [plot_id, member_id, share[0], share[1], since])
        if log:
            _log_change(con, member_id, "участок", None, number, actor, source)
        return True
    if (row[0], row[1]) != share:
        con.execute("UPDATE plot_owners SET share_num = ?, share_den = ? WHERE plot_id = ? AND member_id = ? "
                    "AND owned_to IS NULL", [share[0], share[1], plot_id, member_id])
        _log_change(con, member_id, f"доля в участке {number}", f"{row[0]}/{row[1]}", f"{share[0]}/{share[1]}",
                    actor, source)
        return True
    return False


# -- single members (the card in the UI) --------------------------------------------------------

def validate_member(values: dict[str, Any]) -> dict[str, Any]:
    """Parse a member form; InputError names each bad field."""
    out: dict[str, Any] = {}
    problems = []
    parsers: dict[str, Callable[[Any], Any]] = {
        "reg_no": lambda v: fields.clean_text(v) or _raise("не указан"),
        "full_name": lambda v: normalize_name(v) or _raise("не указано"),
        "status": parse_status,
        "join_date": fields.optional_date, "exit_date": fields.optional_date,
        "inn": fields.person_inn, "phones": fields.phones, "emails": fields.emails,
        "telegram_chat_id": lambda v: fields.clean_text(v) or None,
        "address": lambda v: fields.clean_text(v) or None, "notes": lambda v: fields.clean_text(v) or None,
    }
    for key, value in values.items():
        if key not in parsers:
            continue
        try:
            if isinstance(value, str):
                fields.bounded_text(value, TEXT_LIMITS.get(key, 300))
            out[key] = parsers[key](value)
        except ValueError as exc:
            problems.append(f"Поле «{MEMBER_FIELDS[key]}»: {exc}")
    if problems:
        raise InputError(problems)
    return out


def _require_exit_date(values: dict[str, Any], current: dict[str, Any]) -> None:
    """A member who left is not charged after leaving: the form must say when (the register file uses its date)."""
    status = values.get("status") or current.get("status")
    if status and status not in ACTIVE_STATUSES and not values.get("exit_date") and not (
            "exit_date" not in values and current.get("exit_date")):
        raise InputError(f"Поле «{MEMBER_FIELDS['exit_date']}»: укажите дату — со статусом "
                         f"«{STATUSES[status]}» член не начисляется после неё")


def _raise(reason: str):
    raise ValueError(reason)


def add_member(db: Database, values: dict[str, Any], actor: str | None = None) -> int:
    parsed = validate_member(values)
    for key in ("reg_no", "full_name"):
        if not parsed.get(key):
            raise InputError(f"Поле «{MEMBER_FIELDS[key]}»: не указано")
    parsed.setdefault("status", "member")
    _require_exit_date(parsed, {})
    key = vault.master_key(db)
    with db.transaction() as con:
        if con.execute("SELECT 1 FROM members WHERE reg_no = ?", [parsed["reg_no"]]).fetchone():
            raise InputError(f"Поле «Л/с»: номер {parsed['reg_no']} уже занят")
        member_id = _insert_member(con, parsed["reg_no"], _sealed(key, parsed), actor)
        con.execute("INSERT INTO member_statuses VALUES (?, ?, ?, ?, ?, NULL)",
                    [member_id, parsed["status"], parsed.get("join_date"), utcnow(), "вручную"])
        audit.log(con, actor, "member_added", parsed["reg_no"])
    return member_id


def update_member(db: Database, member_id: int, values: dict[str, Any], actor: str | None = None) -> list[str]:
    parsed = validate_member(values)
    key = vault.master_key(db)
    with db.transaction() as con:
        cur = con.execute("SELECT * FROM members WHERE id = ?", [member_id])
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
        if row is None:
            raise InputError(f"Член с id {member_id} не найден")
        current = _open_rows(key, [dict(zip(names, row))])[0]
        _require_exit_date(parsed, current)
        if parsed.get("reg_no") and parsed["reg_no"] != current["reg_no"]:
            if con.execute("SELECT 1 FROM members WHERE reg_no = ? AND id <> ?", [parsed["reg_no"], member_id]).fetchone():
                raise InputError(f"Поле «Л/с»: номер {parsed['reg_no']} уже занят")
        return _update_member(con, member_id, current, parsed, actor, "вручную", key)


def set_plots(db: Database, member_id: int, plots: list[dict[str, Any]], actor: str | None = None) -> None:
    """Replace a member's current plots: [{number, area, cadastral_no, share}] (the card's plot editor)."""
    parsed = []
    problems = []
    for i, p in enumerate(plots, start=1):
        try:
            numbers = fields.plot_numbers(p.get("number"))
            if len(numbers) != 1:
                raise ValueError("укажите один номер участка")
            areas = fields.area_values(p.get("area"))
            parsed.append(PlotRow(numbers[0], areas[0] if areas else None,
                                  fields.clean_text(p.get("cadastral_no")) or None, fields.share(p.get("share"))))
        except ValueError as exc:
            problems.append(f"Участок, строка {i}: {exc}")
    if problems:
        raise InputError(problems)
    today = date.today()
    with db.transaction() as con:
        current = {r[1]: r[0] for r in con.execute(
            "SELECT o.plot_id, p.number FROM plot_owners o JOIN plots p ON p.id = o.plot_id "
            "WHERE o.member_id = ? AND o.owned_to IS NULL", [member_id]).fetchall()}
        for p in parsed:
            row = con.execute("SELECT id, area, cadastral_no FROM plots WHERE number = ?", [p.number]).fetchone()
            if row is None:
                plot_id = con.execute("INSERT INTO plots (number, cadastral_no, area, created_at) VALUES (?, ?, ?, ?) "
                                      "RETURNING id", [p.number, p.cadastral_no, p.area, utcnow()]).fetchone()[0]
            else:
                plot_id = row[0]
                if (p.area is not None and p.area != row[1]) or (p.cadastral_no and p.cadastral_no != row[2]):
                    con.execute("UPDATE plots SET area = coalesce(?, area), cadastral_no = coalesce(?, cadastral_no) "
                                "WHERE id = ?", [p.area, p.cadastral_no, plot_id])
            # a plot nobody owned before has no known start; one that changes hands does so today
            known = con.execute("SELECT 1 FROM plot_owners WHERE plot_id = ? LIMIT 1", [plot_id]).fetchone()
            _ensure_owner(con, plot_id, member_id, p.share or (1, 1), today if known else None, actor, "вручную",
                          p.number)
        for number, plot_id in current.items():
            if number not in {p.number for p in parsed}:
                con.execute("UPDATE plot_owners SET owned_to = ? WHERE plot_id = ? AND member_id = ? AND owned_to IS NULL",
                            [today, plot_id, member_id])
                _log_change(con, member_id, "участок", number, None, actor, "вручную")


def date_text(value: date | None) -> str:
    """A date as the card shows it; a date nobody gave is unknown, never the day it was loaded."""
    return f"{value:%d.%m.%Y}" if value else "дата не указана"


def correct_ownership(db: Database, member_id: int, number: str, owned_from: date | None, owned_to: date | None,
                      new_from: Any, new_to: Any, reason: str, actor: str | None = None) -> None:
    """Correct the dates of one ownership (found by plot and its current dates) with a required reason.

    New dates are dates or text (ДД.ММ.ГГГГ; empty: unknown start, or still owned). The correction is
    written to the member's history (field, old and new date, «исправление: reason») and to the audit log;
    the next accrual recalculates the periods it affects.
    """
    problems = []
    parsed = []
    for label, value in (("С", new_from), ("По", new_to)):
        try:
            parsed.append(value if isinstance(value, date) else fields.optional_date(value))
        except ValueError as exc:
            problems.append(f"Поле «{label}»: {exc}")
            parsed.append(None)
    new_from, new_to = parsed
    if not (reason or "").strip():
        problems.append("Поле «Основание»: укажите причину исправления")
    if new_from and new_to and new_to <= new_from:
        problems.append(f"Поле «По»: {new_to:%d.%m.%Y} не позже начала владения {new_from:%d.%m.%Y}")
    if problems:
        raise InputError(problems)
    with db.transaction() as con:
        row = con.execute("SELECT o.plot_id FROM plot_owners o JOIN plots p ON p.id = o.plot_id WHERE o.member_id = ? "
                          "AND p.number = ? AND o.owned_from IS NOT DISTINCT FROM ? AND o.owned_to IS NOT DISTINCT FROM ?",
                          [member_id, number, owned_from, owned_to]).fetchone()
        if row is None:
            raise InputError(f"Владение участком {number} с {date_text(owned_from)} не найдено")
        plot_id = row[0]
        clash = con.execute("""
            SELECT m.reg_no FROM plot_owners o JOIN members m ON m.id = o.member_id
            WHERE o.plot_id = ? AND NOT (o.member_id = ? AND o.owned_from IS NOT DISTINCT FROM ?
                                         AND o.owned_to IS NOT DISTINCT FROM ?)
              AND o.share_num = o.share_den
              AND coalesce(o.owned_from, DATE '0001-01-01') < coalesce(?::DATE, DATE '9999-12-31')
              AND coalesce(?::DATE, DATE '0001-01-01') < coalesce(o.owned_to, DATE '9999-12-31')
            LIMIT 1""", [plot_id, member_id, owned_from, owned_to, new_to, new_from]).fetchone()
        if clash:
            raise InputError(f"С этими датами участок {number} принадлежал бы целиком и л/с {clash[0]} — исправьте "
                             f"сначала его владение")
        con.execute("UPDATE plot_owners SET owned_from = ?, owned_to = ? WHERE plot_id = ? AND member_id = ? "
                    "AND owned_from IS NOT DISTINCT FROM ? AND owned_to IS NOT DISTINCT FROM ?",
                    [new_from, new_to, plot_id, member_id, owned_from, owned_to])
        source = f"исправление: {reason.strip()}"
        for what, old, new in (("начало", owned_from, new_from), ("окончание", owned_to, new_to)):
            if old != new:
                _log_change(con, member_id, f"{what} владения участком {number}",
                            date_text(old) if old or what == "начало" else "не окончено",
                            date_text(new) if new or what == "начало" else "не окончено", actor, source)
        audit.log(con, actor, "ownership_corrected", f"участок {number}", member_id=member_id,
                  old=[owned_from, owned_to], new=[new_from, new_to], reason=reason.strip())


# -- reading ------------------------------------------------------------------------------------

_LIST_SQL = """
SELECT m.id, m.reg_no, m.full_name, m.status, m.join_date, m.exit_date, m.inn, m.phones, m.emails,
       m.telegram_chat_id, m.address, m.notes,
       string_agg(p.number, ', ' ORDER BY p.number) AS plots,
       sum(p.area * o.share_num / o.share_den)::DECIMAL(12,2) AS area,
       string_agg(p.cadastral_no, '; ' ORDER BY p.number) AS cadastral_nos
FROM members m
LEFT JOIN plot_owners o ON o.member_id = m.id AND o.owned_to IS NULL
LEFT JOIN plots p ON p.id = o.plot_id
"""


_REG_ORDER = "ORDER BY try_cast(regexp_extract(reg_no, '\\d+') AS BIGINT) NULLS LAST, reg_no"


def reg_no_key(reg_no: str) -> tuple:
    """Sort key of register numbers: numeric part first, so that 2 comes before 10."""
    m = re.search(r"\d+", reg_no)
    return (0, int(m.group()), reg_no) if m else (1, 0, reg_no)


def list_members(db: Database, search: str = "", statuses: list[str] | None = None, plot: str = "") -> list[dict]:
    """Members with their current plots; search by name, л/с, plot, phone or e-mail (case and ё insensitive)."""
    where, params = [], []
    key = vault.master_key(db)
    if search.strip():
        plain = search.strip().lower().replace('ё', 'е')
        term = f"%{plain}%"
        # Phones and e-mail are encrypted: decrypt them and filter here, then hand the ids to SQL.
        # A term of Cyrillic letters only cannot occur in a phone or an e-mail: skip the decryption then.
        by_contact = [mid for mid, pd in personal_data(db).items()
                      if plain in (pd["phones"] or "") or plain in (pd["emails"] or "")] \
            if re.search(r"[0-9a-z@+._-]", plain) else []
        where.append("(replace(lower(m.full_name), 'ё', 'е') LIKE ? OR lower(m.reg_no) LIKE ? "
                     "OR m.id IN (SELECT o2.member_id FROM plot_owners o2 JOIN plots p2 ON p2.id = o2.plot_id "
                     "WHERE o2.owned_to IS NULL AND lower(p2.number) LIKE ?) "
                     "OR list_contains(?::BIGINT[], m.id))")
        params += [term, term, term, by_contact]
    if statuses:
        where.append(f"m.status IN ({', '.join('?' * len(statuses))})")
        params += statuses
    if plot.strip():
        where.append("m.id IN (SELECT o3.member_id FROM plot_owners o3 JOIN plots p3 ON p3.id = o3.plot_id "
                     "WHERE o3.owned_to IS NULL AND lower(p3.number) = ?)")
        params.append(plot.strip().lower())
    sql = _LIST_SQL + (" WHERE " + " AND ".join(where) if where else "") + " GROUP BY ALL"
    sql = f"SELECT * FROM ({sql}) {_REG_ORDER}"
    return _open_rows(key, db.records(sql, params))


def get_member(db: Database, member_id: int) -> dict | None:
    rows = db.records(_LIST_SQL + " WHERE m.id = ? GROUP BY ALL", [member_id])
    return _open_rows(vault.master_key(db), rows)[0] if rows else None


def find_by_reg_no(db: Database, reg_no: str) -> dict | None:
    member_id = db.scalar("SELECT id FROM members WHERE reg_no = ?", [reg_no])
    return get_member(db, member_id) if member_id is not None else None


def member_history(db: Database, member_id: int) -> dict[str, list[dict]]:
    key = vault.master_key(db)
    changes = db.records("SELECT changed_at, field, old_value, new_value, changed_by, source FROM member_changes "
                         "WHERE member_id = ? ORDER BY id", [member_id])
    for c in changes:
        c["old_value"] = _unseal(key, c["field"], c["old_value"], "member_changes")
        c["new_value"] = _unseal(key, c["field"], c["new_value"], "member_changes")
    return {
        "statuses": db.records("SELECT status, valid_from, recorded_at, source FROM member_statuses "
                               "WHERE member_id = ? ORDER BY recorded_at, valid_from", [member_id]),
        "changes": changes,
        "plots": db.records("SELECT p.number, p.area, p.cadastral_no, o.share_num, o.share_den, o.owned_from, o.owned_to "
                            "FROM plot_owners o JOIN plots p ON p.id = o.plot_id WHERE o.member_id = ? "
                            "ORDER BY o.owned_to NULLS FIRST, p.number", [member_id]),
    }


def counts(db: Database) -> dict[str, int]:
    return {r[0]: r[1] for r in db.fetchall("SELECT status, count(*) FROM members GROUP BY status")}


EXPORT_COLUMNS = [
    Column("reg_no", "№ л/с"), Column("full_name", "ФИО"), Column("status_label", "Статус"),
    Column("join_date", "Дата вступления", "date"), Column("exit_date", "Дата выхода", "date"),
    Column("plots", "№ участка"), Column("areas", "Площадь, м2", "number"), Column("cadastral_nos", "Кадастровый номер"),
    Column("shares", "Доля"),
    Column("inn", "ИНН"), Column("phones", "Телефон"), Column("emails", "Эл. почта"),
    Column("telegram_chat_id", "Telegram"), Column("address", "Адрес"), Column("notes", "Примечание"),
    # Consents as the register import reads them back: да / нет / the date consent was given; empty = none recorded.
    Column("consent_email", "Согласие e-mail"), Column("consent_sms", "Согласие на SMS"),
    Column("consent_telegram", "Согласие Telegram"), Column("consent_max", "Согласие MAX"),
]


def export_columns(words: ObjectWords | None = None) -> list[Column]:
    """EXPORT_COLUMNS with the object column titled as the cooperative says it («№ квартиры», «№ бокса»)."""
    words = words or object_words()
    return [Column(c.key, f"№ {words.gen}") if c.key == "plots" else c for c in EXPORT_COLUMNS]


def export_rows(db: Database) -> list[dict]:
    rows = db.records("""
        SELECT m.*, string_agg(p.number, ', ' ORDER BY p.number) AS plots,
               string_agg(coalesce(p.area::VARCHAR, ''), '; ' ORDER BY p.number) AS areas,
               string_agg(coalesce(p.cadastral_no, ''), '; ' ORDER BY p.number) AS cadastral_nos,
               string_agg(o.share_num || '/' || o.share_den, '; ' ORDER BY p.number) AS shares
        FROM members m
        LEFT JOIN plot_owners o ON o.member_id = m.id AND o.owned_to IS NULL
        LEFT JOIN plots p ON p.id = o.plot_id
        GROUP BY ALL""")
    rows.sort(key=lambda r: reg_no_key(r["reg_no"]))
    _open_rows(vault.master_key(db), rows)
    consents = {(m, c): (g, s) for m, c, g, s in db.fetchall(
        "SELECT member_id, channel, arg_max(granted, id), arg_max(since, id) FROM member_consents "
        "GROUP BY member_id, channel")}
    for r in rows:
        r["status_label"] = STATUSES.get(r["status"], r["status"])
        for channel in consent.CHANNELS:
            state = consents.get((r["id"], channel))
            r[f"consent_{channel}"] = None if state is None else \
                ("нет" if not state[0] else f"{state[1]:%d.%m.%Y}" if state[1] else "да")
        if r["areas"] and not r["areas"].replace(";", "").strip():
            r["areas"] = None
        if r["cadastral_nos"] and not r["cadastral_nos"].replace(";", "").strip():
            r["cadastral_nos"] = None
    return rows


def export_register(db: Database, path: Path, actor: str | None = None, title: list[str] = ()) -> int:
    """Write the register to .xlsx or .csv (re-importable); the export of personal data is logged.

    `title`: lines above the .xlsx table (cooperative.export_title); the import finds the header below them.
    """
    rows = export_rows(db)
    write_table(Path(path), export_columns(objects_of(db)), rows, sheet_title="Реестр членов", title=title)
    audit.record(db, actor, "export_personal_data", Path(path).name, rows=len(rows), what="реестр членов")
    return len(rows)


def attention(db: Database) -> list[tuple[str, int]]:
    """What in the register needs the accountant's attention: (what, how many), only non-zero."""
    row = db.fetchone("""
        SELECT
          count(*) FILTER (WHERE m.status IN ('member', 'applicant') AND NOT EXISTS (
              SELECT 1 FROM plot_owners o WHERE o.member_id = m.id AND o.owned_to IS NULL)),
          count(*) FILTER (WHERE m.status IN ('member', 'applicant') AND m.phones IS NULL AND m.emails IS NULL
                           AND m.telegram_chat_id IS NULL),
          count(*) FILTER (WHERE m.status = 'applicant')
        FROM members m""")
    items = [(f"Члены без {objects_of(db).gen_many}", row[0]), ("Члены без контактов для уведомлений", row[1]),
             ("Кандидаты, ожидающие приёма", row[2])]
    return [(text, n) for text, n in items if n]


def plot_totals(db: Database) -> tuple[int, Decimal]:
    row = db.fetchone("SELECT count(*), coalesce(sum(area), 0) FROM plots WHERE id IN "
                      "(SELECT plot_id FROM plot_owners WHERE owned_to IS NULL)")
    return int(row[0]), Decimal(row[1])


def export_register_bytes(db: Database, fmt: str, actor: str | None = None, title: list[str] = ()) -> bytes:
    """The register as .xlsx or .csv bytes (for a download button); the export is logged."""
    import io

    from .spreadsheets import write_csv, xlsx_bytes

    rows = export_rows(db)
    if fmt == "xlsx":
        data = xlsx_bytes(export_columns(objects_of(db)), rows, sheet_title="Реестр членов", title=title)
    else:
        text = io.StringIO()
        write_csv(text, export_columns(objects_of(db)), rows)
        data = text.getvalue().encode("utf-8")
    audit.record(db, actor, "export_personal_data", f"реестр.{fmt}", rows=len(rows), what="реестр членов")
    return data
