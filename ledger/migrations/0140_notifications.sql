-- Notifications (issue 14): rules, the outbox (each message once) and opt-outs per channel.

CREATE SEQUENCE notify_rule_id_seq START 1;
CREATE TABLE notify_rules (
    id               BIGINT PRIMARY KEY DEFAULT nextval('notify_rule_id_seq'),
    name             VARCHAR NOT NULL UNIQUE,
    trigger          VARCHAR NOT NULL,          -- debt | payment
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    min_debt         DECIMAL(18,2) NOT NULL DEFAULT 0,   -- who: total debt over this
    min_days_overdue INTEGER NOT NULL DEFAULT 0,         -- who: overdue more than N days
    contribution     VARCHAR,                   -- who: only this contribution (NULL = any)
    statuses         VARCHAR NOT NULL DEFAULT 'member',  -- who: comma separated member statuses
    channels         VARCHAR NOT NULL,          -- comma separated, in order of preference
    repeat_days      INTEGER NOT NULL DEFAULT 30,        -- a new reminder period every N days
    max_per_month    INTEGER NOT NULL DEFAULT 2,         -- at most K messages of this rule a month per member
    quiet_from       INTEGER NOT NULL DEFAULT 21,        -- quiet hours [from, to) in the cooperative's time zone
    quiet_to         INTEGER NOT NULL DEFAULT 9,
    subject          VARCHAR NOT NULL,          -- Jinja2 (sandboxed)
    body             VARCHAR NOT NULL,          -- Jinja2 (sandboxed)
    attach_statement BOOLEAN NOT NULL DEFAULT FALSE,     -- e-mails carry the member's акт сверки (PDF)
    created_at       TIMESTAMP NOT NULL,       -- payment receipts only for payments matched after this
    updated_at       TIMESTAMP NOT NULL,
    updated_by       VARCHAR
);

-- One row per message to send; the key (rule, member, period or payment) makes planning idempotent.
CREATE SEQUENCE notify_outbox_id_seq START 1;
CREATE TABLE notify_outbox (
    id            BIGINT PRIMARY KEY DEFAULT nextval('notify_outbox_id_seq'),
    key           VARCHAR NOT NULL UNIQUE,      -- rule:<id>:member:<id>:<d<local date>|payment:<id>>
    rule_id       BIGINT NOT NULL,
    member_id     BIGINT NOT NULL,
    channel       VARCHAR NOT NULL,
    recipient     VARCHAR NOT NULL,             -- masked; the address is read again when sending
    subject       VARCHAR NOT NULL,
    body          VARCHAR NOT NULL,
    amount        DECIMAL(18,2),                -- the debt or payment the message is about
    planned_at    TIMESTAMP NOT NULL,
    not_before    TIMESTAMP NOT NULL,           -- UTC; after the quiet hours
    status        VARCHAR NOT NULL,             -- planned | sending | sent | delivered | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try_at   TIMESTAMP,
    message_id    VARCHAR,                      -- the provider's id
    detail        VARCHAR,                      -- the provider's answer or the reason of a failure
    sent_at       TIMESTAMP
);

CREATE TABLE notify_optouts (
    member_id  BIGINT NOT NULL,
    channel    VARCHAR NOT NULL,               -- a channel name or '*' for all
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR,
    PRIMARY KEY (member_id, channel)
);

-- The outbox key of a notification a channel handed over, recorded with the provider's id the moment the provider
-- answers: after a crash the sender finds the message by its key and asks the provider for its state.
ALTER TABLE channel_messages ADD COLUMN notify_key VARCHAR;

-- Personal deep-link tokens (https://t.me/<bot>?start=<token>) that bind a member's messenger chat.
CREATE TABLE notify_links (
    token      VARCHAR PRIMARY KEY,
    member_id  BIGINT NOT NULL,
    channel    VARCHAR NOT NULL,               -- telegram | max
    created_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    chat_id    VARCHAR,                        -- the bound chat or user id (MAX: user_id; Telegram keeps it in members)
    UNIQUE (member_id, channel)
);
