-- Issue 14: on SQLite the events themselves are the log of new
-- deduplication keys. Each event row carries its key; the keys of events
-- after usage_key_log.through are held in memory by the writer (read back
-- from here at start) and written to a run of usage_key_runs, in slot order,
-- once there are enough of them: an append, where writing each round's keys
-- into a run as they came dirtied pages all over it, and the commit wrote
-- them all.
--
-- PostgreSQL fills the columns too, and keeps deduplicating with
-- usage_keys' unique index across processes; usage_key_log is SQLite's.
ALTER TABLE usage_events ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN chk BIGINT NOT NULL DEFAULT 0;

CREATE TABLE usage_key_log (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL,   -- events up to this id have their keys in usage_keys or a complete run
    run BIGINT NOT NULL        -- the last complete run; a higher one is a partial write, dropped at start
);

-- Events from before this migration have their keys in usage_keys or the
-- runs already, and every run there is complete.
INSERT INTO usage_key_log (id, through, run)
SELECT 1, COALESCE((SELECT MAX(id) FROM usage_events), 0), COALESCE((SELECT MAX(run) FROM usage_key_runs), 0);
