package azuremp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// This file adapts the client to the core's ports (#15): the Provider of
// package marketplace, the Meterer of package metering, and the notices of
// the webhook. Everything above is Microsoft's API as its contract says;
// everything here is what the core makes of it.

// Provider is the core's marketplace.Provider for Microsoft's commercial
// marketplace.
type Provider struct{ c *Client }

// NewProvider adapts c.
func NewProvider(c *Client) *Provider { return &Provider{c: c} }

var _ marketplace.Provider = (*Provider)(nil)

// Resolve resolves the landing page's token.
func (p *Provider) Resolve(ctx context.Context, token string) (marketplace.Remote, error) {
	res, err := p.c.Resolve(ctx, token)
	if err != nil {
		return marketplace.Remote{}, coreError(err)
	}
	sub := res.Subscription
	if sub.ID == "" {
		// Older answers carry only the fields beside the object.
		if sub, err = p.c.Subscription(ctx, res.ID); err != nil {
			return marketplace.Remote{}, coreError(err)
		}
	}
	return remote(sub)
}

// Read reads the subscription.
func (p *Provider) Read(ctx context.Context, key string) (marketplace.Remote, error) {
	sub, err := p.c.Subscription(ctx, key)
	if err != nil {
		return marketplace.Remote{}, coreError(err)
	}
	return remote(sub)
}

// Activate activates a pending subscription for its plan and seats.
func (p *Provider) Activate(ctx context.Context, r marketplace.Remote) error {
	var seats Seats
	if r.Quantity > 0 {
		seats = SeatCount(r.Quantity)
	}
	return coreError(p.c.Activate(ctx, r.Key, r.Plan, seats))
}

// List lists every subscription of the publisher.
func (p *Provider) List(ctx context.Context, fn func(marketplace.Remote) error) error {
	return coreError(p.c.ListSubscriptions(ctx, func(s Subscription) error {
		r, err := remote(s)
		if err != nil {
			return nil // a status the core does not know: left for a person
		}
		return fn(r)
	}))
}

// Acknowledge accepts the change an operation waits on. An operation that
// is no longer in progress (Microsoft accepted it itself after 10 s, 409)
// and a Reinstate that needs no acceptance (the current documentation's
// reading, 400) are done as far as the seller is concerned: the
// subscription's status, read next, decides.
func (p *Provider) Acknowledge(ctx context.Context, key, operation string) error {
	err := p.c.UpdateOperation(ctx, key, operation, true)
	if errors.Is(err, ErrConflict) || errors.Is(err, ErrBadRequest) {
		return nil
	}
	return coreError(err)
}

func remote(s Subscription) (marketplace.Remote, error) {
	r := marketplace.Remote{Key: s.ID, ProductCode: s.OfferID, Account: s.Beneficiary.TenantID, Name: s.Name,
		Email: s.Beneficiary.EmailID, Plan: s.PlanID, FreeTrial: s.IsFreeTrial, TermStart: s.Term.StartDate.Time, TermEnd: s.Term.EndDate.Time}
	if r.Account == "" {
		r.Account = s.Purchaser.TenantID
	}
	if s.Quantity.Valid {
		r.Quantity = s.Quantity.Count
	}
	switch {
	case s.Status.Pending():
		r.Status = marketplace.StatusPending
	case s.Status == SubscriptionSubscribed:
		r.Status = marketplace.StatusActive
	case s.Status == SubscriptionSuspended:
		r.Status = marketplace.StatusSuspended
	case s.Status == SubscriptionUnsubscribed:
		r.Status = marketplace.StatusCancelled
	default:
		return r, fmt.Errorf("subscription %s: status %q is not one the seller knows: %w", s.ID, s.Status, ErrBadResponse)
	}
	return r, nil
}

// coreError says an error in the core's words, keeping Microsoft's.
func coreError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTokenInvalid):
		return fmt.Errorf("%w: %w", marketplace.ErrTokenInvalid, err)
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrThrottled):
		return fmt.Errorf("%w: %w", marketplace.ErrMarketplaceUnavailable, err)
	}
	return err
}

// Notices reads the calls of Microsoft's webhook for the core: the web
// server's AzureNotices.
type Notices struct {
	v   *WebhookVerifier
	now func() time.Time
}

// NewNotices verifies with v; now stamps notices that carry no time.
func NewNotices(v *WebhookVerifier, now func() time.Time) *Notices { return &Notices{v: v, now: now} }

// Notice verifies the call's bearer token, then reads its body. A change
// the seller asked for itself (operationRequestSource Partner) is not
// acknowledged: Microsoft answers that with a 500.
func (n *Notices) Notice(ctx context.Context, authorization string, body []byte) (marketplace.Notice, error) {
	if _, err := n.v.Verify(ctx, authorization); err != nil {
		if errors.Is(err, ErrUnauthorized) {
			return marketplace.Notice{}, fmt.Errorf("%w: %w", marketplace.ErrNoticeNotAuthentic, err)
		}
		return marketplace.Notice{}, coreError(err)
	}
	w, err := ParseWebhook(body)
	if err != nil {
		return marketplace.Notice{}, err
	}
	out := marketplace.Notice{ID: w.ID, SubscriptionKey: w.SubscriptionID, Action: string(w.Action), SentAt: w.TimeStamp.Time,
		Payload: string(body), NeedsAck: w.Action.NeedsAck() && w.RequestSource != "Partner" && !w.Status.Done()}
	if out.SentAt.IsZero() {
		out.SentAt = n.now()
	}
	switch w.Action {
	case ActionChangePlan:
		out.Plan = w.PlanID
	case ActionChangeQuantity:
		if w.Quantity.Valid {
			out.Quantity = w.Quantity.Count
		}
	}
	return out, nil
}

