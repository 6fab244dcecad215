package market

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PurchaseInput is what the buyer chooses on the offer's page.
type PurchaseInput struct {
	OfferID  string `json:"offer_id"`
	PlanID   string `json:"plan_id"`
	TermUnit string `json:"term_unit,omitempty"` // the plan's first term when empty
	Quantity int    `json:"quantity,omitempty"`  // seats: required for per-user plans, absent for flat rate
	Name     string `json:"name"`                // the SaaS subscription's name
	// Beneficiary is for whom it is bought; TenantID and EmailID are
	// required, ObjectID is made up when empty.
	Beneficiary Identity `json:"beneficiary"`
	// Purchaser differs for a CSP purchase; the beneficiary when empty.
	Purchaser *Identity `json:"purchaser,omitempty"`
	AutoRenew *bool     `json:"auto_renew,omitempty"` // on when absent
	// FreeTrial takes the plan's trial; absent means "if the plan has one".
	FreeTrial   *bool  `json:"free_trial,omitempty"`
	IsTest      bool   `json:"is_test,omitempty"`
	SessionMode string `json:"session_mode,omitempty"` // None (default) or DryRun
	SandboxType string `json:"sandbox_type,omitempty"` // None (default) or Csp: the customer may then only Read
}

// Validate reports every field error at once.
func (in *PurchaseInput) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if in.OfferID == "" {
		add("offer_id is required")
	}
	if in.PlanID == "" {
		add("plan_id is required")
	}
	if in.TermUnit != "" && termMonths(in.TermUnit) == 0 {
		add("term_unit %q: want one of %s", in.TermUnit, strings.Join(TermUnits, ", "))
	}
	if in.Quantity < 0 {
		add("quantity must not be negative")
	}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		add("name: want 1-200 characters")
	}
	if !IsGUID(in.Beneficiary.TenantID) {
		add("beneficiary.tenantId %q: want a tenant GUID", in.Beneficiary.TenantID)
	}
	if !strings.Contains(in.Beneficiary.EmailID, "@") {
		add("beneficiary.emailId %q: want an e-mail address", in.Beneficiary.EmailID)
	}
	if in.Purchaser != nil && !IsGUID(in.Purchaser.TenantID) {
		add("purchaser.tenantId %q: want a tenant GUID", in.Purchaser.TenantID)
	}
	switch in.SessionMode {
	case "", "None", "DryRun":
	default:
		add("session_mode %q: want None or DryRun", in.SessionMode)
	}
	switch in.SandboxType {
	case "", "None", "Csp":
	default:
		add("sandbox_type %q: want None or Csp", in.SandboxType)
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Code: CodeBadArgument, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// Purchase is the buyer's "Subscribe": a new SaaS subscription in
// PendingFulfillmentStart, and the token that "Configure account now" sends
// to the publisher's landing page. Nobody is notified (§1.1). A tenant may
// buy several subscriptions of one offer.
func (m *Market) Purchase(ctx context.Context, in PurchaseInput) (Subscription, Token, error) {
	if err := in.Validate(); err != nil {
		return Subscription{}, Token{}, err
	}
	var (
		sub Subscription
		tok Token
	)
	err := m.update(ctx, func(tx *txn) error {
		o, ok := m.offers[in.OfferID]
		if !ok {
			return notFoundf("offer_id", "no offer %s", in.OfferID)
		}
		p := o.plan(in.PlanID)
		if p == nil || !p.visibleTo(in.Beneficiary.TenantID) {
			return notFoundf("plan_id", "offer %s has no plan %s for tenant %s", o.ID, in.PlanID, in.Beneficiary.TenantID)
		}
		if p.StopSell {
			return invalidf("plan_id", "plan %s is no longer sold", p.ID)
		}
		unit := in.TermUnit
		if unit == "" {
			unit = p.Terms[0].Unit
		}
		if _, ok := p.term(unit); !ok {
			return invalidf("term_unit", "plan %s is not sold for term %s", p.ID, unit)
		}
		qty := 0
		if p.PricePerSeat {
			lo, hi := p.quantityRange()
			if in.Quantity < lo || in.Quantity > hi {
				return invalidf("quantity", "plan %s takes %d to %d seats; got %d", p.ID, lo, hi, in.Quantity)
			}
			qty = in.Quantity
		} else if in.Quantity != 0 {
			return invalidf("quantity", "plan %s is flat rate: no quantity", p.ID)
		}
		now := m.now()
		ben := in.Beneficiary
		if ben.ObjectID == "" {
			ben.ObjectID = m.uuid()
		}
		pur := ben
		if in.Purchaser != nil {
			pur = *in.Purchaser
			if pur.ObjectID == "" {
				pur.ObjectID = m.uuid()
			}
		}
		ops := []string{CustomerRead, CustomerUpdate, CustomerDelete}
		sandbox := "None"
		if in.SandboxType == "Csp" {
			ops, sandbox = []string{CustomerRead}, "Csp"
		}
		mode := "None"
		if in.SessionMode == "DryRun" {
			mode = "DryRun"
		}
		trial := p.FreeTrial
		if in.FreeTrial != nil {
			if *in.FreeTrial && !p.FreeTrial {
				return invalidf("free_trial", "plan %s has no free trial", p.ID)
			}
			trial = *in.FreeTrial
		}
		if trial && m.hasPaid(o.ID, in.Beneficiary.TenantID) {
			trial = false // a customer who has paid for an offer never gets its trial again (§1.5)
		}
		s := &Subscription{
			ID: m.uuid(), PublisherID: o.PublisherID, OfferID: o.ID, Name: strings.TrimSpace(in.Name),
			Status: StatusPending, Beneficiary: ben, Purchaser: pur, PlanID: p.ID, Quantity: qty,
			Term: Term{Unit: unit}, AutoRenew: in.AutoRenew == nil || *in.AutoRenew, IsTest: in.IsTest,
			IsFreeTrial: trial, AllowedCustomerOperations: ops, SandboxType: sandbox, SessionMode: mode,
			Created: now, LastModified: now, Plans: []PlanPeriod{{PlanID: p.ID, From: now}}, Seq: m.nextSeq(),
		}
		m.subscriptions[s.ID] = s
		tx.put(kindSubscription, s.ID, s)
		t := m.issueToken(tx, s)
		sub, tok = cloneSubscription(s), t
		return nil
	})
	return sub, tok, err
}

// hasPaid reports whether the tenant has had a paid (activated, not trial)
// subscription of the offer.
func (m *Market) hasPaid(offerID, tenantID string) bool {
	for _, s := range m.subscriptions {
		if s.OfferID == offerID && strings.EqualFold(s.Beneficiary.TenantID, tenantID) && !s.ActivatedAt.IsZero() && !s.IsFreeTrial {
			return true
		}
	}
	return false
}

func (m *Market) issueToken(tx *txn, s *Subscription) Token {
	t := &Token{Token: m.newToken(), SubscriptionID: s.ID, ExpiresAt: m.now().Add(m.cfg.TokenTTL)}
	m.tokens[t.Token] = t
	m.noteDue(t.ExpiresAt)
	tx.put(kindToken, t.Token, t)
	return *t
}

// NewLandingToken is "Configure account now" again, or "Manage account" on
// an active subscription: a fresh token for the same landing page (§1.1).
func (m *Market) NewLandingToken(ctx context.Context, subscriptionID string) (Token, error) {
	var out Token
	err := m.update(ctx, func(tx *txn) error {
		s, ok := m.subscriptions[subscriptionID]
		if !ok {
			return notFoundf("subscriptionId", "Subscription %s not found", subscriptionID)
		}
		out = m.issueToken(tx, s)
		return nil
	})
	return out, err
}

// LandingURL is where the buyer's browser goes with a token: the
// publisher's landing page with ?token=<url-encoded token>.
func (m *Market) LandingURL(subscriptionID, token string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subscriptions[subscriptionID]
	if !ok {
		return "", notFoundf("subscriptionId", "Subscription %s not found", subscriptionID)
	}
	p := m.publishers[s.PublisherID]
	if p == nil || p.LandingURL == "" {
		return "", errorf(KindConflict, CodeConflict, "landing_url", "publisher %s has no landing page URL", s.PublisherID)
	}
	sep := "?"
	if strings.Contains(p.LandingURL, "?") {
		sep = "&" // UNCONFIRMED what Microsoft does (§1.1); keep the configured URL free of a query
	}
	return p.LandingURL + sep + "token=" + url.QueryEscape(token), nil
}

// Subscription returns one subscription, for the buyer's side.
func (m *Market) Subscription(id string) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subscriptions[id]
	if !ok {
		return Subscription{}, notFoundf("subscriptionId", "Subscription %s not found", id)
	}
	return cloneSubscription(s), nil
}

