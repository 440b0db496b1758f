"""A member's personal data under 152-ФЗ: his copy of all that is held about him (ст. 14), how long it is kept
(402-ФЗ ст. 29) and its anonymisation once that time is over.

The copy is built by discovery: every table with a column named in REFERENCE_COLUMNS is read for the member
(a table this module has no layout for gets a plain section of all its columns), plus the tables that refer to
him otherwise (INDIRECT). tests/test_pd_rights.py compares this with the database's own catalogue, so a table
that refers to members and is left out of the copy fails the tests.

Anonymisation replaces the member's name with «Бывший член №<л/с>», clears his contacts, INN, address and
notes, scrubs the old values from his change history, notices, payments' texts and every other text column,
keeps the money records as they are, and then rewrites the database file (Database.rewrite) so that the old
values do not survive in freed blocks or the WAL. The audit log is never edited (its entries are a keyed
chain): it holds register numbers and ids only, and anonymisation reports any older entry that still holds
one of the old values.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import accruals, audit, cooperative, formats, members, statements, vault
from .db import Database, utcnow
from .errors import InputError, LedgerError

REFERENCE_COLUMNS = ("member_id",)   # a column of this name in any table refers to members.id
INDIRECT = {                          # tables that refer to a member otherwise, and how
    "members": "сам член (id)",
    "charge_corrections": "charge_id → charges.member_id",
    "payments": "payment_id в matches и match_splits",
    "channel_messages": "notify_key → notify_outbox.key",
    "audit_log": "target «л/с …», details.member_id / member_ids",
}
DEFAULT_RETENTION_YEARS = 5
PSEUDONYM = "Бывший член №{reg_no}"
WIPED_TEXT = "(текст удалён при обезличивании)"
# Register fields that are personal data and go at anonymisation (reg_no, status and dates stay: accounting).
ERASED_FIELDS = ("full_name", "inn", "phones", "emails", "telegram_chat_id", "address", "notes")

_C = {  # column titles shared by the sections
    "status": "Статус", "valid_from": "С", "recorded_at": "Записано", "source": "Источник", "note": "Примечание",
    "changed_at": "Когда", "field": "Поле", "old_value": "Было", "new_value": "Стало", "changed_by": "Кто",
    "number": "Участок", "area": "Площадь, м²", "cadastral_no": "Кадастровый номер", "share": "Доля",
    "owned_from": "Владеет с", "owned_to": "По", "id": "№", "contribution": "Взнос", "plot": "Участок",
    "period_start": "Период с", "period_end": "Период по", "due_date": "Срок оплаты", "amount": "Сумма, ₽",
    "kind": "Вид", "basis_note": "Расчёт", "reason": "Основание", "created_at": "Создано", "created_by": "Кем",
    "charge_id": "Начисление №", "delta": "Изменение, ₽", "paid_off_on": "Оплачено полностью",
    "final_penalty": "Пени итого, ₽", "settled_on": "Закрыто", "payment_id": "Платёж №", "doc_date": "Дата",
    "doc_number": "Номер документа", "payer_name": "Плательщик", "payer_inn": "ИНН плательщика",
    "payer_account": "Счёт плательщика", "purpose": "Назначение платежа", "confidence": "Уверенность",
    "decided_by": "Кто решил", "decided_at": "Когда решено", "action": "Действие", "details": "Подробности",
    "value": "Значение", "payment": "Платёж №", "blocked": "Запрещено", "applied_on": "Зачтено",
    "as_of": "На дату", "debt": "Долг, ₽", "penalty": "Пени, ₽", "advance": "Аванс, ₽", "file_name": "Файл",
    "principal": "Долг, ₽", "not_due": "Не наступил срок, ₽", "oldest_due": "Самый ранний срок",
    "planned_at": "Запланировано", "channel": "Канал", "recipient": "Получатель", "sent_at": "Отправлено",
    "subject": "Тема", "body": "Текст", "detail": "Ответ", "integration": "Сервис", "used_at": "Использована",
    "chat_id": "Чат", "fingerprint": "Отпечаток", "happened_at": "Когда (UTC)", "actor": "Кто",
    "target": "Объект", "scope": "Касается",
}

# table -> (title, query for the member: $1 = members.id, $2 = reg_no; one row per row of the table)
SECTIONS: dict[str, tuple[str, str]] = {
    "member_statuses": ("История статусов", "SELECT status, valid_from, recorded_at, source, note FROM member_statuses "
                        "WHERE member_id = $1 ORDER BY recorded_at, valid_from"),
    "member_changes": ("История изменений сведений", "SELECT changed_at, field, old_value, new_value, changed_by, source "
                       "FROM member_changes WHERE member_id = $1 ORDER BY id"),
    "plot_owners": ("Участки и владение", "SELECT p.number, p.area, p.cadastral_no, o.share_num || '/' || o.share_den "
                    "AS share, o.owned_from, o.owned_to FROM plot_owners o JOIN plots p ON p.id = o.plot_id "
                    "WHERE o.member_id = $1 ORDER BY o.owned_from NULLS FIRST, p.number"),
    "charges": ("Начисления", "SELECT c.id, c.contribution, p.number AS plot, c.period_start, c.period_end, c.due_date, "
                "c.amount, c.kind, c.basis_note, c.reason, c.created_at, c.created_by FROM charges c "
                "LEFT JOIN plots p ON p.id = c.plot_id WHERE c.member_id = $1 ORDER BY c.due_date, c.id"),
    "charge_corrections": ("Исправления начислений", "SELECT k.charge_id, k.delta, k.kind, k.reason, k.created_at, "
                           "k.created_by FROM charge_corrections k JOIN charges c ON c.id = k.charge_id "
                           "WHERE c.member_id = $1 ORDER BY k.id"),
    "charge_state": ("Состояние начислений", "SELECT charge_id, paid_off_on, final_penalty, settled_on FROM charge_state "
                     "WHERE member_id = $1 ORDER BY charge_id"),
    "payments": ("Платежи", "SELECT id, doc_date, doc_number, amount, payer_name, payer_inn, payer_account, purpose "
                 "FROM payments WHERE id IN (SELECT payment_id FROM matches WHERE member_id = $1 UNION "
                 "SELECT payment_id FROM match_splits WHERE member_id = $1) ORDER BY doc_date, id"),
    "matches": ("Разнесение платежей", "SELECT payment_id, status, confidence, reason, decided_by, decided_at "
                "FROM matches WHERE member_id = $1 ORDER BY payment_id"),
    "match_splits": ("Доли разделённых платежей", "SELECT payment_id, amount FROM match_splits WHERE member_id = $1 "
                     "ORDER BY payment_id"),
    "match_decisions": ("Решения по разнесению", "SELECT payment_id, action, details, decided_by, decided_at "
                        "FROM match_decisions WHERE member_id = $1 ORDER BY id"),
    "payer_links": ("Признаки плательщика для разнесения", "SELECT kind, value, source, payment_id, blocked, created_at, "
                    "created_by FROM payer_links WHERE member_id = $1 ORDER BY created_at, kind"),
    "allocations": ("Зачёт платежей в начисления", "SELECT payment_id, charge_id, amount, kind, applied_on "
                    "FROM allocations WHERE member_id = $1 ORDER BY applied_on, payment_id, charge_id"),
    "opening_balances": ("Входящие остатки", "SELECT b.as_of, b.contribution, p.number AS plot, b.debt, b.penalty, "
                         "b.advance, i.file_name FROM opening_balances b LEFT JOIN plots p ON p.id = b.plot_id "
                         "LEFT JOIN opening_imports i ON i.id = b.import_id WHERE b.member_id = $1 "
                         "ORDER BY b.contribution"),
    "debt_snapshot": ("Долги (сводка панели «Долги»)", "SELECT as_of, contribution, principal, penalty, not_due, "
                      "oldest_due FROM debt_snapshot WHERE member_id = $1 ORDER BY contribution, plot_id"),
    "notify_outbox": ("Уведомления", "SELECT planned_at, channel, recipient, status, sent_at, amount, subject, body, "
                      "detail FROM notify_outbox WHERE member_id = $1 ORDER BY planned_at, id"),
    "channel_messages": ("Ответы операторов по уведомлениям", "SELECT c.sent_at, c.integration, c.recipient, c.status, "
                         "c.detail FROM channel_messages c JOIN notify_outbox o ON o.key = c.notify_key "
                         "WHERE o.member_id = $1 ORDER BY c.sent_at"),
    "notify_optouts": ("Отказы от уведомлений", "SELECT channel, created_at, created_by FROM notify_optouts "
                       "WHERE member_id = $1 ORDER BY created_at"),
    # not the link's token: a secret of the bot, not data about him
    "notify_links": ("Привязка мессенджеров", "SELECT channel, created_at, used_at, chat_id FROM notify_links "
                     "WHERE member_id = $1 ORDER BY channel"),
    "accrual_inputs": ("Служебный отпечаток начислений", "SELECT fingerprint FROM accrual_inputs WHERE member_id = $1"),
    "allocation_inputs": ("Служебный отпечаток зачёта", "SELECT fingerprint FROM allocation_inputs WHERE member_id = $1"),
}
_MONEY = {"amount", "delta", "final_penalty", "debt", "penalty", "advance", "principal", "not_due"}

# Audit actions that show or hand out a member's personal data (and the copy and anonymisation themselves).
VIEW_ACTIONS = ("personal_data_revealed", "export_personal_data", "pd_report_made", "member_anonymized")


# -- discovery -------------------------------------------------------------------------------------------

def member_tables(con) -> list[str]:
    """Base tables with a member reference column (REFERENCE_COLUMNS), by name."""
    marks = ", ".join("?" * len(REFERENCE_COLUMNS))
    return [r[0] for r in con.execute(
        "SELECT DISTINCT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        f"WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' AND c.column_name IN ({marks}) ORDER BY 1",
        list(REFERENCE_COLUMNS)).fetchall()]


def _find(db: Database, reg_no: str) -> dict:
    member_id = db.scalar("SELECT id FROM members WHERE reg_no = ?", [str(reg_no).strip()])
    if member_id is None:
        raise InputError(f"Член с л/с {reg_no} не найден")
    row = db.records("SELECT * FROM members WHERE id = ?", [member_id])[0]
    return members._open_rows(vault.master_key(db), [row])[0]


# -- the member's copy (ст. 14) ---------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _open_token(key: vault.MasterKey, value: Any, context: str) -> Any:
    """A sealed value of a table this module does not know, decrypted under its usual context (table.column)."""
    if isinstance(value, str) and value.startswith("v1:"):
        try:
            return vault.decrypt_field(key, value, context)
        except Exception:   # sealed under another context: shown as held
            return "(зашифровано)"
    return value


def _section(con, key: vault.MasterKey, table: str, member_id: int, reg_no: str) -> dict:
    if table in SECTIONS:
        title, sql = SECTIONS[table]
    else:   # a table added after this module: every column, sealed values opened
        title = "Согласия на уведомления" if table == "member_consents" else f"Таблица «{table}»"
        sql = f'SELECT * EXCLUDE (member_id) FROM "{table}" WHERE member_id = $1'
    cur = con.execute(sql, [member_id, reg_no] if "$2" in sql else [member_id])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for r in rows:
        if table == "member_changes":
            for c in ("old_value", "new_value"):
                r[c] = members._unseal(key, r["field"], r[c], "member_changes")
            r["field"] = members.MEMBER_FIELDS.get(r["field"], r["field"])
        elif table not in SECTIONS:
            for c in names:
                r[c] = _open_token(key, r[c], f"{table}.{c}")
        if table == "member_statuses":
            r["status"] = members.STATUSES.get(r["status"], r["status"])
    return {"table": table, "title": title, "columns": {c: _C.get(c, c) for c in names}, "rows": rows}


def _audit_section(con, member: dict) -> dict:
    """Who was shown or given the member's data, and when: entries naming him, and lists he may have been in."""
    rows = []
    for r in con.execute(
            f"SELECT happened_at, actor, action, target, details FROM audit_log WHERE action IN "
            f"({', '.join('?' * len(VIEW_ACTIONS))}) AND happened_at >= ? ORDER BY id",
            [*VIEW_ACTIONS, member["created_at"]]).fetchall():
        happened_at, actor, action, target, details = r
        try:
            data = json.loads(details) if details else {}
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        ids = data.get("member_ids")
        own = (target in (member["reg_no"], f"л/с {member['reg_no']}") or data.get("member_id") == member["id"]
               or (isinstance(ids, list) and member["id"] in ids)
               or data.get("what") == f"акт сверки л/с {member['reg_no']}")
        named = (str(target or "").startswith("л/с ") or "member_id" in data or ids is not None
                 or str(data.get("what") or "").startswith("акт сверки"))
        if own or (not named and action in ("personal_data_revealed", "export_personal_data")):
            rows.append({"happened_at": happened_at, "actor": actor, "action": audit.ACTIONS.get(action, action),
                         "target": audit.target_label(action, target), "details": audit.details_text(details),
                         "scope": "его сведения" if own else "список, в который он мог входить"})
    return {"table": "audit_log", "title": "Кто просматривал и выгружал сведения о нём",
            "columns": {c: _C[c] for c in ("happened_at", "actor", "action", "target", "details", "scope")},
            "rows": rows}


