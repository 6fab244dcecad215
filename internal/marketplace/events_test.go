package marketplace_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// withEvents makes the world's seller record webhook events through rec,
// or through a webhook.Recorder on real time when rec is nil.
func (w *world) withEvents(rec marketplace.EventRecorder) {
	w.t.Helper()
	if rec == nil {
		rec = webhook.NewRecorder(time.Now)
	}
	w.cfg.Events = rec
	svc, err := marketplace.New(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.svc = svc
}

func (w *world) set(t time.Time) { w.mu.Lock(); defer w.mu.Unlock(); w.now = t }

// eventData is the union of the payloads' fields the tests look at.
type eventData struct {
	Organization    webhook.Organization  `json:"organization"`
	Sequence        int64                 `json:"sequence"`
	State           string                `json:"state"`
	BillingState    string                `json:"billing_state"`
	Reason          string                `json:"reason"`
	Moved           bool                  `json:"moved"`
	Threshold       int                   `json:"threshold"`
	Subscription    *webhook.Subscription `json:"subscription"`
	LinkedAt        *time.Time            `json:"linked_at"`
	UnlinkedAt      *time.Time            `json:"unlinked_at"`
	GraceUntil      *time.Time            `json:"grace_until"`
	FinalMeteringBy *time.Time            `json:"final_metering_by"`
	Credits         *webhook.Credits      `json:"credits"`
	Entitlements    []webhook.Entitlement `json:"entitlements"`
}

type recorded struct {
	seq  int64
	typ  webhook.Type
	data eventData
}

// String names the event as the tests list them: its type, and its state,
// reason or threshold.
func (r recorded) String() string {
	switch r.typ {
	case webhook.TypeSubscriptionUpdated:
		return string(r.typ) + ":" + r.data.State
	case webhook.TypeOrganizationUnlinked:
		return string(r.typ) + ":" + r.data.Reason
	case webhook.TypeCreditsThreshold:
		return fmt.Sprintf("%s:%d", r.typ, r.data.Threshold)
	}
	return string(r.typ)
}

// events lists the organization's recorded events in sequence order, and
// checks that the sequence numbers run from 1 without a gap.
func (w *world) events(orgID int64) []recorded {
	w.t.Helper()
	rows, err := w.db.Read().Query(`SELECT seq, type, data FROM webhook_events WHERE org_id = $1 ORDER BY seq`, orgID)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []recorded
	for rows.Next() {
		var r recorded
		var data string
		if err := rows.Scan(&r.seq, &r.typ, &data); err != nil {
			w.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(data), &r.data); err != nil {
			w.t.Fatal(err)
		}
		if r.seq != int64(len(out)+1) || r.data.Sequence != r.seq || r.data.Organization.ID != orgID {
			w.t.Fatalf("event %d of organization %d has sequence %d (data %d, organization %d)", len(out)+1, orgID, r.seq, r.data.Sequence, r.data.Organization.ID)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return out
}

func names(rs []recorded) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func (w *world) wantEvents(orgID int64, want ...string) []recorded {
	w.t.Helper()
	got := w.events(orgID)
	if !slices.Equal(names(got), want) {
		w.t.Fatalf("events of organization %d:\n got %v\nwant %v", orgID, names(got), want)
	}
	return got
}

func (w *world) apply(msgs ...marketplace.Notification) {
	w.t.Helper()
	ctx := context.Background()
	for _, m := range msgs {
		if _, _, err := w.svc.Record(ctx, m); err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.svc.ApplyPending(ctx, 100); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) tellElapsed(want int) {
	w.t.Helper()
	if n, err := w.svc.TellElapsed(context.Background()); err != nil || n != want {
		w.t.Fatalf("TellElapsed recorded %d, %v; want %d", n, err, want)
	}
}

func timeIs(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// The whole life of a PAYG subscription, as the vendor's product learns
// it: linked (organization.linked, then active), unsubscribe-pending
// (cancelling), unsubscribe-success (cancelled, organization.unlinked,
// grace), the 14 days of grace over (suspended, recorded once by the
// periodic pass), and a new subscription linked by an admin (reinstated),
// in increasing sequence, each with the state after it (issue 12, R17-R19).
func TestEvents_R19_LifecycleLinkCancelGraceSuspendRelink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		account, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("life@example.com")
		p := w.claimed(agreement, u)
		res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: "Life"})
		if err != nil {
			t.Fatal(err)
		}
		orgID := res.Org.ID
		if _, err := db.Write().Exec(`UPDATE organizations SET external_id = 'tenant-life' WHERE id = $1`, orgID); err != nil {
			t.Fatal(err)
		}
		t0 := w.Now()
		pendingAt, cancelledAt := t0.Add(time.Minute), t0.Add(time.Hour)
		w.set(pendingAt)
		w.apply(note(p, "life-pending", marketplace.ActionUnsubscribePending, pendingAt))
		w.set(cancelledAt)
		w.apply(note(p, "life-success", marketplace.ActionUnsubscribeSuccess, cancelledAt))
		graceUntil := cancelledAt.Add(marketplace.GracePeriod)
		w.set(graceUntil.Add(-time.Second))
		w.tellElapsed(0)
		w.set(graceUntil)
		w.tellElapsed(1)
		w.tellElapsed(0)
		got := w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelling",
			"subscription.updated:cancelled", "organization.unlinked:cancelled", "subscription.updated:grace", "subscription.updated:suspended")

		wantSub := webhook.Subscription{Marketplace: "aws", ProductCode: market.DemoPAYGCode, CustomerAccountID: account, OfferType: "payg", Status: "active"}
		linked := got[0].data
		if linked.Subscription == nil || *linked.Subscription != wantSub || linked.BillingState != "active" || linked.Moved {
			t.Errorf("organization.linked = %+v %+v, want %+v, active, not moved", linked, linked.Subscription, wantSub)
		}
		timeIs(t, "linked_at", linked.LinkedAt, t0)
		for _, r := range got[4:] {
			if r.data.Organization.ExternalID != "tenant-life" {
				t.Errorf("%s names organization %+v, want its external id", r, r.data.Organization)
			}
		}
		if d := got[1].data; d.BillingState != "active" || d.Subscription == nil || *d.Subscription != wantSub {
			t.Errorf("active = %+v", d)
		}
		cancelling := got[2].data
		wantSub.Status = "unsubscribe-pending"
		if cancelling.BillingState != "cancellation-pending" || cancelling.Subscription == nil || *cancelling.Subscription != wantSub {
			t.Errorf("cancelling = %+v %+v", cancelling, cancelling.Subscription)
		}
		timeIs(t, "cancelling's final_metering_by", cancelling.FinalMeteringBy, pendingAt.Add(marketplace.FinalMeteringWindow))
		wantSub.Status = "cancelled"
		for _, r := range got[3:] {
			want := marketplace.BillingGrace
			if r.data.State == "suspended" {
				want = marketplace.BillingSuspended
			}
			if r.data.BillingState != want {
				t.Errorf("%s: billing state %q, want %q", r, r.data.BillingState, want)
			}
			if r.data.Subscription == nil || *r.data.Subscription != wantSub {
				t.Errorf("%s: subscription %+v, want %+v", r, r.data.Subscription, wantSub)
			}
			if r.typ == webhook.TypeSubscriptionUpdated {
				timeIs(t, r.String()+"'s grace_until", r.data.GraceUntil, graceUntil)
			}
		}
		timeIs(t, "unlinked_at", got[4].data.UnlinkedAt, cancelledAt)

		// An admin links another subscription to the suspended organization.
		_, again := w.buyer(market.DemoPAYGCode)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: w.claimed(again, u).ID, UserID: u, OrgID: orgID}); err != nil {
			t.Fatal(err)
		}
		got = w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelling",
			"subscription.updated:cancelled", "organization.unlinked:cancelled", "subscription.updated:grace", "subscription.updated:suspended",
			"organization.linked", "subscription.updated:reinstated")
		if d := got[8].data; d.BillingState != "active" || d.Subscription == nil || d.Subscription.Status != "active" || d.GraceUntil != nil {
			t.Errorf("reinstated = %+v", d)
		}
		w.tellElapsed(0)
	})
}

