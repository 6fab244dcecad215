package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/oidc"
	"github.com/marketbridge/marketbridge/internal/oidc/oidctest"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

// withOIDC signs people in through an OpenID provider at issuer.
func withOIDC(t testing.TB, issuer, clientID, clientSecret string) appOption {
	return withRelyingParty(t, oidc.Config{Issuer: issuer, ClientID: clientID, ClientSecret: clientSecret})
}

// withRelyingParty signs people in through the provider cfg names; its
// scopes and redirect URL are the console's.
func withRelyingParty(t testing.TB, cfg oidc.Config) appOption {
	return func(c *web.Config) {
		cfg.Scopes, cfg.RedirectURL = oidc.SplitScopes(oidc.DefaultScopes), c.BaseURL+oidc.CallbackPath
		rp, err := oidc.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.OIDC, c.OIDCName = rp, "Example Identity"
	}
}

func localAccountsOff(c *web.Config) { c.LocalAccountsOff = true }

// oidcApp is a console that signs in through a real OpenID provider
// (zitadel's op) running in the test.
func oidcApp(t *testing.T, db *store.DB, opts ...appOption) (*app, *oidctest.Provider) {
	p := oidctest.Start(t)
	return newApp(t, db, append([]appOption{withOIDC(t, p.Issuer, oidctest.ClientID, oidctest.ClientSecret)}, opts...)...), p
}

// throughProvider follows the browser's redirects from r through the
// provider, which logs its user in at once (AutoLogin), until it is sent
// back to the console's callback; it returns that callback's path and
// query, not yet requested.
func (b *browser) throughProvider(r response) string {
	b.a.t.Helper()
	if r.status != http.StatusSeeOther {
		b.a.t.Fatalf("starting the sign-in: %d %s", r.status, r.body)
	}
	loc := r.location
	for range 10 {
		if strings.HasPrefix(loc, b.a.srv.URL+oidc.CallbackPath) {
			return strings.TrimPrefix(loc, b.a.srv.URL)
		}
		req, _ := http.NewRequest(http.MethodGet, loc, nil)
		resp := b.do(req)
		if resp.location == "" {
			b.a.t.Fatalf("the provider stopped at %s: %d %.300s", loc, resp.status, resp.body)
		}
		next, err := url.Parse(resp.location)
		if err != nil {
			b.a.t.Fatal(err)
		}
		loc = mustURL(loc).ResolveReference(next).String()
	}
	b.a.t.Fatalf("the provider never sent the browser back; last at %s", loc)
	return ""
}

// oidcSignIn signs in through the provider from the log-in page's button,
// returning the callback's answer.
func (b *browser) oidcSignIn(next string) response {
	b.a.t.Helper()
	start := "/login/oidc"
	if next != "" {
		start += "?" + url.Values{"next": {next}}.Encode()
	}
	return b.get(b.throughProvider(b.get(start)))
}

