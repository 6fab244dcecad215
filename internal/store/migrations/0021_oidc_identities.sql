-- Sign-in through the vendor's OpenID Connect provider (#12). A person is
-- known to a provider by (issuer, subject); the address the provider gave
-- may change there without changing who they are here. A user created by a
-- sign-in has no password (password_hash = ''), and password log-in and
-- reset never succeed for it.
CREATE TABLE user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL DEFAULT '',        -- as the provider last said, for display
    created_at {{time}} NOT NULL,
    last_login_at {{time}} NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- A sign-in on its way through the provider: the hash of its state (which
-- the browser also holds in a cookie), the hash of its nonce, its PKCE
-- verifier, where to go afterwards, and, for linking, the logged-in user.
-- A callback spends its row, so a state works once and only for a while.
CREATE TABLE oidc_sign_ins (
    state_hash TEXT PRIMARY KEY,
    nonce_hash TEXT NOT NULL,
    verifier TEXT NOT NULL,
    next TEXT NOT NULL DEFAULT '',
    link_user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL
);
CREATE INDEX oidc_sign_ins_expiry ON oidc_sign_ins (expires_at);

-- The ID token a session was opened with, sent back to the provider as
-- id_token_hint when the session logs out (RP-initiated log-out).
ALTER TABLE sessions ADD COLUMN id_token TEXT NOT NULL DEFAULT '';
