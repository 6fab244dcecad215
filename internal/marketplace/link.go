package marketplace

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/marketbridge/marketbridge/internal/fault"
	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
)

// LinkInput links the subscription of a purchase to an organization.
type LinkInput struct {
	PurchaseID int64
	UserID     int64
	OrgID      int64  // an existing organization; 0 to create one
	NewOrgName string // the organization to create when OrgID is 0
	// Move confirms moving a subscription already linked elsewhere (R8).
	Move bool
}

// Validate reports every field error.
func (in LinkInput) Validate() error {
	if in.OrgID == 0 {
		if n := len(strings.TrimSpace(in.NewOrgName)); n == 0 || n > 100 {
			return fault.Validation(fault.Field("name", "Enter a name for the new organization (at most 100 characters)."))
		}
	}
	return nil
}

// LinkedElsewhereError says that the subscription already bills another
// organization (R1, R7). OrgName is shown only to members of it.
type LinkedElsewhereError struct {
	OrgID   int64
	OrgName string
}

func (e *LinkedElsewhereError) Error() string {
	return fmt.Sprintf("subscription already linked to organization %d", e.OrgID)
}
func (e *LinkedElsewhereError) Unwrap() error { return ErrLinkedElsewhere }

// Linking outcomes a person may see.
var (
	ErrLinkedElsewhere = fault.New(fault.KindConflict, "This AWS subscription already bills another organization. "+
		"A subscription can bill only one organization at a time.")
	ErrOrgAlreadyBilled = fault.New(fault.KindConflict, "That organization is already billed through another marketplace subscription. "+
		"An organization can be billed through only one subscription at a time: pick another organization or create a new one.")
	ErrNotAdmin = fault.New(fault.KindForbidden, "Only an admin of the organization can link it to a marketplace subscription.")
	// ErrSubscriptionNotActive: cancelled, failed or being cancelled on AWS.
	ErrSubscriptionNotActive = fault.New(fault.KindConflict, "This AWS Marketplace subscription is no longer active, so it cannot bill an organization. "+
		"Subscribe again on AWS Marketplace, then click \u201cSet up your account\u201d.")
)

// notActiveError is ErrSubscriptionNotActive in the words of the
// subscription's marketplace.
func notActiveError(marketplace string) error {
	if w, ok := landingErrors[marketplace]; ok {
		return w.cancelled
	}
	return ErrSubscriptionNotActive
}

// LinkResult is what linking did.
type LinkResult struct {
	Org     org.Org
	Already bool // the subscription already billed this organization (R6)
	Moved   bool // it was moved from another organization (R8)
	// Marketplace is the subscription's (aws, azure).
	Marketplace string
	// Activating: the marketplace must be told to bill it (Microsoft's
	// Activate); Link tries at once and the activation loop finishes.
	Activating bool
}

// Link makes the organization (a new one, or one where the user is admin)
// billed through the purchase's subscription. It is idempotent and
// race-free: the same purchase linked twice links once, and of two users
// racing to link one subscription to different organizations exactly one
// wins; the unique indexes on billing_links hold even if these checks race.
func (s *Service) Link(ctx context.Context, in LinkInput) (LinkResult, error) {
	if err := in.Validate(); err != nil {
		return LinkResult{}, err
	}
	p, err := s.PurchaseOf(ctx, in.PurchaseID, in.UserID)
	if err != nil {
		return LinkResult{}, err
	}
	if !p.Completed && !p.ExpiresAt.After(s.now()) {
		return LinkResult{}, ErrPurchaseNotFound
	}
	var res LinkResult
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.link(ctx, tx, p, in)
		return err
	})
	res.Marketplace = p.Subscription.Marketplace
	if err == nil && res.Activating {
		actx, cancel := context.WithTimeout(ctx, setUpActivationTimeout)
		if _, aerr := s.Activate(actx, p.Subscription.ID); aerr != nil {
			s.cfg.Logger.Warn("activate a linked subscription", "subscription", p.Subscription.ID, "err", aerr)
		}
		cancel()
	}
	if errors.Is(err, errUniqueLink) {
		// A concurrent link won between our checks and our insert: report
		// what now stands, as if we had come second, which we did.
		res, err := s.explainLost(ctx, p.Subscription.ID, in)
		res.Marketplace = p.Subscription.Marketplace
		return res, err
	}
	return res, err
}

var errUniqueLink = errors.New("billing link unique index violated")

