package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

func TestSignUp_RegisterVerifyLogInOnboardCreateOrg(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.browser()
		r := b.post("/register", url.Values{"email": {"new@example.com"}, "name": {"New"}, "password": {password}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/register/check-inbox") {
			t.Fatalf("register = %d → %q", r.status, r.location)
		}
		if r := b.get(r.location); !strings.Contains(r.body, "new@example.com") || !strings.Contains(r.body, "/dev/mailbox") {
			t.Fatalf("check-inbox page lacks the address or the mailbox link:\n%s", r.body)
		}
		// Unverified: refused with a way to resend.
		r = b.post("/login", url.Values{"email": {"new@example.com"}, "password": {password}})
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "Send the verification link again") {
			t.Fatalf("unverified log-in = %d, want 403 with a resend button", r.status)
		}
		r = b.get(a.mailLink("new@example.com", "/verify-email"))
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Fatalf("verify = %d → %q, want to log-in", r.status, r.location)
		}
		if r := b.get(r.location); !strings.Contains(r.body, "Your e-mail address is verified") {
			t.Fatal("log-in page after verifying does not say so")
		}
		r = b.login("new@example.com", password)
		if r.location != "/onboarding/company" {
			t.Fatalf("first log-in → %q, want onboarding", r.location)
		}
		// Until onboarding is done, the console sends the user back to it.
		if r := b.get("/orgs/new"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/onboarding/company") {
			t.Fatalf("console before onboarding = %d → %q", r.status, r.location)
		}
		r = b.post("/onboarding/company", url.Values{"company_name": {"Acme KK"}, "country": {""}, "address": {"Tokyo"}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Choose a country.") || !strings.Contains(r.body, `value="Acme KK"`) {
			t.Fatalf("onboarding with a missing country = %d; want 422 with the error inline and the typed name kept", r.status)
		}
		if r := b.post("/onboarding/company", url.Values{"company_name": {"Acme KK"}, "country": {"JP"}, "address": {"Tokyo"}}); r.location != "/onboarding/profile" {
			t.Fatalf("onboarding 1 → %q", r.location)
		}
		if r := b.post("/onboarding/profile", url.Values{"job_role": {"data"}, "company_size": {"11-50"}, "use_case": {"analytics"}}); pathOf(r.location) != "/orgs/new" {
			t.Fatalf("onboarding 2 → %q, want /orgs/new for a user without organizations", r.location)
		}
		path := b.createOrg("Acme")
		if r := b.get(path); r.status != http.StatusOK || !strings.Contains(r.body, "Acme") || !strings.Contains(r.body, "Admin") {
			t.Fatalf("overview = %d", r.status)
		}
		if r := b.get("/"); r.location != path {
			t.Fatalf("home → %q, want the current organization %q", r.location, path)
		}
	})
}

