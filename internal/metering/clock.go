package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// MeteredClock is the time reconciliation should reckon to when it runs
// outside the process that meters (the reconcile command): real time, unless
// metering records exist for hours that have not begun in real time, which
// only a marketplace clock running ahead of real time makes (the demo's,
// --clock-speed). Then it is the end of the newest metered hour: the clock
// the data was metered on, as far as the data tells. Reckoning to real time
// there would call every cent metered since a difference.
func MeteredClock(ctx context.Context, db *store.DB, realNow time.Time) (time.Time, error) {
	// Not MAX(hour): SQLite's aggregate loses the column's time type.
	var newest time.Time
	err := db.Read().QueryRowContext(ctx, `SELECT hour FROM metering_records ORDER BY hour DESC LIMIT 1`).Scan(&newest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return realNow, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("newest metered hour: %w", err)
	}
	if end := newest.UTC().Add(time.Hour); end.After(realNow) {
		return end, nil
	}
	return realNow, nil
}
