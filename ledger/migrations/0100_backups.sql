-- Encrypted, versioned backups (issue 16): what each storage holds as this database knows it, and every run.
-- The storage itself is the truth about which copies exist; these tables add what only we know
-- (when a copy was last verified, why a run failed) for the admin page and the monitoring alerts.
CREATE TABLE backups (
    storage      VARCHAR NOT NULL,         -- integration name (local, webdav, s3, …)
    name         VARCHAR NOT NULL,         -- coop-YYYYMMDD-HHMMSS.tar.zst.age
    created_at   TIMESTAMP NOT NULL,       -- UTC, when the snapshot was taken
    size         BIGINT NOT NULL,          -- bytes of the encrypted object
    sha256       VARCHAR NOT NULL,         -- of the encrypted object as uploaded
    manifest     VARCHAR,                  -- JSON: parts, versions, audit head
    verified_at  TIMESTAMP,                -- last successful full verify (decrypt, hashes, database opens)
    verify_error VARCHAR,                  -- the last verify's failure, if it failed
    forgotten_at TIMESTAMP,                -- removed by the retention policy
    PRIMARY KEY (storage, name)
);

CREATE SEQUENCE backup_runs_id START 1;
CREATE TABLE backup_runs (
    id          BIGINT PRIMARY KEY DEFAULT nextval('backup_runs_id'),
    storage     VARCHAR NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    ok          BOOLEAN,
    name        VARCHAR,
    error       VARCHAR,
    actor       VARCHAR
);
