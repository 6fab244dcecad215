package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/webhook"
)

// EventRecorder records an event for the vendor's product in the
// transaction of the change it reports, with the organization's next
// sequence number (package webhook's Recorder). This package knows nothing
// of endpoints or delivery.
type EventRecorder interface {
	Record(ctx context.Context, tx *sql.Tx, orgID int64, typ webhook.Type, payload any) (webhook.Event, error)
}

// The events of a change are recorded by the tell* methods below, at the
// end of the change's transaction, after every write of the change: the
// payloads carry the state the change leaves, read in the transaction.
// Each first locks the organization's row (which Record updates anyway), so
// that two changes of one organization's billing, or a change and the
// periodic pass, read its state and number their events one after the
// other. With no EventRecorder they do nothing at all.

func (s *Service) recordEvent(ctx context.Context, tx *sql.Tx, orgID int64, typ webhook.Type, payload any) error {
	_, err := s.cfg.Events.Record(ctx, tx, orgID, typ, payload)
	return err
}

// eventState locks the organization's row, then reads its billing state
// now and the one its last subscription.updated told ("none" when none
// did).
func (s *Service) eventState(ctx context.Context, tx *sql.Tx, orgID int64) (b Billing, told string, err error) {
	var last sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT billing_state_told FROM organizations WHERE id = $1`+s.db.Dialect().ForUpdate(), orgID).Scan(&last)
	if err != nil {
		return b, "", fmt.Errorf("lock organization %d for its events: %w", orgID, err)
	}
	told = last.String
	if told == "" {
		told = BillingNone
	}
	b, err = s.billingOf(ctx, tx, orgID)
	return b, told, err
}

// eventLink is the link of the subscription whose change the events are
// about, read before the change ends it; nil without an EventRecorder.
func (s *Service) eventLink(ctx context.Context, tx *sql.Tx, subID int64) (*Link, error) {
	if s.cfg.Events == nil {
		return nil, nil
	}
	return s.activeLink(ctx, tx, `subscription_id = $1`, subID)
}

func eventSubscription(sub Subscription) webhook.Subscription {
	return webhook.Subscription{Marketplace: sub.Marketplace, ProductCode: sub.ProductCode, CustomerAccountID: sub.Customer.AccountID,
		OfferType: string(sub.OfferType), OfferID: sub.OfferID, FreeTrial: sub.FreeTrial, Status: sub.Status}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// eventStates are the states of subscription.updated for each billing
// state; StateCancelled and StateReinstated are transitions of their own.
var eventStates = map[string]webhook.State{
	BillingNone:                webhook.StateNone,
	BillingActive:              webhook.StateActive,
	BillingCancellationPending: webhook.StateCancelling,
	BillingGrace:               webhook.StateGrace,
	BillingSuspended:           webhook.StateSuspended,
	BillingPaymentSuspended:    webhook.StatePaymentSuspended,
	BillingContractExpired:     webhook.StateContractExpired,
}

// toldCancelled stands, as the state last told, for a subscription.updated
// with state cancelled just recorded: grace always follows it.
const toldCancelled = "cancelled"

// tellState records subscription.updated with the organization's billing
// state b, unless its last subscription.updated told that state already,
// and keeps it as told. Active after cancelling, grace, suspended or
// contract-expired is reinstated.
func (s *Service) tellState(ctx context.Context, tx *sql.Tx, b Billing, told string) error {
	if b.State == told {
		return nil
	}
	state, ok := eventStates[b.State]
	if !ok {
		return fmt.Errorf("record billing state of organization %d: unknown state %q", b.OrgID, b.State)
	}
	if b.State == BillingActive {
		switch told {
		case BillingCancellationPending, BillingGrace, BillingSuspended, BillingContractExpired, BillingPaymentSuspended:
			state = webhook.StateReinstated
		}
	}
	p := webhook.SubscriptionUpdated{State: state, BillingState: b.State}
	switch {
	case b.Subscription != nil:
		sub := eventSubscription(*b.Subscription)
		p.Subscription = &sub
		if b.State == BillingCancellationPending {
			p.FinalMeteringBy = timePtr(b.Subscription.FinalMeteringBy)
		}
	case b.Ended != nil:
		sub := eventSubscription(*b.Ended)
		p.Subscription, p.GraceUntil = &sub, timePtr(b.GraceUntil)
	}
	if err := s.recordEvent(ctx, tx, b.OrgID, webhook.TypeSubscriptionUpdated, p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE organizations SET billing_state_told = $1 WHERE id = $2`, b.State, b.OrgID); err != nil {
		return fmt.Errorf("keep the billing state told of organization %d: %w", b.OrgID, err)
	}
	return nil
}

