package account_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// stored is what the users table holds for an address.
func (f *fixture) stored(t *testing.T, email string) (name, hash string, verified bool) {
	t.Helper()
	err := f.db.Read().QueryRow(`SELECT name, password_hash, email_verified_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&name, &hash, &verified)
	if err != nil {
		t.Fatalf("read user %s: %v", email, err)
	}
	return name, hash, verified
}

// followEveryLink opens every link mailed to addr, as a person clicking
// through the inbox would: verification links are followed, and the pages
// that reset links (and the set-password step of a verification) open are
// loaded, but no form is submitted.
func (f *fixture) followEveryLink(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	for _, m := range f.mails(t, addr) {
		for _, match := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			tok := queryToken(t, match[2])
			switch match[1] {
			case "/verify-email":
				v, err := f.svc.VerifyEmail(ctx, tok)
				if err != nil && !errors.Is(err, account.ErrLinkInvalid) {
					t.Fatalf("follow %s: %v", match[0], err)
				}
				if v.SetPasswordToken != "" {
					if err := f.svc.CheckResetLink(ctx, v.SetPasswordToken); err != nil {
						t.Fatalf("the set-password step of %s: %v", match[0], err)
					}
				}
			case "/reset-password":
				if err := f.svc.CheckResetLink(ctx, tok); err != nil && !errors.Is(err, account.ErrLinkInvalid) {
					t.Fatalf("open %s: %v", match[0], err)
				}
			}
		}
	}
}

// A second sign-up with a registered address, verified or not, changes
// nothing on the account, whatever links are then followed: the second
// person's password never works, and the owner's password and name stay
// (#11 item 2: a second sign-up used to mail a link that set the second
// person's password on an unverified account).
func TestRegister_Issue11_SecondSignUpNeverChangesTheAccount(t *testing.T) {
	for _, tc := range []struct {
		name        string
		verifyFirst bool
	}{
		{"owner verified", true},
		{"owner not verified yet", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFixture(t, db)
				ctx := context.Background()
				const owner, ownerPassword, attackerPassword = "ada@example.com", "ada's own passphrase", "a different passphrase 42"
				if err := f.svc.Register(ctx, account.RegisterInput{Email: owner, Name: "Ada", Password: ownerPassword, ClientAddr: "192.0.2.1"}); err != nil {
					t.Fatal(err)
				}
				if tc.verifyFirst {
					if _, err := f.svc.VerifyEmail(ctx, f.token(t, owner, "/verify-email")); err != nil {
						t.Fatal(err)
					}
				}
				name, hash, _ := f.stored(t, owner)
				f.clock.Advance(time.Minute)
				if err := f.svc.Register(ctx, account.RegisterInput{Email: owner, Name: "Mallory", Password: attackerPassword, ClientAddr: "198.51.100.7"}); err != nil {
					t.Fatalf("second sign-up = %v, want the same success as for a new address", err)
				}
				if ms := f.mails(t, owner); ms[0].Subject != "Someone tried to sign up with your e-mail address" {
					t.Fatalf("newest mail to the owner = %q, want the note about a second sign-up", ms[0].Subject)
				}
				f.followEveryLink(t, owner)

				gotName, gotHash, _ := f.stored(t, owner)
				if gotName != name || gotHash != hash {
					t.Fatalf("after the second sign-up and every link: name %q (was %q), password changed %v; want both unchanged",
						gotName, name, gotHash != hash)
				}
				if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: owner, Password: attackerPassword, ClientAddr: "198.51.100.7"}); !errors.Is(err, account.ErrBadCredentials) {
					t.Fatalf("second person's password = %v, want ErrBadCredentials", err)
				}
				_, err := f.svc.LogIn(ctx, account.LoginInput{Email: owner, Password: ownerPassword, ClientAddr: "192.0.2.1"})
				if tc.verifyFirst && err != nil {
					t.Fatalf("owner's password = %v, want logged in", err)
				}
				if !tc.verifyFirst && !errors.Is(err, account.ErrNotVerified) {
					// ErrNotVerified comes only after the password matched.
					t.Fatalf("owner's password on the still unverified account = %v, want ErrNotVerified", err)
				}
			})
		})
	}
}

// Whoever holds the mailbox ends up owning an unverified account, whoever
// registered it first: once a second sign-up has happened, every link that
// would verify it asks to choose the password instead, so clicking a
// verification link that someone else caused never verifies their password
// (account pre-hijacking). Choosing the password verifies the address and
// spends every other link.
func TestRegister_PreHijackedAddressGoesToItsOwner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		const victim, attackerPassword, ownerPassword = "victim@example.com", "attacker chose this one", "the owner's own passphrase"
		if err := f.svc.Register(ctx, account.RegisterInput{Email: victim, Name: "Mallory", Password: attackerPassword}); err != nil {
			t.Fatal(err)
		}
		attackerLink := f.token(t, victim, "/verify-email")
		f.clock.Advance(time.Minute)
		if err := f.svc.Register(ctx, account.RegisterInput{Email: victim, Name: "Victim", Password: "whatever the owner typed"}); err != nil {
			t.Fatal(err)
		}
		setPasswordLink := f.token(t, victim, "/reset-password")
		// The attacker asks for the verification mail again; the owner,
		// puzzled, clicks everything.
		if err := f.svc.ResendVerification(ctx, victim, "", ""); err != nil {
			t.Fatal(err)
		}
		resent := f.token(t, victim, "/verify-email")
		for _, tok := range []string{attackerLink, resent} {
			v, err := f.svc.VerifyEmail(ctx, tok)
			if err != nil || v.SetPasswordToken == "" || v.User.EmailVerified {
				t.Fatalf("verification link of a contested account = %+v, %v; want a set-password step, not verified", v, err)
			}
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: victim, Password: attackerPassword}); !errors.Is(err, account.ErrNotVerified) {
			t.Fatalf("attacker's log-in after the owner clicked every verification link = %v, want still unverified", err)
		}
		u, err := f.svc.ResetPassword(ctx, setPasswordLink, ownerPassword)
		if err != nil || !u.EmailVerified {
			t.Fatalf("choosing the password through the mailed link = %+v, %v; want verified", u, err)
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: victim, Password: ownerPassword}); err != nil {
			t.Fatalf("owner's password = %v", err)
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: victim, Password: attackerPassword}); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatalf("attacker's password = %v, want refused", err)
		}
		if err := f.svc.CheckResetLink(ctx, setPasswordLink); !errors.Is(err, account.ErrLinkInvalid) {
			t.Fatalf("the used set-password link = %v, want spent", err)
		}
	})
}

// Resending the verification mail gives a link that verifies the account
// with the password it was created with, and nothing else.
func TestResendVerification_VerifiesTheAccountAsItIs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		if err := f.svc.Register(ctx, account.RegisterInput{Email: "res@example.com", Name: "Res", Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
		first := f.token(t, "res@example.com", "/verify-email")
		f.clock.Advance(time.Minute)
		for _, email := range []string{"res@example.com", "nobody@example.com"} {
			if err := f.svc.ResendVerification(ctx, email, "", ""); err != nil {
				t.Fatalf("resend to %s = %v, want the same success", email, err)
			}
		}
		if len(f.mails(t, "nobody@example.com")) != 0 {
			t.Fatal("a verification mail went to an unregistered address")
		}
		resent := f.token(t, "res@example.com", "/verify-email")
		if resent == first {
			t.Fatal("resend did not send a new link")
		}
		v, err := f.svc.VerifyEmail(ctx, resent)
		if err != nil || !v.User.EmailVerified || v.SetPasswordToken != "" || v.User.Name != "Res" {
			t.Fatalf("resent link = %+v, %v; want verified as registered", v, err)
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "res@example.com", Password: goodPassword}); err != nil {
			t.Fatalf("log-in after the resent link = %v", err)
		}
	})
}

func queryToken(t *testing.T, rawQuery string) string {
	t.Helper()
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	return q.Get("token")
}
