package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// fakeProvider plays a marketplace that sells plans the way the contract
// document describes Microsoft's (#15): a purchase waits for the seller's
// activation, which is not idempotent; plan changes wait for the seller's
// acceptance. It counts what the core asks of it and can lose answers.
type fakeProvider struct {
	mu          sync.Mutex
	subs        map[string]marketplace.Remote
	tokens      map[string]string
	pending     map[string]marketplace.Remote // changes waiting for an acknowledgement, by notice id
	activations map[string]int
	acks        map[string]int
	// loseActivateAnswer activates and then fails, as a lost answer would;
	// down fails every call.
	loseActivateAnswer bool
	down               bool
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{subs: map[string]marketplace.Remote{}, tokens: map[string]string{}, pending: map[string]marketplace.Remote{},
		activations: map[string]int{}, acks: map[string]int{}}
}

var errFakeDown = fmt.Errorf("fake marketplace down: %w", marketplace.ErrMarketplaceUnavailable)

// buy is a purchase on the marketplace: a pending subscription and the
// token of its "Configure account now".
func (f *fakeProvider) buy(tenant, plan string, seats int64) (key, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.subs) + 1
	key = fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	f.subs[key] = marketplace.Remote{Key: key, ProductCode: "example-cloud", Account: tenant, Name: fmt.Sprintf("Subscription %d", n),
		Email: "buyer@" + tenant + ".example", Plan: plan, Quantity: seats, Status: marketplace.StatusPending}
	token = fmt.Sprintf("token-%d", n)
	f.tokens[token] = key
	return key, token
}

func (f *fakeProvider) set(key string, change func(*marketplace.Remote)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.subs[key]
	change(&r)
	f.subs[key] = r
}

func (f *fakeProvider) Resolve(_ context.Context, token string) (marketplace.Remote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return marketplace.Remote{}, errFakeDown
	}
	key, ok := f.tokens[token]
	if !ok {
		return marketplace.Remote{}, marketplace.ErrTokenInvalid
	}
	return f.subs[key], nil
}

func (f *fakeProvider) Read(_ context.Context, key string) (marketplace.Remote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return marketplace.Remote{}, errFakeDown
	}
	r, ok := f.subs[key]
	if !ok {
		return r, errors.New("not found")
	}
	return r, nil
}

func (f *fakeProvider) Activate(_ context.Context, r marketplace.Remote) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errFakeDown
	}
	cur := f.subs[r.Key]
	if cur.Status != marketplace.StatusPending {
		return errors.New("400: the subscription is not pending")
	}
	if r.Plan != cur.Plan || r.Quantity != cur.Quantity {
		return errors.New("400: plan or quantity does not match the purchase")
	}
	f.activations[r.Key]++
	cur.Status = marketplace.StatusActive
	cur.TermStart = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cur.TermEnd = cur.TermStart.AddDate(0, 1, -1)
	f.subs[r.Key] = cur
	if f.loseActivateAnswer {
		return errors.New("connection reset after the request was sent")
	}
	return nil
}

func (f *fakeProvider) List(_ context.Context, fn func(marketplace.Remote) error) error {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return errFakeDown
	}
	var all []marketplace.Remote
	for _, r := range f.subs {
		all = append(all, r)
	}
	f.mu.Unlock()
	for _, r := range all {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeProvider) Acknowledge(_ context.Context, key, notice string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errFakeDown
	}
	f.acks[notice]++
	if next, ok := f.pending[notice]; ok {
		f.subs[key] = next
		delete(f.pending, notice)
	}
	return nil
}

// azureProduct is the seller's catalog entry of the fake's offer.
var azureProduct = marketplace.Product{Marketplace: marketplace.Azure, Code: "example-cloud", Name: "Example Cloud on Azure",
	OfferType: marketplace.OfferPAYG, MeteredDimension: "usage_cents", Dimensions: []marketplace.Dimension{{Name: "usage_cents"}}}

type azureWorld struct {
	*world
	fake *fakeProvider
}

