-- Usage events sent to POST /api/v1/events (issue 7), their deduplication
-- keys, and the hourly totals that rating and metering read.
--
-- Times in usage_events are integer microseconds since the Unix epoch (UTC)
-- rather than {{time}}: the table takes hundreds of thousands of rows a
-- second, and an integer is smaller than SQLite's text timestamps, exact on
-- both engines, and buckets into hours with one division.
--
-- No foreign keys on these tables: a check per inserted row costs ingest
-- speed, rows are only ever written for the organization of an API key that
-- was just authenticated, and organizations are not deleted.

-- Every accepted event, append-only, in the order it was committed. id is
-- the cursor that rating reads forward from.
CREATE TABLE usage_events (
    id {{id}},
    org_id BIGINT NOT NULL,
    meter TEXT NOT NULL,          -- CloudEvents type: a meter of the catalog
    subject TEXT NOT NULL,        -- CloudEvents subject: the resource (service id); '' when absent
    source TEXT NOT NULL,         -- CloudEvents source
    event_id TEXT NOT NULL,       -- CloudEvents id
    usage_us BIGINT NOT NULL,     -- CloudEvents time: when the usage happened
    quantity BIGINT NOT NULL,     -- exact, in micro-units of the meter (1.5 = 1500000)
    received_us BIGINT NOT NULL   -- when marketbridge committed it
);

-- The deduplication index: one row per accepted event, keyed by a compact
-- integer instead of the (organization, source, id) text, because a B-tree
-- of long random text keys is what limits insert speed (see
-- docs/performance.md). slot is the event's hour since 2020-01-01 in the top
-- 20 bits and 43 bits of SHA-256(organization, source, id) below, so each
-- hour's keys sit together in the tree: inserts touch only the current hour's
-- pages, and expired hours are dropped with one range delete. chk holds 64
-- other bits of the same hash: a slot already taken by a different chk is a
-- collision, and the event moves to the next free slot of its hour.
-- {{id}} is used for its shape, not for generated values: on SQLite it makes
-- slot the rowid (one B-tree instead of a table plus an index).
CREATE TABLE usage_keys (
    slot {{id}},
    chk BIGINT NOT NULL
);

-- Hourly totals per organization, meter and subject, kept in the same
-- transaction as the events, so they always equal the sum of usage_events.
-- A late event adds to an hour already past: metering compares these totals
-- with what it has sent and carries the difference forward.
CREATE TABLE usage_hourly (
    org_id BIGINT NOT NULL,
    meter TEXT NOT NULL,
    subject TEXT NOT NULL,
    hour {{time}} NOT NULL,        -- start of the hour, UTC
    -- micro-units. The CHECK matters on SQLite, where an integer sum that
    -- overflows silently becomes a float; PostgreSQL raises an error itself.
    quantity BIGINT NOT NULL CHECK (quantity >= 0 AND quantity <= 9223372036854775807),
    events BIGINT NOT NULL,
    updated_at {{time}} NOT NULL,
    PRIMARY KEY (org_id, meter, hour, subject)
);
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
