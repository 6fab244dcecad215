package buyer

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// Subscribe makes a PendingFulfillmentStart subscription with what the
// buyer chose, or shows why not and buys nothing.
func TestSubscribe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		want   func(t *testing.T, s market.Subscription)
		msg    string
	}{
		{"flat rate, yearly, auto-renew off", buyerTenant, form("plan_id", "flat", "term", "P1Y", "seats", "7", "name", "Email for sales"), http.StatusSeeOther,
			func(t *testing.T, s market.Subscription) {
				if s.PlanID != "flat" || s.Quantity != 0 || s.Term.Unit != "P1Y" || s.AutoRenew || s.Name != "Email for sales" || s.IsFreeTrial {
					t.Errorf("subscription %+v", s)
				}
			}, ""},
		{"per user with seats", buyerTenant, form("plan_id", "seats", "term", "P1M", "seats", " 12 ", "name", "Team", "auto_renew", "on"), http.StatusSeeOther,
			func(t *testing.T, s market.Subscription) {
				if s.PlanID != "seats" || s.Quantity != 12 || !s.AutoRenew {
					t.Errorf("subscription %+v", s)
				}
			}, ""},
		{"free trial taken", buyerTenant, form("plan_id", "seats-trial", "term", "P1M", "seats", "2", "name", "Try", "free_trial", "on"), http.StatusSeeOther,
			func(t *testing.T, s market.Subscription) {
				if !s.IsFreeTrial {
					t.Errorf("no free trial: %+v", s)
				}
			}, ""},
		{"free trial declined", buyerTenant, form("plan_id", "seats-trial", "term", "P1M", "seats", "2", "name", "Pay"), http.StatusSeeOther,
			func(t *testing.T, s market.Subscription) {
				if s.IsFreeTrial {
					t.Errorf("free trial not asked for: %+v", s)
				}
			}, ""},
		{"private plan by its audience", buyerTenant, form("plan_id", "deal", "term", "P1Y", "name", "Deal"), http.StatusSeeOther,
			func(t *testing.T, s market.Subscription) {
				if s.PlanID != "deal" || s.Beneficiary.TenantID != buyerTenant || s.Purchaser.TenantID != buyerTenant {
					t.Errorf("subscription %+v", s)
				}
			}, ""},
		{"private plan by another tenant", otherTenant, form("plan_id", "deal", "term", "P1Y", "name", "Deal"), http.StatusBadRequest, nil, "not one of them"},
		{"seats above the plan's maximum", buyerTenant, form("plan_id", "seats", "term", "P1M", "seats", "51", "name", "Big"), http.StatusBadRequest, nil, "takes 1 to 50 seats"},
		{"seats not a number", buyerTenant, form("plan_id", "seats", "term", "P1M", "seats", "5.5", "name", "Big"), http.StatusBadRequest, nil, "not a number of users"},
		{"no seats", buyerTenant, form("plan_id", "seats", "term", "P1M", "name", "Big"), http.StatusBadRequest, nil, "Enter the number of users"},
		{"term the plan does not sell", buyerTenant, form("plan_id", "flat-big", "term", "P1Y", "name", "Big"), http.StatusBadRequest, nil, "not sold for term P1Y"},
		{"no name", buyerTenant, form("plan_id", "flat", "term", "P1M", "name", "  "), http.StatusBadRequest, nil, "Name your SaaS subscription"},
		{"no plan", buyerTenant, form("term", "P1M", "name", "x"), http.StatusBadRequest, nil, "Choose one of the plans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(t, req{method: "POST", path: prefix + "/offers/cloud/subscribe", tenant: tc.tenant, form: tc.form})
			subs := f.m.Subscriptions(market.SubscriptionFilter{})
			if tc.status != http.StatusSeeOther {
				checkPage(t, w, tc.status, tc.msg, "Check your choices")
				if len(subs) != 0 {
					t.Errorf("%d subscriptions after a refused purchase", len(subs))
				}
				return
			}
			if len(subs) != 1 {
				t.Fatalf("%d subscriptions, want 1; answer %d %s", len(subs), w.Code, w.Body)
			}
			s := subs[0]
			if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != prefix+"/subscriptions/"+s.ID+"?done=purchased" {
				t.Errorf("%d to %q, want 303 to the subscription's page", w.Code, loc)
			}
			if s.Status != market.StatusPending || s.OfferID != "cloud" {
				t.Errorf("status %s offer %s, want %s of cloud", s.Status, s.OfferID, market.StatusPending)
			}
			tc.want(t, s)
			page := f.do(t, req{method: "GET", path: w.Header().Get("Location"), tenant: tc.tenant})
			checkPage(t, page, http.StatusOK, "Thank you for your purchase", `id="configure-account"`, "PendingFulfillmentStart")
		})
	}
}

