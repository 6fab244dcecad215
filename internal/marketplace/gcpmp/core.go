package gcpmp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	procurement "google.golang.org/api/cloudcommerceprocurement/v1"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// This file adapts the client to the core's ports (#16): the Provider of
// package marketplace and the notices of the Pub/Sub push; metering.go
// holds the Meterer. An entitlement is the core's subscription, keyed by
// its bare id; the account is the buyer.

// Entitlement states (§2.5).
const (
	stateActivationRequested      = "ENTITLEMENT_ACTIVATION_REQUESTED"
	stateActive                   = "ENTITLEMENT_ACTIVE"
	statePendingCancellation      = "ENTITLEMENT_PENDING_CANCELLATION"
	stateCancelled                = "ENTITLEMENT_CANCELLED"
	statePendingPlanChange        = "ENTITLEMENT_PENDING_PLAN_CHANGE"
	statePendingPlanChangeApprove = "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL"
	stateSuspended                = "ENTITLEMENT_SUSPENDED"
)

// EventPlanChangeRequested is the one event Google waits on the seller
// for (the core's Acknowledge). ENTITLEMENT_CREATION_REQUESTED is not:
// a new entitlement is approved by the core's activation once the buyer
// has signed up and linked it.
const EventPlanChangeRequested = "ENTITLEMENT_PLAN_CHANGE_REQUESTED"

// signupApproval is the account approval a sign-up grants (§1.1).
const signupApproval = "signup"

// Provider is the core's marketplace.Provider for Google Cloud
// Marketplace.
type Provider struct{ c *Client }

// NewProvider adapts c.
func NewProvider(c *Client) *Provider { return &Provider{c: c} }

var _ marketplace.Provider = (*Provider)(nil)

// errNoPurchase: a verified sign-up whose account holds no entitlement of
// this seller's products. It wraps ErrTokenInvalid so that the buyer is
// told to click "Register" again from their order, which is what helps
// when Google has not created the entitlement yet.
var errNoPurchase = errors.New("no order of this seller's products on the account yet")

// Resolve verifies the sign-up JWT at once (it lives five minutes, and is
// not kept), then picks the entitlement it is for: the first of
// google.orders that is this seller's, or else, among the account's
// entitlements of the configured products, the newest waiting for
// approval, else the newest live one, else the newest cancelled one (so
// that the core can say it was cancelled).
func (p *Provider) Resolve(ctx context.Context, token string) (marketplace.Remote, error) {
	s, err := p.c.VerifySignup(ctx, token)
	if err != nil {
		return marketplace.Remote{}, err
	}
	var best *procurement.Entitlement
	if len(s.Orders) > 0 {
		for _, id := range s.Orders {
			e, err := p.c.entitlement(ctx, id)
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return marketplace.Remote{}, err
			}
			if accountID(e.Account) == s.Account && p.c.products[e.ProductExternalName] {
				best = e
				break
			}
		}
	} else {
		err := p.c.entitlements(ctx, "account="+filterValue(s.Account), func(e *procurement.Entitlement) error {
			if accountID(e.Account) == s.Account && p.c.products[e.ProductExternalName] && better(e, best) {
				best = e
			}
			return nil
		})
		if err != nil {
			return marketplace.Remote{}, err
		}
	}
	if best == nil {
		return marketplace.Remote{}, fmt.Errorf("%w: %w (account %s, orders %q)", marketplace.ErrTokenInvalid, errNoPurchase, s.Account, s.Orders)
	}
	return remote(best)
}

// rank orders entitlements for a sign-up: waiting for approval first,
// then live, then over.
func rank(e *procurement.Entitlement) int {
	switch e.State {
	case stateActivationRequested:
		return 3
	case stateCancelled:
		return 1
	case "", "ENTITLEMENT_STATE_UNSPECIFIED":
		return 0
	}
	return 2
}

// better says whether e should be taken over best: a higher rank, or the
// same rank and created later.
func better(e, best *procurement.Entitlement) bool {
	if rank(e) == 0 {
		return false
	}
	if best == nil || rank(e) != rank(best) {
		return best == nil || rank(e) > rank(best)
	}
	return parseTime(e.CreateTime).After(parseTime(best.CreateTime))
}

