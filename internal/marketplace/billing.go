package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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

// Billing is an organization's billing state, for its billing page and API.
type Billing struct {
	OrgID        int64
	Subscription *Subscription // nil when not billed through a marketplace
}

// BillingOf returns the organization's billing state; the caller has
// checked the viewer may see it.
func (s *Service) BillingOf(ctx context.Context, orgID int64) (Billing, error) {
	b := Billing{OrgID: orgID}
	var subID int64
	row := s.db.Read().QueryRowContext(ctx, `SELECT subscription_id FROM billing_links WHERE org_id = $1 AND ended_at IS NULL`, orgID)
	switch err := row.Scan(&subID); {
	case errors.Is(err, sql.ErrNoRows):
		return b, nil
	case err != nil:
		return b, fmt.Errorf("read billing of organization %d: %w", orgID, err)
	}
	sub, err := s.subscription(ctx, s.db.Read(), subID)
	if err != nil {
		return b, err
	}
	b.Subscription = &sub
	return b, nil
}