def pd_report(db: Database, reg_no: str, actor: str | None = None, log: bool = True) -> dict:
    """Everything held about the member, section by section (tables named), decrypted; the copy is logged
    (log=False: the caller logs it once the copy is handed out)."""
    member = _find(db, reg_no)
    key = vault.master_key(db)
    accruals.refresh(db)   # allocations and charge states as of the ledger now
    card = {members.MEMBER_FIELDS[k]: member.get(k) for k in members.MEMBER_FIELDS}
    card["Статус"] = members.STATUSES.get(member["status"], member["status"])
    card["Внесён в реестр"] = member["created_at"]
    if member.get("anonymized_at"):
        card["Обезличен"] = member["anonymized_at"]
    with db.connect() as con:
        tables = member_tables(con)
        sections = [{"table": "members", "title": "Сведения о члене", "columns": {"field": "Поле", "value": "Значение"},
                     "rows": [{"field": k, "value": v} for k, v in card.items()]}]
        order = list(SECTIONS)
        wanted = sorted(set(tables) | {"charge_corrections", "payments", "channel_messages"},
                        key=lambda t: (order.index(t) if t in order else len(order), t))
        sections += [_section(con, key, t, member["id"], member["reg_no"]) for t in wanted]
        sections.append(_audit_section(con, member))
    settings = cooperative.get_settings(db)
    made_at = utcnow()
    if log:
        _log_made(db, actor, member["reg_no"], member["id"])
    return {"title": "Сведения о персональных данных члена кооператива (152-ФЗ, ст. 14)",
            "operator": settings.get("name"), "operator_inn": settings.get("inn"),
            "member": {"reg_no": member["reg_no"], "full_name": member["full_name"]},
            "made_at": made_at, "made_by": actor, "sections": sections}


