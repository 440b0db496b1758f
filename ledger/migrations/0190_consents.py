"""Consent to notices per member and channel (issue 17, 152-ФЗ).

1. `member_consents`: one row per recorded consent or withdrawal (a withdrawal is a new row, never an edit; the
   current state of a member's channel is its latest row). Channels are the kinds of address: email, sms,
   telegram, max.
2. Opt-outs (`notify_optouts`) become withdrawals with the day they were recorded; the table is dropped.
3. Chats a member bound himself through the bot's deep link (Telegram, MAX) become consents with the basis
   «член сам запустил бота», on the day of binding (unknown when it was not kept).
4. Nothing else is presumed: e-mail notices about the member's own account go by the charter without a consent
   row (ledger/consent.DEFAULT_ALLOWED) until withdrawn; SMS and messengers need a recorded consent.
5. `notify_outbox.consent`: the consent channel of each message (a withdrawal cancels the planned ones).
   `notify_rules.short_body`: the short text for SMS and messengers (л/с, amount, due date, no name); a rule
   still carrying the shipped default text gets the shipped short one, a rule with its own text keeps it
   (NULL: the full text goes, and the template editor warns).
"""

from __future__ import annotations

from ledger.db import utcnow

OPTOUT_CHANNELS = {"smtp": ["email"], "smsru": ["sms"], "smsc": ["sms"], "telegram": ["telegram"], "max": ["max"],
                   "*": ["email", "sms", "telegram", "max"]}
OUTBOX_CONSENT = {"smtp": "email", "smsru": "sms", "smsc": "sms", "telegram": "telegram", "max": "max"}


def migrate(con) -> None:
    con.execute("CREATE SEQUENCE member_consent_id_seq START 1")
    con.execute("""
        CREATE TABLE member_consents (
            id          BIGINT PRIMARY KEY DEFAULT nextval('member_consent_id_seq'),
            member_id   BIGINT NOT NULL,
            channel     VARCHAR NOT NULL,       -- email | sms | telegram | max
            granted     BOOLEAN NOT NULL,       -- FALSE: withdrawn (or refused)
            since       DATE,                   -- the day given or withdrawn, as the source says; NULL = not known
            basis       VARCHAR NOT NULL,       -- form | bot | register | other
            basis_text  VARCHAR,                -- the form's number, the file and row, the member's words
            recorded_at TIMESTAMP NOT NULL,
            recorded_by VARCHAR
        )""")
    now = utcnow()
    rows = []
    for member_id, channel, created_at, created_by in con.execute(
            "SELECT member_id, channel, created_at, created_by FROM notify_optouts ORDER BY created_at").fetchall():
        for kind in OPTOUT_CHANNELS.get(channel, [channel]):
            rows.append([member_id, kind, False, created_at.date(), "other",
                         f"отказ от рассылки ({channel}), записанный до учёта согласий", now, created_by])
    for member_id, channel, used_at in con.execute(
            "SELECT member_id, channel, used_at FROM notify_links WHERE chat_id IS NOT NULL AND used_at IS NOT NULL "
            "ORDER BY used_at").fetchall():
        if not any(r[0] == member_id and r[1] == channel and r[2] is False for r in rows):
            rows.append([member_id, channel, True, used_at.date(), "bot", "член сам запустил бота", now, "миграция"])
    if rows:
        con.executemany("INSERT INTO member_consents (member_id, channel, granted, since, basis, basis_text, "
                        "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("DROP TABLE notify_optouts")

    con.execute("ALTER TABLE notify_outbox ADD COLUMN consent VARCHAR")
    for channel, kind in OUTBOX_CONSENT.items():
        con.execute("UPDATE notify_outbox SET consent = ? WHERE channel = ?", [kind, channel])

    from ledger import notify

    con.execute("ALTER TABLE notify_rules ADD COLUMN short_body VARCHAR")
    con.execute("UPDATE notify_rules SET short_body = ? WHERE trigger = 'debt' AND body = ?",
                [notify.DEFAULT_DEBT_SHORT, notify.DEFAULT_DEBT_BODY])
    con.execute("UPDATE notify_rules SET short_body = ? WHERE trigger = 'payment' AND body = ?",
                [notify.DEFAULT_PAYMENT_SHORT, notify.DEFAULT_PAYMENT_BODY])