// The notifications loop runs the periodic pass: a grace that ends while
// serve runs is told as suspended without anything else happening (R19).
func TestEvents_R19_NotificationsLoopTellsSuspension(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		p, orgID := w.linkedPAYG("loop@example.com")
		w.apply(note(p, "loop-success", marketplace.ActionUnsubscribeSuccess, w.Now()))
		w.set(w.Now().Add(marketplace.GracePeriod))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.svc.RunNotifications(ctx, 5*time.Millisecond) }()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(10 * time.Second)
		for w.count(`SELECT COUNT(*) FROM webhook_events WHERE org_id = $1 AND data LIKE '%"suspended"%'`, orgID) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the loop did not record the suspension")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
			"organization.unlinked:cancelled", "subscription.updated:grace", "subscription.updated:suspended")
	})
}

// Events are told from the state last told: a cancelling subscription made
// active again by a newer message is reinstated; a message that changes
// nothing (a duplicate, a stale one, subscribe-success of an active
// subscription) records nothing; messages out of order record the state
// they leave, once.
func TestEvents_DuplicateAndReorderedNotificationsRecordOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		t0 := w.Now()

		p, orgID := w.linkedPAYG("dup@example.com")
		pending := note(p, "dup-pending", marketplace.ActionUnsubscribePending, t0.Add(time.Minute))
		w.apply(note(p, "dup-ok", marketplace.ActionSubscribeSuccess, t0), pending)
		// The same SNS message again, stored or not, and applied again.
		if _, isNew, err := w.svc.Record(ctx, pending); err != nil || isNew {
			t.Fatalf("the duplicate was stored again: %v, %v", isNew, err)
		}
		w.apply(pending, pending)
		// A subscribe-success sent after the unsubscribe-pending.
		w.apply(note(p, "dup-back", marketplace.ActionSubscribeSuccess, t0.Add(2*time.Minute)))
		w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelling",
			"subscription.updated:reinstated")

		// unsubscribe-success before the unsubscribe-pending AWS sent first.
		q, other := w.linkedPAYG("reorder@example.com")
		w.apply(note(q, "re-success", marketplace.ActionUnsubscribeSuccess, t0.Add(time.Hour)),
			note(q, "re-pending", marketplace.ActionUnsubscribePending, t0.Add(time.Minute)),
			note(q, "re-success", marketplace.ActionUnsubscribeSuccess, t0.Add(time.Hour)))
		w.wantEvents(other, "organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
			"organization.unlinked:cancelled", "subscription.updated:grace")
	})
}