def report_json(report: dict) -> bytes:
    def plain(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [plain(v) for v in obj]
        return _plain(obj)

    return json.dumps(plain(report), ensure_ascii=False, indent=1).encode("utf-8")


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in _MONEY and isinstance(value, Decimal):
        return formats.money(value)
    if isinstance(value, datetime):
        return formats.moment(value)
    if isinstance(value, date):
        return formats.day(value)
    if isinstance(value, bool):
        return "да" if value else "нет"
    return str(value)


def report_pdf(report: dict) -> bytes:
    from .debts import new_pdf

    pdf = new_pdf(landscape=True, margin=12)
    pdf.set_font("DejaVu", "B", 12)
    pdf.multi_cell(0, 7, report["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    m = report["member"]
    for line in (f"Оператор: {report['operator'] or '—'}" + (f", ИНН {report['operator_inn']}" if report["operator_inn"] else ""),
                 f"Член: {m['full_name']}, л/с {m['reg_no']}",
                 f"Сформировано {formats.moment(report['made_at'])} (UTC), {report['made_by'] or '—'}"):
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for s in report["sections"]:
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(0, 6, f"{s['title']} ({s['table']}): {len(s['rows'])}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 7)
        if not s["rows"]:
            pdf.multi_cell(0, 4, "нет записей", new_x="LMARGIN", new_y="NEXT")
            continue
        cols = list(s["columns"])
        with pdf.table(col_widths=[1] * len(cols), width=width, line_height=3.6, first_row_as_headings=True,
                       text_align="LEFT") as table:
            header = table.row()
            for c in cols:
                header.cell(s["columns"][c])
            for r in s["rows"]:
                row = table.row()
                for c in cols:
                    row.cell(_cell(c, r.get(c)))
    return bytes(pdf.output())


def _log_made(db: Database, actor: str | None, reg_no: str, member_id: int) -> None:
    audit.record(db, actor, "pd_report_made", f"л/с {reg_no}", member_id=member_id)


def pd_report_bytes(db: Database, reg_no: str, fmt: str, actor: str | None = None,
                    log: bool = True) -> tuple[dict, bytes]:
    """The copy (logged unless log=False) and its file: fmt "pdf" or "json"."""
    report = pd_report(db, reg_no, actor, log)
    return report, report_pdf(report) if fmt == "pdf" else report_json(report)


def write_pd_report(db: Database, reg_no: str, path: Path, actor: str | None = None) -> dict:
    """`coop members pd-report`: .pdf or .json by the extension (checked by the caller)."""
    path = Path(path)
    report, data = pd_report_bytes(db, reg_no, path.suffix.lower().lstrip("."), actor, log=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: не удалось записать файл ({exc.strerror})") from None
    member = _find(db, reg_no)     # logged once the file exists: a copy that was not written was not handed out
    _log_made(db, actor, member["reg_no"], member["id"])
    return report


# -- retention (402-ФЗ ст. 29) ------------------------------------------------------------------------------

def retention_years(db: Database) -> int:
    value = cooperative.get_settings(db).get("pd_retention_years")
    return int(value) if value else DEFAULT_RETENTION_YEARS


def _debts_of(con, member_ids: list[int], as_of: date) -> dict[int, Decimal]:
    from .debts import _debts_in

    if not member_ids:
        return {}
    _debts_in(con, as_of, member_ids)
    return {r[0]: Decimal(r[1]) for r in con.execute(
        "SELECT member_id, sum(coalesce(principal, 0) + penalty) FROM _debts GROUP BY member_id").fetchall()}


_LAST_DOCUMENT = """
    SELECT m.id, greatest(m.exit_date,
        (SELECT max(c.due_date) FROM charges c WHERE c.member_id = m.id),
        (SELECT max(k.created_at)::DATE FROM charge_corrections k JOIN charges c ON c.id = k.charge_id
         WHERE c.member_id = m.id),
        (SELECT max(p.paid_on) FROM member_payments p WHERE p.member_id = m.id),
        (SELECT max(b.as_of) FROM opening_balances b WHERE b.member_id = m.id)) AS last_document
    FROM members m"""


def retention(db: Database, today: date | None = None, member_ids: list[int] | None = None) -> list[dict]:
    """Former members not yet anonymised, with the year their documents may be destroyed and their debt:
    due = the period is over and nothing is owed. `member_ids`: only these."""
    today = today or date.today()
    years = retention_years(db)
    where = "WHERE m.status NOT IN ('applicant', 'member') AND m.anonymized_at IS NULL"
    params: list = []
    if member_ids is not None:
        where += " AND list_contains(?::BIGINT[], m.id)"
        params.append(member_ids)
    with db.transaction() as con:
        rows = [dict(zip(("id", "reg_no", "full_name", "status", "exit_date", "last_document"), r)) for r in con.execute(
            f"SELECT m.id, m.reg_no, m.full_name, m.status, m.exit_date, d.last_document FROM members m "
            f"JOIN ({_LAST_DOCUMENT}) d ON d.id = m.id {where} {members._REG_ORDER}", params).fetchall()]
        owed = _debts_of(con, [r["id"] for r in rows], today)
    for r in rows:
        last = r["last_document"]
        r["keep_until"] = date(last.year + years, 12, 31) if last else None
        r["debt"] = owed.get(r["id"], Decimal(0))
        r["status_label"] = members.STATUSES.get(r["status"], r["status"])
        r["due"] = r["keep_until"] is not None and today > r["keep_until"] and r["debt"] <= 0
    return rows


def due_for_anonymization(db: Database, today: date | None = None) -> list[dict]:
    return [r for r in retention(db, today) if r["due"]]


def check_retention(db: Database, actor: str | None = None, today: date | None = None) -> list[dict]:
    """The scheduled check: who is due; the result is logged (register numbers only) for the monitoring page."""
    due = due_for_anonymization(db, today)
    audit.record(db, actor, "retention_checked", None, due=len(due), reg_nos=[r["reg_no"] for r in due][:200])
    return due


# -- anonymisation ----------------------------------------------------------------------------------------

def _letters(text: str) -> str:
    """A regular expression (RE2) of the text, case-insensitive use, spaces flexible, е and ё alike."""
    out = []
    for ch in text:
        if ch.isspace():
            out.append(r"\s+")
        elif ch.lower() in "её":
            out.append("[ЕЁеё]")
        else:
            out.append(re.escape(ch))
    return re.sub(r"(\\s\+)+", r"\\s+", "".join(out))


def _phone_pattern(phone: str) -> str | None:
    digits = re.sub(r"\D", "", phone)[-10:]
    if len(digits) < 7:
        return None
    return r"(\+?7|8)?[\s\-()]*" + r"[\s\-()]*".join(digits)


def _patterns(old: dict) -> list[str]:
    """Every old value as it may stand in free text (names in any case, phones with separators)."""
    found = []
    if old.get("full_name"):
        found.append(_letters(old["full_name"]))
    for fld in ("inn", "telegram_chat_id"):
        if old.get(fld) and len(old[fld]) >= 5:
            found.append(re.escape(old[fld]))
    for phone in (old.get("phones") or "").split(","):
        if phone.strip() and (p := _phone_pattern(phone)):
            found.append(p)
    for email in (old.get("emails") or "").split(","):
        if email.strip():
            found.append(re.escape(email.strip()))
    return found


def _surname_pattern(full_name: str) -> str | None:
    """The surname in any grammatical case, with initials after it (bank texts: «Иванову И.И.»)."""
    surname = (full_name or "").split()[0] if (full_name or "").split() else ""
    stem = surname.rstrip("аяоеёиыуюйьАЯОЕЁИЫУЮЙЬ")
    if len(stem) < 3:
        return None
    return _letters(stem) + r"[А-Яа-яЁё]*(\s*[А-ЯЁ]\.\s*([А-ЯЁ]\.)?)?"


def _holds(text: str, old: dict) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in _patterns(old))


def _text_columns(con) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name WHERE c.table_schema = 'main' "
        "AND t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR' ORDER BY 1, 2").fetchall()


def _scrub_everywhere(con, pattern: str, replacement: str, skip: tuple[str, ...]) -> int:
    """Replace the old values (one alternation) in every text column of every table but `skip`; cells changed."""
    changed = 0
    for table, column in _text_columns(con):
        if table not in skip:
            changed += con.execute(
                f'UPDATE "{table}" SET "{column}" = regexp_replace("{column}", $1, $2, \'gi\') '
                f'WHERE regexp_matches("{column}", $1, \'i\')', [pattern, replacement]).fetchone()[0]
    return changed


def _rewrite(db: Database, label: str) -> None:
    try:
        db.rewrite()
    except LedgerError as exc:
        raise LedgerError(f"{label} обезличен, но файл базы не переписан ({exc}); прежние значения могут оставаться в "
                          f"свободных блоках файла — повторите обезличивание позже, оно только перепишет файл") from None


REASON_LIMIT = 500     # characters of an anonymisation's reason (kept in the audit log and the member's history)


def anonymize(db: Database, reg_no: str, reason: str, actor: str | None = None, today: date | None = None) -> dict:
    """Replace the former member's personal data by a pseudonym, keep his money records, remove his own
    originals, and rewrite the database file so the old values are gone from it. Refused for a current
    member, one who owes money, one whose documents must still be kept, or without a reason. For a member
    anonymised before, only the file is rewritten (result["already"]: when he was anonymised)."""
    today = today or date.today()
    member = _find(db, reg_no)
    label = f"л/с {member['reg_no']}"
    reason = " ".join((reason or "").split())
    if not reason:
        raise InputError("Укажите основание обезличивания (например: истёк срок хранения, заявление члена)")
    if len(reason) > REASON_LIMIT:
        raise InputError(f"Основание обезличивания длиннее {REASON_LIMIT} знаков ({len(reason)}): оно хранится в "
                         "журнале — укажите коротко (истёк срок хранения, заявление № … от …)")
    if member.get("anonymized_at"):   # done before: only the file is rewritten again (if that failed then)
        _rewrite(db, label)
        return {"reg_no": member["reg_no"], "pseudonym": member["full_name"], "already": member["anonymized_at"],
                "originals_removed": 0, "texts_scrubbed": 0, "audit_entries_with_old_values": 0}
    if member["status"] in members.ACTIVE_STATUSES:
        raise InputError(f"{label} — действующий член (статус «{members.STATUSES[member['status']]}»): "
                         f"обезличить можно только бывшего члена")
    old = {k: member.get(k) for k in ERASED_FIELDS}
    if _holds(reason, old):
        raise InputError("Основание не должно содержать ФИО, телефон, e-mail или ИНН члена: основание хранится "
                         "в журнале, а эти сведения удаляются")
    state = retention(db, today, [member["id"]])[0]
    if state["debt"] > 0:
        raise InputError(f"У {label} открытый долг {formats.rub(state['debt'])}: обезличить можно после того, как "
                         f"он погашен или списан")
    if state["keep_until"] is None or today <= state["keep_until"]:
        until = (f"документы хранятся до {formats.day(state['keep_until'])} ({retention_years(db)} лет после года "
                 f"последнего документа, 402-ФЗ ст. 29)") if state["keep_until"] else \
            "не известна дата выхода и нет ни одного документа, от которого отсчитать срок хранения"
        raise InputError(f"{label}: {until} — обезличить пока нельзя")

    pseudonym = PSEUDONYM.format(reg_no=member["reg_no"])
    pattern = "|".join(f"({p})" for p in _patterns(old))
    surname = _surname_pattern(old["full_name"])
    own = "(SELECT payment_id FROM matches WHERE member_id = $1 UNION SELECT payment_id FROM match_splits WHERE member_id = $1)"
    alone = ("(SELECT payment_id FROM matches WHERE member_id = $1 AND payment_id NOT IN "
             "(SELECT payment_id FROM match_splits WHERE member_id <> $1))")
    mid = member["id"]
    with db.transaction() as con:
        now = utcnow()
        con.execute(f"UPDATE members SET full_name = ?, {', '.join(f'{f} = NULL' for f in ERASED_FIELDS[1:])}, "
                    "anonymized_at = ?, updated_at = ? WHERE id = ?", [pseudonym, now, now, mid])
        marks = ", ".join("?" * len(ERASED_FIELDS))
        con.execute(f"UPDATE member_changes SET old_value = NULL, new_value = NULL WHERE member_id = ? "
                    f"AND field IN ({marks})", [mid, *ERASED_FIELDS])
        con.execute("INSERT INTO member_changes (member_id, field, old_value, new_value, changed_at, changed_by, source) "
                    "VALUES (?, 'обезличивание', NULL, ?, ?, ?, ?)", [mid, pseudonym, now, actor, f"обезличивание: {reason}"])
        # his payments keep date, amount and designation; the payer's identity goes
        con.execute(f"UPDATE payments SET payer_name = $2, payer_inn = NULL, payer_account = NULL WHERE id IN {alone}",
                    [mid, pseudonym])
        if surname:
            for table, column, key in (("payments", "purpose", "id"), ("matches", "reason", "payment_id"),
                                       ("matches", "candidates", "payment_id"),
                                       ("match_decisions", "details", "payment_id")):
                con.execute(f"UPDATE {table} SET {column} = regexp_replace({column}, $2, $3, 'gi') "
                            f"WHERE {key} IN {own} AND regexp_matches({column}, $2, 'i')", [mid, surname, pseudonym])
        con.execute("UPDATE channel_messages SET recipient = '—', address = NULL, detail = NULL WHERE notify_key IN "
                    "(SELECT key FROM notify_outbox WHERE member_id = ?)", [mid])
        con.execute("UPDATE notify_outbox SET recipient = '—', subject = ?, body = ?, detail = NULL WHERE member_id = ?",
                    [WIPED_TEXT, WIPED_TEXT, mid])
        con.execute("DELETE FROM notify_links WHERE member_id = ?", [mid])   # deep-link tokens and chat ids
        con.execute("DELETE FROM payer_links WHERE member_id = ?", [mid])    # his name, INN, accounts for matching
        scrubbed = _scrub_everywhere(con, pattern, pseudonym, skip=("members", "audit_log")) if pattern else 0
        originals = [r[0] for r in con.execute(f"""
            SELECT s.sha256 FROM statements s
            WHERE EXISTS (SELECT 1 FROM payment_sources ps WHERE ps.statement_id = s.id AND ps.payment_id IN {alone})
              AND NOT EXISTS (SELECT 1 FROM payment_sources ps WHERE ps.statement_id = s.id
                              AND ps.payment_id NOT IN {alone})""", [mid]).fetchall()]
        in_audit = con.execute(
            "SELECT count(*) FROM audit_log WHERE regexp_matches(concat_ws(' ', target, details, error), ?, 'i')",
            [pattern]).fetchone()[0] if pattern else 0
        audit.log(con, actor, "member_anonymized", label, member_id=mid, reason=reason,
                  originals_removed=len(originals), texts_scrubbed=scrubbed)
    for sha in originals:
        (statements.originals_dir(db) / sha).unlink(missing_ok=True)
    _rewrite(db, label)
    return {"reg_no": member["reg_no"], "pseudonym": pseudonym, "already": None, "originals_removed": len(originals),
            "texts_scrubbed": scrubbed, "audit_entries_with_old_values": in_audit}