// "Configure account now" and "Manage account" send the browser to the
// publisher's landing page with a fresh token that Resolve accepts.
func TestLanding_TokenResolves(t *testing.T) {
	f := newFixture(t)
	for _, s := range []market.Subscription{f.buy(t, buyerTenant, "flat", 0), f.active(t, buyerTenant, "seats", 4)} {
		t.Run(s.Status, func(t *testing.T) {
			w := f.do(t, req{method: "POST", path: prefix + "/subscriptions/" + s.ID + "/landing", tenant: buyerTenant, form: url.Values{}})
			loc := w.Header().Get("Location")
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, landingURL+"?token=") {
				t.Fatalf("%d to %q, want 303 to %s?token=", w.Code, loc, landingURL)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			tok := u.Query().Get("token")
			got, err := f.m.Resolve("contoso", tok)
			if err != nil || got.ID != s.ID {
				t.Errorf("Resolve(%q) = %s, %v; want subscription %s", tok, got.ID, err, s.ID)
			}
			if w.Header().Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("Referrer-Policy %q, want no-referrer", w.Header().Get("Referrer-Policy"))
			}
		})
	}
}

// A publisher without a landing page URL gets a page that says so.
func TestLanding_NoLandingURL(t *testing.T) {
	f := newFixture(t)
	s := f.buy(t, buyerTenant, "flat", 0)
	if _, err := f.m.PutPublisher(context.Background(), market.PublisherInput{ID: "contoso", TenantID: pubTenant, AppID: pubApp}); err != nil {
		t.Fatal(err)
	}
	w := f.do(t, req{method: "POST", path: prefix + "/subscriptions/" + s.ID + "/landing", tenant: buyerTenant, form: url.Values{}})
	checkPage(t, w, http.StatusConflict, "has no landing page URL", "control API")
}