func newAzureWorld(t *testing.T, db *store.DB) *azureWorld {
	w := newWorld(t, db, append(append([]marketplace.Product{}, demoProducts...), azureProduct)...)
	fake := newFakeProvider()
	w.cfg.Providers = map[string]marketplace.Provider{marketplace.Azure: fake}
	var err error
	if w.svc, err = marketplace.New(w.cfg); err != nil {
		t.Fatal(err)
	}
	return &azureWorld{world: w, fake: fake}
}

// land is "Configure account now" and the claim of the purchase by user.
func (w *azureWorld) land(token string, user int64) marketplace.Purchase {
	w.t.Helper()
	ctx := context.Background()
	claim, _, err := w.svc.Land(ctx, marketplace.Azure, token)
	if err != nil {
		w.t.Fatalf("Land: %v", err)
	}
	p, err := w.svc.ClaimPurchase(ctx, claim, user)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func TestLand_LinkActivatesOnce_R1_R6(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		key, token := w.fake.buy("tenant-a", "flat", 0)
		ada := w.user("ada@example.com")
		p := w.land(token, ada)
		if p.Subscription.Marketplace != marketplace.Azure || p.Subscription.Status != marketplace.StatusPending || p.Subscription.Key != key {
			t.Fatalf("landed subscription = %+v", p.Subscription)
		}
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"})
		if err != nil || !res.Activating {
			t.Fatalf("Link = %+v, %v", res, err)
		}
		b, err := w.svc.BillingOf(ctx, res.Org.ID)
		if err != nil || b.State != marketplace.BillingActive || b.Subscription.Status != marketplace.StatusActive ||
			b.Subscription.Activation != marketplace.ActivationDone || b.Subscription.TermStart.IsZero() {
			t.Fatalf("BillingOf = %+v, %v", b.Subscription, err)
		}
		msgs, _ := w.outbox.List(ctx, 10)
		if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "Microsoft commercial marketplace") {
			t.Fatalf("confirmation mail = %+v", msgs)
		}
		// "Manage account" later: a fresh token, the same subscription;
		// linking again links once and never activates again (R6, R7).
		w.fake.mu.Lock()
		w.fake.tokens["token-again"] = key
		w.fake.mu.Unlock()
		again := w.land("token-again", ada)
		if again.Subscription.ID != p.Subscription.ID || again.Subscription.Link == nil {
			t.Fatalf("second landing = %+v", again.Subscription)
		}
		res, err = w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: again.ID, UserID: ada, OrgID: res.Org.ID})
		if err != nil || !res.Already {
			t.Fatalf("second Link = %+v, %v", res, err)
		}
		if n, _ := w.svc.ActivateWanted(ctx, 10); n != 0 || w.fake.activations[key] != 1 {
			t.Fatalf("activations = %d (loop made %d), want exactly 1", w.fake.activations[key], n)
		}
	})
}

func TestLand_SeveralSubscriptionsOfOneTenant_R1_R3(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		_, first := w.fake.buy("tenant-a", "flat", 0)
		_, second := w.fake.buy("tenant-a", "flat", 0)
		ada := w.user("ada@example.com")
		p1, p2 := w.land(first, ada), w.land(second, ada)
		if p1.Subscription.ID == p2.Subscription.ID {
			t.Fatal("two SaaS subscriptions of one tenant were recorded as one")
		}
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p1.ID, UserID: ada, NewOrgName: "Team one"})
		if err != nil {
			t.Fatal(err)
		}
		// R3: one organization is billed through one subscription.
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p2.ID, UserID: ada, OrgID: res.Org.ID}); !errors.Is(err, marketplace.ErrOrgAlreadyBilled) {
			t.Fatalf("second subscription into the same organization: %v, want ErrOrgAlreadyBilled", err)
		}
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p2.ID, UserID: ada, NewOrgName: "Team two"}); err != nil {
			t.Fatalf("second subscription into a new organization: %v", err)
		}
	})
}

