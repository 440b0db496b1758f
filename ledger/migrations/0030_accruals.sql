-- Contributions (tariffs), the key-rate history, charges with corrections, and the allocation of
-- members' payments to charges (a cache recomputed from the ledger, see ledger/accruals.py).

CREATE TABLE contributions (
    code          VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,                 -- periodic|one_off
    basis         VARCHAR NOT NULL,                 -- member|plot|plot_area
    rate          DECIMAL(18,4) NOT NULL,           -- rubles per basis unit
    period        VARCHAR,                          -- month|quarter|year (periodic)
    due           VARCHAR NOT NULL,                 -- as in the tariff file
    start_date    DATE NOT NULL,
    end_date      DATE,
    keywords      VARCHAR NOT NULL DEFAULT '[]',    -- JSON list of purpose words
    penalty_kind  VARCHAR NOT NULL DEFAULT 'none',  -- none|daily_percent|key_rate
    penalty_rate  DECIMAL(12,6),                    -- percent per day (daily_percent)
    grace_days    INTEGER NOT NULL DEFAULT 0,
    cap_rate      DECIMAL(8,4),                     -- key_rate: cap, percent per annum
    cap_from      DATE,
    cap_to        DATE,
    moratoriums   VARCHAR NOT NULL DEFAULT '[]',    -- JSON [[from, to], ...], both days without penalty
    updated_at    TIMESTAMP NOT NULL,
    updated_by    VARCHAR
);

-- Bank of Russia key rate, percent per annum, in force from valid_from (filled by 0031).
CREATE TABLE key_rates (
    valid_from DATE PRIMARY KEY,
    rate       DECIMAL(6,2) NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);

CREATE SEQUENCE charge_id_seq START 1;
CREATE TABLE charges (
    id            BIGINT PRIMARY KEY DEFAULT nextval('charge_id_seq'),
    member_id     BIGINT NOT NULL,
    contribution  VARCHAR NOT NULL,
    plot_id       BIGINT,
    period_start  DATE,
    period_end    DATE,
    due_date      DATE NOT NULL,
    amount        DECIMAL(18,2) NOT NULL,
    kind          VARCHAR NOT NULL,                 -- accrual|manual
    basis_note    VARCHAR,                          -- how the amount was computed
    reason        VARCHAR,                          -- manual charges: why
    accrual_key   VARCHAR UNIQUE,                   -- accruals: contribution|member|plot|period start
    created_at    TIMESTAMP NOT NULL,
    created_by    VARCHAR
);

CREATE SEQUENCE charge_correction_id_seq START 1;
CREATE TABLE charge_corrections (
    id         BIGINT PRIMARY KEY DEFAULT nextval('charge_correction_id_seq'),
    charge_id  BIGINT NOT NULL,
    delta      DECIMAL(18,2) NOT NULL,
    reason     VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by VARCHAR
);

CREATE VIEW charges_effective AS
    SELECT c.id, c.member_id, c.contribution, c.plot_id, c.period_start, c.period_end, c.due_date,
           (c.amount + coalesce(k.delta, 0))::DECIMAL(18,2) AS amount, c.amount AS original_amount, c.kind,
           c.basis_note, c.reason
    FROM charges c
    LEFT JOIN (SELECT charge_id, sum(delta) AS delta FROM charge_corrections GROUP BY charge_id) k
        ON k.charge_id = c.id;

-- Allocation of member_payments to charges: principal and penalty parts, with the day each applies.
CREATE TABLE allocations (
    member_id  BIGINT NOT NULL,
    charge_id  BIGINT NOT NULL,
    payment_id BIGINT NOT NULL,
    amount     DECIMAL(18,2) NOT NULL,
    applied_on DATE NOT NULL,
    kind       VARCHAR NOT NULL                     -- principal|penalty
);

-- Per charge: the day it was paid in full, its final penalty, and the day nothing was left (penalty paid too).
CREATE TABLE charge_state (
    charge_id     BIGINT PRIMARY KEY,
    member_id     BIGINT NOT NULL,
    paid_off_on   DATE,
    final_penalty DECIMAL(18,2),
    settled_on    DATE
);

-- What each member's allocation was computed from (a fingerprint of charges and payments).
CREATE TABLE allocation_inputs (
    member_id   BIGINT PRIMARY KEY,
    fingerprint UBIGINT NOT NULL
);

CREATE TABLE ledger_meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR
);

-- Debts per member, contribution and plot as of a date, kept for the dashboard (see ledger/debts.py).
CREATE TABLE debt_snapshot (
    as_of        DATE NOT NULL,
    member_id    BIGINT NOT NULL,
    contribution VARCHAR NOT NULL,
    plot_id      BIGINT,
    principal    DECIMAL(18,2) NOT NULL,
    penalty      DECIMAL(18,2) NOT NULL,
    not_due      DECIMAL(18,2) NOT NULL,
    oldest_due   DATE,
    b0_30        DECIMAL(18,2) NOT NULL,
    b31_90       DECIMAL(18,2) NOT NULL,
    b91_180      DECIMAL(18,2) NOT NULL,
    b181_365     DECIMAL(18,2) NOT NULL,
    b365         DECIMAL(18,2) NOT NULL,
    time_barred  DECIMAL(18,2) NOT NULL
);

-- Collection by month of due date as of the snapshot date: charged and paid principal.
CREATE TABLE collection_snapshot (
    as_of   DATE NOT NULL,
    month   DATE NOT NULL,
    charged DECIMAL(18,2) NOT NULL,
    paid    DECIMAL(18,2) NOT NULL
);