// Every organization page and action: a non-member gets 404, as if the
// organization did not exist; a member without the role gets 403.
func TestOrgPages_NonMember404_WrongRole403(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		admin := a.signUp("admin@example.com")
		path := admin.createOrg("Acme")
		if r := admin.post(path+"members/invite", url.Values{"email": {"dev@example.com"}, "role": {"developer"}}); r.status != http.StatusSeeOther {
			t.Fatalf("invite = %d %s", r.status, r.body)
		}
		dev := a.signUp("dev@example.com")
		link := a.mailLink("dev@example.com", "/invitations/accept")
		tok := strings.TrimPrefix(link, "/invitations/accept?token=")
		if r := dev.post("/invitations/accept", url.Values{"token": {tok}}); pathOf(r.location) != path {
			t.Fatalf("accept → %d %q, want %q", r.status, r.location, path)
		}
		outsider := a.signUp("outsider@example.com")
		outsider.createOrg("Elsewhere")

		adminID := a.userID("admin@example.com")
		pages := []struct {
			method, path string
			devStatus    int
		}{
			{"GET", path, http.StatusOK},
			{"GET", path + "members", http.StatusOK},
			{"GET", path + "api-keys", http.StatusForbidden},
			{"GET", path + "audit", http.StatusForbidden},
			{"POST", path + "members/invite", http.StatusForbidden},
			{"POST", path + "members/" + itoa(adminID) + "/role", http.StatusForbidden},
			{"POST", path + "members/" + itoa(adminID) + "/remove", http.StatusForbidden},
			{"POST", path + "api-keys", http.StatusForbidden},
			{"POST", path + "api-keys/1/revoke", http.StatusForbidden},
			{"POST", path + "invitations/1/revoke", http.StatusForbidden},
		}
		form := url.Values{"email": {"x@example.com"}, "role": {"admin"}, "name": {"k"}}
		for _, p := range pages {
			call := func(b *browser) response {
				if p.method == "GET" {
					return b.get(p.path)
				}
				return b.post(p.path, form)
			}
			if r := call(outsider); r.status != http.StatusNotFound {
				t.Errorf("%s %s by a non-member = %d, want 404", p.method, p.path, r.status)
			}
			if r := call(dev); r.status != p.devStatus {
				t.Errorf("%s %s by a developer = %d, want %d", p.method, p.path, r.status, p.devStatus)
			}
		}
		// The refusals changed nothing: both are members with their roles.
		memberOrg := strings.Trim(strings.TrimPrefix(path, "/orgs/"), "/")
		if ra, rd := a.role(memberOrg, adminID), a.role(memberOrg, a.userID("dev@example.com")); ra != "admin" || rd != "developer" {
			t.Errorf("after the refused requests the admin is %q and the developer %q, want admin and developer", ra, rd)
		}
		// Malformed and absent organization ids are simply not found.
		for _, p := range []string{"/orgs/abc/", "/orgs/999999/", "/orgs/-1/members"} {
			if r := admin.get(p); r.status != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", p, r.status)
			}
		}
		// The switcher refuses an organization the user is not in.
		orgID := strings.Trim(strings.TrimPrefix(path, "/orgs/"), "/")
		if r := outsider.post("/orgs/switch", url.Values{"org": {orgID}}); r.status != http.StatusNotFound {
			t.Errorf("switching to another's organization = %d, want 404", r.status)
		}
		// Logged out: sent to log in, and back afterwards.
		anon := a.browser()
		if r := anon.get(path + "members"); r.status != http.StatusSeeOther || r.location != "/login?next="+url.QueryEscape(path+"members") {
			t.Errorf("anonymous GET = %d → %q", r.status, r.location)
		}
	})
}

// A form posted from another site is refused and changes nothing.
func TestCSRF_CrossSiteFormsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		admin := a.signUp("admin@example.com")
		path := admin.createOrg("Acme")
		for _, tc := range []struct{ name, header, value string }{
			{"Sec-Fetch-Site", "Sec-Fetch-Site", "cross-site"},
			{"Origin", "Origin", "https://evil.example"},
		} {
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+path+"api-keys", strings.NewReader("name=stolen"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tc.header, tc.value)
			if r := admin.do(req); r.status != http.StatusForbidden || !strings.Contains(r.body, "sent from another site") {
				t.Errorf("cross-site POST by %s = %d, want 403", tc.name, r.status)
			}
		}
		if r := admin.get(path + "api-keys"); strings.Contains(r.body, "stolen") {
			t.Fatal("a cross-site POST created a key")
		}
	})
}

