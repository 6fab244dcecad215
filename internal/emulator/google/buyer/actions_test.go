package buyer

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Subscribe orders exactly what the buyer chose, once, and lands on the
// product page with the order and "Register with <company>"; a wrong form
// orders nothing and says why.
func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		billing string
		path    string
		form    url.Values
		status  int
		want    OrderRequest
		msg     []string
	}{
		{"public plan", buyerBA, "/products/" + product + "/order", form("choice", "plan:team", "terms", "accepted"), http.StatusSeeOther,
			OrderRequest{BillingAccount: buyerBA, User: buyerEmail, Product: product, Plan: "team"}, nil},
		{"private offer", buyerBA, "/products/" + product + "/order", form("choice", "offer:"+offerName, "terms", "accepted"), http.StatusSeeOther,
			OrderRequest{BillingAccount: buyerBA, User: buyerEmail, Product: product, Plan: "enterprise", Offer: offerName}, nil},
		{"another account's private offer", otherBA, "/products/" + product + "/order", form("choice", "offer:"+offerName, "terms", "accepted"), http.StatusBadRequest,
			OrderRequest{}, []string{"is not a private offer made to your billing account", "Nothing was ordered."}},
		{"unknown plan", buyerBA, "/products/" + product + "/order", form("choice", "plan:gold", "terms", "accepted"), http.StatusBadRequest,
			OrderRequest{}, []string{"&#34;gold&#34; is not a plan for this product", "Nothing was ordered."}},
		{"private plan without its offer", buyerBA, "/products/" + product + "/order", form("choice", "plan:enterprise", "terms", "accepted"), http.StatusBadRequest,
			OrderRequest{}, []string{"&#34;enterprise&#34; is not a plan for this product"}},
		{"no choice", buyerBA, "/products/" + product + "/order", form("terms", "accepted"), http.StatusBadRequest,
			OrderRequest{}, []string{"Choose a plan or a private offer."}},
		{"terms not accepted", buyerBA, "/products/" + product + "/order", form("choice", "plan:team"), http.StatusBadRequest,
			OrderRequest{}, []string{"Accept the terms of service to order"}},
		{"nothing right, both said", buyerBA, "/products/" + product + "/order", form("choice", "x"), http.StatusBadRequest,
			OrderRequest{}, []string{"Choose a plan or a private offer.", "Accept the terms of service"}},
		{"unknown product", buyerBA, "/products/nope.example.com/order", form("choice", "plan:team", "terms", "accepted"), http.StatusNotFound,
			OrderRequest{}, []string{"No product nope.example.com is on sale"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.do(t, req{method: "POST", path: prefix + tc.path, billing: tc.billing, form: tc.form})
			if tc.status != http.StatusSeeOther {
				checkPage(t, w, tc.status, tc.msg...)
				if n := f.m.count("Order"); n != 0 {
					t.Errorf("Order called %d times for a refused form", n)
				}
				return
			}
			if n := f.m.count("Order"); n != 1 {
				t.Fatalf("Order called %d times, want 1; answer %d %s", n, w.Code, w.Body)
			}
			if diff := cmp.Diff(tc.want, f.m.orders[0]); diff != "" {
				t.Errorf("order request (-want +got):\n%s", diff)
			}
			loc := w.Header().Get("Location")
			if want := prefix + "/products/" + product + "?done=ordered#order-ent-1"; w.Code != http.StatusSeeOther || loc != want {
				t.Fatalf("%d to %q, want 303 to %q", w.Code, loc, want)
			}
			page := f.do(t, req{method: "GET", path: strings.TrimSuffix(loc, "#order-ent-1"), billing: tc.billing})
			checkPage(t, page, http.StatusOK, "Your order request has been sent to Example Cloud", `id="order-ent-1"`, "Pending approval",
				`action="/google/buyer/orders/ent-1/register"`, "Register with Example Cloud", "Formerly “Sign up with Example Cloud”")
		})
	}
}

