package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Standing is whether an organization may use the vendor's product now and
// why, for the vendor's product to check on every request: BillingOf's
// state, read with at most two indexed queries (the link with its
// subscription and credit use, then a contract's entitlements) instead of
// rating usage. The credits used are those metering drew at the close of
// the last metered hour, so credits-exhausted shows up to an hour after
// the billing page, which rates the hour under way too.
type Standing struct {
	OrgID int64
	State string // a Billing* state
	// Subscription is the live subscription, or during grace and after
	// suspension the one whose cancellation ended the link; nil for none.
	Subscription *Subscription
	// Live says Subscription bills the organization now.
	Live       bool
	GraceUntil time.Time // zero unless in grace or suspended
	Credits    *CreditStanding
}

// CreditStanding is a contract's committed credits of the current term.
type CreditStanding struct {
	CommittedMicros int64
	UsedMicros      int64
	TermEnd         time.Time // zero when the marketplace gave none
}

// Billable says whether the organization may use the product now with
// marketbridge's blessing: a marketplace bills its usage, or it is within
// the 14 days that R19 grants after a cancellation to link another method.
//
//   - active: a live subscription bills the usage;
//   - cancellation-pending: the marketplace still takes the final usage
//     (R18), and the cancellation starts the grace period anyway;
//   - credits-exhausted: usage goes on as overage on the same contract (R14);
//   - grace: nothing bills the usage, but R19 lets the organization go on
//     for 14 days; the usage is reported as unbilled (usage endpoint,
//     usage.unbilled events) for the vendor to bill another way (R20);
//   - none, suspended, contract-expired: no marketplace bills the usage and
//     no rule grants time: the vendor bills it another way (a card, R12) or
//     stops the service. An organization the vendor bills itself is "none"
//     here; the product decides.
func (s Standing) Billable() bool {
	switch s.State {
	case BillingActive, BillingCancellationPending, BillingCreditsExhausted, BillingGrace:
		return true
	}
	return false
}

// SuspendedAt is when the organization was suspended: the end of grace,
// once it has passed; zero otherwise.
func (s Standing) SuspendedAt() time.Time {
	if s.State != BillingSuspended {
		return time.Time{}
	}
	return s.GraceUntil
}

// prefixedRow scans leading columns of its own before those of a scanner
// that expects only the rest.
type prefixedRow struct {
	row *sql.Row
	pre []any
}

func (p prefixedRow) Scan(dest ...any) error { return p.row.Scan(append(p.pre, dest...)...) }

// StandingOf returns the organization's standing; the caller has checked
// the viewer may see it. The state is the one BillingOf gives, but for
// credits-exhausted, which BillingOf leaves to the reports.
func (s *Service) StandingOf(ctx context.Context, orgID int64) (Standing, error) {
	st := Standing{OrgID: orgID, State: BillingNone}
	var ended sql.NullTime
	var useStart sql.NullTime
	var useCredits, used sql.NullInt64
	// The live link first, else the newest a cancellation ended: links
	// moved away by an admin do not count (afterCancellation).
	row := s.db.Read().QueryRowContext(ctx, `SELECT l.ended_at, u.term_start, u.credits, u.used_micros, `+subscriptionColumns+`
		FROM billing_links l JOIN subscriptions s ON s.id = l.subscription_id JOIN organizations o ON o.id = l.org_id
		LEFT JOIN credit_use u ON u.subscription_id = s.id
		WHERE l.org_id = $1 AND (l.ended_at IS NULL OR l.end_reason = '`+StatusCancelled+`')
		ORDER BY CASE WHEN l.ended_at IS NULL THEN 0 ELSE 1 END, l.ended_at DESC LIMIT 1`, orgID)
	sub, err := s.scanSubscription(prefixedRow{row: row, pre: []any{&ended, &useStart, &useCredits, &used}})
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read standing of organization %d: %w", orgID, err)
	}
	st.Subscription = &sub
	if ended.Valid {
		sub.Link = nil
		st.GraceUntil = ended.Time.Add(GracePeriod)
		st.State = BillingGrace
		if !s.now().Before(st.GraceUntil) {
			st.State = BillingSuspended
		}
		return st, nil
	}
	st.Live = true
	st.State = BillingActive
	if sub.OfferType != OfferContract {
		if sub.Status == StatusUnsubscribePending {
			st.State = BillingCancellationPending
		}
		return st, nil
	}
	if sub.Entitlements, err = s.entitlements(ctx, s.db.Read(), sub.ID); err != nil {
		return st, err
	}
	switch {
	case sub.Status == StatusUnsubscribePending:
		st.State = BillingCancellationPending
	case contractOver(sub.Entitlements, s.now()):
		st.State = BillingContractExpired
	}
	p, _ := s.cfg.Catalog.Product(sub.ProductCode)
	for _, e := range sub.Entitlements {
		if e.Dimension != p.CommittedDimension || e.Kind != "integer" || e.Integer <= 0 {
			continue
		}
		c := &CreditStanding{CommittedMicros: e.Integer * 1_000_000, TermEnd: e.ExpiresAt}
		// Use stored for another term (an older one, before a renewal
		// was metered) is not this term's: nothing drawn yet.
		if used.Valid && sameTermStart(useStart, e.TermStart) {
			c.UsedMicros = min(used.Int64, c.CommittedMicros)
		}
		st.Credits = c
		if st.State == BillingActive && c.UsedMicros >= c.CommittedMicros {
			st.State = BillingCreditsExhausted
		}
	}
	return st, nil
}

func sameTermStart(stored sql.NullTime, start time.Time) bool {
	if !stored.Valid || start.IsZero() {
		return !stored.Valid && start.IsZero()
	}
	return stored.Time.Equal(start)
}