func (s *Service) link(ctx context.Context, tx *sql.Tx, p Purchase, in LinkInput) (LinkResult, error) {
	var res LinkResult
	// Lock the subscription: on PostgreSQL concurrent links of one
	// subscription queue here; SQLite's single writer already serialises.
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM subscriptions WHERE id = $1`+s.db.Dialect().ForUpdate(), p.Subscription.ID).Scan(&status); err != nil {
		return res, fmt.Errorf("lock subscription %d: %w", p.Subscription.ID, err)
	}
	if status != StatusActive && status != StatusPending {
		return res, notActiveError(p.Subscription.Marketplace)
	}
	// A second submit of a purchase already linked (a double click, a
	// second tab) reports the first link instead of acting again (R6),
	// even when the form asked for a new organization.
	var completed bool
	if err := tx.QueryRowContext(ctx, `SELECT completed_at IS NOT NULL FROM purchases WHERE id = $1`+s.db.Dialect().ForUpdate(), p.ID).Scan(&completed); err != nil {
		return res, fmt.Errorf("lock purchase %d: %w", p.ID, err)
	}
	if completed && !in.Move {
		current, err := s.activeLink(ctx, tx, `subscription_id = $1`, p.Subscription.ID)
		if err != nil {
			return res, err
		}
		if current != nil {
			if o, err := s.cfg.Orgs.AuthorizeTx(ctx, tx, in.UserID, current.OrgID); err == nil {
				return LinkResult{Org: o, Already: true}, nil
			}
		}
	}
	var target org.Org
	var err error
	if in.OrgID == 0 {
		target, err = s.cfg.Orgs.CreateTx(ctx, tx, in.UserID, in.NewOrgName)
	} else {
		target, err = s.cfg.Orgs.AuthorizeTx(ctx, tx, in.UserID, in.OrgID, org.RoleAdmin)
		if errors.Is(err, org.ErrForbidden) {
			err = ErrNotAdmin
		}
	}
	if err != nil {
		return res, err
	}
	res.Org = target
	current, err := s.activeLink(ctx, tx, `subscription_id = $1`, p.Subscription.ID)
	if err != nil {
		return res, err
	}
	if current != nil && current.OrgID == target.ID {
		res.Already = true
		return res, s.completePurchase(ctx, tx, p.ID)
	}
	if current != nil {
		if !in.Move {
			return res, &LinkedElsewhereError{OrgID: current.OrgID, OrgName: current.OrgName}
		}
		// Moving takes the subscription away from the other organization:
		// only someone who is admin there too may do it (R8).
		if _, err := s.cfg.Orgs.AuthorizeTx(ctx, tx, in.UserID, current.OrgID, org.RoleAdmin); err != nil {
			return res, &LinkedElsewhereError{OrgID: current.OrgID, OrgName: current.OrgName}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE billing_links SET ended_at = $1, end_reason = 'moved' WHERE subscription_id = $2 AND ended_at IS NULL`,
			s.now(), p.Subscription.ID); err != nil {
			return res, fmt.Errorf("end link to organization %d: %w", current.OrgID, err)
		}
		if err := s.cfg.Orgs.AuditTx(ctx, tx, current.OrgID, in.UserID, "billing.unlink",
			fmt.Sprintf("AWS account %s moved to organization %q", FormatAccountID(p.Subscription.Customer.AccountID), target.Name)); err != nil {
			return res, err
		}
		if err := s.tellMovedAway(ctx, tx, current.OrgID, p.Subscription.ID); err != nil {
			return res, err
		}
		res.Moved = true
	}
	if billed, err := s.activeLink(ctx, tx, `org_id = $1`, target.ID); err != nil {
		return res, err
	} else if billed != nil {
		return res, ErrOrgAlreadyBilled
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
		p.Subscription.ID, target.ID, in.UserID, s.now()); err != nil {
		if isUniqueViolation(err) {
			return res, fmt.Errorf("%w: %w", errUniqueLink, err)
		}
		return res, fmt.Errorf("link subscription %d to organization %d: %w", p.Subscription.ID, target.ID, err)
	}
	sub := p.Subscription
	detail := fmt.Sprintf("%s, AWS account %s, %s", sub.ProductName, sub.AccountLabel(), sub.OfferType.Label())
	if sub.Marketplace != AWS {
		detail = fmt.Sprintf("%s, %s subscription %s, plan %s", sub.ProductName, sub.MarketplaceLabel(), sub.Key, sub.Plan)
	}
	if err := s.cfg.Orgs.AuditTx(ctx, tx, target.ID, in.UserID, "billing.link", detail); err != nil {
		return res, err
	}
	if err := s.completePurchase(ctx, tx, p.ID); err != nil {
		return res, err
	}
	if res.Activating, err = s.wantActivation(ctx, tx, p.Subscription.ID); err != nil {
		return res, err
	}
	if err := s.tellLinked(ctx, tx, target.ID, res.Moved); err != nil {
		return res, err
	}
	return res, s.mailAdmins(ctx, tx, target, sub)
}