// parseTime reads an RFC 3339 time of Google's (fractions of a second
// optional, so the strings do not sort); zero when absent or malformed.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// filterValue writes a value for the list filter (§2.3): as is when it is
// letters, digits, '_' and '-' (Google's own example is
// account=E-1234-5678-ABCD-EFGH), quoted otherwise.
func filterValue(v string) string {
	plain := v != "" && !strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	})
	if plain {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// Read reads the entitlement. One Google no longer has (deleted after its
// cancellation, 404) is cancelled.
func (p *Provider) Read(ctx context.Context, key string) (marketplace.Remote, error) {
	e, err := p.c.entitlement(ctx, key)
	if errors.Is(err, errNotFound) {
		return marketplace.Remote{Key: lastSegment(key), Status: marketplace.StatusCancelled}, nil
	}
	if err != nil {
		return marketplace.Remote{}, err
	}
	return remote(e)
}

// List calls fn with every entitlement of the provider. Entitlements of
// products not configured here and states the seller does not know are
// left out.
func (p *Provider) List(ctx context.Context, fn func(marketplace.Remote) error) error {
	return p.c.entitlements(ctx, "", func(e *procurement.Entitlement) error {
		if !p.c.products[e.ProductExternalName] {
			return nil
		}
		r, err := remote(e)
		if err != nil {
			return nil // a state the core does not know: left for a person
		}
		return fn(r)
	})
}

// Activate approves the buyer's account (its "signup" approval), then the
// entitlement. Google moves an approved entitlement to ACTIVE a little
// later, so the core's next read may still say pending; it tries again,
// and this is safe to repeat: an approval Google refuses for the state it
// is in (400 FAILED_PRECONDITION, or 409) is taken as done once a read of
// the resource succeeds. For the account, the read must show the signup
// approval APPROVED. For the entitlement, Google does not say "approved"
// before ACTIVE, so a refusal while it still waits is read as the answer to
// an approval whose reply was lost; whatever the read shows, the core's own
// read after Activate decides what is recorded.
func (p *Provider) Activate(ctx context.Context, r marketplace.Remote) error {
	account := accountID(r.Account)
	if account == "" {
		e, err := p.c.entitlement(ctx, r.Key)
		if err != nil {
			return err
		}
		account = accountID(e.Account)
	}
	if account != "" {
		if err := p.approveAccount(ctx, account); err != nil {
			return err
		}
	}
	name := p.c.entitlementName(r.Key)
	err := p.c.retry(ctx, func(ctx context.Context) error {
		_, err := p.c.proc.Providers.Entitlements.Approve(name, &procurement.ApproveEntitlementRequest{}).Context(ctx).Do()
		return err
	})
	if isPrecondition(err) {
		if _, rerr := p.c.entitlement(ctx, r.Key); rerr != nil {
			return errors.Join(apiError("approve entitlement "+r.Key, err), rerr)
		}
		return nil
	}
	return apiError("approve entitlement "+r.Key, err)
}

func (p *Provider) approveAccount(ctx context.Context, account string) error {
	name := p.c.accountName(account)
	err := p.c.retry(ctx, func(ctx context.Context) error {
		_, err := p.c.proc.Providers.Accounts.Approve(name, &procurement.ApproveAccountRequest{ApprovalName: signupApproval}).Context(ctx).Do()
		return err
	})
	if !isPrecondition(err) {
		return apiError("approve account "+account, err)
	}
	var a *procurement.Account
	rerr := p.c.retry(ctx, func(ctx context.Context) (err error) {
		a, err = p.c.proc.Providers.Accounts.Get(name).Context(ctx).Do()
		return err
	})
	if rerr != nil {
		return errors.Join(apiError("approve account "+account, err), apiError("read account "+account, rerr))
	}
	for _, ap := range a.Approvals {
		if ap != nil && ap.Name == signupApproval && ap.State == "APPROVED" {
			return nil // approved before: the answer to our own approval was lost
		}
	}
	return apiError("approve account "+account, err)
}

// Acknowledge answers the plan change an entitlement waits on, by the
// seller's policy (Config.PlanChanges): approve the pending plan, or
// reject it. An entitlement not waiting (answered before, or withdrawn by
// the buyer) needs nothing, and neither does a refusal for its state: the
// core's read that follows decides.
func (p *Provider) Acknowledge(ctx context.Context, key, _ string) error {
	e, err := p.c.entitlement(ctx, key)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if e.State != statePendingPlanChangeApprove {
		return nil
	}
	name := p.c.entitlementName(key)
	err = p.c.retry(ctx, func(ctx context.Context) (err error) {
		if p.c.cfg.PlanChanges == PlanChangesReject {
			_, err = p.c.proc.Providers.Entitlements.RejectPlanChange(name, &procurement.RejectEntitlementPlanChangeRequest{
				PendingPlanName: e.NewPendingPlan, Reason: "The seller does not offer this plan change."}).Context(ctx).Do()
			return err
		}
		_, err = p.c.proc.Providers.Entitlements.ApprovePlanChange(name, &procurement.ApproveEntitlementPlanChangeRequest{
			PendingPlanName: e.NewPendingPlan}).Context(ctx).Do()
		return err
	})
	if isPrecondition(err) {
		return nil
	}
	return apiError(p.c.cfg.PlanChanges+" plan change of entitlement "+key, err)
}

// remote is the core's view of an entitlement. A plan applies only when
// Google says it is active: a pending plan (newPendingPlan) is never
// reported.
func remote(e *procurement.Entitlement) (marketplace.Remote, error) {
	r := marketplace.Remote{Key: lastSegment(e.Name), Account: accountID(e.Account), ProductCode: e.ProductExternalName,
		Plan: e.Plan, UsageID: e.UsageReportingId}
	if strings.Contains(e.Offer, "/privateOffers/") {
		r.OfferID = e.Offer
	}
	for _, t := range []string{e.OfferEndTime, e.SubscriptionEndTime} {
		if end := parseTime(t); !end.IsZero() {
			r.TermEnd = end
			break
		}
	}
	switch e.State {
	case stateActivationRequested:
		r.Status = marketplace.StatusPending
	case stateActive, statePendingPlanChangeApprove, statePendingPlanChange:
		r.Status = marketplace.StatusActive
	case statePendingCancellation:
		r.Status = marketplace.StatusUnsubscribePending
	case stateCancelled:
		r.Status = marketplace.StatusCancelled
	case stateSuspended:
		r.Status = marketplace.StatusSuspended
	default:
		return r, fmt.Errorf("entitlement %s: state %q is not one the seller knows", r.Key, e.State)
	}
	if r.Key == "" {
		return r, errors.New("entitlement without a name in Google's answer")
	}
	return r, nil
}

// Notices reads the calls of the Pub/Sub push for the core: the web
// server's GCPNotices.
type Notices struct{ c *Client }

// NewNotices reads pushes with c's push verification.
func NewNotices(c *Client) *Notices { return &Notices{c: c} }

// Notice verifies the push's OIDC token, then reads its body. An account
// event becomes a notice about no subscription (SubscriptionKey ""),
// which the core keeps applied: the entitlements' own events and reads
// carry what matters. An unknown event type is a notice like any other:
// the core reads the entitlement again. Only a plan change request waits
// on the seller (NeedsAck).
func (n *Notices) Notice(ctx context.Context, authorization string, body []byte) (marketplace.Notice, error) {
	if err := n.c.VerifyPush(ctx, authorization); err != nil {
		return marketplace.Notice{}, err
	}
	ev, err := ParsePush(body)
	if err != nil {
		return marketplace.Notice{}, err
	}
	if ev.Provider != "" && ev.Provider != n.c.cfg.ProviderID {
		return marketplace.Notice{}, fmt.Errorf("push event %s is for provider %q, not %q: check the Pub/Sub subscription's topic and the provider id",
			ev.ID, ev.Provider, n.c.cfg.ProviderID)
	}
	out := marketplace.Notice{ID: ev.ID, SubscriptionKey: ev.Entitlement, Action: ev.Type, NeedsAck: ev.Type == EventPlanChangeRequested,
		SentAt: ev.PublishedAt, Payload: string(body)}
	if out.SentAt.IsZero() {
		out.SentAt = n.c.cfg.Now()
	}
	return out, nil
}
