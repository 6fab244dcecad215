package metering

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// Failure is a subscription's usage hour that metering could not rate, and
// so leaves out of every total it rates (#11).
type Failure struct {
	SubscriptionID int64
	OrgID          int64
	ProductCode    string
	Hour           time.Time
	Reason         string
	FailedAt       time.Time
}

// makeWithout handles an hour whose rating failed for usage that cannot be
// rated (usage.ErrBadTotals): it sets aside the hours whose stored totals
// are at fault and makes the hour's record without them. Should rating
// still fail, the hour itself is set aside, without a record, and the
// caller goes on with the next: one bad hour never stops the subscription's
// later hours, nor, since each subscription is made on its own, any other.
func (m *Maker) makeWithout(ctx context.Context, sub marketplace.Metered, spans []span, hour time.Time, skip []time.Time,
	cause error) (bool, []time.Time, error) {
	bad, err := m.cfg.Usage.BadHours(ctx, sub.OrgID, spans[0].from, hour.Add(time.Hour))
	if err != nil {
		return false, skip, err
	}
	bad = slices.DeleteFunc(bad, func(b usage.BadHour) bool { return slices.ContainsFunc(skip, b.Hour.Equal) })
	if len(bad) > 0 {
		if skip, err = m.setAside(ctx, sub, bad, skip); err != nil {
			return false, skip, err
		}
		ok, err := m.makeOne(ctx, sub, spans, hour, skip)
		if !errors.Is(err, usage.ErrBadTotals) {
			return ok, skip, err
		}
		cause = err
	}
	// No stored total is at fault, yet the hours up to this one do not
	// rate (prices raised far beyond the bounds' reckoning since): this
	// hour is the one that cannot be metered.
	skip, err = m.setAside(ctx, sub, []usage.BadHour{{Hour: hour, Reason: cause.Error()}}, skip)
	return false, skip, err
}

// setAside records hours of sub as failed, once each: counted in the
// metric, logged, and listed in the operator view. It returns skip with
// them added.
func (m *Maker) setAside(ctx context.Context, sub marketplace.Metered, bad []usage.BadHour, skip []time.Time) ([]time.Time, error) {
	now := store.Now(m.cfg.Now())
	for _, b := range bad {
		reason := b.Reason
		if len(reason) > 500 {
			reason = reason[:500]
		}
		res, err := m.db.Write().ExecContext(ctx, `INSERT INTO metering_failures (subscription_id, org_id, hour, reason, failed_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, hour) DO NOTHING`, sub.SubscriptionID, sub.OrgID, store.Now(b.Hour), reason, now)
		if err != nil {
			return skip, fmt.Errorf("record failed metering hour %s: %w", b.Hour.Format(time.RFC3339), err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			m.failedHour.Inc()
			m.cfg.Logger.ErrorContext(ctx, "usage hour cannot be rated: metering leaves it out; see the operator view",
				"subscription", sub.SubscriptionID, "org", sub.OrgID, "hour", b.Hour, "reason", b.Reason)
		}
		if !slices.ContainsFunc(skip, b.Hour.Equal) {
			skip = append(skip, b.Hour)
		}
	}
	return skip, nil
}

// failedHours are the usage hours of a subscription set aside so far.
func failedHours(ctx context.Context, db *store.DB, subscriptionID int64) ([]time.Time, error) {
	rows, err := db.Read().QueryContext(ctx, `SELECT hour FROM metering_failures WHERE subscription_id = $1 ORDER BY hour`, subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("read failed metering hours: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var h time.Time
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("read failed metering hours: %w", err)
		}
		out = append(out, h.UTC())
	}
	return out, rows.Err()
}

// Failures lists the usage hours metering set aside, newest first, for the
// operator view.
func (r *Reporter) Failures(ctx context.Context, limit int) ([]Failure, error) {
	rows, err := r.db.Read().QueryContext(ctx, `SELECT f.subscription_id, f.org_id, s.product_code, f.hour, f.reason, f.failed_at
		FROM metering_failures f JOIN subscriptions s ON s.id = f.subscription_id
		ORDER BY f.failed_at DESC, f.hour DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list failed metering hours: %w", err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.SubscriptionID, &f.OrgID, &f.ProductCode, &f.Hour, &f.Reason, &f.FailedAt); err != nil {
			return nil, fmt.Errorf("list failed metering hours: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
