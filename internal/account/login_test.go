package account_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// outcome classifies a log-in attempt: "ok", "bad" (the password was
// checked and wrong) or "limited" (refused before any check).
func outcome(t *testing.T, err error) (string, time.Duration) {
	t.Helper()
	var rl *account.RateLimitError
	switch {
	case err == nil:
		return "ok", 0
	case errors.Is(err, account.ErrBadCredentials):
		return "bad", 0
	case errors.As(err, &rl):
		if !errors.Is(err, account.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > account.LoginAccountMaxWait {
			t.Fatalf("refusal %v: want ErrRateLimited with a Retry-After within (0, %v]", err, account.LoginAccountMaxWait)
		}
		return "limited", rl.RetryAfter
	}
	t.Fatalf("log-in = %v", err)
	return "", 0
}

// While strangers guess at an account, each from a client of their own,
// its owner logs in from elsewhere: a stranger never slows the owner, from
// any client; many slow each other down with a growing delay, and do not
// slow the owner's own browser (its device token). Before #11 item 6 the
// limit was per account, and one stranger kept the owner out. The limits
// themselves are tried under more attacks, without checking passwords, in
// TestLoginLimits_Issue11_UnderAttack.
func TestLogIn_Issue11_StrangersCannotKeepTheOwnerOut(t *testing.T) {
	for _, tc := range []struct {
		name        string
		strangers   int           // clients guessing, in turn
		every       time.Duration // between two guesses, of any stranger
		duration    time.Duration // of the attack
		ownerDevice bool          // the owner logs in from a browser it used before
		// Most guesses at the password the strangers may get in duration.
		maxGuesses int
		// Whether the growing delay must have reached half a minute.
		wantSlowed bool
	}{
		{name: "one stranger, owner on a new client", strangers: 1, every: 5 * time.Second, duration: 30 * time.Minute, maxGuesses: 10 + 10 + 1},
		{name: "300 strangers, owner on a known browser", strangers: 300, every: time.Second, duration: 5 * time.Minute, ownerDevice: true,
			maxGuesses: account.LoginAccountFree + 15, wantSlowed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFixture(t, db)
				ctx := context.Background()
				const owner = "olive@example.com"
				f.registerVerified(t, owner)
				var device string
				if tc.ownerDevice {
					u, err := f.svc.LogIn(ctx, account.LoginInput{Email: owner, Password: goodPassword, ClientAddr: "192.0.2.10"})
					if err != nil {
						t.Fatal(err)
					}
					if device, err = f.svc.RememberDevice(ctx, u.ID, ""); err != nil {
						t.Fatal(err)
					}
				}
				guesses, refusals := 0, 0
				var longest time.Duration
				start := f.clock.Now()
				for i := 0; f.clock.Now().Sub(start) < tc.duration; i++ {
					stranger := fmt.Sprintf("203.0.113.%d", i%tc.strangers)
					if tc.strangers > 250 {
						stranger = fmt.Sprintf("2001:db8:%x::1", i%tc.strangers)
					}
					_, err := f.svc.LogIn(ctx, account.LoginInput{Email: owner, Password: fmt.Sprintf("guess number %d", i), ClientAddr: stranger})
					switch got, wait := outcome(t, err); got {
					case "bad":
						guesses++
					case "limited":
						refusals++
						longest = max(longest, wait)
					default:
						t.Fatalf("stranger's guess %d = %s", i, got)
					}
					if i%int(5*time.Minute/tc.every) == 0 {
						// The owner, from a client no stranger uses.
						_, err := f.svc.LogIn(ctx, account.LoginInput{Email: owner, Password: goodPassword, ClientAddr: "198.51.100.77", Device: device})
						if got, wait := outcome(t, err); got != "ok" {
							t.Fatalf("the owner's log-in at %s, after %d guesses and %d refusals = %s (wait %v), want logged in",
								f.clock.Now().Format("15:04:05"), guesses, refusals, got, wait)
						}
					}
					f.clock.Advance(tc.every)
				}
				if refusals == 0 {
					t.Error("the strangers were never refused")
				}
				if guesses > tc.maxGuesses {
					t.Errorf("the strangers checked %d passwords in %v, want at most %d", guesses, tc.duration, tc.maxGuesses)
				}
				if tc.wantSlowed && longest < 30*time.Second {
					t.Errorf("the longest wait the strangers were given was %v, want the delay to have grown to half a minute or more", longest)
				}
			})
		})
	}
}

