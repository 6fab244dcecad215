package marketplace

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Metered is a subscription that bills an organization, as hourly metering
// needs it.
type Metered struct {
	SubscriptionID  int64
	OrgID           int64
	Product         Product
	Customer        Customer
	Status          string
	LinkedAt        time.Time
	FinalMeteringBy time.Time // zero unless the subscription is being cancelled
	CancelledAt     time.Time // set once cancelled: its last hours are still metered
	// EndedAt and EndReason are the link's end (a cancellation, a move to
	// another organization, a failure); zero while it stands. Only
	// LinkHistory gives ended links other than cancelled ones.
	EndedAt   time.Time
	EndReason string
	// Terms are a contract's terms of committed credits, oldest first, from
	// the committed dimension's entitlements: usage within a term is drawn
	// from its credits first (R12, R13). None for pay-as-you-go.
	Terms []Term
}

// FinalMeteringWindowOf is how long after a cancellation a marketplace
// still accepts the usage of the hours before it (R18): an hour on AWS's
// and Google's, 24 hours on Microsoft's.
func FinalMeteringWindowOf(marketplace string) time.Duration {
	if marketplace == Azure {
		return 24 * time.Hour
	}
	return FinalMeteringWindow
}

// MeteredSubscriptions lists the subscriptions whose usage is reported to
// the marketplace: linked and active or being cancelled, and those
// cancelled within the final-metering window, whose last hours are still
// due (R18) even though their link has ended. A per-user plan of
// Microsoft's (seats, a quantity) is billed by the seat, not metered.
func (s *Service) MeteredSubscriptions(ctx context.Context) ([]Metered, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+meteredColumns+meteredFrom+`
		WHERE ((l.ended_at IS NULL AND s.status IN ('active', 'unsubscribe-pending'))
			OR (l.end_reason = 'cancelled' AND s.status = 'cancelled'
				AND ((s.marketplace <> 'azure' AND s.cancelled_at > $1) OR (s.marketplace = 'azure' AND s.cancelled_at > $2))))
			AND (s.marketplace = 'aws' OR s.quantity = 0)
		ORDER BY s.id`, s.now().Add(-FinalMeteringWindowOf(AWS)), s.now().Add(-FinalMeteringWindowOf(Azure)))
	if err != nil {
		return nil, fmt.Errorf("list metered subscriptions: %w", err)
	}
	return s.scanMetered(ctx, rows)
}

// LinkHistory lists every billing link the organization has had, oldest
// first, ended ones included, as metering needs them to tell which of the
// organization's hours a marketplace bills (package metering, coverage).
// Links of products without a metered dimension are left out, as
// MeteredSubscriptions leaves them out: nothing meters them.
func (s *Service) LinkHistory(ctx context.Context, orgID int64) ([]Metered, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+meteredColumns+meteredFrom+`
		WHERE l.org_id = $1 ORDER BY l.linked_at, l.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list billing links of organization %d: %w", orgID, err)
	}
	return s.scanMetered(ctx, rows)
}

const meteredColumns = `s.id, l.org_id, s.product_code, s.customer_aws_account_id, s.customer_identifier,
	s.license_arn, s.status, l.linked_at, s.final_metering_by, s.cancelled_at, l.ended_at, l.end_reason`

const meteredFrom = ` FROM subscriptions s JOIN billing_links l ON l.subscription_id = s.id`

func (s *Service) scanMetered(ctx context.Context, rows *sql.Rows) ([]Metered, error) {
	var out []Metered
	for rows.Next() {
		var m Metered
		var code string
		var final, cancelled, ended sql.NullTime
		if err := rows.Scan(&m.SubscriptionID, &m.OrgID, &code, &m.Customer.AccountID, &m.Customer.Identifier,
			&m.Customer.LicenseArn, &m.Status, &m.LinkedAt, &final, &cancelled, &ended, &m.EndReason); err != nil {
			rows.Close()
			return nil, err
		}
		p, ok := s.cfg.Catalog.Product(code)
		if !ok || p.MeteredDimension == "" {
			continue // nothing to meter it on: the catalog says so at start
		}
		m.Product, m.FinalMeteringBy, m.CancelledAt, m.EndedAt = p, final.Time, cancelled.Time, ended.Time
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, m := range out {
		if m.Product.OfferType != OfferContract || m.Product.CommittedDimension == "" {
			continue
		}
		terms, err := contractTerms(ctx, s.db.Read(), m.SubscriptionID, m.Product.CommittedDimension)
		if err != nil {
			return nil, err
		}
		out[i].Terms = terms
	}
	return out, nil
}
