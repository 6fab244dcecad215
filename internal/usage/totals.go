package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Totals reads the hourly totals that rating and metering work from.
type Totals struct {
	db *store.DB
}

// NewTotals returns a reader of usage totals.
func NewTotals(db *store.DB) *Totals { return &Totals{db: db} }

// ByMeter returns the organization's usage per meter, in micro-units, over
// the hours that start in [from, to). Late events are in it as soon as they
// are accepted: the totals are kept in the same transaction as the events.
func (t *Totals) ByMeter(ctx context.Context, orgID int64, from, to time.Time) (map[string]int64, error) {
	rows, err := t.db.Read().QueryContext(ctx, `SELECT meter, SUM(quantity) FROM usage_hourly
		WHERE org_id = $1 AND hour >= $2 AND hour < $3 GROUP BY meter`, orgID, store.Now(from), store.Now(to))
	if err != nil {
		return nil, fmt.Errorf("usage totals of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var meter string
		var q int64
		if err := rows.Scan(&meter, &q); err != nil {
			return nil, err
		}
		out[meter] = q
	}
	return out, rows.Err()
}
