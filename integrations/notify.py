"""Draining the notification outbox through the enabled channels, each message exactly once.

For every row: claim it («sending», committed), hand it to the channel, record the answer. A run that dies between
the channel's answer and the record leaves the row «sending»; the next run first asks the channel whether that
message went out (Channel.find_sent: the SMTP channel knows its own deterministic Message-ID, SMS and messenger
channels ask the provider's status call) and only sends it again when the channel is sure it did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import html
from datetime import date, datetime
from typing import Callable
from urllib.parse import quote

from ledger import consent, debts, notify, payqr
from ledger.db import Database, utcnow
from ledger.errors import InputError

from . import registry
from .base import Attachment, Channel, IntegrationError, OutgoingMessage


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    retry: int = 0            # failed this time, will be tried again after a pause
    recovered: int = 0        # found sent after an interrupted run
    unknown: int = 0          # fate unknown, the channel cannot tell: left for the accountant
    cancelled: int = 0        # the member withdrew his consent to the channel after planning: not sent
    by_channel: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def summary(self) -> str:
        head = "Будет отправлено" if self.dry_run else "Отправлено"
        parts = [f"{head} {self.sent}"] + [f"{ch}: {n}" for ch, n in sorted(self.by_channel.items())]
        if self.retry:
            parts.append(f"повтор позже: {self.retry}")
        if self.failed:
            parts.append(f"не отправлено: {self.failed}")
        if self.recovered:
            parts.append(f"подтверждено после сбоя: {self.recovered}")
        if self.unknown:
            parts.append(f"неизвестен итог: {self.unknown}")
        if self.cancelled:
            parts.append(f"отменено (нет согласия на канал): {self.cancelled}")
        return "; ".join(parts)


def channels(db: Database, actor: str | None = None) -> dict[str, Channel]:
    """Enabled channels that can be built, by name."""
    return {c.name: c for c in registry.enabled_of_kind(db, "channel", actor)}  # type: ignore[misc]


def available(db: Database) -> dict[str, str]:
    """Enabled channel → the kind of address it needs (for planning, without building the channels)."""
    found, _ = registry.discover()
    return {name: found[name].address for name, in db.fetchall(
        "SELECT name FROM integrations WHERE enabled ORDER BY name")
        if name in found and found[name].kind == "channel"}


def bots(db: Database) -> dict[str, str]:
    """Enabled messenger channels → their bot names (for the members' deep links)."""
    enabled = {r[0] for r in db.fetchall("SELECT name FROM integrations WHERE enabled")}
    out = {}
    for name in notify.DEEP_LINKS:
        bot = registry.stored_settings(db, name).get("bot_name") if name in enabled else None
        if bot:
            out[name] = bot
    return out


def member_links(db: Database, member_id: int) -> dict[str, str]:
    """The member's personal links to the enabled bots: {"telegram": "https://t.me/…?start=…", "max": …}."""
    return {ch: notify.deep_link(ch, bot, notify.link_token(db, member_id, ch)) for ch, bot in bots(db).items()}


def plan(db: Database, now: datetime | None = None, actor: str | None = None) -> notify.Plan:
    return notify.plan(db, available(db), now=now, actor=actor, bots=bots(db))


def _attachments(db: Database, row: dict, attach_statement: bool, qr_text: str | None) -> list[Attachment]:
    out = []
    if qr_text:
        out.append(Attachment("qr-oplata.png", payqr.qr_png(qr_text), "image/png"))
    if attach_statement:
        today = row["planned_at"].date()
        s = debts.statement(db, row["member_id"], date(today.year, 1, 1), today)
        out.append(Attachment(f"akt-sverki-{s.member['reg_no']}.pdf", debts.statement_pdf(s), "application/pdf"))
    return out


def _html(text: str, with_qr: bool) -> str:
    paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    qr = "<p>QR-код для оплаты — во вложении qr-oplata.png.</p>" if with_qr else ""
    return f'<!DOCTYPE html><html lang="ru"><body>{paragraphs}{qr}</body></html>'


class _Composer:
    """Builds the OutgoingMessage of an outbox row: e-mails get HTML, the payment QR and (optionally) the акт."""

    def __init__(self, db: Database, attach_statement: bool = False):
        self.db = db
        self.attach_statement = attach_statement
        try:
            self.requisites: payqr.Requisites | None = payqr.requisites(db)
        except InputError:
            self.requisites = None          # no bank requisites yet: messages go without the QR
        self.sender = registry.stored_settings(db, "smtp").get("sender")
        self.reg_nos = dict(db.fetchall("SELECT id, reg_no FROM members"))
        self.with_statement = {r[0] for r in db.fetchall("SELECT id FROM notify_rules WHERE attach_statement")}

    def __call__(self, row: dict, address: str) -> OutgoingMessage:
        message = OutgoingMessage(key=row["key"], to=address, subject=row["subject"], text=row["body"])
        if row["channel"] != "smtp":
            return message
        reg_no = self.reg_nos.get(row["member_id"], "")
        qr_text = None
        if self.requisites:
            amount = row["amount"] if ":payment:" not in row["key"] else None
            qr_text = payqr.payment_string(self.requisites, reg_no, amount)
        message.html = _html(row["body"], qr_text is not None)
        message.attachments = _attachments(self.db, row, self.attach_statement or row["rule_id"] in self.with_statement,
                                           qr_text)
        if self.sender:
            message.unsubscribe = f"mailto:{self.sender}?subject=" + quote(f"Отписаться от рассылки, л/с {reg_no}")
        return message


def send(db: Database, dry_run: bool = False, only: list[str] | None = None, now: datetime | None = None,
         actor: str | None = None, progress: Callable[[int, int], None] | None = None,
         attach_statement: bool = False, _after_send: Callable[[dict], None] | None = None) -> SendResult:
    """Send what is due now through the enabled channels (or only the named ones).

    Rows go in batches of the channel's `batch_size` (SMS.ru takes up to 100 texts in one request): a batch is
    claimed in one transaction, handed to the channel, and its answers recorded in one transaction.
    `_after_send` is called between the channel's answer and the record (tests inject a crash there).
    """
    now = now or utcnow()
    result = SendResult(dry_run=dry_run)
    built = channels(db, actor)
    names = [n for n in built if only is None or n in only]
    if dry_run:
        consents = consent.states(db)
        for row in notify.due(db, now, names):
            if row.get("consent") and not consent.allowed(consents, row["member_id"], row["consent"]):
                continue
            result.sent += 1
            result.by_channel[row["channel"]] = result.by_channel.get(row["channel"], 0) + 1
        return result
    addresses = notify._addresses(db)
    compose = _Composer(db, attach_statement)
    kinds = {n: built[n].address for n in names}

    def address_of(row: dict) -> str | None:
        return addresses.get(row["member_id"], kinds[row["channel"]])

    # 1. rows an earlier run left «sending»: ask the channel before anything is sent again
    for name in names:
        built[name].recover_journal()
    for row in notify.unknown(db, names):
        try:
            found = built[row["channel"]].find_sent(
                OutgoingMessage(key=row["key"], to=address_of(row) or "", subject=row["subject"], text=row["body"]))
        except IntegrationError:
            result.unknown += 1          # the provider cannot be asked now: left «sending», never resent blindly
            continue
        if found is None:
            notify.release(db, row["id"])
        else:
            notify.record_outcomes(db, [(row["id"], found)], now)
            result.recovered += 1
    # 2. what is due now, channel by channel, in batches; a message whose member withdrew his consent to its
    # channel since it was planned is cancelled, not sent
    rows = notify.due(db, now, names)
    cancelled = consent.cancel_without_consent(db, rows)
    rows = [r for r in rows if r["id"] not in cancelled]
    result.cancelled = len(cancelled)
    done = 0
    for name in names:
        channel = built[name]
        mine = [r for r in rows if r["channel"] == name]
        if not mine:
            continue
        channel.open()
        try:
            for start in range(0, len(mine), channel.batch_size):
                chunk = []
                for row in mine[start:start + channel.batch_size]:
                    address = address_of(row)
                    if address:
                        chunk.append((row, address))
                    else:
                        notify.mark_failed_attempt(db, row["id"], "у члена больше нет адреса для этого канала", now,
                                                   final=True)
                        result.failed += 1
                claimed = notify.mark_sending(db, [row["id"] for row, _ in chunk])
                chunk = [(row, address) for row, address in chunk if row["id"] in claimed]
                if not chunk:
                    continue
                try:
                    outgoing = [compose(row, address) for row, address in chunk]
                except BaseException:      # nothing was handed over yet: the rows go back to the queue
                    notify.release_many(db, [row["id"] for row, _ in chunk])
                    raise
                try:
                    answers = channel.deliver_many(outgoing)
                except IntegrationError as exc:
                    answers = [exc] * len(chunk)
                # any other exit here (a crash, Ctrl-C) leaves the rows «sending»: the next run asks the channel
                outcomes = []
                for (row, _), answer in zip(chunk, answers):
                    if _after_send:
                        _after_send(row)
                    if isinstance(answer, Exception):
                        state = notify.mark_failed_attempt(db, row["id"], str(answer), now,
                                                           final=getattr(answer, "final", False))
                        if state == "failed":
                            result.failed += 1
                        else:
                            result.retry += 1
                    else:
                        outcomes.append((row["id"], answer))
                        if answer.status == "failed":
                            result.failed += 1
                        else:
                            result.sent += 1
                            result.by_channel[name] = result.by_channel.get(name, 0) + 1
                notify.record_outcomes(db, outcomes, now)
                done += len(chunk)
                if progress:
                    progress(done, len(rows))
        finally:
            channel.close()
    return result


def forecast(db: Database, now: datetime | None = None, actor: str | None = None) -> list[dict]:
    """What `send` would send now, per channel: messages, SMS segments and the provider's price where it has one."""
    now = now or utcnow()
    built = channels(db, actor)
    consents = consent.states(db)
    rows = [r for r in notify.due(db, now, list(built))
            if not r.get("consent") or consent.allowed(consents, r["member_id"], r["consent"])]
    addresses = notify._addresses(db)
    out = []
    for name, channel in built.items():
        mine = [r for r in rows if r["channel"] == name]
        if not mine:
            continue
        entry = {"channel": name, "title": channel.title, "messages": len(mine), "segments": None, "cost": None}
        if hasattr(channel, "cost"):
            messages = [OutgoingMessage(r["key"], addresses.get(r["member_id"], channel.address) or "",
                                        r["subject"], r["body"]) for r in mine]
            try:
                entry["cost"], entry["segments"] = channel.cost(messages)
            except IntegrationError as exc:
                entry["error"] = str(exc)
        out.append(entry)
    return out


@dataclass
class PollResult:
    asked: int = 0
    delivered: int = 0
    undelivered: int = 0
    pending: int = 0              # the provider has no final answer yet: asked again next time
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"Проверено статусов {self.asked}", f"доставлено {self.delivered}",
                 f"не доставлено {self.undelivered}", f"ещё в пути {self.pending}"]
        return "; ".join(parts + [f"ошибка: {e}" for e in self.errors])


