package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Subscription is one marketplace agreement and where it bills.
type Subscription struct {
	ID          int64
	Marketplace string
	ProductCode string
	ProductName string
	OfferType   OfferType
	Customer    Customer
	OfferID     string // private offers, once a notification names it
	FreeTrial   bool
	Status      string
	StatusAt    time.Time // when the marketplace last changed Status; zero before any notification
	// FinalMeteringBy is the deadline for the last usage after
	// unsubscribe-pending (R18); CancelledAt is when unsubscribe-success came.
	FinalMeteringBy time.Time
	CancelledAt     time.Time
	Entitlements    []Entitlement
	Link            *Link // nil when it bills no organization
	// Key is the marketplace's id of the subscription: Microsoft's SaaS
	// subscription id; on AWS the license ARN or customer identifier.
	Key string
	// What a marketplace that sells plans says of it (#15); empty on AWS.
	Plan        string
	Quantity    int64 // seats of a per-user plan
	DisplayName string
	BuyerEmail  string
	TermStart   time.Time
	TermEnd     time.Time
	// Activation is "" when the marketplace needs none, ActivationWanted
	// until the marketplace has been told to bill, ActivationDone after.
	Activation      string
	ActivationError string
	ActivatedAt     time.Time
}

// Activation states.
const (
	ActivationWanted = "wanted"
	ActivationDone   = "done"
)

// MarketplaceLabel names the marketplace that bills it.
func (s Subscription) MarketplaceLabel() string { return Label(s.Marketplace) }

// Activating says that the subscription is linked and waits for its
// marketplace to be told to bill.
func (s Subscription) Activating() bool { return s.Activation == ActivationWanted }

// AccountLabel is the AWS account id as AWS's console writes it.
func (s Subscription) AccountLabel() string { return FormatAccountID(s.Customer.AccountID) }

// FormatAccountID writes a 12-digit AWS account id as 1234-5678-9012.
func FormatAccountID(id string) string {
	if len(id) != 12 {
		return id
	}
	return id[:4] + "-" + id[4:8] + "-" + id[8:]
}

// Link is a subscription billing an organization.
type Link struct {
	OrgID    int64
	OrgName  string
	LinkedAt time.Time
}

// Purchase is one "Set up your account" visit waiting to be linked.
type Purchase struct {
	ID           int64
	UserID       int64 // 0 until someone logged in claims it
	Subscription Subscription
	CreatedAt    time.Time
	ExpiresAt    time.Time
	Completed    bool
}

func (s *Service) purchase(ctx context.Context, where string, arg any) (Purchase, error) {
	var p Purchase
	var user sql.NullInt64
	var completed sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT p.id, p.user_id, p.subscription_id, p.created_at, p.expires_at, p.completed_at
		FROM purchases p WHERE `+where, arg).Scan(&p.ID, &user, &p.Subscription.ID, &p.CreatedAt, &p.ExpiresAt, &completed)
	if errors.Is(err, sql.ErrNoRows) {
		return Purchase{}, ErrPurchaseNotFound
	}
	if err != nil {
		return Purchase{}, fmt.Errorf("read purchase: %w", err)
	}
	p.UserID, p.Completed = user.Int64, completed.Valid
	p.Subscription, err = s.subscription(ctx, s.db.Read(), p.Subscription.ID)
	return p, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const subscriptionColumns = `s.id, s.marketplace, s.product_code, s.offer_type, s.customer_aws_account_id, s.customer_identifier,
	s.license_arn, s.offer_id, s.free_trial, s.status, s.status_at, s.final_metering_by, s.cancelled_at, l.org_id, o.name, l.linked_at,
	s.agreement_key, s.plan_id, s.quantity, s.display_name, s.buyer_email, s.term_start, s.term_end, s.activation, s.activation_error, s.activated_at`

const subscriptionFrom = ` FROM subscriptions s
	LEFT JOIN billing_links l ON l.subscription_id = s.id AND l.ended_at IS NULL
	LEFT JOIN organizations o ON o.id = l.org_id`

func (s *Service) scanSubscription(row interface{ Scan(...any) error }) (Subscription, error) {
	var sub Subscription
	var orgID sql.NullInt64
	var orgName sql.NullString
	var linkedAt, statusAt, finalBy, cancelledAt, termStart, termEnd, activatedAt sql.NullTime
	err := row.Scan(&sub.ID, &sub.Marketplace, &sub.ProductCode, &sub.OfferType, &sub.Customer.AccountID, &sub.Customer.Identifier,
		&sub.Customer.LicenseArn, &sub.OfferID, &sub.FreeTrial, &sub.Status, &statusAt, &finalBy, &cancelledAt, &orgID, &orgName, &linkedAt,
		&sub.Key, &sub.Plan, &sub.Quantity, &sub.DisplayName, &sub.BuyerEmail, &termStart, &termEnd, &sub.Activation, &sub.ActivationError, &activatedAt)
	if err != nil {
		return Subscription{}, err
	}
	sub.StatusAt, sub.FinalMeteringBy, sub.CancelledAt = statusAt.Time, finalBy.Time, cancelledAt.Time
	sub.TermStart, sub.TermEnd, sub.ActivatedAt = termStart.Time, termEnd.Time, activatedAt.Time
	if orgID.Valid {
		sub.Link = &Link{OrgID: orgID.Int64, OrgName: orgName.String, LinkedAt: linkedAt.Time}
	}
	sub.ProductName = sub.ProductCode
	if p, ok := s.cfg.Catalog.Product(sub.ProductCode); ok {
		sub.ProductName = p.Name
	}
	return sub, nil
}

func (s *Service) subscription(ctx context.Context, q queryer, id int64) (Subscription, error) {
	sub, err := s.scanSubscription(q.QueryRowContext(ctx, `SELECT `+subscriptionColumns+subscriptionFrom+` WHERE s.id = $1`, id))
	if err != nil {
		return Subscription{}, fmt.Errorf("read subscription %d: %w", id, err)
	}
	sub.Entitlements, err = s.entitlements(ctx, q, id)
	return sub, err
}

func (s *Service) entitlements(ctx context.Context, q queryer, subID int64) ([]Entitlement, error) {
	rows, err := q.QueryContext(ctx, `SELECT dimension, value_kind, integer_value, text_value, expires_at, term_start FROM entitlements
		WHERE subscription_id = $1 ORDER BY dimension`, subID)
	if err != nil {
		return nil, fmt.Errorf("read entitlements of subscription %d: %w", subID, err)
	}
	defer rows.Close()
	var out []Entitlement
	for rows.Next() {
		var e Entitlement
		var integer sql.NullInt64
		var expires, start sql.NullTime
		if err := rows.Scan(&e.Dimension, &e.Kind, &integer, &e.Text, &expires, &start); err != nil {
			return nil, err
		}
		e.Integer, e.ExpiresAt, e.TermStart = integer.Int64, expires.Time, start.Time
		out = append(out, e)
	}
	return out, rows.Err()
}
