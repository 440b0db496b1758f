-- Core schema: cooperative, members, plots, users, audit; the bank and matching tables other parts
-- build on. Money is DECIMAL(18,2); timestamps are naive UTC.
-- Numbering for later migrations: 0010-0019 bank statements, 0020-0029 matching,
-- 0030-0039 accruals and debts, 0040-0049 integrations, vault and audit.

CREATE TABLE coop_settings (
    key        VARCHAR PRIMARY KEY,
    value      VARCHAR,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);

CREATE SEQUENCE member_id_seq START 1;
CREATE TABLE members (
    id               BIGINT PRIMARY KEY DEFAULT nextval('member_id_seq'),
    reg_no           VARCHAR NOT NULL UNIQUE,      -- register number (л/с)
    full_name        VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,             -- applicant|member|withdrawn|excluded|deceased
    join_date        DATE,
    exit_date        DATE,
    inn              VARCHAR,
    phones           VARCHAR,                      -- normalised, comma separated
    emails           VARCHAR,                      -- comma separated
    telegram_chat_id VARCHAR,
    address          VARCHAR,
    notes            VARCHAR,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

CREATE TABLE member_statuses (
    member_id   BIGINT NOT NULL,
    status      VARCHAR NOT NULL,
    valid_from  DATE,
    recorded_at TIMESTAMP NOT NULL,
    source      VARCHAR,
    note        VARCHAR
);

CREATE SEQUENCE member_change_id_seq START 1;
CREATE TABLE member_changes (
    id         BIGINT PRIMARY KEY DEFAULT nextval('member_change_id_seq'),
    member_id  BIGINT NOT NULL,
    field      VARCHAR NOT NULL,
    old_value  VARCHAR,
    new_value  VARCHAR,
    changed_at TIMESTAMP NOT NULL,
    changed_by VARCHAR,
    source     VARCHAR
);

CREATE SEQUENCE plot_id_seq START 1;
CREATE TABLE plots (
    id            BIGINT PRIMARY KEY DEFAULT nextval('plot_id_seq'),
    number        VARCHAR NOT NULL UNIQUE,          -- "12", "12а", "3-15"
    cadastral_no  VARCHAR,
    area          DECIMAL(12,2),                    -- m²
    notes         VARCHAR,
    created_at    TIMESTAMP NOT NULL
);

-- Ownership with dates; co-owners hold exact fractional shares share_num/share_den.
CREATE TABLE plot_owners (
    plot_id    BIGINT NOT NULL,
    member_id  BIGINT NOT NULL,
    share_num  INTEGER NOT NULL DEFAULT 1,
    share_den  INTEGER NOT NULL DEFAULT 1,
    owned_from DATE,
    owned_to   DATE
);

CREATE TABLE users (
    login         VARCHAR PRIMARY KEY,
    password_hash VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,                 -- admin|accountant|board
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP
);

CREATE SEQUENCE audit_id_seq START 1;
CREATE TABLE audit_log (
    id      BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
    happened_at TIMESTAMP NOT NULL,
    actor   VARCHAR,
    action  VARCHAR NOT NULL,     -- e.g. signin, signin_failed, export_personal_data, user_added
    target  VARCHAR,
    ok      BOOLEAN NOT NULL DEFAULT TRUE,
    details VARCHAR               -- JSON
);

-- Bank statements and payments (filled by the bank import).
CREATE SEQUENCE statement_id_seq START 1;
CREATE TABLE statements (
    id           BIGINT PRIMARY KEY DEFAULT nextval('statement_id_seq'),
    sha256       VARCHAR NOT NULL UNIQUE,
    file_name    VARCHAR NOT NULL,
    format       VARCHAR NOT NULL,
    our_account  VARCHAR,
    period_from  DATE,
    period_to    DATE,
    imported_at  TIMESTAMP NOT NULL,
    imported_by  VARCHAR,
    docs_total   INTEGER NOT NULL DEFAULT 0,
    docs_new     INTEGER NOT NULL DEFAULT 0,
    warnings     VARCHAR
);

CREATE SEQUENCE payment_id_seq START 1;
CREATE TABLE payments (
    id            BIGINT PRIMARY KEY DEFAULT nextval('payment_id_seq'),
    fingerprint   VARCHAR NOT NULL UNIQUE,
    statement_id  BIGINT,
    source_line   INTEGER,
    our_account   VARCHAR,
    doc_date      DATE NOT NULL,
    doc_number    VARCHAR,
    amount        DECIMAL(18,2) NOT NULL,
    direction     VARCHAR NOT NULL,                 -- in|out
    payer_name    VARCHAR,
    payer_inn     VARCHAR,
    payer_account VARCHAR,
    payer_bik     VARCHAR,
    payee_name    VARCHAR,
    payee_inn     VARCHAR,
    payee_account VARCHAR,
    payee_bik     VARCHAR,
    purpose       VARCHAR,
    created_at    TIMESTAMP NOT NULL
);

-- Matching decisions, one row per incoming payment (filled by the matcher and the accountant).
CREATE TABLE matches (
    payment_id  BIGINT PRIMARY KEY,
    status      VARCHAR NOT NULL,                   -- auto|suggested|unmatched|manual
    member_id   BIGINT,                             -- decided or best member; NULL if none or split
    confidence  DECIMAL(5,4) NOT NULL DEFAULT 0,
    reason      VARCHAR,
    candidates  VARCHAR,                            -- JSON [{member_id, confidence, reason}]
    decided_by  VARCHAR,
    decided_at  TIMESTAMP NOT NULL
);

-- A payment divided among several members by the accountant.
CREATE TABLE match_splits (
    payment_id BIGINT NOT NULL,
    member_id  BIGINT NOT NULL,
    amount     DECIMAL(18,2) NOT NULL,
    PRIMARY KEY (payment_id, member_id)
);

-- Money attributed to members: what accruals and debts read.
CREATE VIEW member_payments AS
    SELECT p.id AS payment_id, m.member_id, p.amount, p.doc_date AS paid_on, p.purpose
    FROM payments p JOIN matches m ON m.payment_id = p.id
    WHERE m.status IN ('auto', 'manual') AND m.member_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM match_splits s WHERE s.payment_id = p.id)
    UNION ALL
    SELECT p.id AS payment_id, s.member_id, s.amount, p.doc_date AS paid_on, p.purpose
    FROM match_splits s JOIN payments p ON p.id = s.payment_id
    JOIN matches m ON m.payment_id = p.id AND m.status = 'manual';
