"""Notifications: rules stored in the database, sandboxed Jinja2 templates, and the outbox that makes every
message go out exactly once.

A rule says who gets a message (debt over X ₽, overdue more than N days, a contribution, member statuses), through
which channels in order of preference, how often (again `repeat_days` after the last reminder, at most
`max_per_month` a month per member), when not (quiet hours in the cooperative's time zone) and with which
template. Planning puts one outbox row per (rule, member, day or payment) — the row's key is unique, so planning
twice plans nothing new. Sending (integrations/notify.py) drains the outbox: a row is marked «sending» in its own transaction before
the channel is called and «sent» after, so a crash in between leaves a row whose fate is checked with the channel
before it is ever sent again.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from . import audit, consent, cooperative, debts, members, vault
from .accruals import fmt_money
from .db import Database, insert_rows, update_rows, utcnow
from .errors import InputError
from .spreadsheets import Column, write_table

TRIGGERS = {"debt": "Напоминание о долге", "payment": "Платёж получен"}
STATUSES = {"planned": "запланировано", "sending": "отправляется", "sent": "отправлено",
            "delivered": "доставлено", "undelivered": "не доставлено", "failed": "не отправлено",
            "cancelled": "отменено"}
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 30, 120)     # waits after the 1st, 2nd, … failed attempt
DEFAULT_TZ = "Europe/Moscow"

DEFAULT_DEBT_SUBJECT = "{{ coop.name }}: задолженность по л/с {{ member.reg_no }}"
DEFAULT_DEBT_BODY = (
    "Здравствуйте, {{ member.short_name }}!\n\n"
    "По лицевому счёту {{ member.reg_no }} на {{ as_of }} задолженность {{ debt.total }} ₽"
    "{% if debt.penalty != '0,00' %}, в том числе пени {{ debt.penalty }} ₽{% endif %}. "
    "Самый ранний неоплаченный срок — {{ debt.oldest_due }}.\n"
    "Пожалуйста, оплатите с назначением «{{ purpose }}».\n\n"
    "{% if link and channel == 'smtp' %}Напоминания можно получать в мессенджере: {{ link }}\n\n{% endif %}"
    "{{ coop.name }}")
# SMS and messengers carry the л/с, the amount and the due date only: no name, address or debt breakdown (152-ФЗ,
# minimal sending). A rule's `short_body` is used there; a rule without one sends its full text (and the template
# editor warns).
DEFAULT_DEBT_SHORT = "{{ coop.name }}: долг по л/с {{ member.reg_no }} — {{ debt.total }} ₽, срок {{ debt.oldest_due }}."
DEFAULT_PAYMENT_SHORT = ("{{ coop.name }}: получен платёж {{ payment.amount }} ₽ от {{ payment.date }} "
                         "по л/с {{ member.reg_no }}. Спасибо!")
DEFAULT_PAYMENT_SUBJECT = "{{ coop.name }}: платёж получен"
DEFAULT_PAYMENT_BODY = (
    "Здравствуйте, {{ member.short_name }}!\n\n"
    "Получен ваш платёж {{ payment.amount }} ₽ от {{ payment.date }} по л/с {{ member.reg_no }}. Спасибо!\n\n"
    "{% if link and channel == 'smtp' %}Уведомления можно получать в мессенджере: {{ link }}\n\n{% endif %}"
    "{{ coop.name }}")

RULE_FIELDS = ("name", "trigger", "enabled", "min_debt", "min_days_overdue", "contribution", "statuses", "channels",
               "repeat_days", "max_per_month", "quiet_from", "quiet_to", "subject", "body", "attach_statement", "short_body")

LOG_COLUMNS = [
    Column("planned_at", "Запланировано"), Column("rule", "Правило"), Column("reg_no", "Л/с"),
    Column("channel", "Канал"), Column("recipient", "Получатель"), Column("subject", "Тема"),
    Column("amount", "Сумма", "money"), Column("status", "Статус"), Column("attempts", "Попыток", "int"),
    Column("detail", "Ответ / причина"), Column("sent_at", "Отправлено"), Column("message_id", "Идентификатор"),
]

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


# -- templates ------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _compiled(template: str):
    return _env.from_string(template)


_JINJA_WORDS = [
    (re.compile(r"'([^']*)' is undefined"), "поле «{{{{ {0} }}}}» неизвестно"),
    (re.compile(r"'[^']*' has no attribute '([^']*)'"), "поле «{0}» неизвестно"),
    (re.compile(r"No filter named '([^']*)'"), "фильтр «{0}» неизвестен"),
    (re.compile(r"No test named '([^']*)'"), "проверка «{0}» неизвестна"),
    (re.compile(r"unsafe"), "такое обращение в шаблоне запрещено"),
    (re.compile(r"unexpected end of template"), "шаблон оборван: не закрыт тег {{{{ … }}}} или {{% … %}}"),
    (re.compile(r"unexpected '([^']*)'"), "лишний символ «{0}»"),
    (re.compile(r"[Ee]ncountered unknown tag '([^']*)'"), "неизвестный тег «{0}»"),
]


def template_problem(exc: Exception) -> str:
    """A template's error (syntax, unknown field, a failed operation while rendering) in Russian: «, строка N: …»
    or «: …», to follow the place's name."""
    line = getattr(exc, "lineno", None)
    at = f", строка {line}: " if line else ": "
    message = getattr(exc, "message", None) or str(exc)
    for pattern, words in _JINJA_WORDS:
        found = pattern.search(message)
        if found:
            return at + words.format(*found.groups())
    if isinstance(exc, TemplateError):
        return at + "ошибка в записи шаблона (проверьте скобки {{ }} и {% %})"
    return at + "выражение в шаблоне не вычисляется (поля шаблона — текст, арифметика с ними недоступна)"