// A subscription AWS could not complete (subscribe-fail) after it was
// linked leaves its organization unbilled: organization.unlinked (failed),
// then none.
func TestEvents_SubscribeFailUnlinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		p, orgID := w.linkedPAYG("fail@example.com")
		w.apply(note(p, "fail-1", marketplace.ActionSubscribeFail, w.Now()))
		got := w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "organization.unlinked:failed", "subscription.updated:none")
		if d := got[2].data; d.BillingState != "none" || d.Subscription == nil || d.Subscription.Status != "failed" {
			t.Errorf("unlinked = %+v %+v", d, d.Subscription)
		}
	})
}

// Moving a subscription to another organization (R8) tells the one it
// leaves (organization.unlinked, moved; then none) and the one it bills
// now (organization.linked, moved; then active).
func TestEvents_R8_MoveTellsBothOrganizations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("mover@example.com")
		p := w.claimed(agreement, u)
		from, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: "From"})
		if err != nil {
			t.Fatal(err)
		}
		to := w.org(u, "To")
		if res, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: to.ID, Move: true}); err != nil || !res.Moved {
			t.Fatalf("move = %+v, %v", res, err)
		}
		left := w.wantEvents(from.Org.ID, "organization.linked", "subscription.updated:active", "organization.unlinked:moved", "subscription.updated:none")
		if d := left[2].data; d.BillingState != "none" || d.Subscription == nil || d.Subscription.Status != "active" {
			t.Errorf("unlinked = %+v", d)
		}
		if d := left[3].data; d.BillingState != "none" || d.Subscription != nil {
			t.Errorf("none = %+v", d)
		}
		now := w.wantEvents(to.ID, "organization.linked", "subscription.updated:active")
		if !now[0].data.Moved {
			t.Errorf("organization.linked of the move says moved = false")
		}
	})
}

// failingRecorder records through the webhook Recorder, then fails the
// change's transaction when it records an event of type typ.
type failingRecorder struct {
	rec *webhook.Recorder
	typ webhook.Type
}

var errAfterRecord = errors.New("the change fails after its event was recorded")

