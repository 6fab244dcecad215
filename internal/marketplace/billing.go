package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/org"
)

// Choice is an organization offered on the linking page, with the reason
// it cannot be picked, if any.
type Choice struct {
	Org      org.Org
	Disabled string // empty when it can be linked
	Current  bool   // the subscription already bills it
}

// LinkChoices lists the user's organizations for linking the purchase: only
// those where they are admin and that no other subscription bills can be
// picked (R2, R3).
func (s *Service) LinkChoices(ctx context.Context, p Purchase, userID int64) ([]Choice, error) {
	orgs, err := s.cfg.Orgs.ListForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Choice, 0, len(orgs))
	for _, o := range orgs {
		c := Choice{Org: o}
		link, err := s.activeLink(ctx, s.db.Read(), `org_id = $1`, o.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case link != nil && p.Subscription.Link != nil && p.Subscription.Link.OrgID == o.ID:
			c.Current = true
		case o.Role != org.RoleAdmin:
			c.Disabled = "You are not an admin of this organization."
		case link != nil:
			c.Disabled = "Already billed through another marketplace subscription."
		}
		out = append(out, c)
	}
	return out, nil
}

// GracePeriod is how long an organization whose subscription was cancelled
// may go on before it is out of billing compliance (R19).
const GracePeriod = 14 * 24 * time.Hour

// Billing states of an organization, as its billing page shows them.
const (
	BillingNone                = "none"                 // never billed through a marketplace
	BillingActive              = "active"               // billed through a live subscription
	BillingCancellationPending = "cancellation-pending" // unsubscribe-pending: final usage due by a deadline
	BillingGrace               = "grace"                // cancelled: 14 days to link another method
	BillingSuspended           = "suspended"            // grace over: out of billing compliance, data kept
	// BillingPaymentSuspended: the marketplace suspended the subscription
	// for non-payment (Microsoft's, for up to 30 days, #15); it may
	// reinstate it, or cancel it.
	BillingPaymentSuspended = "payment-suspended"
	// BillingContractExpired: the contract's term is over (no entitlement
	// runs past now); a new contract or another method must be linked (R14).
	BillingContractExpired = "contract-expired"
	// BillingCreditsExhausted: a contract's committed credits are used up;
	// usage goes on as pay-as-you-go overage on the same contract (R14).
	// Usage decides it, so the metering reports set it, not BillingOf.
	BillingCreditsExhausted = "credits-exhausted"
)

// Billing is an organization's billing state, for its billing page and API.
type Billing struct {
	OrgID        int64
	State        string
	Subscription *Subscription // the live link; nil when there is none
	// Ended is the subscription whose link the last cancellation removed,
	// shown during grace and after.
	Ended      *Subscription
	GraceUntil time.Time
}

// BillingOf returns the organization's billing state; the caller has
// checked the viewer may see it.
func (s *Service) BillingOf(ctx context.Context, orgID int64) (Billing, error) {
	return s.billingOf(ctx, s.db.Read(), orgID)
}

// billingOf is BillingOf read through q: a transaction reads the state its
// own changes leave, for the events it records.
func (s *Service) billingOf(ctx context.Context, q queryer, orgID int64) (Billing, error) {
	b := Billing{OrgID: orgID, State: BillingNone}
	var subID int64
	row := q.QueryRowContext(ctx, `SELECT subscription_id FROM billing_links WHERE org_id = $1 AND ended_at IS NULL`, orgID)
	switch err := row.Scan(&subID); {
	case errors.Is(err, sql.ErrNoRows):
		return s.afterCancellation(ctx, q, b)
	case err != nil:
		return b, fmt.Errorf("read billing of organization %d: %w", orgID, err)
	}
	sub, err := s.subscription(ctx, q, subID)
	if err != nil {
		return b, err
	}
	b.Subscription = &sub
	b.State = BillingActive
	switch {
	case sub.Status == StatusUnsubscribePending:
		b.State = BillingCancellationPending
	case sub.Status == StatusSuspended:
		b.State = BillingPaymentSuspended
	case sub.OfferType == OfferContract && contractOver(sub.Entitlements, s.now()):
		b.State = BillingContractExpired
	}
	return b, nil
}

// contractOver says whether no entitlement of a contract runs past now.
// AWS tells of an expiry only as entitlement-updated: GetEntitlements then
// answers nothing current.
func contractOver(ents []Entitlement, now time.Time) bool {
	for _, e := range ents {
		if e.ExpiresAt.IsZero() || e.ExpiresAt.After(now) {
			return false
		}
	}
	return true
}

// afterCancellation finds a link that a cancellation ended, for the grace
// period and suspension; links moved away by an admin do not count.
func (s *Service) afterCancellation(ctx context.Context, q queryer, b Billing) (Billing, error) {
	var subID int64
	var ended time.Time
	err := q.QueryRowContext(ctx, `SELECT subscription_id, ended_at FROM billing_links WHERE org_id = $1 AND end_reason = $2
		ORDER BY ended_at DESC LIMIT 1`, b.OrgID, StatusCancelled).Scan(&subID, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("read ended billing of organization %d: %w", b.OrgID, err)
	}
	sub, err := s.subscription(ctx, q, subID)
	if err != nil {
		return b, err
	}
	b.Ended = &sub
	b.GraceUntil = ended.Add(GracePeriod)
	b.State = BillingGrace
	if !s.now().Before(b.GraceUntil) {
		b.State = BillingSuspended
	}
	return b, nil
}
