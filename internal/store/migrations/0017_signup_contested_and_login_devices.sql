-- A sign-up with an address that already has an account changes nothing on
-- that account (#11). While such an account is unverified, nobody can tell
-- whether its password was chosen by the address's owner or by someone who
-- registered the address first, so once a second sign-up has happened, any
-- link that would verify it instead asks the person who opened it (who holds
-- the mailbox) to choose the password.
ALTER TABLE users ADD COLUMN signup_contested_at {{time}};

-- Verification links that an earlier version sent to a second sign-up carry
-- that sign-up's password. They no longer apply it; their accounts count as
-- contested, so that following them leads to choosing a password.
UPDATE users SET signup_contested_at = created_at
WHERE email_verified_at IS NULL AND EXISTS (
    SELECT 1 FROM user_tokens t
    WHERE t.user_id = users.id AND t.purpose = 'verify-email' AND t.used_at IS NULL
      AND t.password_hash IS NOT NULL AND t.password_hash <> users.password_hash);

-- Browsers that have logged in to an account ("device cookies"). Their
-- log-in attempts are counted on their own, not in the back-off that slows
-- guessing at the account from many clients (#11), so that strangers
-- hammering an address cannot keep its owner out. Only hashes are stored.
CREATE TABLE login_devices (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL
);
CREATE INDEX login_devices_user ON login_devices (user_id);
