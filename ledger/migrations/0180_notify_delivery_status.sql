-- Delivery statuses polled from the providers (issue 14): the phone a status call needs (SMSC asks by phone and
-- id), encrypted like members' contacts; when the outbox row was last asked about.
ALTER TABLE channel_messages ADD COLUMN address VARCHAR;     -- vault.encrypt_field, context channel_messages.address
ALTER TABLE notify_outbox ADD COLUMN status_checked_at TIMESTAMP;
-- notify_outbox.status gains 'undelivered' (не доставлено): sent, and the provider reported it was not delivered.