func (f failingRecorder) Record(ctx context.Context, tx *sql.Tx, orgID int64, typ webhook.Type, payload any) (webhook.Event, error) {
	e, err := f.rec.Record(ctx, tx, orgID, typ, payload)
	if err == nil && typ == f.typ {
		return e, errAfterRecord
	}
	return e, err
}

// Events are recorded in the transaction of the change they report: a
// change that fails after its events were recorded leaves neither the
// change nor its events nor a sequence number taken, and the change made
// again later records them once (issue 12: none is sent for a change that
// rolled back).
func TestEvents_AChangeThatRollsBackRecordsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		rec := webhook.NewRecorder(time.Now)
		_, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("rollback@example.com")
		o := w.org(u, "Rollback")
		p := w.claimed(agreement, u)

		w.withEvents(failingRecorder{rec, webhook.TypeSubscriptionUpdated})
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: o.ID}); !errors.Is(err, errAfterRecord) {
			t.Fatalf("Link = %v, want the recorder's failure", err)
		}
		if n := w.count(`SELECT COUNT(*) FROM billing_links`); n != 0 {
			t.Fatalf("%d billing links after the failed link, want 0", n)
		}
		if n := w.count(`SELECT COUNT(*) FROM webhook_events`) + w.count(`SELECT event_seq FROM organizations WHERE id = $1`, o.ID); n != 0 {
			t.Fatalf("the failed link left events or took sequence numbers (%d)", n)
		}
		w.withEvents(rec)
		if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, OrgID: o.ID}); err != nil {
			t.Fatal(err)
		}

		w.withEvents(failingRecorder{rec, webhook.TypeOrganizationUnlinked})
		success := note(p, "rb-success", marketplace.ActionUnsubscribeSuccess, w.Now())
		w.apply(success) // fails: kept for the next pass
		if b, _ := w.svc.BillingOf(ctx, o.ID); b.State != marketplace.BillingActive {
			t.Fatalf("after the failed cancellation the organization is %s, want active", b.State)
		}
		w.wantEvents(o.ID, "organization.linked", "subscription.updated:active")
		w.withEvents(rec)
		if n, err := w.svc.ApplyPending(ctx, 10); err != nil || n != 1 {
			t.Fatalf("applied %d, %v", n, err)
		}
		w.wantEvents(o.ID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
			"organization.unlinked:cancelled", "subscription.updated:grace")
	})
}

// Several processes running the periodic pass at once record each
// organization's suspension once, and nothing for one whose grace still
// runs or that linked again (R19).
func TestEvents_R19_SuspensionRecordedOnceByManyProcesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		t0 := w.Now()
		var orgs []int64
		for i := range 4 {
			p, orgID := w.linkedPAYG(fmt.Sprintf("suspend%d@example.com", i))
			w.apply(note(p, fmt.Sprintf("suspend-%d", i), marketplace.ActionUnsubscribeSuccess, t0))
			orgs = append(orgs, orgID)
		}
		// The last one is cancelled later: its grace still runs.
		w.set(t0.Add(24 * time.Hour))
		p, late := w.linkedPAYG("late@example.com")
		w.apply(note(p, "suspend-late", marketplace.ActionUnsubscribeSuccess, w.Now()))
		w.set(t0.Add(marketplace.GracePeriod + time.Minute))

		var wg sync.WaitGroup
		total := make(chan int, 6)
		for range 6 {
			svc, err := marketplace.New(w.cfg)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				n, err := svc.TellElapsed(ctx)
				if err != nil {
					t.Error(err)
				}
				total <- n
			})
		}
		wg.Wait()
		close(total)
		sum := 0
		for n := range total {
			sum += n
		}
		if sum != len(orgs) {
			t.Errorf("the processes recorded %d suspensions, want %d", sum, len(orgs))
		}
		for _, orgID := range orgs {
			w.wantEvents(orgID, "organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
				"organization.unlinked:cancelled", "subscription.updated:grace", "subscription.updated:suspended")
		}
		w.wantEvents(late, "organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
			"organization.unlinked:cancelled", "subscription.updated:grace")
	})
}