// A refusal by the market shows its message, escaped, with a status for
// its kind; any other failure is a generic page that shows no cause.
func TestOrder_MarketErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		want   string
		hidden string
	}{
		{&Error{Kind: KindConflict, Message: "Billing account <closed> cannot order."}, http.StatusConflict, "Billing account &lt;closed&gt; cannot order.", ""},
		{&Error{Kind: KindUnavailable, Message: "The market is busy.", Err: errors.New("db locked")}, http.StatusServiceUnavailable, "The market is busy.", "db locked"},
		{errors.New("sql: connection refused"), http.StatusInternalServerError, "internal error", "connection refused"},
	} {
		f := newFixture(t)
		f.m.fail["Order"] = tc.err
		w := f.do(t, req{method: "POST", path: prefix + "/products/" + product + "/order", billing: buyerBA, form: form("choice", "plan:team", "terms", "accepted")})
		checkPage(t, w, tc.status, tc.want)
		if tc.hidden != "" && strings.Contains(w.Body.String(), tc.hidden) {
			t.Errorf("page shows the cause %q", tc.hidden)
		}
	}
}

// "Register with <company>" renders a form that posts itself to the Sign
// up URL with a fresh x-gcp-marketplace-token for the order's account and
// google.orders = [the order], and a visible button for browsers without
// script.
func TestRegister_PostsTokenToSignupURL(t *testing.T) {
	f := newFixture(t)
	f.m.settings.SignupURL = signupURL + "?source=gcp&v=1"
	f.m.put(buyerBA, Entitlement{ID: "ent-7", Account: "acct-7", Product: product, Plan: "standard", State: StateActivationRequested})
	for i := 1; i <= 2; i++ {
		w := f.do(t, req{method: "POST", path: prefix + "/orders/ent-7/register", billing: buyerBA, form: url.Values{}})
		checkPage(t, w, http.StatusOK, "Register with Example Cloud", `<button type="submit" class="big" id="continue">Continue to Example Cloud</button>`,
			`<script>document.getElementById("handoff").submit();</script>`)
		action, fields := handoffForm(t, w.Body.String())
		if action != signupURL+"?source=gcp&v=1" {
			t.Errorf("form action %q, want the Sign up URL", action)
		}
		wantTok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-" + string(rune('0'+i))
		if diff := cmp.Diff(url.Values{"x-gcp-marketplace-token": {wantTok}}, fields); diff != "" {
			t.Errorf("hidden fields (-want +got):\n%s", diff)
		}
		if !regexp.MustCompile(`<form id="handoff" class="card" method="post"`).MatchString(w.Body.String()) {
			t.Error("the hand-off form is not a POST")
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", got)
		}
		if n := f.m.count("SignupToken"); n != i {
			t.Errorf("SignupToken called %d times after %d clicks: each click wants a fresh token", n, i)
		}
	}
	tc := f.m.tokens[0]
	if tc.Account != "acct-7" || !cmp.Equal(tc.Orders, []string{"ent-7"}) || len(tc.User) != 21 || strings.Trim(tc.User, "0123456789") != "" {
		t.Errorf("token for %+v, want account acct-7, orders [ent-7], a 21-digit user identity", tc)
	}
	if f.m.tokens[1].User != tc.User {
		t.Errorf("user identity %q then %q: one buyer is one identity", tc.User, f.m.tokens[1].User)
	}
}

// Register is refused, with nothing minted, when there is nothing to
// register or nowhere to send the buyer.
func TestRegister_Refused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		e      Entitlement
		signup string
		status int
		want   string
	}{
		{"active and registered", Entitlement{State: StateActive, AccountApproved: true}, signupURL, http.StatusConflict, "This order is active, so there is nothing to register"},
		{"ended", Entitlement{State: StateCancelled}, signupURL, http.StatusConflict, "This order is ended"},
		{"no Sign up URL", Entitlement{State: StateActivationRequested}, "", http.StatusConflict, "The vendor has no valid Sign up URL"},
		{"script URL", Entitlement{State: StateActivationRequested}, "javascript:alert(1)", http.StatusConflict, "The vendor has no valid Sign up URL"},
		{"relative URL", Entitlement{State: StateActivationRequested}, "/signup", http.StatusConflict, "The vendor has no valid Sign up URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.m.settings.SignupURL = tc.signup
			e := tc.e
			e.ID, e.Account, e.Product, e.Plan = "e1", "a1", product, "standard"
			f.m.put(buyerBA, e)
			checkPage(t, f.do(t, req{method: "POST", path: prefix + "/orders/e1/register", billing: buyerBA, form: url.Values{}}), tc.status, tc.want)
			if f.m.changes() != 0 {
				t.Errorf("%d market changes for a refused register", f.m.changes())
			}
		})
	}
}

