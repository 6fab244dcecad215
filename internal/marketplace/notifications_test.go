package marketplace_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// linkedPAYG is a PAYG subscription linked to a new organization.
func (w *world) linkedPAYG(email string) (marketplace.Purchase, int64) {
	w.t.Helper()
	_, agreement := w.buyer(market.DemoPAYGCode)
	u := w.user(email)
	p := w.claimed(agreement, u)
	res, err := w.svc.Link(context.Background(), marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: "Org of " + email})
	if err != nil {
		w.t.Fatal(err)
	}
	return p, res.Org.ID
}

// linkedContract is the demo buyer's accepted private offer, a contract,
// linked to a new organization.
func (w *world) linkedContract(email, orgName string) (market.Agreement, marketplace.Purchase, marketplace.LinkResult) {
	w.t.Helper()
	ctx := context.Background()
	res, err := w.emu.Market().AcceptOffer(ctx, w.demo.Buyer.ID, w.demo.PrivateOffer.ID, "")
	if err != nil {
		w.t.Fatal(err)
	}
	u := w.user(email)
	p := w.claimed(res.Agreement.ID, u)
	linked, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: u, NewOrgName: orgName})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Agreement, p, linked
}

func note(p marketplace.Purchase, id, action string, at time.Time) marketplace.Notification {
	return marketplace.Notification{Source: "sns", MessageID: id, Action: action, ProductCode: p.Subscription.ProductCode,
		Customer: p.Subscription.Customer, SentAt: at, Payload: "{}"}
}

// Every order of the cancellation's messages, with a duplicate, ends in the
// same state as the order AWS sent them in.
func TestNotifications_ReorderedAndDuplicatedConverge(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}, {0, 2, 1, 2}, {1, 0, 1, 2}}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		for i, order := range orders {
			p, orgID := w.linkedPAYG(fmt.Sprintf("order%d@example.com", i))
			t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
			msgs := []marketplace.Notification{
				note(p, fmt.Sprintf("o%d-a", i), marketplace.ActionSubscribeSuccess, t0),
				note(p, fmt.Sprintf("o%d-b", i), marketplace.ActionUnsubscribePending, t0.Add(time.Minute)),
				note(p, fmt.Sprintf("o%d-c", i), marketplace.ActionUnsubscribeSuccess, t0.Add(time.Hour)),
			}
			for _, k := range order {
				if _, _, err := w.svc.Record(ctx, msgs[k]); err != nil {
					t.Fatal(err)
				}
				if _, err := w.svc.ApplyPending(ctx, 100); err != nil {
					t.Fatal(err)
				}
			}
			var status string
			var finalBy *time.Time
			if err := db.Read().QueryRow(`SELECT status, final_metering_by FROM subscriptions WHERE id = $1`, p.Subscription.ID).Scan(&status, &finalBy); err != nil {
				t.Fatal(err)
			}
			if status != marketplace.StatusCancelled {
				t.Errorf("order %v: status %s, want cancelled", order, status)
			}
			b, _ := w.svc.BillingOf(ctx, orgID)
			if b.State != marketplace.BillingGrace || b.Subscription != nil {
				t.Errorf("order %v: billing %s, want grace with no live link", order, b.State)
			}
			if n := w.count(`SELECT COUNT(*) FROM audit_log WHERE org_id = $1 AND action = 'billing.unlink'`, orgID); n != 1 {
				t.Errorf("order %v: %d unlink entries, want 1", order, n)
			}
		}
	})
}

