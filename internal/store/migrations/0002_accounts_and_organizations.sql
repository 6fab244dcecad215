-- Users of the web console and their single-use e-mail links, sessions,
-- business information; organizations, their members, invitations, API keys
-- and audit log. Secrets (session tokens, link tokens, API keys) are stored
-- only as SHA-256 hashes: they are long and random, so a fast hash suffices
-- and a leaked table gives no way in.

CREATE TABLE users (
    id {{id}},
    email TEXT NOT NULL UNIQUE,            -- lower-cased, trimmed
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,           -- argon2id, PHC string
    email_verified_at {{time}},
    onboarded_at {{time}},                 -- business information complete
    created_at {{time}} NOT NULL
);

CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
    expires_at {{time}} NOT NULL,
    used_at {{time}},
    created_at {{time}} NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

CREATE TABLE business_profiles (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    company_name TEXT NOT NULL,
    country TEXT NOT NULL,                 -- ISO 3166-1 alpha-2
    address TEXT NOT NULL,
    job_role TEXT NOT NULL DEFAULT '',
    company_size TEXT NOT NULL DEFAULT '',
    use_case TEXT NOT NULL DEFAULT '',
    updated_at {{time}} NOT NULL
);

CREATE TABLE organizations (
    id {{id}},
    name TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at {{time}} NOT NULL
);

CREATE TABLE memberships (
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'billing', 'developer')),
    created_at {{time}} NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    current_org_id BIGINT REFERENCES organizations (id) ON DELETE SET NULL,
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE invitations (
    id {{id}},
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'billing', 'developer')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT NOT NULL REFERENCES users (id),
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL,
    accepted_at {{time}},
    accepted_by BIGINT REFERENCES users (id),
    revoked_at {{time}}
);
CREATE INDEX invitations_org ON invitations (org_id);

CREATE TABLE api_keys (
    id {{id}},
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,                  -- shown in lists so a key can be recognised
    secret_hash TEXT NOT NULL UNIQUE,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at {{time}} NOT NULL,
    last_used_at {{time}},
    revoked_at {{time}}
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE audit_log (
    id {{id}},
    org_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at {{time}} NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, id);
