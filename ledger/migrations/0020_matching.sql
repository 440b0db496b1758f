-- Payment matching: payer links learned from sure matches and accountant decisions, and the log of
-- every decision a person made (matches keeps only the current one).

-- A payer account or payer INN known to pay for a member. kind: account|inn.
-- source: auto (learned from a sure automatic match) | manual (from an accountant's decision).
-- blocked: the accountant rejected this link; it is never learned again automatically.
CREATE TABLE payer_links (
    kind        VARCHAR NOT NULL,
    value       VARCHAR NOT NULL,
    member_id   BIGINT NOT NULL,
    source      VARCHAR NOT NULL,
    payment_id  BIGINT,
    blocked     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL,
    created_by  VARCHAR,
    PRIMARY KEY (kind, value, member_id)
);

CREATE SEQUENCE match_decision_id_seq START 1;
CREATE TABLE match_decisions (
    id          BIGINT PRIMARY KEY DEFAULT nextval('match_decision_id_seq'),
    payment_id  BIGINT NOT NULL,
    action      VARCHAR NOT NULL,          -- confirm|reject|split|reopen
    member_id   BIGINT,
    details     VARCHAR,                   -- JSON: previous status/member, split parts, note
    decided_by  VARCHAR,
    decided_at  TIMESTAMP NOT NULL
);
