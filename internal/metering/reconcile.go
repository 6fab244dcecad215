package metering

import (
	"context"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Reconciliation compares, for one subscription and month, what its usage
// rates to with what was metered.
type Reconciliation struct {
	SubscriptionID int64
	OrgID          int64
	ProductCode    string
	Month          string
	// DueCents is what the month's usage owes the marketplace (after
	// committed credits, for contracts).
	DueCents      int64
	AcceptedCents int64 // accepted by AWS
	PendingCents  int64 // made, not yet accepted
	CarriedCents  int64 // moved into a later record (possibly next month)
	RefusedCents  int64 // rejected, conflicting or not subscribed: an operator must look
}

// Difference is what is due but neither accepted nor on its way; non-zero
// is worth a look (a carry into the next month explains a positive one).
func (r Reconciliation) Difference() int64 {
	return r.DueCents - r.AcceptedCents - r.PendingCents
}

// Reconcile compares, per metered subscription, what metering should have
// sent for the calendar month of month (UTC) with what it sent. What is due
// is reckoned as the Maker reckons it, over the hours it makes records
// for: from the link, up to the last term's end (R14), each term's usage
// drawn from that term's credits, early renewals' included (R13, R22); a
// difference is then a real one (R10).
//
// A zero month is the month of the Maker's clock, which is the marketplace's:
// in the demo it runs ahead of real time, and real time's month may hold
// nothing it metered.
func (m *Maker) Reconcile(ctx context.Context, month time.Time) ([]Reconciliation, error) {
	now := m.cfg.Now()
	if month.IsZero() {
		month = now.UTC()
	}
	start := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	subs, err := m.cfg.Subscriptions.MeteredSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	var out []Reconciliation
	for _, sub := range subs {
		r := Reconciliation{SubscriptionID: sub.SubscriptionID, OrgID: sub.OrgID, ProductCode: sub.Product.Code, Month: start.Format("2006-01")}
		// Due: the month's metered hours, up to where the Maker stops.
		// Sent: the records of the month's hours since the Maker's start.
		spans := termSpans(sub.LinkedAt, sub.Terms)
		origin, due := spans[0].from, lastHour(sub, spans, now)
		from := origin
		if start.After(from) {
			from = start
		}
		if end.Before(due) {
			due = end
		}
		if from.Before(due) {
			// Without the hours metering set aside, as it rates.
			skip, err := failedHours(ctx, m.db, sub.SubscriptionID)
			if err != nil {
				return nil, err
			}
			var before int64
			if from.After(origin) {
				if before, err = m.dueCents(ctx, sub.OrgID, spans, from, skip); err != nil {
					return nil, err
				}
			}
			upTo, err := m.dueCents(ctx, sub.OrgID, spans, due, skip)
			if err != nil {
				return nil, err
			}
			r.DueCents = upTo - before
		}
		rows, err := m.db.Read().QueryContext(ctx, `SELECT status, SUM(quantity) FROM metering_records
			WHERE subscription_id = $1 AND hour >= $2 AND hour < $3 GROUP BY status`, sub.SubscriptionID, store.Now(from), store.Now(end))
		if err != nil {
			return nil, fmt.Errorf("reconcile subscription %d: %w", sub.SubscriptionID, err)
		}
		for rows.Next() {
			var status string
			var q int64
			if err := rows.Scan(&status, &q); err != nil {
				rows.Close()
				return nil, err
			}
			switch status {
			case StatusAccepted:
				r.AcceptedCents += q
			case StatusPending:
				r.PendingCents += q
			case StatusCarried:
				r.CarriedCents += q
			default:
				r.RefusedCents += q
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