// An admin linking an organization whose grace just ended, while the
// periodic pass runs, is told in an order that makes sense: suspended
// (if the pass came first), then linked and reinstated; never suspended
// after reinstated, as the pass reads the state under the organization's
// lock (R19).
func TestEvents_R19_LinkRacingTheSuspensionPass(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		t0 := w.Now()
		type grace struct {
			org, user int64
			purchase  marketplace.Purchase
		}
		var orgs []grace
		for i := range 6 {
			email := fmt.Sprintf("race%d@example.com", i)
			p, orgID := w.linkedPAYG(email)
			w.apply(note(p, "race-end-"+email, marketplace.ActionUnsubscribeSuccess, t0))
			var user int64
			if err := db.Read().QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&user); err != nil {
				t.Fatal(err)
			}
			orgs = append(orgs, grace{org: orgID, user: user})
		}
		w.set(t0.Add(marketplace.GracePeriod))
		for i, g := range orgs {
			_, again := w.buyer(market.DemoPAYGCode)
			orgs[i].purchase = w.claimed(again, g.user)
		}
		var wg sync.WaitGroup
		for _, g := range orgs {
			wg.Go(func() {
				if _, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: g.purchase.ID, UserID: g.user, OrgID: g.org}); err != nil {
					t.Error(err)
				}
			})
			svc, err := marketplace.New(w.cfg)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if _, err := svc.TellElapsed(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		w.tellElapsed(0)
		before := []string{"organization.linked", "subscription.updated:active", "subscription.updated:cancelled",
			"organization.unlinked:cancelled", "subscription.updated:grace"}
		for _, g := range orgs {
			got := names(w.events(g.org))
			passFirst := append(slices.Clone(before), "subscription.updated:suspended", "organization.linked", "subscription.updated:reinstated")
			linkFirst := append(slices.Clone(before), "organization.linked", "subscription.updated:reinstated")
			if !slices.Equal(got, passFirst) && !slices.Equal(got, linkFirst) {
				t.Errorf("events of organization %d: %v", g.org, got)
			}
		}
	})
}

// A contract's changes of entitlements are told as entitlement.updated with
// the terms and committed credits after them: an upgrade (R22), then the
// expiry, which AWS tells as entitlement-updated with nothing listed
// (contract-expired, R14); applying a message that changes nothing records
// nothing.
func TestEvents_R14_R22_ContractUpgradeAndExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		agreement, p, linked := w.linkedContract("ent@example.com", "Entitled")
		if _, err := w.emu.Market().Upgrade(ctx, agreement.ID, map[string]int64{"committed_credits": 25_000}); err != nil {
			t.Fatal(err)
		}
		w.apply(note(p, "ent-1", marketplace.ActionEntitlementUpdated, time.Now()))
		w.apply(note(p, "ent-2", marketplace.ActionEntitlementUpdated, time.Now())) // nothing new
		got := w.wantEvents(linked.Org.ID, "organization.linked", "subscription.updated:active", "entitlement.updated")
		up := got[2].data
		end := agreement.EndAt.Truncate(time.Second)
		if up.BillingState != "active" || up.Subscription == nil || up.Subscription.OfferType != "contract" || up.Credits == nil ||
			up.Credits.TotalMicros != 25_000_000_000 || up.Credits.UsedMicros != nil || up.Credits.TermStart != nil {
			t.Errorf("entitlement.updated = %+v %+v", up, up.Credits)
		}
		timeIs(t, "the term's end", up.Credits.TermEnd, end)
		var committed *webhook.Entitlement
		for i, e := range up.Entitlements {
			if e.Dimension == "committed_credits" {
				committed = &up.Entitlements[i]
			}
		}
		if committed == nil || committed.Kind != "integer" || committed.Quantity == nil || *committed.Quantity != 25_000 {
			t.Fatalf("entitlements %+v, want committed_credits of 25000", up.Entitlements)
		}
		timeIs(t, "committed_credits' expiry", committed.ExpiresAt, end)

		if _, err := w.emu.Market().SetClock(ctx, *agreement.EndAt); err != nil {
			t.Fatal(err)
		}
		if err := w.emu.Market().Tick(ctx); err != nil {
			t.Fatal(err)
		}
		w.apply(note(p, "ent-3", marketplace.ActionEntitlementUpdated, time.Now()))
		w.tellElapsed(0)
		got = w.wantEvents(linked.Org.ID, "organization.linked", "subscription.updated:active", "entitlement.updated",
			"entitlement.updated", "subscription.updated:contract-expired")
		if d := got[3].data; len(d.Entitlements) != 0 || d.Credits != nil || d.BillingState != "contract-expired" {
			t.Errorf("entitlement.updated of the expiry = %+v", d)
		}
	})
}

