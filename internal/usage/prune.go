package usage

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// pruneEvery is how often the writer drops expired deduplication keys.
const pruneEvery = time.Hour

// PruneKeys deletes the deduplication keys of hours that ended more than
// MaxAge ago: events that old are rejected anyway, so their keys can never
// match again. It deletes one hour per statement, so that no transaction
// holds SQLite's writer for long, and returns how many keys it deleted.
// Run calls it every hour; the events and hourly totals stay.
func (in *Ingester) PruneKeys(ctx context.Context) (int64, error) {
	cutoff := int64(in.cfg.Now().Add(-in.cfg.MaxAge).Sub(keyEpoch)/time.Hour) - 1 // hours wholly before the window
	var total int64
	if in.front != nil {
		// Runs hold keys of recent hours; an old one is there only until
		// the next compaction step moves it, but may be there now. A block
		// that reaches past the cutoff stays whole: its expired keys can
		// never match again, and compaction moves them to usage_keys.
		rows, err := in.db.Write().QueryContext(ctx, `DELETE FROM usage_key_blocks WHERE run IN (`+distinctRuns+`)
			AND first_slot < $1 AND last_slot < $1 RETURNING length(keys)`, (cutoff+1)<<slotHashBits)
		if err != nil {
			return 0, fmt.Errorf("delete expired usage keys of runs: %w", err)
		}
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return 0, fmt.Errorf("count deleted usage keys: %w", err)
			}
			total += n / blockKeyBytes
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, fmt.Errorf("delete expired usage keys of runs: %w", err)
		}
	}
	for {
		var lowest sql.NullInt64
		if err := in.db.Write().QueryRowContext(ctx, `SELECT MIN(slot) FROM usage_keys`).Scan(&lowest); err != nil {
			return total, fmt.Errorf("find the oldest usage key: %w", err)
		}
		if !lowest.Valid {
			return total, nil
		}
		hour := lowest.Int64 >> slotHashBits
		if hour > cutoff {
			return total, nil
		}
		res, err := in.db.Write().ExecContext(ctx, `DELETE FROM usage_keys WHERE slot < $1`, (hour+1)<<slotHashBits)
		if err != nil {
			return total, fmt.Errorf("delete usage keys of hour %d: %w", hour, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("count deleted usage keys: %w", err)
		}
		total += n
	}
}