func TestLand_Refusals_R5(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		cancelledKey, cancelled := w.fake.buy("tenant-c", "flat", 0)
		w.fake.set(cancelledKey, func(r *marketplace.Remote) { r.Status = marketplace.StatusCancelled })
		otherKey, other := w.fake.buy("tenant-o", "flat", 0)
		w.fake.set(otherKey, func(r *marketplace.Remote) { r.ProductCode = "someone-elses-offer" })
		for _, tc := range []struct {
			name, marketplace, token, want string
		}{
			{"empty token", marketplace.Azure, "", "Configure account now"},
			{"unknown token", marketplace.Azure, "forged", "Configure account now"},
			{"oversized token", marketplace.Azure, strings.Repeat("x", 70<<10), "Configure account now"},
			{"cancelled subscription", marketplace.Azure, cancelled, "was cancelled on Microsoft's marketplace"},
			{"offer not in the catalog", marketplace.Azure, other, "not set up on our side yet"},
			{"marketplace not configured", "gcp", "whatever", "This marketplace is not set up"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := w.count(`SELECT COUNT(*) FROM purchases`)
				_, _, err := w.svc.Land(ctx, tc.marketplace, tc.token)
				if err == nil || !strings.Contains(errorsMessage(err), tc.want) {
					t.Fatalf("Land = %v, want a message with %q", err, tc.want)
				}
				if after := w.count(`SELECT COUNT(*) FROM purchases`); after != before {
					t.Fatalf("a refused landing opened a purchase (%d -> %d)", before, after)
				}
			})
		}
		// Microsoft not answering is said in Microsoft's words, and is
		// still the core's ErrMarketplaceUnavailable.
		_, ok := w.fake.buy("tenant-d", "flat", 0)
		w.fake.mu.Lock()
		w.fake.down = true
		w.fake.mu.Unlock()
		_, _, err := w.svc.Land(ctx, marketplace.Azure, ok)
		if !errors.Is(err, marketplace.ErrMarketplaceUnavailable) || !strings.Contains(fault.Message(err), "Microsoft's marketplace did not answer") {
			t.Fatalf("Land while Microsoft is down = %v (%q)", err, fault.Message(err))
		}
	})
}

func TestActivate_AfterLostAnswersAndOutages(t *testing.T) {
	for _, tc := range []struct {
		name string
		// during is the fake's trouble while the link is made; the
		// activation loop runs after it clears.
		during func(f *fakeProvider)
	}{
		{"answer lost after activating", func(f *fakeProvider) { f.loseActivateAnswer = true }},
		{"marketplace down at the link", func(f *fakeProvider) { f.down = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				w := newAzureWorld(t, db)
				key, token := w.fake.buy("tenant-a", "seats", 5)
				ada := w.user("ada@example.com")
				p := w.land(token, ada)
				w.fake.mu.Lock()
				tc.during(w.fake)
				w.fake.mu.Unlock()
				res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"})
				if err != nil {
					t.Fatalf("Link: %v (the link must not depend on the marketplace answering)", err)
				}
				w.fake.mu.Lock()
				w.fake.down, w.fake.loseActivateAnswer = false, false
				w.fake.mu.Unlock()
				// Past the claim's lease and the back-off.
				w.mu.Lock()
				w.now = w.now.Add(11 * time.Minute)
				w.mu.Unlock()
				if _, err := w.svc.ActivateWanted(ctx, 10); err != nil {
					t.Fatal(err)
				}
				b, _ := w.svc.BillingOf(ctx, res.Org.ID)
				if b.Subscription.Activation != marketplace.ActivationDone || b.Subscription.Status != marketplace.StatusActive ||
					b.Subscription.Quantity != 5 {
					t.Fatalf("after the loop: %+v", b.Subscription)
				}
				if w.fake.activations[key] != 1 {
					t.Fatalf("Activate succeeded %d times, want 1", w.fake.activations[key])
				}
			})
		})
	}
}