def render(template: str, context: dict[str, Any], where: str = "шаблон") -> str:
    """The template filled in; InputError naming the place and the line if it is bad."""
    try:
        return _compiled(template).render(**context).strip()
    except Exception as exc:   # noqa: BLE001 — a user's template may fail any way while rendering
        raise InputError(f"{where}{template_problem(exc)}") from None


def coop_context(db: Database) -> dict[str, Any]:
    s = cooperative.get_settings(db)
    return {"name": s.get("name") or "Кооператив", "inn": s.get("inn") or "", "bank_account": s.get("bank_account") or ""}


def member_context(reg_no: str, full_name: str) -> dict[str, str]:
    return {"reg_no": reg_no, "full_name": full_name, "short_name": debts.short_name(full_name)}


def purpose_text(reg_no: str) -> str:
    return f"Членские и целевые взносы, л/с {reg_no}"


def debt_context(total: Decimal, principal: Decimal, penalty: Decimal, oldest_due: date | None,
                 days_overdue: int | None) -> dict[str, Any]:
    return {"total": fmt_money(total), "principal": fmt_money(principal), "penalty": fmt_money(penalty),
            "oldest_due": oldest_due.strftime("%d.%m.%Y") if oldest_due else "—", "days_overdue": days_overdue or 0}


_SPLIT = "\n\x1e\n"


def render_pair(subject: str, body: str, context: dict[str, Any], where: str) -> tuple[str, str]:
    """Subject and text rendered in one pass (planning renders tens of thousands)."""
    both = render(subject + _SPLIT + body, context, where)
    head, _, tail = both.partition("\x1e")
    return head.strip(), tail.strip()


# -- rules ----------------------------------------------------------------------------------------

def _int(value: Any, label: str, low: int, high: int) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"«{label}»: нужно целое число") from None
    if not low <= n <= high:
        raise ValueError(f"«{label}»: допустимо от {low} до {high}")
    return n


