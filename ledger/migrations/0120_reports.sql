-- Reports (issue 15): forms the accountant fills in (append-only versions), and signed reports handed to a
-- transport with their status history and receipts. Numbers 0120-0129 belong to reports.

CREATE SEQUENCE report_form_id_seq START 1;
CREATE TABLE report_forms (
    id       BIGINT PRIMARY KEY DEFAULT nextval('report_form_id_seq'),
    kind     VARCHAR NOT NULL,                -- boupr
    year     INTEGER NOT NULL,
    data     VARCHAR NOT NULL,                -- JSON: line code -> values, requisites
    saved_at TIMESTAMP NOT NULL,
    saved_by VARCHAR
);

CREATE SEQUENCE report_submission_id_seq START 1;
CREATE TABLE report_submissions (
    id             BIGINT PRIMARY KEY DEFAULT nextval('report_submission_id_seq'),
    file_name      VARCHAR NOT NULL,
    sha256         VARCHAR NOT NULL,
    signature_name VARCHAR,
    transport      VARCHAR NOT NULL,
    remote_id      VARCHAR,                   -- the operator's id of the submission (docflow)
    status         VARCHAR NOT NULL,          -- packed|sent|delivered|accepted|rejected|processed|failed
    detail         VARCHAR,
    submitted_at   TIMESTAMP NOT NULL,
    submitted_by   VARCHAR,
    updated_at     TIMESTAMP NOT NULL
);

-- Every status a submission went through, with the operator's date when it gave one.
CREATE TABLE report_submission_events (
    submission_id BIGINT NOT NULL,
    status        VARCHAR NOT NULL,
    detail        VARCHAR,
    happened_at   TIMESTAMP,                  -- as the operator reported it (NULL: not given)
    recorded_at   TIMESTAMP NOT NULL
);

-- Receipts (квитанции, извещения, уведомления) as received, each once.
CREATE TABLE report_receipts (
    submission_id BIGINT NOT NULL,
    name          VARCHAR NOT NULL,
    content       BLOB NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    UNIQUE (submission_id, name)
);