func TestSession_CookieFlagsAndRenewalOnLogIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.signUp("s@example.com")
		first := b.cookie("mb_session")
		r := b.post("/login", url.Values{"email": {"s@example.com"}, "password": {password}})
		setCookie := r.header.Get("Set-Cookie")
		for _, want := range []string{"mb_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(setCookie, want) {
				t.Errorf("session cookie %q lacks %s", setCookie, want)
			}
		}
		if strings.Contains(setCookie, "Secure") {
			t.Errorf("cookie is Secure on plain http: %q", setCookie)
		}
		second := b.cookie("mb_session")
		if second == first || second == "" {
			t.Fatal("log-in kept the old session token")
		}
		stale := a.browser()
		stale.client.Jar.SetCookies(mustURL(a.srv.URL), []*http.Cookie{{Name: "mb_session", Value: first}})
		if r := stale.get("/orgs/new"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Fatalf("the session replaced at log-in still works: %d → %q", r.status, r.location)
		}
		if r := b.post("/logout", nil); pathOf(r.location) != "/login" {
			t.Fatalf("logout → %q", r.location)
		}
		if r := b.get("/orgs/new"); !strings.HasPrefix(r.location, "/login") {
			t.Fatal("still logged in after logging out")
		}
	})
}

func TestSession_SecureCookieUnderHTTPS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db, func(c *web.Config) { c.BaseURL = "https://console.example.com" })
		b := a.browser()
		r := b.post("/register", url.Values{"email": {"h@example.com"}, "name": {"H"}, "password": {password}})
		if r.status != http.StatusSeeOther {
			t.Fatal(r.status)
		}
		// The verification link points at the public https URL; follow
		// its path here.
		link := a.mailLink("h@example.com", "/verify-email")
		b.get(link)
		r = b.post("/login", url.Values{"email": {"h@example.com"}, "password": {password}})
		if c := r.header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
			t.Fatalf("session cookie under an https base URL = %q, want Secure", c)
		}
	})
}

