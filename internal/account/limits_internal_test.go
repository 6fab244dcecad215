package account

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// attack runs strangers guessing at one account, one guess every `every`
// in turn from their own clients, for `duration`, with the owner logging
// in every five minutes from ownerClient (or its known browser, device).
// It returns the guesses that reached the password check, the owner's
// refused log-ins, and the longest wait a stranger was given.
func attack(t *testing.T, strangers int, every, duration time.Duration, device string) (guesses, ownerRefused int, longest time.Duration) {
	t.Helper()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	l := newLimits(func() time.Time { return now })
	const email = "owner@example.com"
	ownerEvery := int(5 * time.Minute / every)
	for i := 0; time.Duration(i)*every < duration; i++ {
		stranger := clientKey(fmt.Sprintf("2001:db8:%x::1", i%strangers))
		_, err := l.beginLogIn(email, stranger, "")
		var rl *RateLimitError
		switch {
		case err == nil:
			guesses++ // and wrong: nothing given back
		case errors.As(err, &rl):
			if rl.RetryAfter <= 0 || rl.RetryAfter > LoginAccountMaxWait {
				t.Fatalf("a stranger was told to wait %v, want within (0, %v]", rl.RetryAfter, LoginAccountMaxWait)
			}
			longest = max(longest, rl.RetryAfter)
		default:
			t.Fatal(err)
		}
		if i%ownerEvery == 0 {
			ok, err := l.beginLogIn(email, clientKey("198.51.100.77"), device)
			if err != nil {
				ownerRefused++
			} else {
				ok() // the right password
			}
		}
		now = now.Add(every)
	}
	return guesses, ownerRefused, longest
}

// The log-in limits under attack, without the cost of checking passwords
// (TestLogIn_Issue11_StrangersCannotKeepTheOwnerOut runs the same through
// LogIn): up to three strangers never slow the owner on any client; more
// are slowed together by a growing delay that holds them near one guess a
// minute, and the owner's known browser is never slowed (#11 item 6).
func TestLoginLimits_Issue11_UnderAttack(t *testing.T) {
	for _, tc := range []struct {
		name       string
		strangers  int
		every      time.Duration
		device     string
		maxGuesses int  // in the two hours
		ownerOK    bool // every one of the owner's log-ins goes through
		wantSlowed bool // the delay reached a minute
	}{
		{"one stranger", 1, 5 * time.Second, "", LoginPairBurst + 40 + 1, true, false},
		{"two strangers", 2, 5 * time.Second, "", 2 * (LoginPairBurst + 40 + 1), true, false},
		{"three strangers", 3, 5 * time.Second, "", 3 * (LoginPairBurst + 40 + 1), true, false},
		{"300 strangers, owner's known browser", 300, time.Second, "known", LoginAccountFree + 150, true, true},
		{"300 strangers, owner on a new client", 300, time.Second, "", LoginAccountFree + 150, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			guesses, refused, longest := attack(t, tc.strangers, tc.every, 2*time.Hour, tc.device)
			t.Logf("%d guesses in two hours, the owner refused %d times, longest wait %v", guesses, refused, longest)
			if guesses > tc.maxGuesses {
				t.Errorf("%d guesses in two hours, want at most %d", guesses, tc.maxGuesses)
			}
			if tc.ownerOK && refused > 0 {
				t.Errorf("the owner was refused %d times, want never", refused)
			}
			if tc.wantSlowed && longest < time.Minute {
				t.Errorf("longest wait %v, want the delay to have grown to a minute or more", longest)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzClientKey: the client address comes from the connection or, behind
// a trusted proxy, from X-Forwarded-For. Whatever it is, the key is short,
// stable, and the same for every address of one IPv6 /64.
func FuzzClientKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:10.0.0.1", "2001:db8::1", "fe80::1%eth0", "[::1]", "unknown", "192.0.2.1:1234", "1.2.3.4, 5.6.7.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		k := clientKey(addr)
		if len(k) > 64 {
			t.Fatalf("clientKey(%q) = %q: %d bytes, want at most 64", addr, k, len(k))
		}
		if clientKey(addr) != k {
			t.Fatalf("clientKey(%q) is not stable", addr)
		}
		if addr != "" && k == "" {
			t.Fatalf("clientKey(%q) = \"\", which means no client address", addr)
		}
	})
}