func (a *app) userByEmail(email string) (account.User, bool) {
	a.t.Helper()
	var u account.User
	err := a.db.Read().QueryRowContext(context.Background(), `SELECT id, name, email_verified_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Name, &u.EmailVerified)
	if err != nil {
		return account.User{}, false
	}
	u.Email = email
	return u, true
}

// people counts the users who are people: the vendor API's own user
// (org.VendorAPIEmail, migration 0024) is not one.
func (a *app) people() int {
	return a.count(`SELECT COUNT(*) FROM users WHERE email <> $1`, org.VendorAPIEmail)
}

func (a *app) count(query string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.db.Read().QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// miaApp is oidcApp whose provider logs Mia in at once.
func miaApp(t *testing.T, db *store.DB, opts ...appOption) (*app, *oidctest.Provider) {
	a, p := oidcApp(t, db, opts...)
	p.AddUser(mia)
	p.AutoLogin(mia.Username)
	return a, p
}

var mia = oidctest.User{Subject: "sub-mia", Username: "mia", Password: "pw", Email: "mia@example.com", EmailVerified: true,
	GivenName: "Mia", FamilyName: "Wong"}

// A first sign-in creates a verified user without a password from the
// provider's verified address and name, opens a session, and goes through
// onboarding to where the log-in page was going. The second sign-in finds
// the same user by (issuer, sub) even though the provider's address has
// changed.
func TestOIDC_FirstSignInCreatesUser_SecondFindsItBySubject(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := miaApp(t, db)
		b := a.browser()
		r := b.oidcSignIn("/orgs/new")
		if r.status != http.StatusSeeOther || pathOf(r.location) != "/onboarding/company?next=%2Forgs%2Fnew" {
			t.Fatalf("first sign-in: %d → %q, want onboarding, then /orgs/new", r.status, r.location)
		}
		u, ok := a.userByEmail(mia.Email)
		if !ok || !u.EmailVerified || u.Name != "Mia Wong" {
			t.Fatalf("user after first sign-in = %+v (found %v), want verified Mia Wong", u, ok)
		}
		if n := a.count(`SELECT COUNT(*) FROM users WHERE email = $1 AND password_hash = ''`, mia.Email); n != 1 {
			t.Errorf("the new user has a password")
		}
		if got := b.get("/onboarding/company"); got.status != http.StatusOK {
			t.Errorf("the session does not open onboarding: %d", got.status)
		}

		renamed := mia
		renamed.Email = "mia.wong@example.org"
		p.AddUser(renamed)
		b2 := a.browser()
		r = b2.oidcSignIn("")
		if r.status != http.StatusSeeOther || b2.cookie("mb_session") == "" {
			t.Fatalf("second sign-in: %d → %q", r.status, r.location)
		}
		if n := a.people(); n != 1 {
			t.Errorf("%d users after the second sign-in, want the same one", n)
		}
		if got := b2.get("/account"); !strings.Contains(got.body, mia.Email) || !strings.Contains(got.body, renamed.Email) {
			t.Errorf("account page does not show the user (%s) linked to the provider's new address (%s):\n%.2000s", mia.Email, renamed.Email, got.body)
		}
	})
}

// An address the provider does not mark verified never attaches to an
// account with a password, and does not take the address either: the
// person sees why, and nothing changes.
func TestOIDC_UnverifiedEmailNeverAttachesOrTakesAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := oidcApp(t, db)
		owner := a.signUp("kim@example.com")
		// (email_verified absent or a string reads the same: see
		// TestOIDC_EmailVerifiedClaimAndProviderRefusal.)
		p.AddUser(oidctest.User{Subject: "sub-impostor", Username: "imp", Password: "pw", Email: "kim@example.com", EmailVerified: false})
		p.AutoLogin("imp")
		b := a.browser()
		r := b.oidcSignIn("")
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "has not confirmed your e-mail address") {
			t.Fatalf("sign-in with an unverified address of an account: %d %.400s", r.status, r.body)
		}
		if b.cookie("mb_session") != "" {
			t.Error("a session was opened")
		}
		if n := a.count(`SELECT COUNT(*) FROM user_identities`); n != 0 {
			t.Errorf("%d identities attached, want none", n)
		}
		// Nor does an unverified address of nobody's create a user.
		p.AddUser(oidctest.User{Subject: "sub-new", Username: "new", Password: "pw", Email: "new@example.com"})
		p.AutoLogin("new")
		if r := a.browser().oidcSignIn(""); r.status != http.StatusForbidden {
			t.Errorf("sign-in with an unverified new address: %d, want 403", r.status)
		}
		if _, ok := a.userByEmail("new@example.com"); ok {
			t.Error("an unverified address took an account")
		}
		if r := owner.get("/account"); r.status != http.StatusOK {
			t.Errorf("the owner's session ended: %d", r.status)
		}
	})
}

// With --oidc-trust-email (a provider such as Microsoft Entra ID, which never
// says email_verified, whose addresses the vendor's administrators assign)
// the provider's address makes a new user; it still never attaches to an
// account with a password.
func TestOIDC_TrustedEmailMakesUsersButNeverAttaches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p := oidctest.Start(t)
		a := newApp(t, db, withRelyingParty(t, oidc.Config{Issuer: p.Issuer, ClientID: oidctest.ClientID, ClientSecret: oidctest.ClientSecret, TrustEmail: true}))
		p.AddUser(oidctest.User{Subject: "sub-entra", Username: "ent", Password: "pw", Email: "ent@example.com", GivenName: "Ent", FamilyName: "Ra"})
		p.AutoLogin("ent")
		b := a.browser()
		if r := b.oidcSignIn(""); r.status != http.StatusSeeOther || b.cookie("mb_session") == "" {
			t.Fatalf("first sign-in with a trusted address: %d %.400s", r.status, r.body)
		}
		if u, ok := a.userByEmail("ent@example.com"); !ok || !u.EmailVerified {
			t.Errorf("user %+v (found %v), want a verified user", u, ok)
		}
		a.signUp("kim@example.com")
		p.AddUser(oidctest.User{Subject: "sub-kim", Username: "kim", Password: "pw", Email: "kim@example.com"})
		p.AutoLogin("kim")
		other := a.browser()
		if r := other.oidcSignIn(""); other.cookie("mb_session") != "" || r.status == http.StatusSeeOther {
			t.Errorf("sign-in with the address of a password account: %d → %q, session opened", r.status, r.location)
		}
		if n := a.count(`SELECT COUNT(*) FROM user_identities WHERE subject = 'sub-kim'`); n != 0 {
			t.Errorf("the identity was attached to the password account")
		}
	})
}

// A verified address that an account with a password holds is not
// silently attached: the page says to log in with the password and link
// from the account page, keeping where the person was going.
func TestOIDC_VerifiedEmailOfPasswordAccountIsNotAttached(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := oidcApp(t, db)
		a.signUp("kim@example.com")
		p.AddUser(oidctest.User{Subject: "sub-kim", Username: "kim", Password: "pw", Email: "Kim@Example.com", EmailVerified: true, GivenName: "Kim"})
		p.AutoLogin("kim")
		b := a.browser()
		r := b.oidcSignIn("/orgs/new")
		if r.status != http.StatusConflict || !strings.Contains(r.body, "Log in with its password") ||
			!strings.Contains(r.body, `href="/login?next=%2Forgs%2Fnew&amp;email=kim%40example.com"`) {
			t.Fatalf("sign-in with the address of a password account: %d %.3000s", r.status, r.body)
		}
		if n := a.count(`SELECT COUNT(*) FROM user_identities`); n != 0 || b.cookie("mb_session") != "" {
			t.Errorf("identities %d, session %q: want none", n, b.cookie("mb_session"))
		}
	})
}

// The owner links the provider's sign-in while logged in with the
// password; from then on it logs in to the same account. An identity
// linked to one account cannot be linked to another.
func TestOIDC_LinkWhileLoggedIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := oidcApp(t, db)
		kim := a.signUp("kim@example.com")
		p.AddUser(oidctest.User{Subject: "sub-kim", Username: "kim", Password: "pw", Email: "kim@corp.example", EmailVerified: true})
		p.AutoLogin("kim")
		if r := kim.get("/account"); !strings.Contains(r.body, "Link your Example Identity sign-in") {
			t.Fatalf("the account page does not offer linking: %.2000s", r.body)
		}
		r := kim.get(kim.throughProvider(kim.post("/account/oidc/link", nil)))
		if r.status != http.StatusSeeOther || pathOf(r.location) != "/account" {
			t.Fatalf("link: %d → %q %.300s", r.status, r.location, r.body)
		}
		if page := kim.get(r.location); !strings.Contains(page.body, "sign-in is linked") || !strings.Contains(page.body, "kim@corp.example") {
			t.Errorf("after linking the account page says:\n%.2000s", page.body)
		}
		// Logged out, the provider's sign-in opens the same account.
		other := a.browser()
		if r := other.oidcSignIn(""); r.status != http.StatusSeeOther || pathOf(r.location) != "/" {
			t.Fatalf("sign-in after linking: %d → %q %.300s", r.status, r.location, r.body)
		}
		if page := other.get("/account"); !strings.Contains(page.body, "kim@example.com") {
			t.Errorf("the sign-in did not open kim's account")
		}
		// Another account cannot take it.
		lee := a.signUp("lee@example.com")
		r = lee.get(lee.throughProvider(lee.post("/account/oidc/link", nil)))
		if r.status != http.StatusConflict || !strings.Contains(r.body, "already linked to another account") {
			t.Fatalf("linking kim's identity to lee: %d %.400s", r.status, r.body)
		}
		if n := a.count(`SELECT COUNT(*) FROM user_identities`); n != 1 {
			t.Errorf("%d identities, want kim's only", n)
		}
	})
}

// A state works once: replaying the callback, even with the state cookie
// put back, is refused; and a callback in a browser that did not start
// the sign-in is refused.
func TestOIDC_ReplayedStateAndOtherBrowserRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := miaApp(t, db)
		b := a.browser()
		callback := b.throughProvider(b.get("/login/oidc"))
		var state *http.Cookie
		for _, c := range b.client.Jar.Cookies(mustURL(a.srv.URL + oidc.CallbackPath)) {
			if strings.HasPrefix(c.Name, "mb_oidc_") {
				state = c
			}
		}
		if state == nil || mustURL(callback).Query().Get("state") != state.Value {
			t.Fatalf("the browser holds state cookie %v for callback %s", state, callback)
		}
		// The callback URL planted in another browser does nothing.
		if r := a.browser().get(callback); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "started in another browser") {
			t.Fatalf("callback in another browser: %d %.300s", r.status, r.body)
		}
		if r := b.get(callback); r.status != http.StatusSeeOther {
			t.Fatalf("callback: %d %.300s", r.status, r.body)
		}
		replay := a.browser()
		replay.client.Jar.SetCookies(mustURL(a.srv.URL+oidc.CallbackPath), []*http.Cookie{{Name: state.Name, Value: state.Value, Path: oidc.CallbackPath}})
		r := replay.get(callback)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "expired or was already used") || replay.cookie("mb_session") != "" {
			t.Fatalf("replayed callback: %d, session %q %s", r.status, replay.cookie("mb_session"), problemOf(r.body))
		}
	})
}

// With --local-accounts=false, registration, password log-in and reset are
// gone: their forms redirect to the log-in page, their posts are not
// found, and the log-in page offers the provider only.
func TestOIDC_LocalAccountsOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := oidcApp(t, db, localAccountsOff)
		b := a.browser()
		login := b.get("/login?next=%2Forgs%2Fnew")
		if login.status != http.StatusOK || !strings.Contains(login.body, `href="/login/oidc?next=%2Forgs%2Fnew"`) ||
			strings.Contains(login.body, `action="/login"`) || strings.Contains(login.body, "/register") || strings.Contains(login.body, "/forgot-password") {
			t.Fatalf("log-in page with local accounts off:\n%.3000s", login.body)
		}
		for _, path := range []string{"/register?next=%2Forgs%2Fnew", "/forgot-password", "/reset-password?token=x", "/register/check-inbox"} {
			if r := b.get(path); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
				t.Errorf("GET %s: %d → %q, want a redirect to /login", path, r.status, r.location)
			}
		}
		for _, path := range []string{"/login", "/register", "/forgot-password", "/reset-password", "/verify-email/resend"} {
			if r := b.post(path, url.Values{"email": {"x@example.com"}, "password": {password}, "name": {"X"}}); r.status != http.StatusNotFound {
				t.Errorf("POST %s: %d, want 404", path, r.status)
			}
		}
		if n := a.people(); n != 0 {
			t.Errorf("%d users created with local accounts off", n)
		}
		// An account made with a password before they were turned off is
		// not attached by its address either, and the page does not offer
		// a password log-in that is gone.
		if _, err := a.db.Write().ExecContext(context.Background(), `INSERT INTO users (email, name, password_hash, email_verified_at, created_at)
			VALUES ('old@example.com', 'Old', 'x', $1, $1)`, a.Now()); err != nil {
			t.Fatal(err)
		}
		p.AddUser(oidctest.User{Subject: "sub-old", Username: "old", Password: "pw", Email: "old@example.com", EmailVerified: true})
		p.AutoLogin("old")
		r := b.oidcSignIn("")
		if r.status != http.StatusConflict || !strings.Contains(problemOf(r.body), "Ask the vendor&#39;s support") || strings.Contains(r.body, "Log in with your password") {
			t.Errorf("sign-in with a password account's address, local accounts off: %d %s", r.status, problemOf(r.body))
		}
	})
}

// A user created by a sign-in has no password: no password logs it in,
// and a reset neither mails a link nor opens one.
func TestOIDC_UserWithoutPasswordCannotLogInOrReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := miaApp(t, db)
		a.browser().oidcSignIn("")
		for _, pw := range []string{"", "x", password} {
			r := a.browser().post("/login", url.Values{"email": {mia.Email}, "password": {pw}})
			if r.status == http.StatusSeeOther || r.status >= 500 {
				t.Errorf("password log-in with %q: %d, want a refusal", pw, r.status)
			}
		}
		if r := a.browser().post("/forgot-password", url.Values{"email": {mia.Email}}); r.status != http.StatusSeeOther {
			t.Fatalf("forgot password: %d", r.status)
		}
		if n := a.count(`SELECT COUNT(*) FROM user_tokens`); n != 0 {
			t.Errorf("%d reset links issued for a user without a password", n)
		}
	})
}

// Logging out ends marketbridge's session and, since the session came from
// the provider, sends the browser to its end_session endpoint with the ID
// token as hint, which ends the provider's session and returns to the
// log-in page.
func TestOIDC_LogoutEndsProviderSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, p := miaApp(t, db)
		b := a.browser()
		b.oidcSignIn("")
		r := b.post("/logout", nil)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, p.Issuer) {
			t.Fatalf("log-out: %d → %q, want the provider's end_session", r.status, r.location)
		}
		q := mustURL(r.location).Query()
		if q.Get("id_token_hint") == "" || q.Get("post_logout_redirect_uri") != a.srv.URL+"/login" {
			t.Errorf("end_session query = %v", q)
		}
		if got := b.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("still logged in after log-out: %d", got.status)
		}
		req, _ := http.NewRequest(http.MethodGet, r.location, nil)
		back := b.do(req)
		if back.location != a.srv.URL+"/login" || p.Logouts() != 1 {
			t.Errorf("the provider answered %d → %q after %d log-outs; want back to /login after 1", back.status, back.location, p.Logouts())
		}
	})
}

// problemOf is what a sign-in problem page says.
func problemOf(body string) string {
	_, rest, ok := strings.Cut(body, `<p class="problem">`)
	if !ok {
		return "(no problem page)"
	}
	msg, _, _ := strings.Cut(rest, "</p>")
	return msg
}

// A sign-in not finished within ten minutes is refused, and the log-in
// and register pages offer both ways in when both are on.
func TestOIDC_SignInExpiresAndPagesOfferBoth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := miaApp(t, db)
		b := a.browser()
		callback := b.throughProvider(b.get("/login/oidc"))
		a.mu.Lock()
		a.now = a.now.Add(account.SignInTTL + time.Second)
		a.mu.Unlock()
		if r := b.get(callback); r.status != http.StatusUnprocessableEntity || !strings.Contains(problemOf(r.body), "expired") {
			t.Errorf("callback after %v: %d %s", account.SignInTTL, r.status, problemOf(r.body))
		}
		for _, page := range []string{"/login?next=%2Forgs%2Fnew", "/register?next=%2Forgs%2Fnew"} {
			body := a.browser().get(page).body
			if !strings.Contains(body, `href="/login/oidc?next=%2Forgs%2Fnew"`) || !strings.Contains(body, "with Example Identity") ||
				!strings.Contains(body, `name="password"`) {
				t.Errorf("%s does not offer both the provider and a password:\n%.3000s", page, body)
			}
		}
	})
}

// The purchase survives the trip through the provider (R4): Flow B for a
// user who signs in through the provider, already onboarded, with a private
// offer accepted on AWS: the sign-in leads to the set-up waiting in this
// browser, then to linking.
func TestOIDC_FlowB_R4_PurchaseSurvivesSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := miaApp(t, db)
		first := a.browser()
		first.oidcSignIn("")
		first.post("/onboarding/company", url.Values{"company_name": {"Wong Ltd"}, "country": {"JP"}, "address": {"Tokyo"}})
		first.post("/onboarding/profile", url.Values{"job_role": {"data"}, "company_size": {"1-10"}, "use_case": {"analytics"}})

		b := a.browser()
		if r := b.fulfill(a.setUpToken(a.acceptDemoOffer())); r.location != "/marketplace/aws/setup" {
			t.Fatalf("fulfillment → %q", r.location)
		}
		setup := b.get("/marketplace/aws/setup")
		if !strings.Contains(setup.body, `href="/login/oidc?next=%2Fmarketplace%2Faws%2Fsetup"`) {
			t.Fatalf("the set-up page does not offer the provider:\n%.3000s", setup.body)
		}
		r := b.get(b.throughProvider(b.get("/login/oidc?next=%2Fmarketplace%2Faws%2Fsetup")))
		if r.status != http.StatusSeeOther || pathOf(r.location) != "/marketplace/aws/setup" {
			t.Fatalf("sign-in from the set-up page → %d %q", r.status, r.location)
		}
		link := b.get("/marketplace/aws/setup").location
		if !strings.HasPrefix(link, "/marketplace/purchases/") {
			t.Fatalf("set-up after sign-in → %q, want the linking page", link)
		}
		if r := b.post(link+"/link", url.Values{"org": {"new"}, "name": {"Wong Ltd"}}); !strings.HasSuffix(pathOf(r.location), "/billing") {
			t.Fatalf("link → %d %q", r.status, r.location)
		}
	})
}

// Each sign-in started keeps a row until it ends, without a log-in, so one
// address may start only so many.
func TestOIDC_StartIsRateLimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := oidcApp(t, db)
		b := a.browser()
		refused := 0
		for range 40 {
			if r := b.get("/login/oidc"); r.status == http.StatusTooManyRequests {
				refused++
			} else if r.status != http.StatusSeeOther {
				t.Fatalf("start: %d", r.status)
			}
		}
		if refused == 0 || refused > 15 {
			t.Errorf("%d of 40 quick starts refused, want some but not most", refused)
		}
		if n := a.count(`SELECT COUNT(*) FROM oidc_sign_ins`); n != 40-refused {
			t.Errorf("%d pending sign-ins kept, want %d", n, 40-refused)
		}
	})
}
