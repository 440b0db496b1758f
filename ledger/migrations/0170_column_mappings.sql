-- Column mappings remembered for files with the same headers (ledger/column_maps.py): the next upload of
-- a register with exactly these headers applies them without asking.
CREATE TABLE column_mappings (
    kind        VARCHAR NOT NULL,             -- register
    headers     VARCHAR NOT NULL,             -- the normalised header set (spreadsheets.header_key)
    mapping     JSON NOT NULL,                -- {normalised header: field, or "" for a column not loaded}
    updated_at  TIMESTAMP NOT NULL,
    updated_by  VARCHAR,
    PRIMARY KEY (kind, headers)
);
