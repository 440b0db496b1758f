-- Bank API sync (issue 13): the state of each bank source's runs, for the bank page and the admin alerts.
-- The statements themselves go through `statements` like uploaded files (the raw answers are their originals).
CREATE TABLE bank_sync_state (
    integration    VARCHAR PRIMARY KEY,
    last_sync_at   TIMESTAMP,           -- last run, successful or not
    last_ok_at     TIMESTAMP,           -- last successful run
    last_result    VARCHAR,             -- «N новых, M уже загружено, K исходящих»
    last_error     VARCHAR,             -- Russian, no secrets
    last_error_at  TIMESTAMP,
    auth_expired   BOOLEAN NOT NULL DEFAULT FALSE,
    pending_since  DATE                 -- earliest operation the bank had not booked yet: the next run reads from here
);