// A crash after a notification is stored and before it is applied loses
// nothing: another process (or the restarted one) applies it, once.
func TestNotifications_CrashBetweenStoreAndApply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		p, orgID := w.linkedPAYG("crash@example.com")
		if _, isNew, err := w.svc.Record(ctx, note(p, "crash-1", marketplace.ActionUnsubscribePending, time.Now())); err != nil || !isNew {
			t.Fatal(isNew, err)
		}
		// The process dies here. A new one starts on the same database.
		restarted := newWorld(t, db).svc
		if n, err := restarted.ApplyPending(ctx, 100); err != nil || n != 1 {
			t.Fatalf("after restart: applied %d, %v; want 1", n, err)
		}
		if n, err := restarted.ApplyPending(ctx, 100); err != nil || n != 0 {
			t.Fatalf("second pass applied %d, %v; want 0", n, err)
		}
		if _, isNew, _ := restarted.Record(ctx, note(p, "crash-1", marketplace.ActionUnsubscribePending, time.Now())); isNew {
			t.Fatal("the redelivered message was stored again")
		}
		b, _ := w.svc.BillingOf(ctx, orgID)
		if b.State != marketplace.BillingCancellationPending || b.Subscription.FinalMeteringBy.IsZero() {
			t.Fatalf("billing = %+v, want cancellation pending with a deadline", b)
		}
		msgs, _ := w.outbox.List(ctx, 10)
		if !strings.Contains(msgs[0].Subject, "being cancelled") || msgs[0].To[0] != "crash@example.com" {
			t.Fatalf("admins were not told: newest mail %q to %v", msgs[0].Subject, msgs[0].To)
		}
	})
}

// An upgrade of a contract on AWS reaches the seller as entitlement-updated;
// the seller re-reads GetEntitlements and the link stays (R22).
func TestNotifications_R22_ContractUpgradeReReadsEntitlements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		agreement, p, linked := w.linkedContract("up@example.com", "Upgraded")
		if _, err := w.emu.Market().Upgrade(ctx, agreement.ID, map[string]int64{"committed_credits": 25_000}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.svc.Record(ctx, note(p, "ent-1", marketplace.ActionEntitlementUpdated, time.Now())); err != nil {
			t.Fatal(err)
		}
		if n, err := w.svc.ApplyPending(ctx, 10); err != nil || n != 1 {
			t.Fatalf("applied %d, %v", n, err)
		}
		b, _ := w.svc.BillingOf(ctx, linked.Org.ID)
		if b.Subscription == nil {
			t.Fatal("the upgrade removed the link")
		}
		var committed int64 = -1
		for _, e := range b.Subscription.Entitlements {
			if e.Dimension == "committed_credits" {
				committed = e.Integer
			}
		}
		if committed != 25_000 {
			t.Fatalf("committed credits after the upgrade = %d, want 25000 (%+v)", committed, b.Subscription.Entitlements)
		}
	})
}

// Subscribing again after a cancellation is a new agreement: a new
// subscription that links a new organization, while the old organization
// keeps its data and its ended link (R21).
func TestNotifications_R21_ResubscribeLinksANewOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		account, agreement := w.buyer(market.DemoPAYGCode)
		u := w.user("again@example.com")
		first, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: w.claimed(agreement, u).ID, UserID: u, NewOrgName: "First"})
		if err != nil {
			t.Fatal(err)
		}
		p := w.claimed(agreement, u)
		if _, _, err := w.svc.Record(ctx, note(p, "r21-end", marketplace.ActionUnsubscribeSuccess, time.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.ApplyPending(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := w.emu.Market().Cancel(ctx, agreement); err != nil {
			t.Fatal(err)
		}
		if _, err := w.emu.Market().AdvanceClock(ctx, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := w.emu.Market().Tick(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := w.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: account, ProductCode: market.DemoPAYGCode})
		if err != nil || res.Existing {
			t.Fatalf("resubscribe = %+v, %v", res, err)
		}
		second, err := w.svc.Link(ctx, marketplace.LinkInput{PurchaseID: w.claimed(res.Agreement.ID, u).ID, UserID: u, NewOrgName: "Second"})
		if err != nil {
			t.Fatalf("linking the new subscription = %v", err)
		}
		if second.Org.ID == first.Org.ID {
			t.Fatal("the new subscription linked the old organization")
		}
		if n := w.count(`SELECT COUNT(*) FROM subscriptions WHERE customer_aws_account_id = $1`, account); n != 2 {
			t.Fatalf("%d subscriptions for the account, want 2", n)
		}
		old, _ := w.svc.BillingOf(ctx, first.Org.ID)
		if old.State != marketplace.BillingGrace || old.Ended == nil {
			t.Fatalf("old organization's billing = %+v, want grace with its ended subscription", old)
		}
	})
}