def validate_rule(values: dict[str, Any]) -> dict[str, Any]:
    """Parsed rule fields; InputError listing every bad one by its Russian name."""
    problems, out = [], {}
    for key, value in values.items():
        if key not in RULE_FIELDS:
            problems.append(f"Поле правила «{key}» неизвестно")
            continue
        try:
            if key == "trigger":
                if value not in TRIGGERS:
                    raise ValueError(f"«Событие»: допустимы {', '.join(TRIGGERS)}")
            elif key in ("enabled", "attach_statement"):
                value = bool(value)
            elif key == "min_debt":
                try:
                    value = Decimal(str(value).replace(",", ".").replace(" ", "")).quantize(Decimal("0.01"))
                except InvalidOperation:
                    raise ValueError("«Долг больше, ₽»: нужна сумма") from None
                if value < 0:
                    raise ValueError("«Долг больше, ₽»: сумма не может быть отрицательной")
            elif key == "min_days_overdue":
                value = _int(value, "Просрочка больше, дней", 0, 36500)
            elif key == "repeat_days":
                value = _int(value, "Повторять каждые, дней", 1, 3650)
            elif key == "max_per_month":
                value = _int(value, "Не больше в месяц", 1, 31)
            elif key in ("quiet_from", "quiet_to"):
                value = _int(value, "Тихие часы", 0, 23)
            elif key in ("channels", "statuses"):
                items = [x.strip() for x in (value if isinstance(value, (list, tuple)) else str(value).split(","))]
                value = ",".join(x for x in items if x)
                if not value:
                    raise ValueError("«Каналы»: укажите хотя бы один" if key == "channels"
                                     else "«Статусы»: укажите хотя бы один")
            elif key == "contribution":
                value = str(value).strip() or None if value is not None else None
            elif key == "short_body":
                value = str(value or "").strip() or None
                if value:
                    try:
                        _env.parse(value)
                    except TemplateError as exc:
                        raise ValueError(f"«Короткий текст»{template_problem(exc)}") from None
            elif key in ("name", "subject", "body"):
                value = str(value or "").strip()
                if not value:
                    raise ValueError(f"«{ {'name': 'Название', 'subject': 'Тема', 'body': 'Текст'}[key] }»: не заполнено")
                if key != "name":
                    _env.parse(value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        except TemplateError as exc:
            problems.append(f"«{'Тема' if key == 'subject' else 'Текст'}»{template_problem(exc)}")
            continue
        out[key] = value
    if problems:
        raise InputError(problems)
    return out


def save_rule(db: Database, values: dict[str, Any], rule_id: int | None = None, actor: str | None = None) -> int:
    """Create a rule (rule_id None) or change one; every change is audited."""
    parsed = validate_rule(values)
    now = utcnow()
    with db.transaction() as con:
        if rule_id is None:
            missing = [k for k in ("name", "trigger", "channels", "subject", "body") if k not in parsed]
            if missing:
                raise InputError(f"Правило: не заполнены поля {', '.join(missing)}")
            cols = [*parsed, "created_at", "updated_at", "updated_by"]
            rule_id = con.execute(f"INSERT INTO notify_rules ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                                  "RETURNING id", [*parsed.values(), now, now, actor]).fetchone()[0]
        else:
            if not con.execute("SELECT 1 FROM notify_rules WHERE id = ?", [rule_id]).fetchone():
                raise InputError(f"Правило {rule_id} не найдено")
            sets = ", ".join(f"{k} = ?" for k in parsed)
            con.execute(f"UPDATE notify_rules SET {sets + ', ' if sets else ''}updated_at = ?, updated_by = ? "
                        "WHERE id = ?", [*parsed.values(), now, actor, rule_id])
        audit.log(con, actor, "notify_rule_saved", str(rule_id), keys=sorted(parsed))
    return rule_id


def rules(db: Database, enabled_only: bool = False) -> list[dict]:
    where = " WHERE enabled" if enabled_only else ""
    return db.records(f"SELECT * FROM notify_rules{where} ORDER BY id")


def rule(db: Database, rule_id: int) -> dict:
    found = db.records("SELECT * FROM notify_rules WHERE id = ?", [rule_id])
    if not found:
        raise InputError(f"Правило {rule_id} не найдено")
    return found[0]


def default_debt_rule(db: Database, actor: str | None = None) -> int:
    """The rule `coop init --demo` starts with: debts over 100 ₽ overdue over 10 days, by e-mail, twice a month."""
    existing = db.scalar("SELECT id FROM notify_rules WHERE name = ?", ["Напоминание о долге"])
    if existing:
        return existing
    return save_rule(db, {"name": "Напоминание о долге", "trigger": "debt", "enabled": True, "min_debt": "100",
                          "min_days_overdue": 10, "statuses": "member", "channels": "telegram,smtp,smsru",
                          "repeat_days": 14, "max_per_month": 2, "quiet_from": 21, "quiet_to": 9,
                          "subject": DEFAULT_DEBT_SUBJECT, "body": DEFAULT_DEBT_BODY, "short_body": DEFAULT_DEBT_SHORT,
                          "attach_statement": True},
                     actor=actor)


# -- opt-outs -------------------------------------------------------------------------------------

def set_optout(db: Database, member_id: int, channel: str, opted_out: bool = True, actor: str | None = None,
               reason: str | None = None) -> None:
    """A member does not want messages through a channel ('*' = any): a withdrawal of his consent there
    (ledger/consent.py); `opted_out=False` records his consent again."""
    targets = list(consent.CHANNELS) if channel == "*" else [consent.channel_of(channel)]
    text = reason or ("отказ от рассылки" if opted_out else "снят отказ от рассылки")
    with db.transaction() as con:
        for target in targets:
            consent.record(db, member_id, target, not opted_out, "other", text, actor=actor, con=con)


# -- time -----------------------------------------------------------------------------------------

def coop_zone(db: Database) -> ZoneInfo:
    name = cooperative.get_settings(db).get("timezone") or DEFAULT_TZ
    return ZoneInfo(name)


def _in_quiet(hour: int, start: int, end: int) -> bool:
    if start == end:
        return False
    return start <= hour < end if start < end else (hour >= start or hour < end)


def not_before(now_utc: datetime, zone: ZoneInfo, quiet_from: int, quiet_to: int) -> datetime:
    """The first moment at or after now (naive UTC) outside the quiet hours [quiet_from, quiet_to) local time."""
    local = now_utc.replace(tzinfo=timezone.utc).astimezone(zone)
    if not _in_quiet(local.hour, quiet_from, quiet_to):
        return now_utc
    day = local.date() if local.hour < quiet_to else local.date() + timedelta(days=1)
    wake = datetime.combine(day, time(quiet_to), tzinfo=zone)
    return wake.astimezone(timezone.utc).replace(tzinfo=None)


# -- planning -------------------------------------------------------------------------------------

NO_CHANNELS = ("не включён ни один канал уведомлений: Администрирование → Интеграции или "
               "coop integrations enable smtp (smsru, smsc, telegram, max)")


@dataclass
class Plan:
    planned: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    no_address: int = 0           # members the rule chose but no channel could reach
    no_consent: dict[str, int] = field(default_factory=dict)   # channel -> members passed over there: no consent
    capped: int = 0               # skipped by the monthly cap
    already: int = 0              # planned before (same key)
    no_channels: bool = False     # no notice channel is enabled: nobody can be reached

    def summary(self) -> str:
        parts = [f"{self.planned} сообщений"]   # «N сообщений»: the form issue #14 spells for `coop notify plan`
        if self.no_channels:
            parts.append(NO_CHANNELS)
        parts += [f"{ch}: {n}" for ch, n in sorted(self.by_channel.items())]
        if self.no_address:
            parts.append(f"без адреса: {self.no_address}")
        if self.capped:
            parts.append(f"пропущено по лимиту в месяц: {self.capped}")
        if self.no_consent:
            parts.append("нет согласия на канал — " + ", ".join(f"{ch}: {n}" for ch, n in sorted(self.no_consent.items())))
        return "; ".join(parts)


class _Addresses:
    """Where each member can be reached, by address kind (email, phone, telegram); a field is decrypted only
    when a channel asks for it."""

    def __init__(self, db: Database):
        self.key = vault.master_key(db)
        self.raw = {r[0]: r[1:] for r in db.fetchall("SELECT id, emails, phones, telegram_chat_id FROM members")}
        self.max_ids = dict(db.fetchall("SELECT member_id, chat_id FROM notify_links WHERE channel = 'max' "
                                        "AND chat_id IS NOT NULL"))
        self.cache: dict[tuple[int, str], str | None] = {}

    def get(self, member_id: int, kind: str) -> str | None:
        if (member_id, kind) in self.cache:
            return self.cache[(member_id, kind)]
        raw = self.raw.get(member_id)
        value = None
        if raw is not None:
            if kind == "telegram":
                value = raw[2] or None
            elif kind == "max":
                value = self.max_ids.get(member_id)
            elif kind in ("email", "phone"):
                token = raw[0] if kind == "email" else raw[1]
                text = vault.decrypt_field(self.key, token, "members.emails" if kind == "email" else "members.phones") \
                    if token else None
                value = (text or "").split(",")[0].strip() or None
        self.cache[(member_id, kind)] = value
        return value


def _addresses(db: Database) -> _Addresses:
    return _Addresses(db)


def _choose(rule_channels: list[str], available: dict[str, str], member_id: int,
            consents: dict[tuple[int, str], bool], addr, no_consent: dict[str, set[int]]) -> tuple[str, str] | None:
    """The first of the rule's channels that reaches the member and has his consent; a channel that reaches him
    without consent is passed over, the member noted in `no_consent` under it."""
    for ch in rule_channels:
        kind = available.get(ch)
        if kind is None:
            continue
        address = addr(member_id, kind)
        if not address:
            continue
        if not consent.allowed(consents, member_id, consent.of_address(kind)):
            no_consent.setdefault(ch, set()).add(member_id)
            continue
        return ch, address
    return None


PD_FIELDS = {"member": {"full_name": "ФИО", "short_name": "фамилия и инициалы", "address": "адрес",
                        "phones": "телефон", "phone": "телефон", "emails": "e-mail", "email": "e-mail", "inn": "ИНН"},
             "debt": {"principal": "разбивка долга (основной долг)", "penalty": "разбивка долга (пени)"}}


def short_text_warnings(template: str) -> list[str]:
    """Why a text for SMS or messengers is not minimal: the personal data or debt breakdown it uses."""
    from jinja2 import nodes

    try:
        tree = _env.parse(template or "")
    except TemplateError:
        return []
    found: dict[str, str] = {}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner = node.node.name if isinstance(node.node, nodes.Name) else ""
        attr = node.attr if isinstance(node, nodes.Getattr) else \
            (node.arg.value if isinstance(node.arg, nodes.Const) else "")
        words = PD_FIELDS.get(owner, {}).get(str(attr))
        if words:
            found[f"{owner}.{attr}"] = words
    if not found:
        return []
    used = ", ".join(f"{name} ({words})" for name, words in found.items())
    return [f"В SMS и мессенджерах — только л/с, сумма и срок оплаты; шаблон использует {used}"]


def template_warnings(channels: str | list[str], body: str, short_body: str | None) -> list[str]:
    """Warnings for a rule's texts: what goes through SMS or messengers (the short text, else the full one) must
    not carry the name, address, contacts or the debt breakdown."""
    names = [c.strip() for c in (channels.split(",") if isinstance(channels, str) else channels) if c.strip()]
    if all(consent.ALIASES.get(c, c) == "email" for c in names):
        return []
    return short_text_warnings(short_body or body)


def plan(db: Database, available: dict[str, str], now: datetime | None = None, actor: str | None = None,
         bots: dict[str, str] | None = None) -> Plan:
    """Put into the outbox every message the enabled rules call for now; returns what was added.

    `available` maps each enabled channel to the kind of address it needs (email, phone, telegram).
    `bots` maps the enabled messenger channels to their bot names, for the members' deep links in templates.
    Running it again in the same period adds nothing (the outbox key is unique).
    """
    now = now or utcnow()
    zone = coop_zone(db)
    local_today = now.replace(tzinfo=timezone.utc).astimezone(zone).date()
    month_start = datetime.combine(local_today.replace(day=1), time(0), tzinfo=zone) \
        .astimezone(timezone.utc).replace(tzinfo=None)
    result = Plan(no_channels=not available)
    active = rules(db, enabled_only=True)
    if not active:
        return result
    addr = _addresses(db).get
    consents = consent.states(db)
    no_consent: dict[str, set[int]] = {}      # channel -> members passed over there (once, whatever the rules)
    people = {r[0]: r[1:] for r in db.fetchall("SELECT id, reg_no, full_name, status FROM members")}
    by_reg = {v[0]: k for k, v in people.items()}
    existing = {r[0] for r in db.fetchall("SELECT key FROM notify_outbox")}
    month_counts = {(r[0], r[1]): r[2] for r in db.fetchall(
        "SELECT rule_id, member_id, count(*) FROM notify_outbox WHERE planned_at >= ? AND status <> 'failed' "
        "GROUP BY ALL", [month_start])}
    last_planned = {(r[0], r[1]): r[2] for r in db.fetchall(
        "SELECT rule_id, member_id, max(planned_at) FROM notify_outbox WHERE status <> 'failed' GROUP BY ALL")}
    coop = coop_context(db)
    links = DeepLinks(db, bots or {})
    debt_rows = debts.debts(db, local_today) if any(r["trigger"] == "debt" for r in active) else []
    rows: list[dict] = []
    for r in active:
        statuses = set(r["statuses"].split(","))
        channels = r["channels"].split(",")
        wake = not_before(now, zone, r["quiet_from"], r["quiet_to"])
        candidates: list[tuple[int, str, dict, Decimal]] = []
        if r["trigger"] == "debt":
            per_member: dict[int, dict] = {}
            for d in debt_rows:
                if r["contribution"] and d["contribution"] != r["contribution"]:
                    continue
                mid = by_reg.get(d["member_id"])
                acc = per_member.setdefault(mid, {"total": Decimal(0), "principal": Decimal(0),
                                                  "penalty": Decimal(0), "oldest_due": None, "days": 0})
                acc["total"] += Decimal(d["total"])
                acc["principal"] += Decimal(d["principal"])
                acc["penalty"] += Decimal(d["penalty"])
                if d["oldest_due"] and (acc["oldest_due"] is None or d["oldest_due"] < acc["oldest_due"]):
                    acc["oldest_due"], acc["days"] = d["oldest_due"], d["days_overdue"] or 0
            period = f"d{local_today.isoformat()}"      # with the repeat check below: one per repeat_days
            for mid, acc in per_member.items():
                if acc["total"] <= r["min_debt"] or acc["days"] <= r["min_days_overdue"]:
                    continue
                ctx = {"debt": debt_context(acc["total"], acc["principal"], acc["penalty"], acc["oldest_due"],
                                            acc["days"]), "as_of": local_today.strftime("%d.%m.%Y")}
                candidates.append((mid, period, ctx, acc["total"]))
        else:
            for pid, mid, amount, day in db.fetchall("""
                    SELECT m.payment_id, coalesce(s.member_id, m.member_id), coalesce(s.amount, p.amount), p.doc_date
                    FROM matches m JOIN payments p ON p.id = m.payment_id
                    LEFT JOIN match_splits s ON s.payment_id = m.payment_id
                    WHERE m.status IN ('auto', 'manual') AND coalesce(s.member_id, m.member_id) IS NOT NULL
                      AND m.decided_at >= ? AND p.direction = 'in'""", [r["created_at"]]):
                ctx = {"payment": {"amount": fmt_money(amount), "date": day.strftime("%d.%m.%Y")}}
                candidates.append((mid, f"payment:{pid}", ctx, Decimal(amount)))
        for mid, period, ctx, amount in candidates:
            if mid not in people or people[mid][2] not in statuses:
                continue
            key = f"rule:{r['id']}:member:{mid}:{period}"
            if key in existing:
                result.already += 1
                continue
            if r["trigger"] == "debt":
                last = last_planned.get((r["id"], mid))
                if last is not None and now - last < timedelta(days=r["repeat_days"]) - timedelta(hours=1):
                    result.already += 1
                    continue
                if month_counts.get((r["id"], mid), 0) >= r["max_per_month"]:
                    result.capped += 1
                    continue
            chosen = _choose(channels, available, mid, consents, addr, no_consent)
            if chosen is None:
                result.no_address += 1
                continue
            channel, address = chosen
            kind = consent.of_address(available[channel])
            body_template = r["body"] if kind == "email" or not r.get("short_body") else r["short_body"]
            reg_no, full_name = people[mid][0], people[mid][1]
            context = {"coop": coop, "member": member_context(reg_no, full_name), "purpose": purpose_text(reg_no),
                       "channel": channel, **links.context(mid), **ctx}
            subject, body = render_pair(r["subject"], body_template, context, f"Правило «{r['name']}»")
            rows.append({"key": key, "rule_id": r["id"], "member_id": mid, "channel": channel, "consent": kind,
                         "recipient": members.mask(address), "subject": subject, "body": body, "amount": amount,
                         "planned_at": now, "not_before": wake, "status": "planned", "attempts": 0})
            existing.add(key)
            month_counts[(r["id"], mid)] = month_counts.get((r["id"], mid), 0) + 1
            result.by_channel[channel] = result.by_channel.get(channel, 0) + 1
    if rows:
        with db.transaction() as con:
            links.save(con)
            insert_rows(con, "notify_outbox", rows)
            audit.log(con, actor, "notify_planned", "outbox", messages=len(rows))
    result.planned = len(rows)
    result.no_consent = {ch: len(ids) for ch, ids in sorted(no_consent.items())}
    return result


# -- the outbox -----------------------------------------------------------------------------------

def due(db: Database, now: datetime, channels: list[str] | None = None) -> list[dict]:
    """Outbox rows ready to send now (planned, past their quiet hours and their backoff)."""
    where = ""
    if channels is not None:
        where = f" AND channel IN ({', '.join('?' * len(channels)) or 'NULL'})"
    return db.records("SELECT * FROM notify_outbox WHERE status = 'planned' AND not_before <= ? "
                      f"AND (next_try_at IS NULL OR next_try_at <= ?){where} ORDER BY id",
                      [now, now, *(channels or [])])


def unknown(db: Database, channels: list[str] | None = None) -> list[dict]:
    """Rows left «sending» by a run that stopped between handing them over and recording the answer."""
    where = f" AND channel IN ({', '.join('?' * len(channels)) or 'NULL'})" if channels is not None else ""
    return db.records(f"SELECT * FROM notify_outbox WHERE status = 'sending'{where} ORDER BY id", channels or None)


def mark_sending(db: Database, row_ids: list[int]) -> set[int]:
    """Claim rows for sending (committed before the channel is called); returns those this run got."""
    if not row_ids:
        return set()
    with db.transaction() as con:
        got = con.execute("UPDATE notify_outbox SET status = 'sending', attempts = attempts + 1 "
                          f"WHERE id IN ({', '.join('?' * len(row_ids))}) AND status = 'planned' RETURNING id",
                          row_ids).fetchall()
    return {r[0] for r in got}


def record_outcomes(db: Database, outcomes: list[tuple[int, Any]], now: datetime | None = None) -> None:
    """The channel's answers (Delivery objects) for claimed rows, in one transaction."""
    if not outcomes:
        return
    now = now or utcnow()
    rows = [{"id": row_id, "status": {"delivered": "delivered", "failed": "failed"}.get(d.status, "sent"),
             "message_id": None if d.message_id is None else str(d.message_id), "detail": d.detail, "sent_at": now}
            for row_id, d in outcomes]
    with db.transaction() as con:   # one UPDATE … FROM an Arrow table: executemany costs ~2 ms a row in DuckDB
        update_rows(con, "notify_outbox", ["id"], rows, ["status", "message_id", "detail", "sent_at"])
        con.execute(f"UPDATE notify_outbox SET next_try_at = NULL WHERE id IN ({', '.join('?' * len(rows))}) "
                    "AND next_try_at IS NOT NULL", [r["id"] for r in rows])


def mark_failed_attempt(db: Database, row_id: int, reason: str, now: datetime | None = None,
                        final: bool = False) -> str:
    """A failed attempt: back to «planned» after a backoff, or «failed» with the reason after the last one."""
    now = now or utcnow()
    with db.transaction() as con:
        attempts = con.execute("SELECT attempts FROM notify_outbox WHERE id = ?", [row_id]).fetchone()[0]
        if final or attempts >= MAX_ATTEMPTS:
            con.execute("UPDATE notify_outbox SET status = 'failed', detail = ?, next_try_at = NULL WHERE id = ?",
                        [reason, row_id])
            return "failed"
        wait = BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1]
        con.execute("UPDATE notify_outbox SET status = 'planned', detail = ?, next_try_at = ? WHERE id = ?",
                    [reason, now + timedelta(minutes=wait), row_id])
    return "planned"


def release(db: Database, row_id: int) -> None:
    """A «sending» row the channel never got: it goes back to the queue (its attempt is not counted)."""
    release_many(db, [row_id])


def release_many(db: Database, row_ids: list[int]) -> None:
    if not row_ids:
        return
    with db.transaction() as con:
        con.execute("UPDATE notify_outbox SET status = 'planned', attempts = greatest(attempts - 1, 0) "
                    f"WHERE id IN ({', '.join('?' * len(row_ids))}) AND status = 'sending'", row_ids)


def log_rows(db: Database, status: str | None = None, channel: str | None = None, search: str = "") -> list[dict]:
    """The delivery log, newest first, with the rule's name and the member's л/с."""
    cond, params = [], []
    if status:
        cond.append("o.status = ?")
        params.append(status)
    if channel:
        cond.append("o.channel = ?")
        params.append(channel)
    if search:
        cond.append("(m.reg_no ILIKE ? OR o.subject ILIKE ?)")
        params += [f"%{search}%", f"%{search}%"]
    where = f"WHERE {' AND '.join(cond)}" if cond else ""
    rows = db.records(f"""
        SELECT o.id, o.planned_at, r.name AS rule, m.reg_no, o.channel, o.recipient, o.subject, o.amount, o.status,
               o.attempts, o.detail, o.sent_at, o.message_id
        FROM notify_outbox o LEFT JOIN notify_rules r ON r.id = o.rule_id LEFT JOIN members m ON m.id = o.member_id
        {where} ORDER BY o.id DESC""", params or None)
    for row in rows:
        row["status"] = STATUSES.get(row["status"], row["status"])
    return rows


def export_log(db: Database, path: Path, actor: str | None = None) -> int:
    """`coop notify log --out FILE` (.csv or .xlsx); logged, the л/с and masked addresses are personal data."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise InputError(f"{path.name}: журнал выгружается в .xlsx или .csv")
    rows = log_rows(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_table(path, LOG_COLUMNS, rows, "Уведомления")
    except OSError as exc:
        raise InputError(f"{path}: не удалось записать файл ({exc.strerror})") from None
    audit.record(db, actor, "export_personal_data", path.name, what="журнал уведомлений", rows=len(rows))
    return len(rows)


# -- messenger deep links -------------------------------------------------------------------------

def link_token(db: Database, member_id: int, channel: str) -> str:
    """The member's personal start token for a messenger bot (made once, kept)."""
    links = DeepLinks(db, {channel: ""})
    token = links.token(member_id, channel)
    with db.transaction() as con:
        links.save(con)
    return token


DEEP_LINKS = {"telegram": "https://t.me/{bot}?start={token}", "max": "https://max.ru/{bot}?start={token}"}
NO_LINKS = {"link": "", "telegram_link": "", "max_link": ""}


def deep_link(channel: str, bot: str, token: str) -> str:
    """https://t.me/<bot>?start=<token> or https://max.ru/<bot>?start=<token>."""
    return DEEP_LINKS[channel].format(bot=bot, token=token)


class DeepLinks:
    """The members' personal messenger links for templates ({{ link }}, {{ telegram_link }}, {{ max_link }}):
    tokens are read once, new ones made in memory and saved with the caller's transaction (save)."""

    def __init__(self, db: Database, bots: dict[str, str]):
        self.bots = {ch: bot for ch, bot in bots.items() if ch in DEEP_LINKS}
        self.tokens: dict[tuple[int, str], str] = {}
        self.bound: set[tuple[int, str]] = set()
        self.new: list[list] = []
        if self.bots:
            for mid, ch, token, chat in db.fetchall("SELECT member_id, channel, token, chat_id FROM notify_links"):
                self.tokens[(mid, ch)] = token
                if chat:
                    self.bound.add((mid, ch))
            self.bound |= {(r[0], "telegram") for r in db.fetchall(
                "SELECT id FROM members WHERE coalesce(telegram_chat_id, '') <> ''")}

    def token(self, member_id: int, channel: str) -> str:
        import secrets

        key = (member_id, channel)
        if key not in self.tokens:
            self.tokens[key] = secrets.token_urlsafe(18)
            self.new.append([self.tokens[key], member_id, channel, utcnow()])
        return self.tokens[key]

    def context(self, member_id: int) -> dict[str, str]:
        """`link` is the first messenger the member has not joined yet (Telegram, then MAX), empty if none."""
        if not self.bots:
            return NO_LINKS
        out = dict(NO_LINKS)
        for ch in DEEP_LINKS:
            if ch in self.bots:
                out[f"{ch}_link"] = deep_link(ch, self.bots[ch], self.token(member_id, ch))
                if not out["link"] and (member_id, ch) not in self.bound:
                    out["link"] = out[f"{ch}_link"]
        return out

    def save(self, con) -> None:
        if self.new:
            con.executemany("INSERT INTO notify_links (token, member_id, channel, created_at) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING", self.new)
            self.new = []


def bind_chat(db: Database, token: str, channel: str, chat_id: str, actor: str | None = None) -> int | None:
    """A bot saw `/start <token>` from chat_id: the member whose token it is gets that chat; returns the member."""
    member_id = db.scalar("SELECT member_id FROM notify_links WHERE token = ? AND channel = ?", [token, channel])
    if member_id is None:
        return None
    if channel == "telegram":
        members.update_member(db, member_id, {"telegram_chat_id": str(chat_id)}, actor=actor)
    now = utcnow()
    with db.transaction() as con:
        con.execute("UPDATE notify_links SET used_at = ?, chat_id = ? WHERE token = ?", [now, str(chat_id), token])
        audit.log(con, actor, "notify_chat_bound", str(member_id), channel=channel)
        # The member opened his personal link and pressed Start himself: his consent to notices there.
        consent.record(db, member_id, channel, True, "bot", consent.BASES["bot"], since=now.date(), actor=actor,
                       con=con)
    return member_id


def bot_cursor(db: Database, channel: str) -> str | None:
    """Where a bot's updates were read up to (Telegram's offset, MAX's marker), so none is read twice."""
    return db.scalar("SELECT value FROM coop_settings WHERE key = ?", [f"{channel}_update_offset"])


def save_bot_cursor(db: Database, channel: str, value: str, actor: str | None = None) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO coop_settings VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    [f"{channel}_update_offset", str(value), utcnow(), actor])


