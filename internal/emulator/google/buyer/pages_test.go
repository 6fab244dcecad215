package buyer

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Signing in takes a billing account as the console shows it or as its
// resource name, and an e-mail; the cookie then names the account in its
// one canonical form. Wrong input is refused with every reason at once.
func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name, account, email string
		status               int
		want                 []string
	}{
		{"resource name", buyerBA, buyerEmail, http.StatusSeeOther, nil},
		{"bare id, lower case, spaces", " 01a2b3-c4d5e6-f7a8b9 ", buyerEmail, http.StatusSeeOther, nil},
		{"prefix in another case", "BILLINGACCOUNTS/01A2B3-C4D5E6-F7A8B9", buyerEmail, http.StatusSeeOther, nil},
		{"not hex", "billingAccounts/01A2B3-C4D5E6-F7A8BZ", buyerEmail, http.StatusBadRequest, []string{"is not a billing account", "01A2B3-C4D5E6-F7A8B9"}},
		{"project id", "my-project-123", buyerEmail, http.StatusBadRequest, []string{"is not a billing account"}},
		{"bad e-mail", buyerBA, "Pat <pat@example.com>", http.StatusBadRequest, []string{"is not an e-mail address"}},
		{"both wrong", "x", "y", http.StatusBadRequest, []string{"is not a billing account", "is not an e-mail address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(t, req{method: "POST", path: prefix + "/signin", form: form("billing_account", tc.account, "email", tc.email)})
			if tc.status != http.StatusSeeOther {
				checkPage(t, w, tc.status, append(tc.want, "Check your choices")...)
				if len(w.Result().Cookies()) > 0 && strings.Contains(w.Header().Get("Set-Cookie"), sessionCookie) {
					t.Errorf("refused sign-in set a session: %s", w.Header().Get("Set-Cookie"))
				}
				return
			}
			if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != prefix+"/?done=signed-in" {
				t.Fatalf("%d to %q, want 303 to the Marketplace", w.Code, loc)
			}
			var got *http.Cookie
			for _, c := range w.Result().Cookies() {
				if c.Name == sessionCookie {
					got = c
				}
			}
			if got == nil || got.Path != prefix+"/" || !got.HttpOnly {
				t.Fatalf("session cookie %+v", got)
			}
			s, err := parseSession(got.Value)
			if err != nil || s.BillingAccount != buyerBA || s.Email != buyerEmail {
				t.Errorf("session %+v, %v; want %s, %s", s, err, buyerBA, buyerEmail)
			}
		})
	}
}

// The sign-in page lists the billing accounts the market knows, each a
// one-button sign-in carrying the CSRF token.
func TestSignInPage(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, req{method: "GET", path: prefix + "/signin"})
	checkPage(t, w, http.StatusOK, `action="/google/buyer/signin"`, `value="`+buyerBA+`"`, "private offer Enterprise (Example Cloud)",
		`name="csrf" value="`+csrfToken(f.pages.csrfKey, testNonce)+`"`)
}

// Every page but sign-in wants a signed-in buyer: GETs go to sign-in, and
// a POST changes nothing.
func TestSignedOut(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/orders", "/products/" + product, "/products/" + product + "/order"} {
		w := f.do(t, req{method: "GET", path: prefix + path})
		if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != prefix+"/signin" {
			t.Errorf("GET %s: %d to %q, want 303 to sign-in", path, w.Code, loc)
		}
	}
	w := f.do(t, req{method: "POST", path: prefix + "/products/" + product + "/order", form: form("choice", "plan:standard", "terms", "accepted")})
	checkPage(t, w, http.StatusConflict, "You are not signed in, so nothing was changed")
	if f.m.changes() != 0 {
		t.Errorf("%d changes while signed out", f.m.changes())
	}
}

// The Marketplace lists products with their plans, marks a private offer
// for this billing account only, and searches by words.
func TestHome(t *testing.T) {
	f := newFixture(t)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/", billing: buyerBA}), http.StatusOK,
		`href="/google/buyer/products/`+product+`"`, "Example Cloud", "2 plans, 1 private offer", "Private offer for you", "Standard: $0.01 per usage_cents")
	w := f.do(t, req{method: "GET", path: prefix + "/", billing: otherBA})
	checkPage(t, w, http.StatusOK, "2 plans")
	if strings.Contains(w.Body.String(), "Private offer") {
		t.Error("another billing account sees the private offer")
	}
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/?q=metered+saas", billing: buyerBA}), http.StatusOK, "Example Cloud")
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/?q=nothing-like-it", billing: buyerBA}), http.StatusOK, "No product matches", "Show all 1 products")
}

// The product page shows plans and prices, this billing account's private
// offer, and links to the order page preselecting each.
func TestProductPage(t *testing.T) {
	f := newFixture(t)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/" + product, billing: buyerBA}), http.StatusOK,
		"Standard", "$0.01 per usage_cents", "Team", "$100.00 per month",
		"Private offers for your billing account", "Enterprise", "$12,000.00 per year", "Term: 1 year", offerName,
		`href="/google/buyer/products/`+product+`/order?choice=plan%3astandard"`,
		`href="/google/buyer/products/`+product+`/order?choice=offer%3a`, `id="subscribe"`)
	w := f.do(t, req{method: "GET", path: prefix + "/products/" + product, billing: otherBA})
	checkPage(t, w, http.StatusOK, "Standard")
	if strings.Contains(w.Body.String(), offerName) {
		t.Error("another billing account sees the private offer")
	}
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/nope.example.com", billing: buyerBA}), http.StatusNotFound,
		"No product nope.example.com is on sale to your billing account")
}