func (s *Service) completePurchase(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE purchases SET completed_at = COALESCE(completed_at, $1) WHERE id = $2`, s.now(), id); err != nil {
		return fmt.Errorf("complete purchase %d: %w", id, err)
	}
	return nil
}

// activeLink returns the link matching where (one of the two unique keys).
func (s *Service) activeLink(ctx context.Context, q queryer, where string, arg int64) (*Link, error) {
	var l Link
	err := q.QueryRowContext(ctx, `SELECT l.org_id, o.name, l.linked_at FROM billing_links l JOIN organizations o ON o.id = l.org_id
		WHERE l.ended_at IS NULL AND l.`+where, arg).Scan(&l.OrgID, &l.OrgName, &l.LinkedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read billing link: %w", err)
	}
	return &l, nil
}

// explainLost turns a lost race into the error the loser should see.
func (s *Service) explainLost(ctx context.Context, subID int64, in LinkInput) (LinkResult, error) {
	current, err := s.activeLink(ctx, s.db.Read(), `subscription_id = $1`, subID)
	if err != nil {
		return LinkResult{}, err
	}
	if current != nil {
		if current.OrgID == in.OrgID {
			return LinkResult{Org: org.Org{ID: current.OrgID, Name: current.OrgName}, Already: true}, nil
		}
		return LinkResult{}, &LinkedElsewhereError{OrgID: current.OrgID, OrgName: current.OrgName}
	}
	return LinkResult{}, ErrOrgAlreadyBilled
}

func (s *Service) mailAdmins(ctx context.Context, tx *sql.Tx, o org.Org, sub Subscription) error {
	admins, err := s.cfg.Orgs.AdminsTx(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	if sub.Marketplace != AWS {
		return s.mailAdminsRemote(ctx, tx, o, sub, admins)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The organization %q is now billed through AWS Marketplace.\n\n", o.Name)
	fmt.Fprintf(&b, "  Product:       %s\n  AWS account:   %s\n  Offer type:    %s\n", sub.ProductName, sub.AccountLabel(), sub.OfferType.Label())
	if sub.OfferID != "" {
		fmt.Fprintf(&b, "  Private offer: %s\n", sub.OfferID)
	}
	if sub.FreeTrial {
		b.WriteString("  Free trial:    yes\n")
	}
	fmt.Fprintf(&b, "\nAll usage of this organization from now on is billed to that AWS account. AWS Marketplace invoices it on its own "+
		"calendar-month cycle; the invoices are in the AWS Billing console.\n\nBilling page: %s/orgs/%d/billing\n", s.cfg.BaseURL, o.ID)
	_, err = s.cfg.Mailer.Enqueue(ctx, tx, mailbox.Message{To: admins, Subject: fmt.Sprintf("%s is now billed through AWS Marketplace", o.Name), Text: b.String()})
	return err
}

// mailAdminsRemote is mailAdmins for a Provider's marketplace.
func (s *Service) mailAdminsRemote(ctx context.Context, tx *sql.Tx, o org.Org, sub Subscription, admins []string) error {
	label := sub.MarketplaceLabel()
	var b strings.Builder
	fmt.Fprintf(&b, "The organization %q is now billed through %s.\n\n", o.Name, label)
	fmt.Fprintf(&b, "  Product:       %s\n  Subscription:  %s\n  Plan:          %s\n", sub.ProductName, cmp.Or(sub.DisplayName, sub.Key), sub.Plan)
	if sub.Quantity > 0 {
		fmt.Fprintf(&b, "  Seats:         %d\n", sub.Quantity)
	}
	if sub.FreeTrial {
		b.WriteString("  Free trial:    yes\n")
	}
	fmt.Fprintf(&b, "\nAll usage of this organization from now on is billed through that subscription; %s invoices it on its own "+
		"billing cycle.\n\nBilling page: %s/orgs/%d/billing\n", label, s.cfg.BaseURL, o.ID)
	_, err := s.cfg.Mailer.Enqueue(ctx, tx, mailbox.Message{To: admins, Subject: fmt.Sprintf("%s is now billed through %s", o.Name, label), Text: b.String()})
	return err
}