POLL_DAYS = 7        # SMS live a day at most at the operators; after a week a message's state will not change


def poll_statuses(db: Database, only: list[str] | None = None, now: datetime | None = None,
                  actor: str | None = None) -> PollResult:
    """Ask the providers that report delivery later (SMS.ru, SMSC) about messages sent but not final, and record
    «доставлено» or «не доставлено» with the provider's reason in the delivery log (`coop notify status`)."""
    from datetime import timedelta

    now = now or utcnow()
    result = PollResult()
    built = {n: c for n, c in channels(db, actor).items() if c.polls_status and (only is None or n in only)}
    if not built:
        return result
    addresses = notify._addresses(db)
    for name, channel in built.items():
        rows = db.records("SELECT id, member_id, message_id FROM notify_outbox WHERE channel = ? AND status = 'sent' "
                          "AND message_id IS NOT NULL AND sent_at >= ? ORDER BY id",
                          [name, now - timedelta(days=POLL_DAYS)])
        if not rows:
            continue
        items = [(r["message_id"], (addresses.get(r["member_id"], channel.address) or "") if channel.keeps_address
                  else "") for r in rows]
        try:
            found = channel.statuses(items)
        except IntegrationError as exc:
            result.errors.append(str(exc))
            continue
        result.asked += len(rows)
        final = {"delivered": "delivered", "failed": "undelivered"}
        updates = []
        for r in rows:
            d = found.get(r["message_id"])
            state = final.get(d.status) if d else None
            if state == "delivered":
                result.delivered += 1
            elif state == "undelivered":
                result.undelivered += 1
            else:
                result.pending += 1
            updates.append([state or "sent", d.detail if d else None, now, r["id"]])
        with db.transaction() as con:
            con.executemany("UPDATE notify_outbox SET status = ?, detail = coalesce(?, detail), status_checked_at = ? "
                            "WHERE id = ?", updates)
            con.executemany("UPDATE channel_messages SET status = ?, detail = ? WHERE message_id = ? AND integration = ?",
                            [[d.status, d.detail, mid, name] for mid, d in found.items()])
    return result


def run_channel(db: Database, name: str, actor: str | None = None) -> str:
    """A scheduled run of a channel (coop integrations run): bind new messenger chats, plan what the rules call
    for, send this channel's part, then ask the provider about the delivery of what went before."""
    channel = registry.build(db, name, actor)
    bound = channel.bind_chats() if hasattr(channel, "bind_chats") else 0
    planned = plan(db, actor=actor)
    sent = send(db, only=[name], actor=actor)
    line = f"{name}: {f'привязано чатов {bound}, ' if bound else ''}запланировано {planned.planned}, {sent.summary()}"
    if channel.polls_status:
        line += f"; {poll_statuses(db, only=[name], actor=actor).summary()}"
    return line
