package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// mailLinks returns the path and query of every link in every mail to
// addr, newest mail first.
func (a *app) mailLinks(addr string) []string {
	a.t.Helper()
	msgs, err := a.outbox.List(context.Background(), 100)
	if err != nil {
		a.t.Fatal(err)
	}
	var links []string
	for _, m := range msgs {
		if len(m.To) != 1 || m.To[0] != addr {
			continue
		}
		for _, match := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			links = append(links, match[1]+"?"+match[2])
		}
	}
	return links
}

// mailCount is how many mails went to addr.
func (a *app) mailCount(addr string) int {
	a.t.Helper()
	msgs, err := a.outbox.List(context.Background(), 1000)
	if err != nil {
		a.t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if len(m.To) == 1 && m.To[0] == addr {
			n++
		}
	}
	return n
}

// userRow is what the users table holds for an address.
func userRow(t *testing.T, db *store.DB, email string) (name, hash string, verified bool) {
	t.Helper()
	err := db.Read().QueryRow(`SELECT name, password_hash, email_verified_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&name, &hash, &verified)
	if err != nil {
		t.Fatalf("read user %s: %v", email, err)
	}
	return name, hash, verified
}

// A second sign-up with a registered address gets exactly the answer a new
// address gets (status, redirect, cookies, the page after it), and changes
// nothing on the account whatever links its owner then follows: the second
// person cannot log in, and the owner's name and password stay (#11 item 2).
func TestRegister_Issue11_ExistingAddressSameAnswerNoTakeover(t *testing.T) {
	for _, tc := range []struct {
		name        string
		verifyFirst bool
	}{
		{"owner verified", true},
		{"owner not verified yet", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				a := newApp(t, db)
				const owner, fresh, attackerPassword = "ada@example.com", "fresh@example.com", "a different passphrase 42"
				ob := a.browser()
				if r := ob.post("/register", url.Values{"email": {owner}, "name": {"Ada"}, "password": {password}}); r.status != http.StatusSeeOther {
					t.Fatalf("owner's sign-up = %d", r.status)
				}
				if tc.verifyFirst {
					ob.get(a.mailLink(owner, "/verify-email"))
				}
				name, hash, _ := userRow(t, db, owner)
				mailsBefore := a.mailCount(owner)

				signUp := func(email string) (response, string) {
					b := a.browser()
					r := b.post("/register", url.Values{"email": {email}, "name": {"Mallory"}, "password": {attackerPassword}})
					page := b.get(r.location)
					return r, strings.ReplaceAll(page.body, email, "ADDRESS")
				}
				taken, takenPage := signUp(owner)
				newAddr, newPage := signUp(fresh)
				if taken.status != newAddr.status || strings.ReplaceAll(taken.location, url.QueryEscape(owner), "A") != strings.ReplaceAll(newAddr.location, url.QueryEscape(fresh), "A") {
					t.Errorf("taken address = %d → %q; new address = %d → %q; want the same", taken.status, taken.location, newAddr.status, newAddr.location)
				}
				if tc, nc := taken.header.Values("Set-Cookie"), newAddr.header.Values("Set-Cookie"); strings.Join(tc, "\n") != strings.Join(nc, "\n") {
					t.Errorf("cookies differ: taken address %q, new address %q", tc, nc)
				}
				if takenPage != newPage {
					t.Errorf("the page after the sign-up differs for a taken address:\n%s\n---- new address:\n%s", takenPage, newPage)
				}
				if n := a.mailCount(owner); n != mailsBefore+1 {
					t.Fatalf("%d mails to the owner after the second sign-up, want one more than %d", n, mailsBefore)
				}

				// The owner clicks every link in the inbox.
				for _, link := range a.mailLinks(owner) {
					a.browser().get(link)
				}
				gotName, gotHash, _ := userRow(t, db, owner)
				if gotName != name || gotHash != hash {
					t.Fatalf("after the second sign-up and every link: name %q (was %q), password changed %v; want both unchanged",
						gotName, name, gotHash != hash)
				}
				r := a.browser().post("/login", url.Values{"email": {owner}, "password": {attackerPassword}})
				if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "The e-mail address or password is incorrect.") {
					t.Fatalf("second person's log-in = %d, want 401 incorrect password", r.status)
				}
			})
		})
	}
}

// An unverified owner whose address was signed up with again gets a link to
// choose the password; following it verifies the address, and the owner
// logs in with the password chosen there.
func TestRegister_ContestedOwnerVerifiesByChoosingThePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		const owner = "ada@example.com"
		b := a.browser()
		b.post("/register", url.Values{"email": {owner}, "name": {"Ada"}, "password": {password}})
		verify := a.mailLink(owner, "/verify-email")
		a.browser().post("/register", url.Values{"email": {owner}, "name": {"Mallory"}, "password": {"a different passphrase 42"}})
		// The original verification link now leads to choosing the password.
		r := b.get(verify)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/reset-password?token=") {
			t.Fatalf("verification link of a contested account = %d → %q, want the set-password page", r.status, r.location)
		}
		if page := b.get(r.location); page.status != http.StatusOK || !strings.Contains(page.body, "Someone else also tried to sign up") {
			t.Fatalf("set-password page = %d, want 200 saying why", page.status)
		}
		const chosen = "chosen on the page itself"
		link := a.mailLink(owner, "/reset-password")
		tok := strings.TrimPrefix(link, "/reset-password?token=")
		if r := b.post("/reset-password", url.Values{"token": {tok}, "password": {chosen}}); r.status != http.StatusSeeOther {
			t.Fatalf("choosing the password = %d %s", r.status, r.body)
		}
		if _, _, verified := userRow(t, db, owner); !verified {
			t.Fatal("choosing the password through the mailed link did not verify the address")
		}
		b.login(owner, chosen)
	})
}

// The resend button mails a new verification link to an unverified address,
// and answers the same for an address that is unknown or verified, without
// sending anything there.
func TestResendVerification_Page(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.signUp("done@example.com")
		b := a.browser()
		b.post("/register", url.Values{"email": {"wait@example.com"}, "name": {"Wai"}, "password": {password}})
		first := a.mailLink("wait@example.com", "/verify-email")
		answers := map[string]response{}
		for _, email := range []string{"wait@example.com", "done@example.com", "nobody@example.com"} {
			before := a.mailCount(email)
			r := b.post("/verify-email/resend", url.Values{"email": {email}, "next": {"/orgs/new"}})
			want := "/register/check-inbox?" + url.Values{"email": {email}, "next": {"/orgs/new"}, "resent": {"1"}}.Encode()
			if r.status != http.StatusSeeOther || r.location != want {
				t.Errorf("resend for %s = %d → %q, want 303 → %q", email, r.status, r.location, want)
			}
			wantMails := before
			if email == "wait@example.com" {
				wantMails++
			}
			if n := a.mailCount(email); n != wantMails {
				t.Errorf("%d mails to %s after resend, want %d", n, email, wantMails)
			}
			answers[email] = r
		}
		if page := b.get(answers["nobody@example.com"].location); !strings.Contains(page.body, "If that address needs a new link, it is on its way.") {
			t.Error("the page after resend does not say a link may be on its way")
		}
		resent := a.mailLink("wait@example.com", "/verify-email")
		if resent == first || !strings.Contains(resent, "next=%2Forgs%2Fnew") {
			t.Fatalf("resent link %q: want a new link that returns to /orgs/new", resent)
		}
		if r := b.get(resent); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Fatalf("following the resent link = %d → %q", r.status, r.location)
		}
		if _, _, verified := userRow(t, db, "wait@example.com"); !verified {
			t.Fatal("the resent link did not verify the address")
		}
		if r := b.post("/verify-email/resend", url.Values{"email": {"not an address"}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("resend for a malformed address = %d, want 422", r.status)
		}
	})
}

// The reset pages: a good link shows the form and sets the password; a
// made-up, expired or spent link shows why, on the request form, and
// changes nothing; a weak password is refused at its field with the link
// kept. A reset spends every older link (#11 item 5).
func TestResetPassword_Pages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		const email = "rose@example.com"
		a.signUp(email)
		session := a.browser()
		session.login(email, password)
		b := a.browser()
		ask := func() string {
			t.Helper()
			if r := b.post("/forgot-password", url.Values{"email": {email}}); r.status != http.StatusSeeOther || r.location != "/forgot-password?sent=1" {
				t.Fatalf("ask for a reset = %d → %q", r.status, r.location)
			}
			return strings.TrimPrefix(a.mailLink(email, "/reset-password"), "/reset-password?token=")
		}
		older := ask()
		a.advance(time.Minute)
		newer := ask()
		_, hashBefore, _ := userRow(t, db, email)

		if r := b.get("/reset-password?token=" + newer); r.status != http.StatusOK || !strings.Contains(r.body, `name="token" value="`+newer+`"`) {
			t.Fatalf("GET with a good link = %d, want the form carrying the token", r.status)
		}
		r := b.post("/reset-password", url.Values{"token": {newer}, "password": {"short"}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Use at least 10 characters.") || !strings.Contains(r.body, newer) {
			t.Fatalf("weak password = %d, want 422 at the field with the link kept", r.status)
		}
		const chosen = "the newly chosen passphrase"
		r = b.post("/reset-password", url.Values{"token": {newer}, "password": {chosen}})
		if r.status != http.StatusSeeOther || pathOf(r.location) != "/login?email="+url.QueryEscape(email) {
			t.Fatalf("reset = %d → %q", r.status, r.location)
		}
		_, hashAfter, _ := userRow(t, db, email)
		if hashAfter == hashBefore {
			t.Fatal("the reset did not change the stored password")
		}
		// The older link, still within its hour, was spent by the reset.
		if r := b.get("/reset-password?token=" + older); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not valid or has already been used") {
			t.Fatalf("the older link right after a reset with the newer one = %d, want 422 spent", r.status)
		}
		if r := b.post("/reset-password", url.Values{"token": {older}, "password": {"an older mail's passphrase"}}); r.status != http.StatusUnprocessableEntity {
			t.Fatalf("resetting with the older link after a reset = %d, want 422", r.status)
		}
		var sessions int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`, email).Scan(&sessions); err != nil {
			t.Fatal(err)
		}
		if sessions != 0 {
			t.Errorf("%d sessions left after the reset, want every one ended", sessions)
		}
		if r := session.get("/orgs/new"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Errorf("a session from before the reset still works: %d → %q", r.status, r.location)
		}

		expiring := ask()
		a.advance(2 * time.Hour)
		for _, tc := range []struct{ name, token, want string }{
			{"made up", "not-a-real-token", "not valid or has already been used"},
			{"empty", "", "not valid or has already been used"},
			{"spent by its own use", newer, "not valid or has already been used"},
			{"older, spent by the newer one's use", older, "not valid or has already been used"},
			{"expired", expiring, "expired"},
		} {
			if r := b.get("/reset-password?token=" + url.QueryEscape(tc.token)); r.status != http.StatusUnprocessableEntity ||
				!strings.Contains(r.body, tc.want) || !strings.Contains(r.body, `action="/forgot-password"`) {
				t.Errorf("GET with a %s link = %d, want 422 saying %q with the request form", tc.name, r.status, tc.want)
			}
			if r := b.post("/reset-password", url.Values{"token": {tc.token}, "password": {"yet another passphrase"}}); r.status != http.StatusUnprocessableEntity ||
				!strings.Contains(r.body, tc.want) {
				t.Errorf("POST with a %s link = %d, want 422 saying %q", tc.name, r.status, tc.want)
			}
		}
		if _, hash, _ := userRow(t, db, email); hash != hashAfter {
			t.Fatal("a bad, expired or spent link changed the password")
		}
		b.login(email, chosen)
	})
}