// Each action changes the market as the portal would, or shows why not and
// changes nothing.
func TestActions(t *testing.T) {
	type setup func(t *testing.T, f *fixture) market.Subscription
	activeFlat := func(t *testing.T, f *fixture) market.Subscription { return f.active(t, buyerTenant, "flat", 0) }
	activeSeats := func(t *testing.T, f *fixture) market.Subscription { return f.active(t, buyerTenant, "seats", 4) }
	pending := func(t *testing.T, f *fixture) market.Subscription { return f.buy(t, buyerTenant, "flat", 0) }
	suspended := func(t *testing.T, f *fixture) market.Subscription {
		s := activeFlat(t, f)
		if _, err := f.m.Suspend(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
		return f.sub(t, s.ID)
	}
	lastOp := func(f *fixture, id string) market.Operation {
		ops := f.m.Operations(id)
		if len(ops) == 0 {
			return market.Operation{}
		}
		return ops[len(ops)-1]
	}
	for _, tc := range []struct {
		name   string
		setup  setup
		action string
		form   url.Values
		status int
		done   string // the redirect's notice, or the page's message on failure
		check  func(t *testing.T, f *fixture, before, after market.Subscription)
	}{
		{"change plan", activeFlat, "plan", form("plan_id", "flat-big"), http.StatusSeeOther, "plan-requested",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				if op := lastOp(f, after.ID); op.Action != market.ActionChangePlan || op.PlanID != "flat-big" || op.Status != market.OpInProgress || op.Source != market.SourceAzure {
					t.Errorf("operation %+v, want an InProgress ChangePlan to flat-big from Azure", op)
				}
			}},
		{"change plan to another pricing model", activeFlat, "plan", form("plan_id", "seats"), http.StatusBadRequest, "another pricing model", nil},
		{"change plan without a plan", activeFlat, "plan", form(), http.StatusBadRequest, "Choose the plan", nil},
		{"change quantity", activeSeats, "quantity", form("quantity", "9"), http.StatusSeeOther, "qty-requested",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				if op := lastOp(f, after.ID); op.Action != market.ActionChangeQuantity || op.Quantity != 9 || op.Status != market.OpInProgress {
					t.Errorf("operation %+v, want an InProgress ChangeQuantity to 9", op)
				}
			}},
		{"change quantity above the maximum", activeSeats, "quantity", form("quantity", "51"), http.StatusBadRequest, "outside plan seats", nil},
		{"change quantity of a flat-rate plan", activeFlat, "quantity", form("quantity", "3"), http.StatusBadRequest, "flat rate", nil},
		{"change quantity to nonsense", activeSeats, "quantity", form("quantity", "-1"), http.StatusBadRequest, "not a number of users", nil},
		{"change while another change is in progress", func(t *testing.T, f *fixture) market.Subscription {
			s := activeSeats(t, f)
			q := 6
			if _, err := f.m.BuyerChange(context.Background(), s.ID, market.ChangeInput{Quantity: &q}); err != nil {
				t.Fatal(err)
			}
			return f.sub(t, s.ID)
		}, "quantity", form("quantity", "7"), http.StatusBadRequest, "locked", nil},
		{"auto-renew off", activeFlat, "auto-renew", form("auto_renew", "off"), http.StatusSeeOther, "auto-renew-off",
			func(t *testing.T, _ *fixture, _, after market.Subscription) {
				if after.AutoRenew {
					t.Error("auto-renew still on")
				}
			}},
		{"auto-renew back on", func(t *testing.T, f *fixture) market.Subscription {
			s := activeFlat(t, f)
			if _, err := f.m.SetAutoRenew(context.Background(), s.ID, false); err != nil {
				t.Fatal(err)
			}
			return f.sub(t, s.ID)
		}, "auto-renew", form("auto_renew", "on"), http.StatusSeeOther, "auto-renew-on",
			func(t *testing.T, _ *fixture, _, after market.Subscription) {
				if !after.AutoRenew {
					t.Error("auto-renew still off")
				}
			}},
		{"auto-renew neither", activeFlat, "auto-renew", form("auto_renew", "maybe"), http.StatusBadRequest, "on or off", nil},
		{"cancel without confirming", activeFlat, "cancel", form(), http.StatusSeeOther, "", nil},
		{"cancel", activeFlat, "cancel", form("confirm", "cancel"), http.StatusSeeOther, "cancelled",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				if after.Status != market.StatusUnsubscribed || lastOp(f, after.ID).Action != market.ActionUnsubscribe {
					t.Errorf("status %s, last operation %+v; want Unsubscribed by an Unsubscribe", after.Status, lastOp(f, after.ID))
				}
			}},
		{"cancel a pending purchase", pending, "cancel", form("confirm", "cancel"), http.StatusSeeOther, "cancelled",
			func(t *testing.T, _ *fixture, _, after market.Subscription) {
				if after.Status != market.StatusUnsubscribed {
					t.Errorf("status %s, want Unsubscribed", after.Status)
				}
			}},
		{"suspend for non-payment", activeFlat, "suspend", form(), http.StatusSeeOther, "suspended",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				if after.Status != market.StatusSuspended || lastOp(f, after.ID).Action != market.ActionSuspend {
					t.Errorf("status %s, want Suspended", after.Status)
				}
			}},
		{"suspend a pending purchase", pending, "suspend", form(), http.StatusBadRequest, "only Subscribed subscriptions can be suspended", nil},
		{"reinstate", suspended, "reinstate", form(), http.StatusSeeOther, "reinstated",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				if op := lastOp(f, after.ID); op.Action != market.ActionReinstate || op.Status != market.OpInProgress {
					t.Errorf("operation %+v, want an InProgress Reinstate awaiting the publisher's ACK", op)
				}
			}},
		{"reinstate an active subscription", activeFlat, "reinstate", form(), http.StatusBadRequest, "only Suspended subscriptions can be reinstated", nil},
		{"renew now", activeFlat, "renew", form(), http.StatusSeeOther, "renewed",
			func(t *testing.T, f *fixture, _, after market.Subscription) {
				inv, err := f.m.InvoiceFor(after.ID)
				renewals := 0
				for _, l := range inv.Lines {
					if l.Kind == "renewal" {
						renewals++
					}
				}
				if err != nil || lastOp(f, after.ID).Action != market.ActionRenew || renewals != 1 {
					t.Errorf("last operation %+v, invoice %+v (%v); want a Renew and a renewal charge", lastOp(f, after.ID), inv, err)
				}
			}},
		{"renew a suspended subscription", suspended, "renew", form(), http.StatusBadRequest, "only Subscribed subscriptions can be renewed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			before := tc.setup(t, f)
			opsBefore := len(f.m.Operations(before.ID))
			w := f.do(t, req{method: "POST", path: prefix + "/subscriptions/" + before.ID + "/" + tc.action, tenant: buyerTenant, form: tc.form})
			after := f.sub(t, before.ID)
			if tc.status != http.StatusSeeOther {
				checkPage(t, w, tc.status, tc.done)
				if diff := cmp.Diff(before, after); diff != "" || len(f.m.Operations(before.ID)) != opsBefore {
					t.Errorf("a refused action changed the subscription (-before +after):\n%s", diff)
				}
				return
			}
			want := prefix + "/subscriptions/" + before.ID
			if tc.done != "" {
				want += "?done=" + tc.done
			} else {
				want += "/" + tc.action
			}
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
				t.Fatalf("%d to %q, want 303 to %s; body %s", w.Code, w.Header().Get("Location"), want, w.Body)
			}
			if tc.check != nil {
				tc.check(t, f, before, after)
			} else if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("changed (-before +after):\n%s", diff)
			}
			page := f.do(t, req{method: "GET", path: w.Header().Get("Location"), tenant: buyerTenant})
			checkPage(t, page, http.StatusOK)
			if msg := notices[tc.done]; msg != "" && !strings.Contains(page.Body.String(), msg) {
				t.Errorf("the next page lacks the notice %q", msg)
			}
		})
	}
}

