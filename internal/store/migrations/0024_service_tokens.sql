-- Issue 12: service tokens for the vendor's back end, and the audit log's
-- record of changes made through the vendor API.
--
-- A service token reaches every organization through /api/v1, read or write
-- (write includes read). Like API keys it is stored only as a SHA-256 hash;
-- prefix is its first characters, shown in lists so it can be recognised.
-- created_by is the operator who made it in the operator view, NULL when it
-- was made with `marketbridge token create`.
CREATE TABLE service_tokens (
    id {{id}},
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at {{time}} NOT NULL,
    last_used_at {{time}},
    revoked_at {{time}}
);

-- actor_name names an actor that is not a user (a service token), as the
-- audit log shows it; NULL when actor_user_id says who acted.
ALTER TABLE audit_log ADD COLUMN actor_name TEXT;

-- The vendor API is the creator of the organizations it creates and the
-- sender of the invitations it mails, and organizations.created_by and
-- invitations.invited_by name a user. This row stands for it: SQLite cannot
-- drop a NOT NULL without rebuilding organizations, which a dozen tables
-- reference. Nobody can log in as it: it has no password (an empty hash:
-- password log-in refuses it and a reset sends no link, even where the demo
-- shows every mail), no provider identity, and it is no organization's
-- member.
INSERT INTO users (email, name, password_hash, created_at)
VALUES ('vendor-api@marketbridge.invalid', 'the vendor API', '', CURRENT_TIMESTAMP);