// tellLinked records organization.linked for a subscription just linked to
// the organization, then the billing state it brings (active, or
// reinstated).
func (s *Service) tellLinked(ctx context.Context, tx *sql.Tx, orgID int64, moved bool) error {
	if s.cfg.Events == nil {
		return nil
	}
	b, told, err := s.eventState(ctx, tx, orgID)
	if err != nil {
		return err
	}
	if b.Subscription == nil || b.Subscription.Link == nil {
		return fmt.Errorf("record the link of organization %d: no live link", orgID)
	}
	err = s.recordEvent(ctx, tx, orgID, webhook.TypeOrganizationLinked, webhook.OrganizationLinked{
		Subscription: eventSubscription(*b.Subscription), LinkedAt: b.Subscription.Link.LinkedAt.UTC(), Moved: moved, BillingState: b.State})
	if err != nil {
		return err
	}
	return s.tellState(ctx, tx, b, told)
}

// tellMovedAway records organization.unlinked for the organization a
// subscription was just moved away from (R8), then the state it is left in.
func (s *Service) tellMovedAway(ctx context.Context, tx *sql.Tx, orgID, subID int64) error {
	if s.cfg.Events == nil {
		return nil
	}
	b, told, err := s.eventState(ctx, tx, orgID)
	if err != nil {
		return err
	}
	sub, err := s.subscription(ctx, tx, subID)
	if err != nil {
		return err
	}
	if err := s.recordUnlinked(ctx, tx, b, sub, webhook.UnlinkMoved); err != nil {
		return err
	}
	return s.tellState(ctx, tx, b, told)
}

func (s *Service) recordUnlinked(ctx context.Context, tx *sql.Tx, b Billing, sub Subscription, reason string) error {
	return s.recordEvent(ctx, tx, b.OrgID, webhook.TypeOrganizationUnlinked, webhook.OrganizationUnlinked{
		Subscription: eventSubscription(sub), Reason: reason, UnlinkedAt: s.now(), BillingState: b.State})
}

// tellChange records the events of a notification's (or a set-up's)
// change to a subscription that billed the organization of link before the
// change: entitlement.updated when entsChanged; for a completed
// cancellation subscription.updated cancelled, then organization.unlinked;
// for a failure organization.unlinked; then the billing state the change
// leaves, if it is not the one last told.
func (s *Service) tellChange(ctx context.Context, tx *sql.Tx, link *Link, subID int64, status string, entsChanged bool) error {
	if link == nil {
		return nil
	}
	b, told, err := s.eventState(ctx, tx, link.OrgID)
	if err != nil {
		return err
	}
	sub, err := s.subscription(ctx, tx, subID)
	if err != nil {
		return err
	}
	if entsChanged {
		if err := s.recordEntitlements(ctx, tx, b, sub); err != nil {
			return err
		}
	}
	switch status {
	case StatusCancelled:
		es := eventSubscription(sub)
		p := webhook.SubscriptionUpdated{State: webhook.StateCancelled, BillingState: b.State, Subscription: &es}
		if b.State == BillingGrace || b.State == BillingSuspended {
			p.GraceUntil = timePtr(b.GraceUntil)
		}
		if err := s.recordEvent(ctx, tx, link.OrgID, webhook.TypeSubscriptionUpdated, p); err != nil {
			return err
		}
		if err := s.recordUnlinked(ctx, tx, b, sub, webhook.UnlinkCancelled); err != nil {
			return err
		}
		told = toldCancelled
	case StatusFailed:
		if err := s.recordUnlinked(ctx, tx, b, sub, webhook.UnlinkFailed); err != nil {
			return err
		}
	}
	return s.tellState(ctx, tx, b, told)
}