// "Manage on <company>" posts a fresh token (no orders) to the SSO URL
// when there is one, else sends the browser to the login URL.
func TestManage(t *testing.T) {
	active := Entitlement{ID: "e1", Account: "a1", Product: product, Plan: "standard", State: StateActive, AccountApproved: true}
	t.Run("SSO", func(t *testing.T) {
		f := newFixture(t)
		f.m.settings.SSOURL = ssoURL
		f.m.put(buyerBA, active)
		checkPage(t, f.do(t, req{method: "GET", path: prefix + "/orders", billing: buyerBA}), http.StatusOK,
			`action="/google/buyer/orders/e1/manage"`, "Manage on Example Cloud")
		w := f.do(t, req{method: "POST", path: prefix + "/orders/e1/manage", billing: buyerBA, form: url.Values{}})
		checkPage(t, w, http.StatusOK, "Manage on Example Cloud")
		action, fields := handoffForm(t, w.Body.String())
		if action != ssoURL || fields.Get("x-gcp-marketplace-token") == "" || len(fields) != 1 {
			t.Errorf("form to %q with %v, want %s with one token", action, fields, ssoURL)
		}
		if n := f.m.count("SignupToken"); n != 1 || f.m.tokens[0].Account != "a1" || f.m.tokens[0].Orders != nil {
			t.Errorf("SignupToken %d calls %+v, want one for a1 without orders", n, f.m.tokens)
		}
	})
	t.Run("login URL", func(t *testing.T) {
		f := newFixture(t)
		f.m.put(buyerBA, active)
		checkPage(t, f.do(t, req{method: "GET", path: prefix + "/orders", billing: buyerBA}), http.StatusOK,
			`<a class="button secondary" id="manage-e1" href="https://seller.example/login">Manage on Example Cloud</a>`)
		w := f.do(t, req{method: "POST", path: prefix + "/orders/e1/manage", billing: buyerBA, form: url.Values{}})
		if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != loginURL {
			t.Errorf("%d to %q, want 303 to %s", w.Code, loc, loginURL)
		}
		if f.m.changes() != 0 {
			t.Errorf("%d market changes for a plain link", f.m.changes())
		}
	})
	t.Run("neither", func(t *testing.T) {
		f := newFixture(t)
		f.m.settings.LoginURL = ""
		f.m.put(buyerBA, active)
		checkPage(t, f.do(t, req{method: "POST", path: prefix + "/orders/e1/manage", billing: buyerBA, form: url.Values{}}), http.StatusConflict,
			"The vendor has set neither an SSO URL nor a login URL")
	})
	t.Run("not registered yet", func(t *testing.T) {
		f := newFixture(t)
		f.m.settings.SSOURL = ssoURL
		e := active
		e.AccountApproved = false
		f.m.put(buyerBA, e)
		checkPage(t, f.do(t, req{method: "POST", path: prefix + "/orders/e1/manage", billing: buyerBA, form: url.Values{}}), http.StatusConflict,
			"once they have approved your registration")
		if f.m.changes() != 0 {
			t.Errorf("%d market changes", f.m.changes())
		}
	})
}

