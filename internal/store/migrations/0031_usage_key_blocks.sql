-- Issue 14: a run of SQLite's deduplication keys is stored as blocks of up
-- to 60 keys in slot order, one row a block (internal/usage/blocks.go),
-- instead of one row a key: writing a run cost three bound parameters and a
-- B-tree entry a key, a sixth of the writer's time once an hour held forty
-- million keys. keys packs each key's slot and chk as 8 big-endian bytes.
-- PostgreSQL deduplicates with usage_keys and leaves this table empty.
CREATE TABLE usage_key_blocks (
    run BIGINT NOT NULL,
    first_slot BIGINT NOT NULL,   -- the block's lowest slot
    last_slot BIGINT NOT NULL,    -- and its highest
    keys {{bytes}} NOT NULL,
    PRIMARY KEY (run, first_slot)
) {{without_rowid}};

-- Keys in runs of the old form go to usage_keys, where every key ends up
-- once its hour leaves the hot window; lookups read usage_keys as well as
-- the runs, so nothing is lost, and the writer fills its filters from both.
-- A run cut short (above usage_key_log.run) is dropped: its keys are still
-- in the log, and the writer writes them to a run again.
INSERT INTO usage_keys (slot, chk)
SELECT slot, chk FROM usage_key_runs WHERE run <= (SELECT run FROM usage_key_log WHERE id = 1) ORDER BY slot
ON CONFLICT (slot) DO NOTHING;
DROP TABLE usage_key_runs;