// The terms of a contract's committed credits follow what GetEntitlements
// says after each change: a renewal, which AWS makes before the old term
// ends, starts a new term where the old one ends and keeps the old one, with
// its own credits, for the usage of its remaining hours (R13, R22); an
// upgrade changes the current term's credits; an expired term stays, as the
// usage in it was drawn from its credits (R14); applying a notification
// twice changes nothing.
func TestNotifications_R13_R14_R22_TermsFollowRenewalsUpgradesAndExpiry(t *testing.T) {
	type step struct {
		renew   bool  // AWS renews the contract for 12 months
		upgrade int64 // then AWS sets the committed credits to this, if not 0
		expire  bool  // AWS's clock reaches the contract's end, which expires it
		apply   int   // the seller then applies this many entitlement-updated notifications
	}
	// want lists the terms by the agreement's end dates after each step:
	// ends[0] is the first term's; credits per term.
	type term struct {
		end     int // index into the end dates: -1 for none
		credits int64
	}
	cases := []struct {
		name  string
		steps []step
		want  []term
	}{
		{name: "a renewal starts a new term where the old one ends and keeps the old one",
			steps: []step{{renew: true, apply: 1}},
			want:  []term{{0, 10_000}, {1, 10_000}}},
		{name: "a renewal with more credits: the old term keeps its own",
			steps: []step{{renew: true, upgrade: 25_000, apply: 1}},
			want:  []term{{0, 10_000}, {1, 25_000}}},
		{name: "an upgrade changes the current term's credits, not its dates",
			steps: []step{{upgrade: 25_000, apply: 1}},
			want:  []term{{0, 25_000}}},
		{name: "the same renewal applied twice is one renewal",
			steps: []step{{renew: true, apply: 2}},
			want:  []term{{0, 10_000}, {1, 10_000}}},
		{name: "two renewals make three terms",
			steps: []step{{renew: true, apply: 1}, {renew: true, apply: 1}},
			want:  []term{{0, 10_000}, {1, 10_000}, {2, 10_000}}},
		{name: "an expired term stays, with its credits",
			steps: []step{{expire: true, apply: 1}},
			want:  []term{{0, 10_000}}},
		{name: "a renewed term that expires stays after the one before it",
			steps: []step{{renew: true, apply: 1}, {expire: true, apply: 1}},
			want:  []term{{0, 10_000}, {1, 10_000}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				w := newWorld(t, db)
				ctx := context.Background()
				agreement, p, _ := w.linkedContract("terms@example.com", "Terms")
				// AWS sends end dates in whole seconds.
				ends := []time.Time{agreement.EndAt.Truncate(time.Second)}
				end := *agreement.EndAt
				sent := 0
				for _, st := range tc.steps {
					if st.renew {
						a, err := w.emu.Market().Renew(ctx, agreement.ID, 12)
						if err != nil {
							t.Fatal(err)
						}
						ends = append(ends, a.EndAt.Truncate(time.Second))
						end = *a.EndAt
					}
					if st.upgrade != 0 {
						if _, err := w.emu.Market().Upgrade(ctx, agreement.ID, map[string]int64{"committed_credits": st.upgrade}); err != nil {
							t.Fatal(err)
						}
					}
					if st.expire {
						if _, err := w.emu.Market().SetClock(ctx, end); err != nil {
							t.Fatal(err)
						}
						if err := w.emu.Market().Tick(ctx); err != nil {
							t.Fatal(err)
						}
						if a, _ := w.emu.Market().Agreement(agreement.ID); a.Status != market.StatusExpired {
							t.Fatalf("agreement %s at its end, want expired", a.Status)
						}
					}
					for range st.apply {
						sent++
						if _, _, err := w.svc.Record(ctx, note(p, fmt.Sprintf("terms-%d", sent), marketplace.ActionEntitlementUpdated, time.Now())); err != nil {
							t.Fatal(err)
						}
						if n, err := w.svc.ApplyPending(ctx, 10); err != nil || n != 1 {
							t.Fatalf("applied %d, %v", n, err)
						}
					}
				}
				var want []marketplace.Term
				for i, tm := range tc.want {
					wt := marketplace.Term{End: ends[tm.end], Credits: tm.credits}
					if i > 0 {
						wt.Start = ends[tc.want[i-1].end]
					}
					want = append(want, wt)
				}
				subs, err := w.svc.MeteredSubscriptions(ctx)
				if err != nil || len(subs) != 1 {
					t.Fatalf("MeteredSubscriptions = %+v, %v", subs, err)
				}
				terms, err := marketplace.ContractTerms(ctx, db, p.Subscription.ID, "committed_credits")
				if err != nil {
					t.Fatal(err)
				}
				for _, got := range [][]marketplace.Term{subs[0].Terms, terms} {
					if !sameTerms(got, want) {
						t.Errorf("terms:\n got %v\nwant %v", got, want)
					}
				}
			})
		})
	}
}

