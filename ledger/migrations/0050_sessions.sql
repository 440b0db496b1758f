-- Sign-in sessions that survive a reload: the browser keeps a random token in an HttpOnly cookie,
-- the ledger keeps only its SHA-256. «Выйти» revokes the row; inactivity ends it (COOP_SESSION_HOURS).
CREATE TABLE sessions (
    token_hash   VARCHAR PRIMARY KEY,
    login        VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    client       VARCHAR
);
