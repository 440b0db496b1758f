-- Integrations framework, credential vault and the extended audit log (issue 6).

-- The audit log gains the columns of an external call, and a SHA-256 hash chain that makes edits and
-- deletions of earlier entries detectable (ledger/audit.py verify_chain). The table stays append-only:
-- no code path updates or deletes it.
ALTER TABLE audit_log ADD COLUMN integration VARCHAR;
ALTER TABLE audit_log ADD COLUMN operation VARCHAR;
ALTER TABLE audit_log ADD COLUMN host VARCHAR;
ALTER TABLE audit_log ADD COLUMN path VARCHAR;
ALTER TABLE audit_log ADD COLUMN status VARCHAR;
ALTER TABLE audit_log ADD COLUMN duration_ms INTEGER;
ALTER TABLE audit_log ADD COLUMN bytes BIGINT;
ALTER TABLE audit_log ADD COLUMN error VARCHAR;
ALTER TABLE audit_log ADD COLUMN prev_hash VARCHAR;
ALTER TABLE audit_log ADD COLUMN hash VARCHAR;

-- Secrets (passwords, API keys, OAuth tokens, private keys), AES-256-GCM under the master key.
CREATE TABLE vault_secrets (
    name       VARCHAR PRIMARY KEY,        -- e.g. integration/smtp/password, oauth/sber/token
    key_id     VARCHAR NOT NULL,           -- fingerprint of the master key that encrypted it
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);

-- Switched-on state and non-secret settings of each integration (secrets live in vault_secrets).
CREATE TABLE integrations (
    name             VARCHAR PRIMARY KEY,
    enabled          BOOLEAN NOT NULL DEFAULT FALSE,
    settings         VARCHAR,              -- JSON of non-secret settings
    interval_minutes INTEGER,              -- scheduled runs (coop integrations run), NULL = not scheduled
    last_run_at      TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL,
    updated_by       VARCHAR
);

-- Files a folder-watching integration has already taken (statement_folder): each is processed once.
CREATE TABLE integration_files (
    integration  VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    ok           BOOLEAN NOT NULL,
    message      VARCHAR,
    PRIMARY KEY (integration, sha256)
);

-- Messages handed to a channel and their delivery state (Channel.status).
CREATE TABLE channel_messages (
    message_id  VARCHAR PRIMARY KEY,
    integration VARCHAR NOT NULL,
    recipient   VARCHAR NOT NULL,          -- masked
    status      VARCHAR NOT NULL,          -- accepted|delivered|failed
    detail      VARCHAR,
    sent_at     TIMESTAMP NOT NULL
);
