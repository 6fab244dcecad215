package account_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// resetLinks asks for n reset links for email, a minute apart, and returns
// their tokens, oldest first.
func (f *fixture) resetLinks(t *testing.T, email string, n int) []string {
	t.Helper()
	var toks []string
	for range n {
		if err := f.svc.RequestPasswordReset(context.Background(), email, ""); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, f.token(t, email, "/reset-password"))
		f.clock.Advance(time.Minute)
	}
	return toks
}

// Asking for a new reset link keeps the older ones usable, but only until
// one of them is used: a successful reset spends every outstanding link of
// the account, so an older mail cannot set the password again (#11 item 5).
func TestPasswordReset_Issue11_AResetSpendsEveryOtherLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		use  int // which of three links is used
	}{
		{"newest used", 2},
		{"oldest used", 0},
		{"middle used", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFixture(t, db)
				ctx := context.Background()
				f.registerVerified(t, "rex@example.com")
				toks := f.resetLinks(t, "rex@example.com", 3)
				for i, tok := range toks {
					if err := f.svc.CheckResetLink(ctx, tok); err != nil {
						t.Fatalf("link %d before any reset = %v, want usable", i, err)
					}
				}
				const chosen = "the password chosen first"
				if _, err := f.svc.ResetPassword(ctx, toks[tc.use], chosen); err != nil {
					t.Fatal(err)
				}
				for i, tok := range toks {
					if i == tc.use {
						continue
					}
					if err := f.svc.CheckResetLink(ctx, tok); !errors.Is(err, account.ErrLinkInvalid) {
						t.Errorf("page of link %d after a reset = %v, want ErrLinkInvalid", i, err)
					}
					if _, err := f.svc.ResetPassword(ctx, tok, "an older mail's password"); !errors.Is(err, account.ErrLinkInvalid) {
						t.Errorf("reset with link %d after a reset = %v, want ErrLinkInvalid", i, err)
					}
				}
				if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "rex@example.com", Password: chosen}); err != nil {
					t.Fatalf("the password of the reset = %v, want it to stand", err)
				}
				// A link asked for after the reset works.
				if _, err := f.svc.ResetPassword(ctx, f.resetLinks(t, "rex@example.com", 1)[0], "a later passphrase"); err != nil {
					t.Fatalf("a link asked for after the reset = %v", err)
				}
			})
		})
	}
}

// Two links used at the same moment: exactly one reset succeeds.
func TestPasswordReset_TwoLinksAtOnceOneWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		f.registerVerified(t, "duo@example.com")
		toks := f.resetLinks(t, "duo@example.com", 2)
		var wg sync.WaitGroup
		errs := make([]error, len(toks))
		for i, tok := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.svc.ResetPassword(context.Background(), tok, "concurrent passphrase "+string(rune('a'+i)))
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, account.ErrLinkInvalid):
				t.Errorf("reset %d = %v, want success or ErrLinkInvalid", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of two concurrent resets succeeded (%v), want exactly one", ok, errs)
		}
	})
}

// A reset of an unverified account verifies it and spends its verification
// links too.
func TestPasswordReset_VerifiesAndSpendsVerificationLinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		if err := f.svc.Register(ctx, account.RegisterInput{Email: "un@example.com", Name: "Un", Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
		verify := f.token(t, "un@example.com", "/verify-email")
		u, err := f.svc.ResetPassword(ctx, f.resetLinks(t, "un@example.com", 1)[0], "a chosen passphrase")
		if err != nil || !u.EmailVerified {
			t.Fatalf("reset of an unverified account = %+v, %v; want verified", u, err)
		}
		if _, err := f.svc.VerifyEmail(ctx, verify); !errors.Is(err, account.ErrLinkInvalid) {
			t.Fatalf("verification link after a reset = %v, want spent", err)
		}
	})
}
