package buyer

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// evil is in every string the market gives the pages: markup, both
// quotes, an ampersand, and what ends a path segment or a URL.
const evil = `<i>a"b'c&d?e#f/g %h`

// urlEvil is what a URL can carry of it and still parse.
const urlEvil = `<i>a"b'c&d`

// evilFixture is a market whose every string carries evil.
func evilFixture(t *testing.T) *fixture {
	f := newFixture(t)
	pl := func(id string, offer string) Plan {
		return Plan{ID: id + evil, DisplayName: "Plan " + evil, Description: "About " + evil, Offer: offer, Term: "P" + evil,
			Prices: []Price{{Amount: 1_000_000, Per: "unit " + evil}}, TermEnd: termEnd, Start: termEnd}
	}
	f.m.products = []Product{{Name: "svc" + evil, DisplayName: "Product " + evil, Description: "Does " + evil,
		Plans: []Plan{pl("a", ""), pl("b", ""), pl("c", "projects/1/services/x/privateOffers/"+evil)}}}
	f.m.offers = nil
	f.m.settings = BuyerSettings{Company: "Co " + evil, SignupURL: "https://seller.example/signup?q=" + urlEvil, SSOURL: "https://seller.example/sso?q=" + urlEvil,
		LoginURL: "https://seller.example/login?q=" + urlEvil}
	for i, st := range []string{StateActivationRequested, StateActive, StatePendingPlanChangeApproval, StatePendingCancellation} {
		f.m.put(buyerBA, Entitlement{ID: string(rune('1'+i)) + evil, Account: "acct" + evil, AccountApproved: i > 0, Product: "svc" + evil,
			Plan: "a" + evil, NewPendingPlan: "b" + evil, State: st, Offer: "projects/1/services/x/privateOffers/" + evil, TermEnd: termEnd,
			UsageReportingID: "project_number:" + evil, MessageToUser: "Note " + evil, CreateTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	}
	return f
}

// noMarkup fails if evil's markup reached the page unescaped.
func noMarkup(t *testing.T, what string, body string) {
	t.Helper()
	if strings.Contains(body, "<i>") || strings.Contains(body, `a"b`) || strings.Contains(body, `b'c`) {
		t.Errorf("%s: a value reached the page unescaped:\n%s", what, body)
	}
	if !strings.Contains(body, "&lt;i&gt;") && !strings.Contains(body, "%3ci%3e") && !strings.Contains(body, "%3Ci%3E") {
		t.Errorf("%s: the value is not on the page at all:\n%s", what, body)
	}
}

// Every value a page shows is escaped for where it stands: text,
// attribute, URL path segment, query, and the hand-off form's action.
func TestEscaping(t *testing.T) {
	f := evilFixture(t)
	prod := "/products/" + url.PathEscape("svc"+evil)
	for _, path := range []string{"/", "/orders", prod, prod + "/order", prod + "/order?choice=" + url.QueryEscape("plan:b"+evil),
		"/orders/" + url.PathEscape("2"+evil) + "/cancel"} {
		w := f.do(t, req{method: "GET", path: prefix + path, billing: buyerBA})
		checkPage(t, w, http.StatusOK)
		noMarkup(t, "GET "+path, w.Body.String())
	}
	// The links the pages print lead back to the same product and order.
	w := f.do(t, req{method: "GET", path: prefix + "/orders", billing: buyerBA})
	for _, want := range []string{`href="/google/buyer/products/svc%3Ci%3Ea%22b%27c&amp;d%3Fe%23f%2Fg%20%25h"`,
		`action="/google/buyer/orders/1%3Ci%3Ea%22b%27c&amp;d%3Fe%23f%2Fg%20%25h/register"`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("orders page lacks %s", want)
		}
	}

	register := f.do(t, req{method: "POST", path: prefix + "/orders/" + url.PathEscape("1"+evil) + "/register", billing: buyerBA, form: url.Values{}})
	checkPage(t, register, http.StatusOK)
	noMarkup(t, "register", register.Body.String())
	action, fields := handoffForm(t, register.Body.String())
	if !sameURL(action, f.m.settings.SignupURL) {
		t.Errorf("hand-off to %q, want %q", action, f.m.settings.SignupURL)
	}
	if fields.Get("x-gcp-marketplace-token") == "" {
		t.Error("no token")
	}
	if f.m.tokens[0].Orders[0] != "1"+evil || f.m.tokens[0].Account != "acct"+evil {
		t.Errorf("token for %+v", f.m.tokens[0])
	}
	manage := f.do(t, req{method: "POST", path: prefix + "/orders/" + url.PathEscape("2"+evil) + "/manage", billing: buyerBA, form: url.Values{}})
	checkPage(t, manage, http.StatusOK)
	if action, _ := handoffForm(t, manage.Body.String()); !sameURL(action, f.m.settings.SSOURL) {
		t.Errorf("manage to %q, want %q", action, f.m.settings.SSOURL)
	}

	// Refusals quote what the buyer sent, escaped.
	for _, r := range []req{
		{method: "POST", path: prefix + "/orders/" + url.PathEscape("2"+evil) + "/plan", form: form("plan", evil)},
		{method: "POST", path: prefix + prod + "/order", form: form("choice", "plan:"+evil, "terms", "accepted")},
		{method: "POST", path: prefix + "/orders/" + url.PathEscape("9"+evil) + "/revert", form: url.Values{}},
		{method: "GET", path: prefix + "/products/" + url.PathEscape("x"+evil)},
		{method: "POST", path: prefix + "/signin", form: form("billing_account", evil, "email", evil)},
	} {
		r.billing = buyerBA
		w := f.do(t, r)
		if w.Code < 400 {
			t.Errorf("%s %s: %d, want a refusal", r.method, r.path, w.Code)
		}
		noMarkup(t, r.method+" "+r.path, w.Body.String())
	}
}

// sameURL reports whether a browser sends a and b to the same place with
// the same query: html/template percent-encodes what a URL may not hold
// as it is, as a browser would.
func sameURL(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && ua.Host == ub.Host && ua.Path == ub.Path &&
		ua.Query().Encode() == ub.Query().Encode()
}
