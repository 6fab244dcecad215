package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

// postFrom submits a form as a same-origin browser behind the trusted
// proxy, which says the client is xff (the header's value as the proxy
// passes it on).
func (b *browser) postFrom(xff, path string, form url.Values) response {
	b.a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.a.srv.URL)
	req.Header.Set("X-Forwarded-For", xff)
	return b.do(req)
}

func trustProxy(c *web.Config) { c.TrustProxy = true }

// retryAfter checks that r refuses for too many attempts, the page saying
// so and Retry-After saying when to come back, and returns that.
func retryAfter(t *testing.T, r response) time.Duration {
	t.Helper()
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || err != nil || secs <= 0 || !strings.Contains(r.body, "Too many attempts") {
		t.Fatalf("answer = %d, Retry-After %q; want 429 saying too many attempts, with a wait in seconds", r.status, r.header.Get("Retry-After"))
	}
	return time.Duration(secs) * time.Second
}

// The log-in limits over HTTP, behind a trusted proxy (#11 item 6): a
// stranger hammering an address cannot keep its owner out from elsewhere;
// one client is limited on its own, whatever it claims before the proxy's
// entry in X-Forwarded-For; many clients are slowed together, but not the
// owner's own browser. Before, the limit was per address, and the stranger
// locked the owner out.
func TestLogIn_Issue11_LimitsOverHTTP(t *testing.T) {
	const owner = "lee@example.com"
	wrong := url.Values{"email": {owner}, "password": {"not the password at all"}}
	right := url.Values{"email": {owner}, "password": {password}}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a *app)
	}{
		{"a stranger cannot keep the owner out", func(t *testing.T, a *app) {
			stranger := a.browser()
			refused := 0
			for i := range 60 {
				r := stranger.postFrom("203.0.113.9", "/login", wrong)
				if r.status == http.StatusTooManyRequests {
					retryAfter(t, r)
					refused++
				} else if r.status != http.StatusUnauthorized {
					t.Fatalf("stranger's guess %d = %d", i, r.status)
				}
				a.advance(5 * time.Second)
			}
			if refused == 0 {
				t.Fatal("the stranger was never refused")
			}
			if r := a.browser().postFrom("198.51.100.1", "/login", right); r.status != http.StatusSeeOther {
				t.Fatalf("the owner's log-in from another client while a stranger hammers = %d, want 303", r.status)
			}
		}},
		{"one client is limited, whatever it claims before the proxy's entry", func(t *testing.T, a *app) {
			b := a.browser()
			for i := range 10 {
				// The client prepends a made-up address each time; the
				// proxy appends the real one.
				if r := b.postFrom(fmt.Sprintf("10.9.8.%d, 192.0.2.44", i), "/login", wrong); r.status != http.StatusUnauthorized {
					t.Fatalf("guess %d = %d, want 401", i, r.status)
				}
			}
			r := b.postFrom("10.9.8.200, 192.0.2.44", "/login", right)
			if wait := retryAfter(t, r); wait != 3*time.Minute {
				t.Fatalf("Retry-After = %v, want 3m0s", wait)
			}
			a.advance(3 * time.Minute)
			if r := b.postFrom("192.0.2.44", "/login", right); r.status != http.StatusSeeOther {
				t.Fatalf("the right password after the wait = %d, want 303", r.status)
			}
		}},
		{"many clients are slowed, the owner's own browser is not", func(t *testing.T, a *app) {
			mine := a.browser()
			r := mine.postFrom("198.51.100.1", "/login", right)
			if r.status != http.StatusSeeOther {
				t.Fatalf("owner's first log-in = %d", r.status)
			}
			c := setCookie(r, "mb_device")
			if c == nil || !c.HttpOnly || c.Path != "/login" || c.SameSite != http.SameSiteStrictMode {
				t.Fatalf("device cookie = %+v, want HttpOnly, Path=/login, SameSite=Strict", c)
			}
			var last response
			for i := range 200 {
				last = a.browser().postFrom(fmt.Sprintf("2001:db8:%x::1", i), "/login", wrong)
				a.advance(time.Second)
			}
			retryAfter(t, last)
			retryAfter(t, a.browser().postFrom("198.51.100.2", "/login", right))
			if r := mine.postFrom("198.51.100.1", "/login", right); r.status != http.StatusSeeOther {
				t.Fatalf("the owner's known browser while many clients guess = %d, want 303", r.status)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				a := newApp(t, db, trustProxy)
				a.signUp(owner)
				tc.run(t, a)
			})
		})
	}
}

// A browser that reset the password through the mailed link is known to
// the account: it logs in even while many clients are slowed.
func TestResetPassword_BrowserBecomesKnown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db, trustProxy)
		const owner = "kim@example.com"
		a.signUp(owner)
		for i := range 200 {
			a.browser().postFrom(fmt.Sprintf("2001:db8:%x::1", i), "/login", url.Values{"email": {owner}, "password": {"a guess of theirs"}})
			a.advance(time.Second)
		}
		b := a.browser()
		retryAfter(t, b.postFrom("198.51.100.3", "/login", url.Values{"email": {owner}, "password": {password}}))
		if r := b.postFrom("198.51.100.3", "/forgot-password", url.Values{"email": {owner}}); r.status != http.StatusSeeOther {
			t.Fatalf("ask for a reset = %d", r.status)
		}
		tok := strings.TrimPrefix(a.mailLink(owner, "/reset-password"), "/reset-password?token=")
		const chosen = "chosen while under attack"
		if r := b.postFrom("198.51.100.3", "/reset-password", url.Values{"token": {tok}, "password": {chosen}}); r.status != http.StatusSeeOther {
			t.Fatalf("reset = %d", r.status)
		}
		if r := b.postFrom("198.51.100.3", "/login", url.Values{"email": {owner}, "password": {chosen}}); r.status != http.StatusSeeOther {
			t.Fatalf("log-in from the browser that reset the password = %d, want 303", r.status)
		}
	})
}

// setCookie is the cookie called name that r sets, or nil.
func setCookie(r response, name string) *http.Cookie {
	for _, line := range r.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == name {
			return c
		}
	}
	return nil
}