func TestForms_ErrorsInlineKeepInputNeverEchoPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.browser()
		r := b.post("/register", url.Values{"email": {"typed@example.com"}, "name": {"Typed Name"}, "password": {"hunter2"}})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("weak password = %d, want 422", r.status)
		}
		for _, want := range []string{`value="typed@example.com"`, `value="Typed Name"`, "Use at least 10 characters.", `aria-invalid="true"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("register page lacks %s", want)
			}
		}
		if strings.Contains(r.body, "hunter2") {
			t.Error("the refused password was echoed back into the page")
		}
	})
}

func TestRegisterAndReset_SameAnswerForKnownAndUnknownAddresses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.signUp("known@example.com")
		b := a.browser()
		known := b.post("/register", url.Values{"email": {"known@example.com"}, "name": {"X"}, "password": {password}})
		unknown := b.post("/register", url.Values{"email": {"fresh@example.com"}, "name": {"X"}, "password": {password}})
		if known.status != unknown.status || strings.Replace(known.location, "known", "fresh", 1) != unknown.location {
			t.Errorf("register answers differ: %d %q vs %d %q", known.status, known.location, unknown.status, unknown.location)
		}
		k := b.post("/forgot-password", url.Values{"email": {"known@example.com"}})
		u := b.post("/forgot-password", url.Values{"email": {"nobody@example.com"}})
		if k.status != u.status || k.location != u.location {
			t.Errorf("reset answers differ: %d %q vs %d %q", k.status, k.location, u.status, u.location)
		}
		k = b.post("/login", url.Values{"email": {"known@example.com"}, "password": {"wrong wrong wrong"}})
		u = b.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong wrong wrong"}})
		if k.status != u.status || !strings.Contains(k.body, "The e-mail address or password is incorrect.") || !strings.Contains(u.body, "The e-mail address or password is incorrect.") {
			t.Errorf("log-in answers differ: %d vs %d", k.status, u.status)
		}
	})
}

func TestLogIn_RateLimitedPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.signUp("r@example.com")
		b := a.browser()
		var r response
		for range 12 {
			r = b.post("/login", url.Values{"email": {"r@example.com"}, "password": {"not the password"}})
		}
		if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many attempts") {
			t.Fatalf("12th wrong password = %d, want 429 with a message", r.status)
		}
	})
}

func TestNext_OnlyLocalPathsFollowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.signUp("n@example.com")
		for next, want := range map[string]string{
			"//evil.example/x":     "/",
			"https://evil.example": "/",
			"/\\evil.example":      "/",
			"/\t/evil.example":     "/",
			"/\n/evil.example":     "/",
			"/orgs/new":            "/orgs/new",
		} {
			b := a.browser()
			r := b.post("/login", url.Values{"email": {"n@example.com"}, "password": {password}, "next": {next}})
			if r.location != want {
				t.Errorf("log-in with next=%q → %q, want %q", next, r.location, want)
			}
		}
	})
}

// Creating an API key redirects to the key list (post/redirect/get), which
// shows the new secret once: reloading it neither shows the secret again nor
// makes another key, another session of the same admin never sees it, and
// the secret is in no URL. The list then shows only the key's prefix.
func TestAPIKey_ShownOnceAfterTheRedirect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		admin := a.signUp("k@example.com")
		path := admin.createOrg("Acme")
		elsewhere := a.browser()
		elsewhere.login("k@example.com", password)
		r := admin.post(path+"api-keys", url.Values{"name": {"ingest"}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, path+"api-keys?created=") || strings.Contains(r.body, "mbk_") {
			t.Fatalf("create key = %d → %q, want a redirect to the key list", r.status, r.location)
		}
		if page := elsewhere.get(r.location).body; strings.Contains(page, `id="new-key"`) || !strings.Contains(page, "cannot be shown again") {
			t.Fatal("another session of the same admin is shown the new key, or not told why it is not")
		}
		shown := admin.get(r.location)
		i := strings.Index(shown.body, `id="new-key">`) + len(`id="new-key">`)
		if shown.status != http.StatusOK || i < len(`id="new-key">`) {
			t.Fatalf("the page after the redirect = %d without the key", shown.status)
		}
		key := shown.body[i : i+strings.IndexAny(shown.body[i:], "<\n ")]
		if !strings.HasPrefix(key, "mbk_") || strings.Contains(r.location, key) || shown.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("key %q after a redirect to %q, Cache-Control %q: want an mbk_ key, not in the address, on a page never stored",
				key, r.location, shown.header.Get("Cache-Control"))
		}
		for _, again := range []response{admin.get(r.location), admin.get(path + "api-keys")} {
			if strings.Contains(again.body, key) {
				t.Fatal("the key is shown again after its first showing")
			}
			if !strings.Contains(again.body, key[:10]) {
				t.Fatal("the key's prefix is not listed")
			}
		}
		if again := admin.get(r.location).body; !strings.Contains(again, "cannot be shown again") {
			t.Error("reloading the page after the creation does not say why the key is not shown")
		}
		var keys int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM api_keys`).Scan(&keys); err != nil || keys != 1 {
			t.Fatalf("%d keys after one creation and three reloads (%v), want 1", keys, err)
		}
	})
}

func TestMembers_LastAdminRefusedOnPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		admin := a.signUp("only@example.com")
		path := admin.createOrg("Solo")
		var uid int64
		if err := db.Read().QueryRow(`SELECT id FROM users WHERE email = 'only@example.com'`).Scan(&uid); err != nil {
			t.Fatal(err)
		}
		r := admin.post(path+"members/"+itoa(uid)+"/role", url.Values{"role": {"developer"}})
		if r.status != http.StatusConflict || !strings.Contains(r.body, "at least one admin") {
			t.Fatalf("demoting the last admin = %d, want 409 with the reason on the members page", r.status)
		}
	})
}

func TestDevMailbox_OnlyWhenConfigured(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		with := newApp(t, db)
		if r := with.browser().get("/dev/mailbox"); r.status != http.StatusOK {
			t.Errorf("dev mailbox with no SMTP = %d, want 200", r.status)
		}
		without := newApp(t, db, func(c *web.Config) { c.Mailbox = nil })
		if r := without.browser().get("/dev/mailbox"); r.status != http.StatusNotFound {
			t.Errorf("dev mailbox with SMTP configured = %d, want 404", r.status)
		}
	})
}