func sameTerms(a, b []marketplace.Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Start.Equal(b[i].Start) || !a[i].End.Equal(b[i].End) || a[i].Credits != b[i].Credits {
			return false
		}
	}
	return true
}

// Notifications that wait for purchases that never come do not keep a later
// one waiting for good once its purchase arrives: ApplyPending looks at
// waiting notifications in turn, not at the same oldest hundred every time.
func TestNotifications_WaitingInTurn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		const limit, strays = 10, 25
		for i := range strays {
			n := marketplace.Notification{Source: "sns", MessageID: fmt.Sprintf("stray-%d", i), Action: marketplace.ActionSubscribeSuccess,
				ProductCode: market.DemoPAYGCode, Customer: marketplace.Customer{AccountID: fmt.Sprintf("9999%08d", i)},
				SentAt: t0.Add(time.Duration(i) * time.Second), Payload: "{}"}
			if _, _, err := w.svc.Record(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		account, agreement := w.buyer(market.DemoPAYGCode)
		late := marketplace.Notification{Source: "sns", MessageID: "late", Action: marketplace.ActionUnsubscribePending,
			ProductCode: market.DemoPAYGCode, Customer: marketplace.Customer{AccountID: account}, SentAt: t0.Add(time.Hour), Payload: "{}"}
		if _, _, err := w.svc.Record(ctx, late); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := w.svc.ApplyPending(ctx, limit); err != nil {
				t.Fatal(err)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM notifications WHERE status = 'waiting'`); n != strays+1 {
			t.Fatalf("%d notifications waiting, want every one (%d)", n, strays+1)
		}
		w.fulfill(agreement) // the purchase arrives
		// Every waiting notification is looked at within a round of
		// ceil((strays+1)/limit) calls, wherever the last round stopped.
		for call := 1; ; call++ {
			if _, err := w.svc.ApplyPending(ctx, limit); err != nil {
				t.Fatal(err)
			}
			if w.count(`SELECT COUNT(*) FROM notifications WHERE message_id = 'late' AND status = 'applied'`) == 1 {
				break
			}
			if call == (strays+1+limit-1)/limit {
				t.Fatalf("the notification of the purchase that arrived is still waiting after %d calls", call)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM notifications WHERE status = 'waiting'`); n != strays {
			t.Errorf("%d notifications waiting, want the %d strays", n, strays)
		}
	})
}
