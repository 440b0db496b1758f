-- Key check value of the vault's master key (issue 12.1): an HMAC of a constant under a key derived from the
-- master key, recorded when the first key is created or first used (for older ledgers: when the key in force
-- opens their encrypted data). A missing or different key is then refused before anything is written.
CREATE TABLE vault_key_check (
    id          INTEGER PRIMARY KEY,       -- always 1: one master key per ledger
    key_id      VARCHAR NOT NULL,          -- fingerprint of the key, for messages
    check_value VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
