package buyer

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// Every page renders for the right buyer, with the ids browser tests use.
func TestPages_Render(t *testing.T) {
	f := newFixture(t)
	pending := f.buy(t, buyerTenant, "seats", 3)
	active := f.active(t, buyerTenant, "flat", 0)
	for _, tc := range []struct {
		name     string
		r        req
		status   int
		want     []string
		dontWant []string
	}{
		{"sign-in, signed out", req{method: "GET", path: prefix + "/signin"}, 200,
			[]string{`id="tenant"`, `id="email"`, `id="sign-in"`, `action="/azure/buyer/signin"`, "no real identity",
				buyerTenant, "audience of private plan Negotiated deal"}, nil},
		{"marketplace as the private audience", req{method: "GET", path: prefix + "/", tenant: buyerTenant}, 200,
			[]string{"Contoso Cloud", "Negotiated deal", `class="badge private">Private plan`, `href="/azure/buyer/offers/cloud?plan=deal"`,
				"$100.00 per month, or $1,000.00 per year", "$12.00 per user per month", "$0.0025 per 1,000 emails above 1,000 included per month",
				"1 to 50 users", "1-month free trial", "Signed in as"}, nil},
		{"marketplace as another tenant", req{method: "GET", path: prefix + "/", tenant: otherTenant}, 200,
			[]string{"Contoso Cloud", "Per user"}, []string{"Negotiated deal", `class="badge private"`}},
		{"choose a plan", req{method: "GET", path: prefix + "/offers/cloud?plan=seats", tenant: buyerTenant}, 200,
			[]string{`id="plan-flat" value="flat"`, `id="plan-seats" value="seats" checked`, `id="plan-deal" value="deal"`,
				`id="seats"`, `id="subscription-name"`, `id="subscribe"`, `id="free-trial"`, `id="term"`,
				`action="/azure/buyer/offers/cloud/subscribe"`, "Private plan"}, nil},
		{"choose the private plan selects its term", req{method: "GET", path: prefix + "/offers/cloud?plan=deal", tenant: buyerTenant}, 200,
			[]string{`<option value="P1Y" selected>1 year</option>`}, nil},
		{"private plan hidden from another tenant", req{method: "GET", path: prefix + "/offers/cloud?plan=deal", tenant: otherTenant}, 200,
			[]string{`id="plan-flat" value="flat" checked`}, []string{"plan-deal"}},
		{"subscriptions", req{method: "GET", path: prefix + "/subscriptions", tenant: buyerTenant}, 200,
			[]string{"setup seats", "setup flat", "PendingFulfillmentStart", "Subscribed", "/azure/buyer/subscriptions/" + pending.ID}, nil},
		{"no subscriptions for another tenant", req{method: "GET", path: prefix + "/subscriptions", tenant: otherTenant}, 200,
			[]string{"no SaaS subscription yet"}, []string{pending.ID}},
		{"pending subscription", req{method: "GET", path: prefix + "/subscriptions/" + pending.ID, tenant: buyerTenant}, 200,
			[]string{`id="configure-account"`, "Configure account now", `action="/azure/buyer/subscriptions/` + pending.ID + `/landing"`, `id="cancel"`},
			[]string{`id="manage-account"`, `id="suspend"`, `id="change-plan"`}},
		{"active subscription", req{method: "GET", path: prefix + "/subscriptions/" + active.ID, tenant: buyerTenant}, 200,
			[]string{`id="manage-account"`, `id="change-plan"`, `id="to-plan-flat-big" value="flat-big"`, `id="cancel"`, `id="auto-renew"`,
				`id="suspend"`, `id="renew"`, "Emulator only", "Billing events", "$100.00"},
			[]string{`id="configure-account"`, `id="reinstate"`, `id="change-quantity"`, "to-plan-seats", "to-plan-deal"}},
		{"cancel confirmation", req{method: "GET", path: prefix + "/subscriptions/" + active.ID + "/cancel", tenant: buyerTenant}, 200,
			[]string{`id="confirm-cancel"`, `name="confirm" value="cancel"`, "cannot be reactivated"}, nil},
		{"unknown page", req{method: "GET", path: prefix + "/nowhere", tenant: buyerTenant}, 404,
			[]string{"There is no page at /azure/buyer/nowhere."}, nil},
		{"unknown offer", req{method: "GET", path: prefix + "/offers/none", tenant: buyerTenant}, 404,
			[]string{"no offer none", "Your SaaS subscriptions"}, nil},
		{"unknown subscription", req{method: "GET", path: prefix + "/subscriptions/55555555-5555-4555-8555-555555555555", tenant: buyerTenant}, 404,
			[]string{"has no SaaS subscription 55555555-5555-4555-8555-555555555555", "signed in as the tenant that holds it"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, tc.r)
			checkPage(t, w, tc.status, tc.want...)
			for _, bad := range tc.dontWant {
				if strings.Contains(w.Body.String(), bad) {
					t.Errorf("page shows %q", bad)
				}
			}
		})
	}
}

