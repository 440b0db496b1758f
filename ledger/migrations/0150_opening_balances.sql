-- Opening balances (входящие остатки) brought in from 1С or a spreadsheet as of a date (ledger/opening.py).
-- The balances themselves are real ledger entries: a debt is a charge of kind 'opening' due the day before
-- as_of, an advance an incoming payment of that day matched to the member; this table keeps what each
-- member's entries stand for, so accruals skip the periods before as_of and a second file replaces the first
-- through corrections.
CREATE SEQUENCE opening_import_id_seq START 1;
CREATE TABLE opening_imports (
    id          BIGINT PRIMARY KEY DEFAULT nextval('opening_import_id_seq'),
    as_of       DATE NOT NULL,
    sha256      VARCHAR NOT NULL,
    file_name   VARCHAR NOT NULL,
    format      VARCHAR NOT NULL,                 -- osv|table
    rows        INTEGER NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    imported_by VARCHAR
);

CREATE TABLE opening_balances (
    as_of        DATE NOT NULL,
    member_id    BIGINT NOT NULL,
    contribution VARCHAR NOT NULL,
    plot_id      BIGINT,
    debt         DECIMAL(18,2) NOT NULL,
    penalty      DECIMAL(18,2) NOT NULL,
    advance      DECIMAL(18,2) NOT NULL,
    import_id    BIGINT NOT NULL,
    PRIMARY KEY (member_id, contribution)
);

-- The opening advances among payments, and the contribution each one is for (its designation).
CREATE TABLE opening_payments (
    payment_id   BIGINT PRIMARY KEY,
    contribution VARCHAR NOT NULL
);