def preview(db: Database, trigger: str, subject: str, body: str, as_of: date | None = None,
            bots: dict[str, str] | None = None, channel: str = "smtp") -> tuple[str, str, str]:
    """(whose data, subject, text) of a template filled with a real member's data: the largest debtor for a debt
    rule, the latest matched payment for a receipt, as sent through `channel` (with the member's real messenger
    links when `bots` are given); InputError if the template is bad or nobody fits."""
    as_of = as_of or date.today()
    coop = coop_context(db)
    if trigger == "payment":
        row = db.fetchone("""SELECT m.member_id, p.amount, p.doc_date FROM matches m JOIN payments p ON p.id = m.payment_id
                             WHERE m.status IN ('auto', 'manual') AND m.member_id IS NOT NULL
                             ORDER BY p.doc_date DESC, p.id DESC LIMIT 1""")
        if row is None:
            raise InputError("Для предпросмотра нет ни одного разнесённого платежа")
        mid, extra = row[0], {"payment": {"amount": fmt_money(row[1]), "date": row[2].strftime("%d.%m.%Y")}}
    else:
        totals: dict[str, list] = {}
        for d in debts.debts(db, as_of):
            acc = totals.setdefault(d["member_id"], [Decimal(0), Decimal(0), Decimal(0), None, 0])
            acc[0] += d["total"]
            acc[1] += d["principal"]
            acc[2] += d["penalty"]
            if d["oldest_due"] and (acc[3] is None or d["oldest_due"] < acc[3]):
                acc[3], acc[4] = d["oldest_due"], d["days_overdue"]
        if not totals:
            raise InputError(f"Для предпросмотра нет ни одного должника на {as_of:%d.%m.%Y}")
        reg_no, acc = max(totals.items(), key=lambda kv: kv[1][0])
        mid = db.scalar("SELECT id FROM members WHERE reg_no = ?", [reg_no])
        extra = {"debt": debt_context(*acc), "as_of": as_of.strftime("%d.%m.%Y")}
    reg_no, full_name = db.fetchone("SELECT reg_no, full_name FROM members WHERE id = ?", [mid])
    links = DeepLinks(db, bots or {})
    context = {"coop": coop, "member": member_context(reg_no, full_name), "purpose": purpose_text(reg_no),
               "channel": channel, **links.context(mid), **extra}
    shown = (f"л/с {reg_no}", render(subject, context, "Тема"), render(body, context, "Текст"))
    if links.new:
        with db.transaction() as con:
            links.save(con)
    return shown