// One client is limited on its own: on one account (even the right
// password waits then), and across accounts. A log-in with the right
// password gives its attempt back, so an owner logging in often is never
// limited.
func TestLogIn_Issue11_OneClientIsLimited(t *testing.T) {
	type try struct {
		email    string
		right    bool
		advance  time.Duration // before the attempt
		want     string
		wantWait time.Duration // for "limited"
	}
	repeat := func(n int, tr try) []try {
		var out []try
		for i := range n {
			tr := tr
			if tr.email == "" {
				tr.email = fmt.Sprintf("someone%d@example.com", i)
			}
			out = append(out, tr)
		}
		return out
	}
	const owner = "pat@example.com"
	for _, tc := range []struct {
		name  string
		tries []try
	}{
		{"one account", append(repeat(account.LoginPairBurst, try{email: owner, want: "bad"}),
			try{email: owner, right: true, want: "limited", wantWait: account.LoginPairEvery},
			try{email: owner, right: true, advance: account.LoginPairEvery, want: "ok"},
		)},
		{"many accounts", append(repeat(account.LoginClientBurst, try{want: "bad"}),
			try{email: owner, right: true, want: "limited", wantWait: account.LoginClientEvery},
			try{email: owner, right: true, advance: account.LoginClientEvery, want: "ok"},
		)},
		{"right passwords count nothing", repeat(account.LoginClientBurst+1, try{email: owner, right: true, want: "ok"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFixture(t, db)
				f.registerVerified(t, owner)
				for i, tr := range tc.tries {
					f.clock.Advance(tr.advance)
					pw := "not the password"
					if tr.right {
						pw = goodPassword
					}
					_, err := f.svc.LogIn(context.Background(), account.LoginInput{Email: tr.email, Password: pw, ClientAddr: "192.0.2.1"})
					got, wait := outcome(t, err)
					if got != tr.want || (got == "limited" && wait != tr.wantWait) {
						t.Fatalf("attempt %d at %s = %s (wait %v), want %s (wait %v)", i, tr.email, got, wait, tr.want, tr.wantWait)
					}
				}
			})
		})
	}
}

// A device token counts only for the account it logged in to, and a
// password reset forgets the account's devices.
func TestLogIn_DeviceTokenOnlyForItsAccount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		a := f.registerVerified(t, "dev-a@example.com")
		f.registerVerified(t, "dev-b@example.com")
		tok, err := f.svc.RememberDevice(ctx, a.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if again, err := f.svc.RememberDevice(ctx, a.ID, tok); err != nil || again != tok {
			t.Fatalf("remembering a known device = %q, %v; want the same token", again, err)
		}
		// With A's token, guesses at B count as the client's own.
		for range account.LoginPairBurst {
			if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "dev-b@example.com", Password: "wrong wrong", ClientAddr: "192.0.2.5", Device: tok}); !errors.Is(err, account.ErrBadCredentials) {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "dev-b@example.com", Password: goodPassword, ClientAddr: "192.0.2.5"}); !errors.Is(err, account.ErrRateLimited) {
			t.Fatalf("the same client without the token after its guesses = %v, want limited: the token of A did not count for B", err)
		}
		// A's token still works for A from that client.
		if _, err := f.svc.LogIn(ctx, account.LoginInput{Email: "dev-a@example.com", Password: goodPassword, ClientAddr: "192.0.2.5", Device: tok}); err != nil {
			t.Fatalf("A from its known browser = %v", err)
		}
		if err := f.svc.RequestPasswordReset(ctx, "dev-a@example.com", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ResetPassword(ctx, f.token(t, "dev-a@example.com", "/reset-password"), "a fresh passphrase"); err != nil {
			t.Fatal(err)
		}
		if again, err := f.svc.RememberDevice(ctx, a.ID, tok); err != nil || again == tok {
			t.Fatalf("remembering a device after a reset = %q, %v; want a new token", again, err)
		}
	})
}
