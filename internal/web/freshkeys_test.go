package web

import (
	"testing"
	"time"
)

// A new API key's secret waits for the page after the creation's redirect:
// only that session, for that organization and key, gets it, once, and not
// after freshKeyTTL.
func TestFreshKeys_OnceToItsSessionWithinTheTTL(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		session string
		org     int64
		key     int64
		after   time.Duration
		want    bool
	}{
		{"the session that made it, at once", "s1", 7, 42, 0, true},
		{"just before the TTL", "s1", 7, 42, freshKeyTTL - time.Second, true},
		{"at the TTL", "s1", 7, 42, freshKeyTTL, false},
		{"another session", "s2", 7, 42, 0, false},
		{"another organization", "s1", 8, 42, 0, false},
		{"another key", "s1", 7, 43, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			f := newFreshKeys(func() time.Time { return clock })
			f.put("s1", 7, 42, "mbk_secret")
			clock = clock.Add(tc.after)
			got, ok := f.take(tc.session, tc.org, tc.key)
			if ok != tc.want || (ok && got != "mbk_secret") {
				t.Fatalf("take = %q, %v; want found %v", got, ok, tc.want)
			}
			if again, ok := f.take(tc.session, tc.org, tc.key); ok {
				t.Fatalf("taken twice: %q", again)
			}
		})
	}
	// Expired secrets do not stay in memory.
	clock := now
	f := newFreshKeys(func() time.Time { return clock })
	f.put("s1", 7, 1, "mbk_one")
	clock = clock.Add(freshKeyTTL)
	f.put("s1", 7, 2, "mbk_two")
	if len(f.secrets) != 1 {
		t.Fatalf("%d secrets held, want only the unexpired one", len(f.secrets))
	}
}