// Meter is metering.Meterer for Microsoft's Marketplace Metering Service:
// one event per subscription, dimension and hour, its quantity the
// record's integer units (cents of usage) sent digit for digit.
type Meter struct{ c *Client }

// NewMeter adapts c.
func NewMeter(c *Client) *Meter { return &Meter{c: c} }

var _ metering.Meterer = (*Meter)(nil)

// meterError says a failed batch in the sender's words: throttled or
// refused, which mean Microsoft took nothing, or else unknown, which it is
// after an attempt that may have reached Microsoft whatever came last.
func meterError(err error) error {
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.earlier != nil:
		return metering.Uncertain(fmt.Errorf("batch usage event: %w, after an earlier attempt that may have reached Microsoft: %v", err, ae.earlier))
	case errors.Is(err, ErrThrottled):
		return fmt.Errorf("%w: %w", metering.ErrThrottled, err)
	case errors.Is(err, ErrInvalidInput), errors.Is(err, ErrBadRequest):
		return fmt.Errorf("%w: %w", metering.ErrRejected, err)
	}
	return fmt.Errorf("batch usage event: %w", err)
}

// BatchMeterUsage sends up to 25 records and reports each one's outcome in
// the order given. Microsoft answers a second event for an hour with
// Duplicate carrying the first: the same quantity is this seller's own
// retry whose answer was lost (delivered), another is a conflict.
func (m *Meter) BatchMeterUsage(ctx context.Context, _ string, recs []metering.Record) ([]metering.Outcome, error) {
	events := make([]UsageEvent, len(recs))
	for i, r := range recs {
		events[i] = UsageEvent{ResourceID: r.Key, PlanID: r.Plan, Dimension: r.Dimension, Quantity: Int(r.Quantity), EffectiveStart: r.Hour}
	}
	results, err := m.c.BatchUsage(ctx, events)
	if err != nil {
		return nil, meterError(err)
	}
	out := make([]metering.Outcome, len(recs))
	// ResourceNotActive means suspended, never activated, or cancelled;
	// what to do depends on which, so the subscription is read.
	statuses := map[string]SubscriptionStatus{}
	for _, res := range results {
		if res.Status == UsageResourceNotActive {
			if _, ok := statuses[res.Event.ResourceID]; !ok {
				sub, err := m.c.Subscription(ctx, res.Event.ResourceID)
				if err != nil {
					sub.Status = "" // unknown: sent again later
				}
				statuses[res.Event.ResourceID] = sub.Status
			}
		}
	}
	for i, res := range results {
		o := metering.Outcome{MeteringRecordID: res.UsageEventID}
		switch {
		case res.Status == UsageAccepted, res.SameAsSent():
			o.Status = metering.OutcomeAccepted
		case res.Status == UsageDuplicate:
			o.Status = metering.OutcomeConflict
			o.Detail = fmt.Sprintf("Microsoft holds another event for the hour: %s", describeOriginal(res.Original))
		case res.Status == UsageResourceNotActive && statuses[res.Event.ResourceID] == SubscriptionUnsubscribed:
			// Microsoft takes a cancelled subscription's usage for the
			// hours before the cancellation, and answers a resend of one it
			// took Duplicate: refused, this hour is after the cancellation,
			// and no earlier send of it was ever taken.
			o.Status, o.NotHeld = metering.OutcomeNotSubscribed, true
			o.Detail = "Microsoft refused it: the subscription was cancelled before this hour"
		case res.Status == UsageResourceNotActive:
			// Suspended (for non-payment, which Microsoft may reinstate)
			// or not known now: sent again, and carried into a later hour
			// once the window closes, never dropped (R11).
			o.Status = metering.OutcomeUnprocessed
		case res.Status == UsageResourceNotFound, res.Status == UsageResourceNotAuthorized, res.Status == UsageInvalidDimension,
			res.Status == UsageInvalidQuantity, res.Status == UsageBadArgument:
			o.Status = metering.OutcomeRejected
			o.Detail = fmt.Sprintf("%s: %s %s", res.Status, res.Code, res.Message)
		default:
			// Expired, Error, or not answered: sent again while the
			// window lasts, then carried into a later hour (R11).
			o.Status = metering.OutcomeUnprocessed
		}
		out[i] = o
	}
	return out, nil
}

func describeOriginal(o *AcceptedUsage) string {
	if o == nil {
		return "it did not say which"
	}
	return fmt.Sprintf("event %s of quantity %s", o.UsageEventID, o.Quantity)
}
