-- Bank statements: what each file brought, which statements hold each payment, totals for the list.
-- A payment is stored once (payments.fingerprint); payment_sources links it to every statement that
-- contains it, so deleting one of two overlapping statements keeps the payments the other still holds.

ALTER TABLE statements ADD COLUMN file_size BIGINT;
ALTER TABLE statements ADD COLUMN docs_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE statements ADD COLUMN docs_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE statements ADD COLUMN total_in DECIMAL(18,2) NOT NULL DEFAULT 0;
ALTER TABLE statements ADD COLUMN total_out DECIMAL(18,2) NOT NULL DEFAULT 0;
ALTER TABLE statements ADD COLUMN opening_balance DECIMAL(18,2);
ALTER TABLE statements ADD COLUMN closing_balance DECIMAL(18,2);

ALTER TABLE payments ADD COLUMN doc_kind VARCHAR;
ALTER TABLE payments ADD COLUMN posted_date DATE;

CREATE TABLE payment_sources (
    payment_id   BIGINT NOT NULL,
    statement_id BIGINT NOT NULL,
    source_line  INTEGER
);