// "Set up your account" again after an upgrade reads the new entitlements:
// told as entitlement.updated too; again with nothing new, nothing.
func TestEvents_R22_SetUpAgainTellsNewEntitlements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		agreement, _, linked := w.linkedContract("again@example.com", "Again")
		if _, err := w.emu.Market().Upgrade(ctx, agreement.ID, map[string]int64{"committed_credits": 12_000}); err != nil {
			t.Fatal(err)
		}
		w.fulfill(agreement.ID)
		w.fulfill(agreement.ID)
		got := w.wantEvents(linked.Org.ID, "organization.linked", "subscription.updated:active", "entitlement.updated")
		if c := got[2].data.Credits; c == nil || c.TotalMicros != 12_000_000_000 {
			t.Errorf("credits = %+v, want 12000 credits", c)
		}
	})
}

// A contract whose term ends with no message from AWS is told
// contract-expired by the periodic pass, once; its renewal then reinstates
// it (R14, R22).
func TestEvents_R14_ContractExpiryByTimeThenRenewal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		agreement, p, linked := w.linkedContract("expiry@example.com", "Expiring")
		w.tellElapsed(0)
		w.set(agreement.EndAt.Add(time.Minute))
		w.tellElapsed(1)
		w.tellElapsed(0)
		if _, err := w.emu.Market().Renew(ctx, agreement.ID, 12); err != nil {
			t.Fatal(err)
		}
		w.apply(note(p, "renew-1", marketplace.ActionEntitlementUpdated, time.Now()))
		got := w.wantEvents(linked.Org.ID, "organization.linked", "subscription.updated:active", "subscription.updated:contract-expired",
			"entitlement.updated", "subscription.updated:reinstated")
		if d := got[4].data; d.BillingState != "active" {
			t.Errorf("reinstated = %+v", d)
		}
		if c := got[3].data.Credits; c == nil || c.TermStart == nil || !c.TermStart.Equal(agreement.EndAt.Truncate(time.Second)) {
			t.Errorf("the renewal's credits = %+v, want a term starting where the first ended", c)
		}
	})
}

// The use of committed credits is told at 50, 75, 90 and 100%, once each,
// in the transaction of the alert; only 50, 75 and 90% are mailed (R15).
func TestEvents_R15_CreditThresholds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		w.withEvents(nil)
		ctx := context.Background()
		_, p, linked := w.linkedContract("credits@example.com", "Credits")
		terms, err := marketplace.ContractTerms(ctx, db, p.Subscription.ID, "committed_credits")
		if err != nil || len(terms) != 1 {
			t.Fatalf("terms = %v, %v", terms, err)
		}
		term := terms[0]
		total := term.Credits * 1_000_000
		for _, used := range []int64{total * 6 / 10, total * 6 / 10, total + 5, total} {
			if err := w.svc.RecordCreditUse(ctx, marketplace.CreditUse{SubscriptionID: p.Subscription.ID, Term: term, UsedMicros: used}); err != nil {
				t.Fatal(err)
			}
		}
		got := w.wantEvents(linked.Org.ID, "organization.linked", "subscription.updated:active", "credits.threshold:50",
			"credits.threshold:75", "credits.threshold:90", "credits.threshold:100")
		for i, used := range []int64{total * 6 / 10, total, total, total} {
			c := got[2+i].data.Credits
			if c == nil || c.TotalMicros != total || c.UsedMicros == nil || *c.UsedMicros != used || c.RemainingMicros == nil || *c.RemainingMicros != total-used {
				t.Errorf("%s: credits %+v, want %d used of %d", got[2+i], c, used, total)
			}
			if c != nil {
				timeIs(t, "the term's end", c.TermEnd, term.End)
			}
			if d := got[2+i].data; d.BillingState != "active" || d.Subscription == nil || d.Subscription.OfferType != "contract" {
				t.Errorf("%s = %+v", got[2+i], d)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM mail_outbox WHERE subject LIKE '%committed credits are used'`); n != 3 {
			t.Errorf("%d credit alerts mailed, want 3 (50, 75 and 90%%)", n)
		}
	})
}
