-- A verification link carries the password chosen at the registration that
-- sent it, and applies it when followed: someone who registers an address
-- they do not own, before its owner does, cannot keep a password on the
-- account the owner then verifies (account pre-hijacking).
ALTER TABLE user_tokens ADD COLUMN password_hash TEXT;
