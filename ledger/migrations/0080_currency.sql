-- Currency of every payment and statement (ISO 4217 letters, RUB for the rouble), and every account a statement
-- covers. Payments in another currency are kept but take no part in matching, allocation or debts.

ALTER TABLE payments ADD COLUMN currency VARCHAR DEFAULT 'RUB';
ALTER TABLE statements ADD COLUMN currency VARCHAR DEFAULT 'RUB';
ALTER TABLE statements ADD COLUMN accounts VARCHAR;