// SubscriptionFilter selects subscriptions; empty fields match all.
type SubscriptionFilter struct {
	PublisherID string
	OfferID     string
	TenantID    string // the beneficiary's or the purchaser's tenant
}

// Subscriptions lists subscriptions in purchase order, for the buyer pages
// and the control API.
func (m *Market) Subscriptions(f SubscriptionFilter) []Subscription {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Subscription
	for _, s := range m.subscriptions {
		if (f.PublisherID == "" || s.PublisherID == f.PublisherID) && (f.OfferID == "" || s.OfferID == f.OfferID) &&
			(f.TenantID == "" || strings.EqualFold(s.Beneficiary.TenantID, f.TenantID) || strings.EqualFold(s.Purchaser.TenantID, f.TenantID)) {
			out = append(out, cloneSubscription(s))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func cloneSubscription(s *Subscription) Subscription {
	c := *s
	c.AllowedCustomerOperations = append([]string(nil), s.AllowedCustomerOperations...)
	c.Plans = append([]PlanPeriod(nil), s.Plans...)
	return c
}

// owned finds a subscription the publisher may see: 404 when unknown, 403
// when it is another publisher's.
func (m *Market) owned(publisherID, id string) (*Subscription, error) {
	s, ok := m.subscriptions[strings.ToLower(id)]
	if !ok {
		return nil, notFoundf("subscriptionId", "Subscription %s not found", id)
	}
	if s.PublisherID != publisherID {
		return nil, errorf(KindForbidden, CodeForbidden, "subscriptionId",
			"subscription %s belongs to an offer published with a different Azure AD App ID", id)
	}
	return s, nil
}

// Resolve is the Fulfillment API's resolve: the subscription a purchase
// token stands for, in any status. Unknown and expired tokens are 400.
func (m *Market) Resolve(publisherID, token string) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if token == "" {
		return Subscription{}, errorf(KindInvalid, CodeHeaderMissing, "x-ms-marketplace-token", "Mandatory header missing")
	}
	t, ok := m.tokens[token]
	if !ok {
		return Subscription{}, errorf(KindInvalid, CodeInvalidValue, "x-ms-marketplace-token", "the marketplace token is invalid")
	}
	if !m.now().Before(t.ExpiresAt) {
		return Subscription{}, errorf(KindInvalid, CodeInvalidValue, "x-ms-marketplace-token", "the marketplace token expired at %s", t.ExpiresAt.Format(time.RFC3339))
	}
	s, err := m.owned(publisherID, t.SubscriptionID)
	if err != nil {
		return Subscription{}, err
	}
	return cloneSubscription(s), nil
}

// GetSubscription is the Fulfillment API's get.
func (m *Market) GetSubscription(publisherID, id string) (Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.owned(publisherID, id)
	if err != nil {
		return Subscription{}, err
	}
	return cloneSubscription(s), nil
}

// Activate is the Fulfillment API's activate. It is not idempotent: 400 when
// already Subscribed or Suspended, 404 when Unsubscribed (§3.4).
func (m *Market) Activate(ctx context.Context, publisherID, id, planID string, quantity *int) error {
	return m.update(ctx, func(tx *txn) error {
		s, err := m.owned(publisherID, id)
		if err != nil {
			return err
		}
		switch s.Status {
		case StatusUnsubscribed:
			return notFoundf("subscriptionId", "Subscription %s is unsubscribed", id)
		case StatusSubscribed, StatusSuspended:
			return invalidf("subscriptionId", "Subscription %s is already %s", id, s.Status)
		}
		if planID == "" {
			return invalidf("planId", "The planId is required.")
		}
		if planID != s.PlanID {
			return invalidf("planId", "planId %s is not the purchased plan %s", planID, s.PlanID)
		}
		p := m.offers[s.OfferID].plan(s.PlanID)
		switch {
		case p.PricePerSeat && quantity == nil:
			return invalidf("quantity", "quantity is required for the per-user plan %s", p.ID)
		case p.PricePerSeat && *quantity != s.Quantity:
			return invalidf("quantity", "quantity %d is not the purchased quantity %d", *quantity, s.Quantity)
		case !p.PricePerSeat && quantity != nil && *quantity != 0:
			return invalidf("quantity", "plan %s is flat rate: no quantity", p.ID)
		}
		now := m.now()
		s.Status, s.ActivatedAt, s.LastModified = StatusSubscribed, now, now
		m.startTerm(tx, s, day(now), "activation")
		tx.put(kindSubscription, s.ID, s)
		return nil
	})
}

// day is midnight UTC of t: terms run in whole days.
func day(t time.Time) time.Time {
	y, mo, d := t.UTC().Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// startTerm starts a term on start: one month for a free trial, else the
// term unit; End is the last valid day. A paid term records its charge.
func (m *Market) startTerm(tx *txn, s *Subscription, start time.Time, reason string) {
	months := termMonths(s.Term.Unit)
	if s.IsFreeTrial {
		months = 1
	}
	s.Term.Start = start
	s.Term.End = start.AddDate(0, months, -1)
	m.noteDue(s.Term.End.AddDate(0, 0, 1))
	if s.IsFreeTrial {
		return
	}
	p := m.offers[s.OfferID].plan(s.PlanID)
	tp, _ := p.term(s.Term.Unit)
	qty := 1
	if p.PricePerSeat {
		qty = s.Quantity
	}
	c := &Charge{ID: m.uuid(), SubscriptionID: s.ID, PlanID: p.ID, TermUnit: s.Term.Unit, Quantity: qty,
		UnitMicros: tp.PriceMicros, AmountMicros: tp.PriceMicros * Micros(qty), Reason: reason, At: start}
	m.charges[c.ID] = c
	tx.put(kindCharge, c.ID, c)
}

// ListPage is one page of the Fulfillment API's list.
type ListPage struct {
	Subscriptions []Subscription
	// Next is the continuationToken of the next page, empty on the last one.
	Next string
}

// ListSubscriptions is the Fulfillment API's list: every subscription of
// the publisher in every status, in purchase order, a page at a time. The
// continuation token is the position after the last item; a bad one is 400.
func (m *Market) ListSubscriptions(publisherID, continuation string) (ListPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var after int64
	if continuation != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(continuation, "s"), 10, 64)
		if err != nil || !strings.HasPrefix(continuation, "s") || n < 0 {
			return ListPage{}, errorf(KindInvalid, CodeInvalidValue, "continuationToken", "continuationToken %q is not one this API returned", continuation)
		}
		after = n
	}
	var all []*Subscription
	for _, s := range m.subscriptions {
		if s.PublisherID == publisherID && s.Seq > after {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	var page ListPage
	for i, s := range all {
		if i == m.cfg.PageSize {
			page.Next = "s" + strconv.FormatInt(all[i-1].Seq, 10)
			break
		}
		page.Subscriptions = append(page.Subscriptions, cloneSubscription(s))
	}
	return page, nil
}

// AvailablePlans is listAvailablePlans: the plans the beneficiary may switch
// to, the current one included, private ones only for their audience; with
// planID, just that one (none when it is not available).
func (m *Market) AvailablePlans(publisherID, id, planID string) (Offer, []Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.owned(publisherID, id)
	if err != nil {
		return Offer{}, nil, err
	}
	o := m.offers[s.OfferID]
	var out []Plan
	for _, p := range o.Plans {
		if (p.visibleTo(s.Beneficiary.TenantID) && !p.StopSell || p.ID == s.PlanID) && (planID == "" || p.ID == planID) {
			out = append(out, p)
		}
	}
	return cloneOffer(o), clonePlans(out), nil
}
