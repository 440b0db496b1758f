-- 152-ФЗ (issue 17): when a former member's personal data was replaced by a pseudonym (NULL: never).
ALTER TABLE members ADD COLUMN anonymized_at TIMESTAMP;