// A buyer sees and changes only their own tenant's subscriptions: another
// tenant's id answers as an unknown one does, and nothing changes.
func TestTenantIsolation(t *testing.T) {
	f := newFixture(t)
	theirs := f.active(t, buyerTenant, "seats", 4)
	opsBefore := len(f.m.Operations(theirs.ID))
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "", nil},
		{"GET", "/cancel", nil},
		{"POST", "/landing", form()},
		{"POST", "/plan", form("plan_id", "seats-trial")},
		{"POST", "/quantity", form("quantity", "9")},
		{"POST", "/auto-renew", form("auto_renew", "off")},
		{"POST", "/cancel", form("confirm", "cancel")},
		{"POST", "/suspend", form()},
		{"POST", "/reinstate", form()},
		{"POST", "/renew", form()},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			w := f.do(t, req{method: tc.method, path: prefix + "/subscriptions/" + theirs.ID + tc.path, tenant: otherTenant, form: tc.form})
			checkPage(t, w, http.StatusNotFound, "Your tenant "+otherTenant+" has no SaaS subscription "+theirs.ID)
			if strings.Contains(w.Body.String(), "setup seats") {
				t.Error("the page shows the other tenant's subscription name")
			}
		})
	}
	if diff := cmp.Diff(theirs, f.sub(t, theirs.ID)); diff != "" || len(f.m.Operations(theirs.ID)) != opsBefore {
		t.Errorf("another tenant changed the subscription (-before +after):\n%s", diff)
	}
	list := f.do(t, req{method: "GET", path: prefix + "/subscriptions", tenant: otherTenant})
	if strings.Contains(list.Body.String(), theirs.ID) {
		t.Error("another tenant's list shows the subscription")
	}
}

// A POST from another site is refused with a page, before anything changes.
func TestCrossSiteRefused(t *testing.T) {
	f := newFixture(t)
	s := f.active(t, buyerTenant, "flat", 0)
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		header http.Header
	}{
		{"subscribe, Sec-Fetch-Site", "/offers/cloud/subscribe", form("plan_id", "flat", "term", "P1M", "name", "x"), http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"cancel, foreign Origin", "/subscriptions/" + s.ID + "/cancel", form("confirm", "cancel"), http.Header{"Origin": {"https://evil.example"}}},
		{"suspend, Sec-Fetch-Site", "/subscriptions/" + s.ID + "/suspend", form(), http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"sign in, same-site is not same-origin", "/signin", form("tenant", otherTenant, "email", "a@b.c"), http.Header{"Sec-Fetch-Site": {"same-site"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, req{method: "POST", path: prefix + tc.path, tenant: buyerTenant, form: tc.form, header: tc.header})
			checkPage(t, w, http.StatusForbidden, "sent from another site", "nothing was changed")
			if len(w.Result().Cookies()) != 0 {
				t.Error("a refused request set a cookie")
			}
		})
	}
	if n := len(f.m.Subscriptions(market.SubscriptionFilter{})); n != 1 {
		t.Errorf("%d subscriptions, want 1", n)
	}
	if diff := cmp.Diff(s, f.sub(t, s.ID)); diff != "" {
		t.Errorf("a cross-site POST changed the subscription:\n%s", diff)
	}
	// The same form from the pages themselves goes through.
	w := f.do(t, req{method: "POST", path: prefix + "/subscriptions/" + s.ID + "/suspend", tenant: buyerTenant, form: form(),
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://127.0.0.1:8090"}}})
	if w.Code != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d, want 303", w.Code)
	}
}
