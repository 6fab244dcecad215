package buyer

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Every state-changing route refuses a form without this browser's CSRF
// token (missing, wrong, another browser's, no cookie) and one sent from
// another site, before the market hears of it.
func TestCSRF_Refused(t *testing.T) {
	routes := []string{
		"/signin", "/signout", "/products/" + product + "/order",
		"/orders/e1/register", "/orders/e1/manage", "/orders/e1/plan", "/orders/e1/cancel", "/orders/e1/revert",
	}
	valid := form("billing_account", buyerBA, "email", buyerEmail, "choice", "plan:team", "terms", "accepted", "plan", "team", "confirm", "cancel")
	for _, tc := range []struct {
		name   string
		token  string // "" with noCSRF: none sent
		noCSRF bool
		nonce  string // the cookie; "-" for none
		header http.Header
		want   string
	}{
		{name: "no token", noCSRF: true, nonce: testNonce, want: "is out of date"},
		{name: "wrong token", token: "AAAA", nonce: testNonce, want: "is out of date"},
		{name: "token of another browser", token: "", nonce: "ffffffffffffffffffffffffffffffff", want: "is out of date"},
		{name: "no cookie", token: "", nonce: "-", want: "is out of date"},
		{name: "malformed cookie", token: "", nonce: "XYZ", want: "is out of date"},
		{name: "another site", token: "", nonce: testNonce, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, want: "sent from another site"},
	} {
		for _, route := range routes {
			t.Run(tc.name+route, func(t *testing.T) {
				f := newFixture(t)
				f.m.put(buyerBA, Entitlement{ID: "e1", Account: "a1", Product: product, Plan: "standard", State: StateActivationRequested})
				fv := url.Values{}
				for k, v := range valid {
					fv[k] = v
				}
				if !tc.noCSRF {
					// The token this fixture's key makes for testNonce, sent
					// with whatever cookie the case holds.
					fv.Set(csrfField, csrfToken(f.pages.csrfKey, testNonce))
					if tc.token != "" {
						fv.Set(csrfField, tc.token)
					}
				}
				hr := httptest.NewRequest("POST", "http://127.0.0.1:8090"+prefix+route, strings.NewReader(fv.Encode()))
				hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range tc.header {
					hr.Header[k] = v
				}
				if tc.nonce != "-" {
					hr.AddCookie(&http.Cookie{Name: csrfCookie, Value: tc.nonce})
				}
				hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: session{BillingAccount: buyerBA, Email: buyerEmail}.encode()})
				w := httptest.NewRecorder()
				f.h.ServeHTTP(w, hr)
				checkPage(t, w, http.StatusForbidden, "Request refused", tc.want, "nothing was changed")
				if n := f.m.changes(); n != 0 {
					t.Errorf("%d market changes behind a refused form", n)
				}
				if strings.Contains(w.Header().Get("Set-Cookie"), sessionCookie) {
					t.Errorf("a refused form set the session: %s", w.Header().Get("Set-Cookie"))
				}
			})
		}
	}
}

var csrfInputRE = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)

// A browser's first page sets its nonce cookie; the forms of that page
// carry the token that passes, and the same token from a different
// browser does not.
func TestCSRF_TokenFromPage(t *testing.T) {
	f := newFixture(t)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:8090"+prefix+"/signin", nil))
	checkPage(t, w, http.StatusOK)
	var nonce *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == csrfCookie {
			nonce = c
		}
	}
	if nonce == nil || !validNonce(nonce.Value) || nonce.Path != prefix+"/" || !nonce.HttpOnly || nonce.SameSite != http.SameSiteLaxMode {
		t.Fatalf("nonce cookie %+v", nonce)
	}
	m := csrfInputRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("sign-in form has no CSRF field:\n%s", w.Body)
	}
	post := func(c *http.Cookie) int {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8090"+prefix+"/signin",
			strings.NewReader(form("csrf", m[1], "billing_account", buyerBA, "email", buyerEmail).Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(c)
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		return w.Code
	}
	if code := post(nonce); code != http.StatusSeeOther {
		t.Errorf("sign-in with the page's token: %d, want 303", code)
	}
	if code := post(&http.Cookie{Name: csrfCookie, Value: strings.Repeat("1", nonceLen)}); code != http.StatusForbidden {
		t.Errorf("the token with another browser's nonce: %d, want 403", code)
	}
	// A browser that has its nonce keeps it.
	r := httptest.NewRequest("GET", "http://127.0.0.1:8090"+prefix+"/signin", nil)
	r.AddCookie(nonce)
	w = httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if strings.Contains(w.Header().Get("Set-Cookie"), csrfCookie) {
		t.Errorf("nonce replaced: %s", w.Header().Get("Set-Cookie"))
	}
}

// Every form a page renders that posts to these pages carries the token.
func TestCSRF_EveryFormCarriesToken(t *testing.T) {
	f := newFixture(t)
	f.m.settings.SSOURL = ssoURL
	f.m.put(buyerBA, Entitlement{ID: "e1", Account: "a1", Product: product, Plan: "standard", State: StateActivationRequested})
	f.m.put(buyerBA, Entitlement{ID: "e2", Account: "a1", Product: product, Plan: "standard", State: StateActive, AccountApproved: true})
	f.m.put(buyerBA, Entitlement{ID: "e3", Account: "a1", Product: product, Plan: "standard", State: StatePendingCancellation, AccountApproved: true})
	formRE := regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)
	token := `<input type="hidden" name="csrf" value="` + csrfToken(f.pages.csrfKey, testNonce) + `">`
	seen := 0
	for _, path := range []string{"/", "/signin", "/orders", "/products/" + product, "/products/" + product + "/order", "/orders/e2/cancel"} {
		w := f.do(t, req{method: "GET", path: prefix + path, billing: buyerBA})
		checkPage(t, w, http.StatusOK)
		for _, fm := range formRE.FindAllString(w.Body.String(), -1) {
			if !strings.Contains(strings.SplitN(fm, ">", 2)[0], `method="post"`) {
				continue
			}
			seen++
			if !strings.Contains(fm, token) {
				t.Errorf("%s: a POST form without the token:\n%s", path, fm)
			}
		}
	}
	if seen < 8 {
		t.Errorf("only %d POST forms seen; the pages should have more", seen)
	}
}