// The order page preselects the choice from the link, names the billing
// account, and asks for the terms; an unknown choice is a clear error.
func TestOrderPage(t *testing.T) {
	f := newFixture(t)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/" + product + "/order?choice=plan%3Ateam", billing: buyerBA}), http.StatusOK,
		`value="plan:team" checked`, `id="billing-account">`+buyerBA, `name="terms" value="accepted" required`, "Subscribe",
		`value="offer:`+offerName+`"`)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/" + product + "/order?choice=offer%3A" + offerName, billing: buyerBA}), http.StatusOK,
		`value="offer:`+offerName+`" checked`)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/" + product + "/order?choice=plan%3Agold", billing: buyerBA}), http.StatusBadRequest,
		`&#34;gold&#34; is not a plan for this product`)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/products/" + product + "/order?choice=offer%3A" + offerName, billing: otherBA}), http.StatusBadRequest,
		"is not a private offer made to your billing account")
}

// "Your orders" words every state, and offers only the actions the state
// allows.
func TestOrdersPage_States(t *testing.T) {
	for _, tc := range []struct {
		e       Entitlement
		want    []string
		notWant []string
	}{
		{Entitlement{State: StateActivationRequested, Plan: "standard"},
			[]string{"Pending approval", "Waiting for Example Cloud to approve your order", "Register with Example Cloud", "Sign up with Example Cloud", `id="cancel-e1"`},
			[]string{"Manage on", "Request plan change", "Revert cancellation"}},
		{Entitlement{State: StateActive, Plan: "standard", AccountApproved: true, UsageReportingID: "project_number:123456789012"},
			[]string{">Active<", "Manage on Example Cloud", `href="https://seller.example/login"`, "Request plan change", `<option value="team">Team</option>`, "project_number:123456789012", `id="cancel-e1"`},
			[]string{"Register with", "Revert cancellation", `<option value="standard">`}},
		{Entitlement{State: StateActive, Plan: "standard"},
			[]string{"Select Register with Example Cloud to finish signing up"}, []string{"Manage on"}},
		{Entitlement{State: StatePendingPlanChangeApproval, Plan: "standard", NewPendingPlan: "team", AccountApproved: true},
			[]string{"Active, plan change requested", "You asked to change to plan Team; Example Cloud has to approve it. Until then the plan stays Standard."},
			[]string{"Request plan change"}},
		{Entitlement{State: StatePendingPlanChange, Plan: "standard", NewPendingPlan: "team", AccountApproved: true},
			[]string{"Active, plan change approved", "changes to Team at the end of the billing cycle"}, []string{"Request plan change"}},
		{Entitlement{State: StatePendingCancellation, Plan: "team", AccountApproved: true, TermEnd: termEnd},
			[]string{"Cancelled, runs until Jan 2, 2027", "It runs until Jan 2, 2027 and does not renew", `id="revert-e1"`, "Manage on Example Cloud"},
			[]string{`id="cancel-e1"`, "Request plan change"}},
		{Entitlement{State: StateCancelled, Plan: "team", AccountApproved: true},
			[]string{"Ended", "This order has ended"}, []string{"Manage on", "Register with", `id="cancel-e1"`, `id="revert-e1"`}},
		{Entitlement{State: StateSuspended, Plan: "team", AccountApproved: true},
			[]string{"Suspended", "contact Example Cloud"}, []string{"Manage on"}},
	} {
		t.Run(tc.e.State, func(t *testing.T) {
			f := newFixture(t)
			e := tc.e
			e.ID, e.Account, e.Product, e.CreateTime = "e1", "acct-1", product, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			f.m.put(buyerBA, e)
			w := f.do(t, req{method: "GET", path: prefix + "/orders", billing: buyerBA})
			checkPage(t, w, http.StatusOK, tc.want...)
			for _, bad := range tc.notWant {
				if strings.Contains(w.Body.String(), bad) {
					t.Errorf("page shows %q", bad)
				}
			}
		})
	}
}

// One billing account never sees another's orders.
func TestOrdersPage_OwnOnly(t *testing.T) {
	f := newFixture(t)
	f.m.put(otherBA, Entitlement{ID: "theirs", Product: product, Plan: "team", State: StateActive})
	w := f.do(t, req{method: "GET", path: prefix + "/orders", billing: buyerBA})
	checkPage(t, w, http.StatusOK, "This billing account has no orders")
	for _, path := range []string{"/orders/theirs/cancel"} {
		checkPage(t, f.do(t, req{method: "GET", path: prefix + path, billing: buyerBA}), http.StatusNotFound, "has no order theirs")
	}
	for _, action := range []string{"register", "manage", "plan", "cancel", "revert"} {
		w := f.do(t, req{method: "POST", path: prefix + "/orders/theirs/" + action, billing: buyerBA, form: form("plan", "standard", "confirm", "cancel")})
		checkPage(t, w, http.StatusNotFound, "Your billing account "+buyerBA+" has no order theirs")
	}
	if f.m.changes() != 0 {
		t.Errorf("%d changes to another billing account's order", f.m.changes())
	}
}

// An unknown path is a page that says so.
func TestNotFound(t *testing.T) {
	f := newFixture(t)
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/nowhere", billing: buyerBA}), http.StatusNotFound, "There is no page at /google/buyer/nowhere")
}
