package webhook

import (
	"context"
	"fmt"
	"time"
)

// Retention is how long an event and its deliveries and attempts are kept
// once no delivery of it is pending: long enough for the operator view to
// answer "what did we send them last month", short enough that the tables
// do not grow with every hour of every organization for good.
const Retention = 30 * 24 * time.Hour

// pruneBatch is how many events one pruning statement removes, so that a
// long backlog is removed in short transactions.
const pruneBatch = 1000

// Prune removes the events recorded before now - Retention whose
// deliveries are all done (delivered or failed), with those deliveries
// and their attempts, and returns how many events it removed. An event
// still pending at some endpoint, or not yet fanned out, stays. The
// organizations' sequence numbers live on the organizations, so removing
// old events never makes a number be given again.
func (d *Deliverer) Prune(ctx context.Context) (int, error) {
	cutoff := d.cfg.Now().Add(-Retention)
	removed := 0
	for {
		// Deliveries and attempts go with their event (ON DELETE CASCADE).
		res, err := d.db.Write().ExecContext(ctx, `DELETE FROM webhook_events WHERE id IN (
			SELECT e.id FROM webhook_events e
			WHERE e.fanned_out AND e.occurred_at < $1
			  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.event_id = e.id AND p.status = 'pending')
			ORDER BY e.id LIMIT $2)`, cutoff, pruneBatch)
		if err != nil {
			return removed, fmt.Errorf("prune webhook events before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		n, _ := res.RowsAffected()
		removed += int(n)
		if n < pruneBatch {
			return removed, nil
		}
	}
}