// recordEntitlements records entitlement.updated with the entitlements the
// subscription has now and the current term of its committed credits.
func (s *Service) recordEntitlements(ctx context.Context, tx *sql.Tx, b Billing, sub Subscription) error {
	p := webhook.EntitlementUpdated{Subscription: eventSubscription(sub), BillingState: b.State, Entitlements: []webhook.Entitlement{}}
	for _, e := range sub.Entitlements {
		we := webhook.Entitlement{Dimension: e.Dimension, Kind: e.Kind, ExpiresAt: timePtr(e.ExpiresAt)}
		if e.Kind == "integer" {
			we.Quantity = &e.Integer
		} else {
			we.Value = e.Text
		}
		p.Entitlements = append(p.Entitlements, we)
	}
	if product, ok := s.cfg.Catalog.Product(sub.ProductCode); ok && product.CommittedDimension != "" {
		var credits int64
		var end, start sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT integer_value, expires_at, term_start FROM entitlements
			WHERE subscription_id = $1 AND dimension = $2 AND value_kind = 'integer'`, sub.ID, product.CommittedDimension).Scan(&credits, &end, &start)
		switch {
		case err == nil:
			p.Credits = &webhook.Credits{TermStart: timePtr(start.Time), TermEnd: timePtr(end.Time), TotalMicros: credits * 1_000_000}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read committed credits of subscription %d: %w", sub.ID, err)
		}
	}
	return s.recordEvent(ctx, tx, b.OrgID, webhook.TypeEntitlementUpdated, p)
}

// sameEntitlements says whether two listings, sorted by dimension, agree.
func sameEntitlements(a, b []Entitlement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Dimension != y.Dimension || x.Kind != y.Kind || x.Integer != y.Integer || x.Text != y.Text || !x.ExpiresAt.Equal(y.ExpiresAt) {
			return false
		}
	}
	return true
}

// replaceEntitlementsTold is replaceEntitlements, saying whether the
// listing changed for a subscription whose events are told (link not nil).
func (s *Service) replaceEntitlementsTold(ctx context.Context, tx *sql.Tx, link *Link, subID int64, ents []Entitlement) (bool, error) {
	if link == nil {
		return false, s.replaceEntitlements(ctx, tx, subID, ents)
	}
	before, err := s.entitlements(ctx, tx, subID)
	if err != nil {
		return false, err
	}
	if err := s.replaceEntitlements(ctx, tx, subID, ents); err != nil {
		return false, err
	}
	after, err := s.entitlements(ctx, tx, subID)
	if err != nil {
		return false, err
	}
	return !sameEntitlements(before, after), nil
}

// tellCredits records credits.threshold for the organization a term's
// subscription bills, in the transaction that records the alert.
func (s *Service) tellCredits(ctx context.Context, tx *sql.Tx, in CreditUse, threshold int64) error {
	if s.cfg.Events == nil {
		return nil
	}
	link, err := s.activeLink(ctx, tx, `subscription_id = $1`, in.SubscriptionID)
	if err != nil || link == nil {
		return err
	}
	b, _, err := s.eventState(ctx, tx, link.OrgID)
	if err != nil {
		return err
	}
	sub, err := s.subscription(ctx, tx, in.SubscriptionID)
	if err != nil {
		return err
	}
	total := in.Term.Credits * 1_000_000
	used := min(max(in.UsedMicros, 0), total)
	remaining := total - used
	return s.recordEvent(ctx, tx, link.OrgID, webhook.TypeCreditsThreshold, webhook.CreditsThreshold{
		Threshold: int(threshold), Subscription: eventSubscription(sub), BillingState: b.State,
		Credits: webhook.Credits{TermStart: timePtr(in.Term.Start), TermEnd: timePtr(in.Term.End), TotalMicros: total,
			UsedMicros: &used, RemainingMicros: &remaining}})
}

// TellElapsed records the billing states that time alone brings about,
// which no change of the database reports: suspended when an
// organization's 14-day grace ends with nothing linked (R19), and
// contract-expired when every entitlement of a linked contract has passed
// its end (R14). It returns how many it recorded. Each is recorded once per
// organization and state however many processes run it: the state told is
// kept on the organization's row, which each process locks before it looks
// (migration 0023). It does nothing without an EventRecorder.
func (s *Service) TellElapsed(ctx context.Context) (int, error) {
	if s.cfg.Events == nil {
		return 0, nil
	}
	now := s.now()
	// The organizations whose latest cancelled link ended a grace period
	// ago, with no link since; and those linked to a contract of which no
	// entitlement runs past now. Both as BillingOf decides.
	rows, err := s.db.Read().QueryContext(ctx, `SELECT l.org_id FROM billing_links l JOIN organizations o ON o.id = l.org_id
			WHERE l.end_reason = $1 AND l.ended_at <= $2 AND COALESCE(o.billing_state_told, '') <> $3
			AND NOT EXISTS (SELECT 1 FROM billing_links n WHERE n.org_id = l.org_id
				AND (n.ended_at IS NULL OR (n.end_reason = $1 AND n.ended_at > l.ended_at)))
		UNION
		SELECT l.org_id FROM billing_links l JOIN subscriptions s ON s.id = l.subscription_id JOIN organizations o ON o.id = l.org_id
			WHERE l.ended_at IS NULL AND s.offer_type = $4 AND s.status = $5 AND COALESCE(o.billing_state_told, '') <> $6
			AND NOT EXISTS (SELECT 1 FROM entitlements e WHERE e.subscription_id = s.id AND (e.expires_at IS NULL OR e.expires_at > $7))`,
		StatusCancelled, now.Add(-GracePeriod), BillingSuspended, OfferContract, StatusActive, BillingContractExpired, now)
	if err != nil {
		return 0, fmt.Errorf("list organizations whose billing state elapsed: %w", err)
	}
	var orgs []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		orgs = append(orgs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	told := 0
	for _, orgID := range orgs {
		recorded := false
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			b, last, err := s.eventState(ctx, tx, orgID)
			if err != nil {
				return err
			}
			if b.State == last || (b.State != BillingSuspended && b.State != BillingContractExpired) {
				return nil // told already, by another process, or no longer so
			}
			recorded = true
			return s.tellState(ctx, tx, b, last)
		})
		if err != nil {
			return told, fmt.Errorf("record the elapsed billing state of organization %d: %w", orgID, err)
		}
		if recorded {
			told++
		}
	}
	return told, nil
}