// Pages that act as a buyer send a signed-out browser to sign in, and
// refuse a signed-out POST without changing anything.
func TestPages_SignedOut(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/offers/cloud", "/subscriptions"} {
		w := f.do(t, req{method: "GET", path: prefix + path})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != prefix+"/signin" {
			t.Errorf("GET %s signed out: %d to %q, want 303 to %s/signin", path, w.Code, w.Header().Get("Location"), prefix)
		}
	}
	w := f.do(t, req{method: "POST", path: prefix + "/offers/cloud/subscribe", form: form("plan_id", "flat", "name", "x", "term", "P1M")})
	checkPage(t, w, http.StatusConflict, "not signed in")
	if n := len(f.m.Subscriptions(market.SubscriptionFilter{})); n != 0 {
		t.Errorf("%d subscriptions after a signed-out subscribe, want 0", n)
	}
}

func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, email string
		status              int
		wantTenant          string
		want                string
	}{
		{"as typed", buyerTenant, "pat@contoso.example", http.StatusSeeOther, buyerTenant, ""},
		{"braces, spaces and capitals", " {" + strings.ToUpper(buyerTenant) + "} ", "pat@contoso.example", http.StatusSeeOther, buyerTenant, ""},
		{"not a GUID", "contoso.onmicrosoft.com", "pat@contoso.example", http.StatusBadRequest, "", "is not a tenant id"},
		{"no e-mail", buyerTenant, "pat", http.StatusBadRequest, "", "is not an e-mail address"},
		{"both wrong at once", "x", "y", http.StatusBadRequest, "", "is not a tenant id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(t, req{method: "POST", path: prefix + "/signin", form: form("tenant", tc.tenant, "email", tc.email)})
			if tc.status != http.StatusSeeOther {
				checkPage(t, w, tc.status, tc.want)
				if len(w.Result().Cookies()) != 0 {
					t.Errorf("cookie set after a refused sign-in: %v", w.Result().Cookies())
				}
				return
			}
			if w.Code != tc.status || w.Header().Get("Location") != prefix+"/?done=signed-in" {
				t.Fatalf("%d to %q, want 303 to the marketplace", w.Code, w.Header().Get("Location"))
			}
			cs := w.Result().Cookies()
			if len(cs) != 1 || cs[0].Path != prefix+"/" || !cs[0].HttpOnly {
				t.Fatalf("cookies %v: want one HttpOnly cookie for %s/", cs, prefix)
			}
			b, err := parseBuyer(cs[0].Value)
			if err != nil || b.Tenant != tc.wantTenant || b.Email != tc.email {
				t.Errorf("cookie says %+v (%v), want tenant %s and %s", b, err, tc.wantTenant, tc.email)
			}
		})
	}
	f := newFixture(t)
	w := f.do(t, req{method: "POST", path: prefix + "/signout", tenant: buyerTenant, form: url.Values{}})
	if cs := w.Result().Cookies(); w.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("sign out: %d, cookies %v; want 303 and the cookie deleted", w.Code, cs)
	}
}
