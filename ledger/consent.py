"""Consent to notices, per member and channel (152-ФЗ): who agreed to get notices where, since when, on what
basis, who recorded it.

The history is append-only: a consent or a withdrawal is a new row of `member_consents`, the current state of a
member's channel is its latest row. A withdrawal takes effect at once: the member's planned messages through that
channel are cancelled in the same transaction, and it is logged.

Without any row, e-mail notices about the member's own account (debt reminders, payment receipts) go by the
charter and the membership (152-ФЗ ст. 6 ч. 1 п. 5, 217-ФЗ) — the way the cooperative always wrote to its members —
until the member withdraws; SMS and messengers need a recorded consent (a signed form, a register column, the
member's own start of the bot).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from . import audit
from .db import Database, utcnow
from .errors import InputError

CHANNELS = {"email": "Эл. почта", "sms": "SMS", "telegram": "Telegram", "max": "MAX"}
BASES = {"form": "подписанное заявление", "bot": "член сам запустил бота", "register": "колонка реестра",
         "other": "другое"}
BASIS_LIMIT = 500                    # characters of a consent's basis text (a form's number and date, the member's words)
DEFAULT_ALLOWED = {"email"}          # channels allowed without a recorded consent (see the module's docstring)
CHARTER_BASIS = "устав: уведомления по своему счёту по e-mail (согласие не записано)"
# The consent channel of each kind of address a notification channel needs (integrations' Channel.address).
BY_ADDRESS = {"email": "email", "phone": "sms", "telegram": "telegram", "max": "max"}
# Integration names people type (opt-outs, CLI) -> consent channels.
ALIASES = {"smtp": "email", "e-mail": "email", "почта": "email", "smsru": "sms", "smsc": "sms", "смс": "sms",
           "телеграм": "telegram", "макс": "max"}


def of_address(kind: str) -> str:
    """The consent channel of a notification channel's kind of address (plug-ins' own kinds stand for themselves)."""
    return BY_ADDRESS.get(kind, kind)


def channel_of(name: str) -> str:
    """«sms», «smsru», «SMS» -> «sms»; InputError naming the allowed ones otherwise."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key not in CHANNELS:
        raise InputError(f"Канал «{name}» неизвестен: допустимы {', '.join(CHANNELS)}")
    return key


def states(db: Database) -> dict[tuple[int, str], bool]:
    """(member, channel) -> consent given, from each pair's latest row."""
    return {(m, c): g for m, c, g in db.fetchall(
        "SELECT member_id, channel, arg_max(granted, id) FROM member_consents GROUP BY member_id, channel")}


def allowed(found: dict[tuple[int, str], bool], member_id: int, channel: str) -> bool:
    """Whether a notice may go to the member through the channel, given `states()`."""
    state = found.get((member_id, channel))
    return channel in DEFAULT_ALLOWED if state is None else state


def current(db: Database, member_id: int) -> list[dict]:
    """The member's current state per channel (every channel, in CHANNELS order) with its basis."""
    latest = {r["channel"]: r for r in db.records(
        "SELECT * FROM member_consents WHERE member_id = ? QUALIFY row_number() OVER "
        "(PARTITION BY channel ORDER BY id DESC) = 1", [member_id])}
    out = []
    for channel, title in CHANNELS.items():
        row = latest.get(channel)
        if row is None:
            given = channel in DEFAULT_ALLOWED
            out.append({"channel": channel, "title": title, "granted": given, "since": None,
                        "basis": CHARTER_BASIS if given else "согласие не записано", "recorded_at": None,
                        "recorded_by": None})
        else:
            out.append({**row, "title": title, "basis": basis_words(row["basis"], row["basis_text"])})
    return out


def history(db: Database, member_id: int) -> list[dict]:
    """Every recorded consent and withdrawal of the member, newest first."""
    rows = db.records("SELECT * FROM member_consents WHERE member_id = ? ORDER BY id DESC", [member_id])
    for row in rows:
        row["title"] = CHANNELS.get(row["channel"], row["channel"])
        row["basis_words"] = basis_words(row["basis"], row["basis_text"])
    return rows


def basis_words(basis: str, text: str | None) -> str:
    words = BASES.get(basis, basis)
    return f"{words}: {text}" if text and text != words else words


def record(db: Database, member_id: int, channel: str, granted: bool, basis: str, text: str | None = None,
           since: date | None = None, actor: str | None = None, con=None) -> bool:
    """Record a consent (granted) or a withdrawal; False when it is the state already (nothing written).

    A withdrawal cancels the member's planned messages through the channel at once. `con`: write inside the
    caller's transaction (the register import)."""
    channel = channel_of(channel)
    if basis not in BASES:
        raise InputError(f"Основание «{basis}» неизвестно: допустимы {', '.join(BASES)}")
    text = " ".join((text or "").split()) or None
    if text and len(text) > BASIS_LIMIT:
        raise InputError(f"Основание согласия длиннее {BASIS_LIMIT} знаков ({len(text)}): оставьте № и дату заявления "
                         "или коротко слова члена")
    if basis == "other" and not text:
        raise InputError("Согласие: укажите основание (текстом)")
    if con is None:
        with db.transaction() as own:
            return _record(own, member_id, channel, granted, basis, text, since, actor)
    return _record(con, member_id, channel, granted, basis, text, since, actor)


