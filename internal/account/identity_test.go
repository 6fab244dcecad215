package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

const iss = "https://idp.example.com"

// The identity-to-user rules of #12, one step after another on one
// database: first sign-in creates, a later one finds by (issuer, sub),
// unverified and taken addresses are refused, linking attaches once.
func TestSignInWithIdentity_Rules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		ann := account.Identity{Issuer: iss, Subject: "1", Email: " Ann@Example.com ", EmailVerified: true, Name: "Ann"}
		u, err := f.svc.SignInWithIdentity(ctx, ann)
		if err != nil || u.Email != "ann@example.com" || !u.EmailVerified || u.Onboarded {
			t.Fatalf("first sign-in = %+v, %v", u, err)
		}
		ann.Email = "ann@elsewhere.example"
		again, err := f.svc.SignInWithIdentity(ctx, ann)
		if err != nil || again.ID != u.ID || again.Email != "ann@example.com" {
			t.Fatalf("second sign-in after an address change = %+v, %v; want user %d unchanged", again, err, u.ID)
		}
		// Same subject at another issuer is another person.
		other := account.Identity{Issuer: "https://other.example", Subject: "1", Email: "ann@example.com", EmailVerified: true}
		if _, err := f.svc.SignInWithIdentity(ctx, other); !errors.Is(err, account.ErrIdentityEmailTakenNoPassword) {
			t.Errorf("same sub at another issuer with ann's address: %v, want ErrIdentityEmailTakenNoPassword", err)
		}

		pw := f.registerVerified(t, "bob@example.com")
		for _, id := range []account.Identity{
			{Issuer: iss, Subject: "2", Email: "bob@example.com", EmailVerified: false},
			{Issuer: iss, Subject: "3", Email: "carol@example.com", EmailVerified: false},
			{Issuer: iss, Subject: "4", Email: "not an address", EmailVerified: true},
		} {
			if _, err := f.svc.SignInWithIdentity(ctx, id); !errors.Is(err, account.ErrIdentityEmailUnverified) {
				t.Errorf("sign-in %+v: %v, want ErrIdentityEmailUnverified", id, err)
			}
		}
		bobAtIdP := account.Identity{Issuer: iss, Subject: "5", Email: "BOB@example.com", EmailVerified: true}
		if _, err := f.svc.SignInWithIdentity(ctx, bobAtIdP); !errors.Is(err, account.ErrIdentityEmailTaken) || fault.KindOf(err) != fault.KindConflict {
			t.Errorf("verified address of a password account: %v, want ErrIdentityEmailTaken", err)
		}
		if err := f.svc.LinkIdentity(ctx, pw.ID, bobAtIdP); err != nil {
			t.Fatalf("link: %v", err)
		}
		if err := f.svc.LinkIdentity(ctx, pw.ID, bobAtIdP); err != nil {
			t.Errorf("linking again: %v, want no change", err)
		}
		if got, err := f.svc.SignInWithIdentity(ctx, bobAtIdP); err != nil || got.ID != pw.ID {
			t.Errorf("sign-in after linking = %+v, %v; want bob (%d)", got, err, pw.ID)
		}
		if err := f.svc.LinkIdentity(ctx, pw.ID, account.Identity{Issuer: iss, Subject: "6"}); !errors.Is(err, account.ErrIdentityLinkedElsewhere) {
			t.Errorf("a second identity at the same issuer: %v", err)
		}
		if err := f.svc.LinkIdentity(ctx, pw.ID, ann); !errors.Is(err, account.ErrIdentityTaken) {
			t.Errorf("linking ann's identity to bob: %v, want ErrIdentityTaken", err)
		}
		ids, err := f.svc.Identities(ctx, pw.ID)
		if err != nil || len(ids) != 1 || ids[0].Issuer != iss {
			t.Errorf("bob's identities = %+v, %v", ids, err)
		}
		if has, _ := f.svc.HasPassword(ctx, u.ID); has {
			t.Error("a user created by a sign-in has a password")
		}
	})
}

// A user without a password (password_hash ”) is refused like a wrong
// password, not with an internal error, and gets no reset link.
func TestLogIn_UserWithoutPasswordIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		if _, err := f.svc.SignInWithIdentity(ctx, account.Identity{Issuer: iss, Subject: "1", Email: "ann@example.com", EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"x", goodPassword} {
			if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "ann@example.com", Password: pw, ClientAddr: "192.0.2.1"}); !errors.Is(err, account.ErrBadCredentials) {
				t.Errorf("LogIn with %q: %v, want ErrBadCredentials", pw, err)
			}
		}
		if err := f.svc.RequestPasswordReset(ctx, "ann@example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.mails(t, "ann@example.com")); n != 0 {
			t.Errorf("%d mails to a user without a password, want no reset link", n)
		}
	})
}

// A pending sign-in is spent by its first callback and lasts SignInTTL;
// its nonce is checked against the hash kept. LogOut hands back the ID
// token the session was opened with.
func TestSignIns_SingleUseShortLived(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		p := account.PendingSignIn{State: "state-1", Nonce: "nonce-1", Verifier: "v", Next: "/orgs/new"}
		if err := f.svc.SaveSignIn(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.TakeSignIn(ctx, "state-1")
		if err != nil || got.Verifier != "v" || got.Next != "/orgs/new" || !got.NonceMatches("nonce-1") || got.NonceMatches("nonce-2") || got.NonceMatches("") {
			t.Fatalf("TakeSignIn = %+v, %v", got, err)
		}
		if _, err := f.svc.TakeSignIn(ctx, "state-1"); !errors.Is(err, account.ErrSignInExpired) {
			t.Errorf("second TakeSignIn: %v, want ErrSignInExpired", err)
		}
		if err := f.svc.SaveSignIn(ctx, account.PendingSignIn{State: "state-2", Nonce: "n", Verifier: "v"}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(account.SignInTTL + time.Second)
		if _, err := f.svc.TakeSignIn(ctx, "state-2"); !errors.Is(err, account.ErrSignInExpired) {
			t.Errorf("TakeSignIn after %v: %v, want ErrSignInExpired", account.SignInTTL, err)
		}
		if _, err := f.svc.TakeSignIn(ctx, ""); !errors.Is(err, account.ErrSignInExpired) {
			t.Errorf("TakeSignIn of no state: %v", err)
		}

		u, _ := f.svc.SignInWithIdentity(ctx, account.Identity{Issuer: iss, Subject: "1", Email: "ann@example.com", EmailVerified: true})
		tok, err := f.svc.StartSessionWithIDToken(ctx, u.ID, "the.id.token")
		if err != nil {
			t.Fatal(err)
		}
		if idt, err := f.svc.LogOut(ctx, tok); err != nil || idt != "the.id.token" {
			t.Errorf("LogOut = %q, %v", idt, err)
		}
		if _, err := f.svc.SessionByToken(ctx, tok); !errors.Is(err, account.ErrNoSession) {
			t.Errorf("session after LogOut: %v", err)
		}
	})
}
