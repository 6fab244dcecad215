-- settings holds the instance's own values that must survive restarts and be
-- the same on every replica, such as generated secrets.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at {{time}} NOT NULL
);