def _record(con, member_id: int, channel: str, granted: bool, basis: str, text: str | None, since: date | None,
            actor: str | None) -> bool:
    row = con.execute("SELECT reg_no, anonymized_at FROM members WHERE id = ?", [member_id]).fetchone()
    if row is None:
        raise InputError(f"Член №{member_id} не найден")
    if row[1] is not None:   # nobody to notify, and the basis text would bring personal data back
        raise InputError(f"л/с {row[0]} обезличен {row[1]:%d.%m.%Y}: согласие на уведомления не записывается")
    last = con.execute("SELECT granted, since FROM member_consents WHERE member_id = ? AND channel = ? "
                       "ORDER BY id DESC LIMIT 1", [member_id, channel]).fetchone()
    state = (channel in DEFAULT_ALLOWED) if last is None else last[0]
    if last is not None and state == granted and (since is None or since == last[1]):
        return False
    con.execute("INSERT INTO member_consents (member_id, channel, granted, since, basis, basis_text, recorded_at, "
                "recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [member_id, channel, granted, since, basis, text, utcnow(), actor])
    cancelled = 0
    if not granted:
        cancelled = len(con.execute(
            "UPDATE notify_outbox SET status = 'cancelled', detail = 'отозвано согласие на канал', next_try_at = NULL "
            "WHERE member_id = ? AND consent = ? AND status = 'planned' RETURNING id", [member_id, channel]).fetchall())
    details: dict[str, Any] = {"channel": channel, "basis": BASES[basis]}
    if since:
        details["since"] = since.strftime("%d.%m.%Y")
    if cancelled:
        details["cancelled"] = cancelled
    audit.log(con, actor, "consent_given" if granted else "consent_withdrawn", f"member:{member_id}",
              reg_no=row[0], **details)
    return True


def cancel_without_consent(db: Database, rows: list[dict]) -> set[int]:
    """Planned outbox rows whose member has no consent (now) to their channel: cancelled; returns their ids."""
    found = states(db)
    gone = [r["id"] for r in rows if r.get("consent") and not allowed(found, r["member_id"], r["consent"])]
    if gone:
        with db.transaction() as con:
            con.execute("UPDATE notify_outbox SET status = 'cancelled', detail = 'нет согласия на канал', "
                        f"next_try_at = NULL WHERE status = 'planned' AND id IN ({', '.join('?' * len(gone))})", gone)
    return set(gone)


# -- register columns -----------------------------------------------------------------------------

# Header spellings (compared after spreadsheets.normalize_header); the general column covers every channel,
# a channel's own column wins over it.
REGISTER_COLUMNS: dict[str, list[str]] = {
    "*": ["Согласие на рассылку", "согласие на уведомления", "согласие на рассылки"],
    "sms": ["Согласие на SMS", "согласие sms", "согласие на смс", "согласие смс"],
    "email": ["Согласие e-mail", "согласие на e-mail", "согласие email", "согласие на email",
              "согласие на эл. почту", "согласие эл. почта", "согласие на электронную почту"],
    "telegram": ["Согласие Telegram", "согласие на telegram", "согласие телеграм", "согласие на телеграм"],
    "max": ["Согласие MAX", "согласие на max", "согласие макс"],
}
_YES = {"да", "yes", "+", "1", "есть", "согласен", "согласна", "true", "д"}
_NO = {"нет", "no", "-", "0", "отказ", "отозвано", "не согласен", "не согласна", "false", "н"}


def register_columns(titles: list[Any]) -> dict[str, tuple[int, str]]:
    """Consent columns among a header row's cells: channel ('*' = all) -> (index, title as written)."""
    from .spreadsheets import clean_text, normalize_header

    lookup = {normalize_header(t): ch for ch, names in REGISTER_COLUMNS.items() for t in names}
    found: dict[str, tuple[int, str]] = {}
    for idx, value in enumerate(titles):
        text = clean_text(value)
        ch = lookup.get(normalize_header(text)) if text else None
        if ch and ch not in found:
            found[ch] = (idx, text)
    return found


def without_consent_columns(warnings: list[str], unknown: list[str]) -> list[str]:
    """The header layer's «столбец … не распознан» warnings less those about consent columns (read here)."""
    ours = {t for t in unknown if register_columns([t])}
    return [w for w in warnings if not any(f"«{t}»" in w for t in ours)]


def parse_cell(value: Any) -> tuple[bool, date | None] | None:
    """да / нет / a date (consent given that day) / empty (no change); ValueError for anything else."""
    from .fields import parse_date

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return True, value.date()
    if isinstance(value, date):
        return True, value
    if isinstance(value, bool):
        return value, None
    text = " ".join(str(value).split()).lower().rstrip(".")
    if text in _YES:
        return True, None
    if text in _NO:
        return False, None
    try:
        day = parse_date(text)
    except ValueError:
        day = None
    if day is None:
        raise ValueError(f"«{value}»: ожидается да, нет или дата согласия")
    return True, day


def _said(parsed: tuple) -> str:
    """A parsed register cell in words: «да», «нет», «да с 01.02.2024»."""
    return ("да" if parsed[0] else "нет") + (f" с {parsed[1]:%d.%m.%Y}" if parsed[1] else "")


def import_from_register(con, register, member_ids: dict[str, int], name: str, actor: str | None) -> tuple[int, list[str]]:
    """The register's consent columns, inside the import's transaction and set-based: a row is written only where
    the state (or the given date) changes, so importing the same file again writes nothing; withdrawals cancel the
    members' planned messages. Returns (rows written, the consent columns' titles — the header layer does not know
    them). InputError naming the row and the column if a cell is neither да, нет nor a date."""
    from .db import insert_rows

    sheet, header = register.sheet, register.header
    titles = next((values for number, values in sheet.rows if number == header.row), [])
    columns = register_columns(titles)
    if not columns:
        return 0, []
    cells = {number: values for number, values in sheet.rows}
    last = {(m, c): (g, s) for m, c, g, s in con.execute(
        "SELECT member_id, channel, arg_max(granted, id), arg_max(since, id) FROM member_consents "
        "GROUP BY member_id, channel").fetchall()}
    anonymized = {m for (m,) in con.execute("SELECT id FROM members WHERE anonymized_at IS NOT NULL").fetchall()}
    problems, rows, now = [], [], utcnow()
    for item in register.members:
        # A member spread over several rows (one plot per row) may have the consent on any of them; rows that
        # disagree are refused rather than one of them silently winning.
        per_channel: dict[str, tuple[bool, date | None, str, int]] = {}
        for number in item.rows or [item.row]:
            values = cells.get(number, [])
            in_row: dict[str, tuple[bool, date | None, str, int]] = {}
            for ch, (idx, title) in sorted(columns.items(), key=lambda kv: kv[0] != "*"):   # '*' first, own wins
                try:
                    parsed = parse_cell(values[idx] if idx < len(values) else None)
                except ValueError as exc:
                    problems.append(f"{sheet.name}, строка {number}, столбец «{title}»: {exc}")
                    continue
                if parsed is not None:
                    for target in (CHANNELS if ch == "*" else [ch]):
                        in_row[target] = (*parsed, title, number)
            for ch, found in in_row.items():
                seen = per_channel.get(ch)
                if seen is None or (seen[0] == found[0] and seen[1] is None):
                    per_channel[ch] = found
                elif seen[0] != found[0] or (found[1] is not None and found[1] != seen[1]):
                    where = f"«{seen[2]}»" if seen[2] == found[2] else f"«{seen[2]}» и «{found[2]}»"
                    problems.append(f"{sheet.name}, строки {seen[3]} и {found[3]}, столбец {where}: л/с {item.reg_no} — "
                                    f"согласие на {CHANNELS[ch]} указано по-разному ({_said(seen)} и {_said(found)}), "
                                    "оставьте одно")
        member_id = member_ids[item.reg_no]
        for ch, (granted, since, title, number) in per_channel.items():
            before = last.get((member_id, ch))
            if before is not None and before[0] == granted and (since is None or since == before[1]):
                continue
            if member_id in anonymized:      # as consent.record: nobody to notify (an unchanged state is let be)
                problems.append(f"{sheet.name}, строка {number}, столбец «{title}»: л/с {item.reg_no} обезличен — "
                                "согласие не записывается, очистите ячейку")
                continue
            rows.append({"member_id": member_id, "channel": ch, "granted": granted, "since": since,
                         "basis": "register", "basis_text": f"{name}, строка {number}, «{title}»",
                         "recorded_at": now, "recorded_by": actor})
    if problems:
        raise InputError(problems, source=name)
    insert_rows(con, "member_consents", rows)
    withdrawn = [(r["member_id"], r["channel"]) for r in rows if not r["granted"]]
    cancelled = 0
    if withdrawn:
        con.execute("CREATE OR REPLACE TEMP TABLE _withdrawn (member_id BIGINT, channel VARCHAR)")
        insert_rows(con, "_withdrawn", [{"member_id": m, "channel": c} for m, c in withdrawn])
        cancelled = len(con.execute(
            "UPDATE notify_outbox SET status = 'cancelled', detail = 'отозвано согласие на канал', next_try_at = NULL "
            "FROM _withdrawn w WHERE notify_outbox.member_id = w.member_id AND notify_outbox.consent = w.channel "
            "AND notify_outbox.status = 'planned' RETURNING notify_outbox.id").fetchall())
        con.execute("DROP TABLE _withdrawn")
    if rows:
        audit.log(con, actor, "consent_imported", name, given=len(rows) - len(withdrawn), withdrawn=len(withdrawn),
                  cancelled=cancelled)
    return len(rows), [title for _, title in columns.values()]
