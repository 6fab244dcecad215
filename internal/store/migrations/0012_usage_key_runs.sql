-- SQLite's deduplication front (internal/usage/runs.go). New keys go to the
-- newest run, a small part of this table that stays in the page cache, rather
-- than to random places all over usage_keys; a run is closed when it is full
-- and a new one begun, and the keys of hours past the hot window move to
-- usage_keys in slot order, as one sequential append. In-memory Bloom filters
-- over the hot hours spare the lookups of keys that are certainly new.
-- PostgreSQL writes usage_keys directly and leaves these tables empty.
CREATE TABLE usage_key_runs (
    run BIGINT NOT NULL,
    slot BIGINT NOT NULL,
    chk BIGINT NOT NULL,
    PRIMARY KEY (run, slot)
) {{without_rowid}};

-- Which ingester wrote keys last. The Bloom filters of a process cover only
-- the keys it has seen: a writer that finds another's token here knows that
-- keys were added behind its back and rebuilds them.
CREATE TABLE usage_key_owner (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token BIGINT NOT NULL
);