// Each buyer action calls the market once with the order and what was
// chosen, or, refused, not at all.
func TestActions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		state    string
		action   string
		form     url.Values
		method   string // the market call expected; "" for none
		status   int
		location string
		want     string // on the refusal page
	}{
		{"plan change", StateActive, "plan", form("plan", "team"), "RequestPlanChange", http.StatusSeeOther, "/orders?done=plan-requested", ""},
		{"plan change to the same plan", StateActive, "plan", form("plan", "standard"), "", http.StatusBadRequest, "", "It must differ from the current plan"},
		{"plan change to an unknown plan", StateActive, "plan", form("plan", "gold"), "", http.StatusBadRequest, "", "&#34;gold&#34; is not a plan for this product"},
		{"plan change to a private offer's plan", StateActive, "plan", form("plan", "enterprise"), "", http.StatusBadRequest, "", "is not a plan for this product"},
		{"plan change before activation", StateActivationRequested, "plan", form("plan", "team"), "", http.StatusConflict, "", "only while it is active"},
		{"plan change while one is pending", StatePendingPlanChangeApproval, "plan", form("plan", "team"), "", http.StatusConflict, "", "only while it is active"},
		{"cancel", StateActive, "cancel", form("confirm", "cancel"), "Cancel", http.StatusSeeOther, "/orders?done=cancelled", ""},
		{"cancel before activation", StateActivationRequested, "cancel", form("confirm", "cancel"), "Cancel", http.StatusSeeOther, "/orders?done=withdrawn", ""},
		{"cancel unconfirmed", StateActive, "cancel", url.Values{}, "", http.StatusSeeOther, "/orders/e1/cancel", ""},
		{"cancel twice", StatePendingCancellation, "cancel", form("confirm", "cancel"), "", http.StatusConflict, "", "nothing to cancel"},
		{"revert", StatePendingCancellation, "revert", url.Values{}, "RevertCancellation", http.StatusSeeOther, "/orders?done=reverted", ""},
		{"revert what is not cancelled", StateActive, "revert", url.Values{}, "", http.StatusConflict, "", "no cancellation to revert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.m.put(buyerBA, Entitlement{ID: "e1", Account: "a1", Product: product, Plan: "standard", State: tc.state, AccountApproved: true, TermEnd: termEnd})
			w := f.do(t, req{method: "POST", path: prefix + "/orders/e1/" + tc.action, billing: buyerBA, form: tc.form})
			if tc.status == http.StatusSeeOther {
				if loc := w.Header().Get("Location"); w.Code != tc.status || loc != prefix+tc.location {
					t.Fatalf("%d to %q, want %d to %q; body %s", w.Code, loc, tc.status, prefix+tc.location, w.Body)
				}
			} else {
				checkPage(t, w, tc.status, tc.want)
			}
			changes := f.m.changes()
			if tc.method == "" {
				if changes != 0 {
					t.Errorf("%d market changes, want none", changes)
				}
				return
			}
			if n := f.m.count(tc.method); n != 1 || changes != 1 {
				t.Errorf("%s called %d times (%d changes in all), want once", tc.method, n, changes)
			}
			if tc.method == "RequestPlanChange" && !cmp.Equal(f.m.plans, []string{"team"}) {
				t.Errorf("plan change to %v, want [team]", f.m.plans)
			}
			checkPage(t, f.do(t, req{method: "GET", path: w.Header().Get("Location"), billing: buyerBA}), http.StatusOK, `role="status"`)
		})
	}
}

// The cancel page asks first and says until when the order runs.
func TestCancelPage(t *testing.T) {
	f := newFixture(t)
	f.m.put(buyerBA, Entitlement{ID: "e1", Account: "a1", Product: product, Plan: "team", State: StateActive, TermEnd: termEnd})
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/orders/e1/cancel", billing: buyerBA}), http.StatusOK,
		"Cancel your order <code>e1</code> of <strong>Example Cloud</strong>, plan Team?", `<strong id="runs-until">Jan 2, 2027</strong>`,
		`name="confirm" value="cancel"`, `name="csrf"`)
	f.m.put(buyerBA, Entitlement{ID: "e2", Account: "a1", Product: product, Plan: "team", State: StateCancelled})
	checkPage(t, f.do(t, req{method: "GET", path: prefix + "/orders/e2/cancel", billing: buyerBA}), http.StatusConflict, "nothing to cancel")
}