func TestNotices_AnyOrderTwiceAndBeforeLanding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		key, token := w.fake.buy("tenant-a", "flat", 0)
		notice := func(id, action string, needsAck bool, plan string) marketplace.Notice {
			return marketplace.Notice{ID: id, SubscriptionKey: key, Action: action, NeedsAck: needsAck, Plan: plan, SentAt: w.Now(), Payload: "{}"}
		}
		record := func(n marketplace.Notice) {
			t.Helper()
			if _, _, err := w.svc.RecordNotice(ctx, marketplace.Azure, n); err != nil {
				t.Fatal(err)
			}
		}
		state := func() (marketplace.Billing, int64) {
			t.Helper()
			var org int64
			if err := db.Read().QueryRow(`SELECT org_id FROM billing_links l JOIN subscriptions s ON s.id = l.subscription_id
				WHERE s.agreement_key = $1 ORDER BY l.id DESC LIMIT 1`, key).Scan(&org); err != nil {
				t.Fatal(err)
			}
			b, err := w.svc.BillingOf(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			return b, org
		}
		// A notice for a subscription not landed yet waits.
		w.fake.set(key, func(r *marketplace.Remote) { r.Name = "Renamed before landing" })
		record(notice("op-early", "Renew", false, ""))
		if n, _ := w.svc.ApplyNotices(ctx, 10); n != 0 {
			t.Fatalf("a notice before the landing was applied (%d)", n)
		}
		ada := w.user("ada@example.com")
		p := w.land(token, ada)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"}); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		w.now = w.now.Add(2 * time.Minute)
		w.mu.Unlock()
		if n, _ := w.svc.ApplyNotices(ctx, 10); n != 1 {
			t.Fatalf("the waiting notice was not applied once landed (%d)", n)
		}

		// Suspended for non-payment, told twice.
		w.fake.set(key, func(r *marketplace.Remote) { r.Status = marketplace.StatusSuspended })
		record(notice("op-suspend", "Suspend", false, ""))
		record(notice("op-suspend", "Suspend", false, ""))
		if n, _ := w.svc.ApplyNotices(ctx, 10); n != 1 {
			t.Fatalf("suspend applied %d times, want 1", n)
		}
		if b, _ := state(); b.State != marketplace.BillingPaymentSuspended {
			t.Fatalf("after Suspend: %s", b.State)
		}
		// Reinstated once accepted: the change shows only after the ack.
		w.fake.mu.Lock()
		r := w.fake.subs[key]
		r.Status = marketplace.StatusActive
		w.fake.pending["op-reinstate"] = r
		w.fake.mu.Unlock()
		record(notice("op-reinstate", "Reinstate", true, ""))
		// A plan change waits for the seller too.
		w.fake.mu.Lock()
		r.Plan = "gold"
		w.fake.pending["op-plan"] = r
		w.fake.mu.Unlock()
		record(notice("op-plan", "ChangePlan", true, "gold"))
		if _, err := w.svc.ApplyNotices(ctx, 10); err != nil {
			t.Fatal(err)
		}
		b, _ := state()
		if b.State != marketplace.BillingActive || b.Subscription.Plan != "gold" || w.fake.acks["op-reinstate"] != 1 || w.fake.acks["op-plan"] != 1 {
			t.Fatalf("after Reinstate and ChangePlan: state %s plan %q acks %v", b.State, b.Subscription.Plan, w.fake.acks)
		}
		// Cancelled: the link ends, the organization is in grace.
		w.fake.set(key, func(r *marketplace.Remote) { r.Status = marketplace.StatusCancelled })
		record(notice("op-unsubscribe", "Unsubscribe", false, ""))
		if _, err := w.svc.ApplyNotices(ctx, 10); err != nil {
			t.Fatal(err)
		}
		b, orgID := state()
		if b.State != marketplace.BillingGrace {
			t.Fatalf("after Unsubscribe: %s", b.State)
		}
		// An old notice arriving after the cancellation cannot undo it.
		w.fake.set(key, func(r *marketplace.Remote) { r.Status = marketplace.StatusActive })
		record(notice("op-stale", "Renew", false, ""))
		if _, err := w.svc.ApplyNotices(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if b, _ := w.svc.BillingOf(ctx, orgID); b.State != marketplace.BillingGrace {
			t.Fatalf("a stale read undid the cancellation: %s", b.State)
		}
		var audit int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND detail LIKE 'Microsoft commercial marketplace subscription %'`, orgID).Scan(&audit); err != nil || audit < 3 {
			t.Fatalf("audit entries naming the marketplace = %d, %v", audit, err)
		}
	})
}

func TestReconcile_RepairsLostNotices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		key, token := w.fake.buy("tenant-a", "flat", 0)
		w.fake.buy("tenant-never-landed", "flat", 0)
		ada := w.user("ada@example.com")
		p := w.land(token, ada)
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: "Ada's team"})
		if err != nil {
			t.Fatal(err)
		}
		w.fake.set(key, func(r *marketplace.Remote) { r.Status = marketplace.StatusSuspended })
		rep, err := w.svc.Reconcile(ctx, marketplace.Azure)
		if err != nil || rep.Listed != 2 || rep.Known != 1 || rep.Changed != 1 {
			t.Fatalf("Reconcile = %+v, %v", rep, err)
		}
		if b, _ := w.svc.BillingOf(ctx, res.Org.ID); b.State != marketplace.BillingPaymentSuspended {
			t.Fatalf("after reconcile: %s", b.State)
		}
		if rep, err := w.svc.Reconcile(ctx, marketplace.Azure); err != nil || rep.Changed != 0 {
			t.Fatalf("second Reconcile = %+v, %v: nothing changed since", rep, err)
		}
	})
}

func TestMeteredSubscriptions_Azure_R18(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		ada := w.user("ada@example.com")
		link := func(tenant string, seats int64) string {
			key, token := w.fake.buy(tenant, "plan", seats)
			p := w.land(token, ada)
			if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: ada, NewOrgName: tenant}); err != nil {
				t.Fatal(err)
			}
			return key
		}
		flat, _ := link("flat", 0), link("seats", 3)
		metered := func() []string {
			subs, err := w.svc.MeteredSubscriptions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, s := range subs {
				keys = append(keys, s.Customer.AccountID)
			}
			return keys
		}
		if got := metered(); len(got) != 1 || got[0] != "flat" {
			t.Fatalf("metered = %v, want only the flat-rate plan's", got)
		}
		// Cancelled: its last hours stay metered for Microsoft's 24 hours.
		w.fake.set(flat, func(r *marketplace.Remote) { r.Status = marketplace.StatusCancelled })
		if _, err := w.svc.Reconcile(ctx, marketplace.Azure); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		w.now = w.now.Add(23 * time.Hour)
		w.mu.Unlock()
		if got := metered(); len(got) != 1 {
			t.Fatalf("23 h after the cancellation: metered = %v", got)
		}
		w.mu.Lock()
		w.now = w.now.Add(2 * time.Hour)
		w.mu.Unlock()
		if got := metered(); len(got) != 0 {
			t.Fatalf("25 h after the cancellation: metered = %v", got)
		}
	})
}

func errorsMessage(err error) string { return err.Error() + " | " + fault.Message(err) }

// The operator's "Run again" on a marketplace notice: a notice whose
// subscription has not landed says so and stays; once it has, it applies;
// an applied one is not run again.
func TestRetryNotice_WaitingThenAppliedThenNotRetryable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newAzureWorld(t, db)
		key, token := w.fake.buy("tenant-a", "flat", 0)
		id, _, err := w.svc.RecordNotice(ctx, marketplace.Azure, marketplace.Notice{ID: "op-1", SubscriptionKey: key, Action: "Renew",
			SentAt: w.Now(), Payload: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.svc.RetryNotice(ctx, id); err == nil || !strings.Contains(err.Error(), "has not been set up here yet") {
			t.Fatalf("RetryNotice before the landing = %v, want it waiting", err)
		}
		w.land(token, w.user("ada@example.com"))
		if err := w.svc.RetryNotice(ctx, id); err != nil {
			t.Fatalf("RetryNotice after the landing: %v", err)
		}
		if err := w.svc.RetryNotice(ctx, id); !errors.Is(err, marketplace.ErrNotRetryable) {
			t.Fatalf("RetryNotice of an applied notice = %v, want ErrNotRetryable", err)
		}
		notices, err := w.svc.Notices(ctx, 10)
		if err != nil || len(notices) != 1 || notices[0].Status != "applied" || notices[0].Source != "Microsoft commercial marketplace webhook" {
			t.Fatalf("Notices = %+v, %v", notices, err)
		}
	})
}
