package marketplace

import (
	"context"
	"database/sql"
	"errors"
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
	// For contracts: the committed credits (whole $1) and the term's end,
	// from the committed dimension's entitlement. Usage is drawn from them
	// first, within the term only (R12, R13).
	CommittedCredits int64
	TermEnd          time.Time
	TermStart        time.Time // zero for the first term, which runs from the link
	// Terms are all the contract's terms of committed credits, oldest
	// first: those a renewal or an expiry ended, then the current one.
	Terms []Term
}

// MeteredSubscriptions lists the subscriptions whose usage is reported to
// the marketplace: linked and active or being cancelled, and those
// cancelled within the final-metering window, whose last hours are still
// due (R18) even though their link has ended.
func (s *Service) MeteredSubscriptions(ctx context.Context) ([]Metered, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT s.id, l.org_id, s.product_code, s.customer_aws_account_id, s.customer_identifier,
			s.license_arn, s.status, l.linked_at, s.final_metering_by, s.cancelled_at
		FROM subscriptions s JOIN billing_links l ON l.subscription_id = s.id
		WHERE (l.ended_at IS NULL AND s.status IN ('active', 'unsubscribe-pending'))
			OR (l.end_reason = 'cancelled' AND s.status = 'cancelled' AND s.cancelled_at > $1)
		ORDER BY s.id`, s.now().Add(-FinalMeteringWindow))
	if err != nil {
		return nil, fmt.Errorf("list metered subscriptions: %w", err)
	}
	var out []Metered
	for rows.Next() {
		var m Metered
		var code string
		var final, cancelled sql.NullTime
		if err := rows.Scan(&m.SubscriptionID, &m.OrgID, &code, &m.Customer.AWSAccountID, &m.Customer.Identifier,
			&m.Customer.LicenseArn, &m.Status, &m.LinkedAt, &final, &cancelled); err != nil {
			rows.Close()
			return nil, err
		}
		p, ok := s.cfg.Catalog.Product(code)
		if !ok || p.MeteredDimension == "" {
			continue // nothing to meter it on: the catalog says so at start
		}
		m.Product, m.FinalMeteringBy, m.CancelledAt = p, final.Time, cancelled.Time
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
		var committed sql.NullInt64
		var end, start sql.NullTime
		err := s.db.Read().QueryRowContext(ctx, `SELECT integer_value, expires_at, term_start FROM entitlements
			WHERE subscription_id = $1 AND dimension = $2 AND value_kind = 'integer'`, m.SubscriptionID, m.Product.CommittedDimension).
			Scan(&committed, &end, &start)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read committed credits of subscription %d: %w", m.SubscriptionID, err)
		}
		out[i].CommittedCredits, out[i].TermEnd, out[i].TermStart = committed.Int64, end.Time, start.Time
		if out[i].Terms, err = contractTerms(ctx, s.db.Read(), m.SubscriptionID, m.Product.CommittedDimension); err != nil {
			return nil, err
		}
	}
	return out, nil
}
