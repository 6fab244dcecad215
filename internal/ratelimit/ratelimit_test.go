package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestLimiter_BurstThenRefill(t *testing.T) {
	c := newClock()
	l := New(3, time.Minute, c.now)
	steps := []struct {
		key      string
		advance  time.Duration
		wantOK   bool
		wantWait time.Duration
	}{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, false, time.Minute},
		{"b", 0, true, 0}, // another key is not limited by the first
		{"a", 15 * time.Second, false, 45 * time.Second},
		{"a", 45 * time.Second, true, 0},
		{"a", 0, false, time.Minute},
	}
	for i, s := range steps {
		c.advance(s.advance)
		ok, wait := l.Take(s.key)
		if ok != s.wantOK || wait != s.wantWait {
			t.Fatalf("step %d: Take(%s) = %v, %v; want %v, %v", i, s.key, ok, wait, s.wantOK, s.wantWait)
		}
	}
}

func TestLimiter_RefundGivesBackWithinTheBurst(t *testing.T) {
	c := newClock()
	l := New(2, time.Minute, c.now)
	for range 10 {
		if !l.Allow("a") {
			t.Fatal("an attempt that was refunded each time was refused")
		}
		l.Refund("a")
	}
	l.Refund("a") // never above the burst
	l.Allow("a")
	l.Allow("a")
	if l.Allow("a") {
		t.Fatal("refunds raised the bucket above its burst")
	}
}

func TestLimiter_ForgetsIdleKeys(t *testing.T) {
	c := newClock()
	l := New(2, time.Second, c.now)
	for i := range 100 {
		l.Allow(string(rune('a' + i%26)))
	}
	c.advance(time.Hour)
	l.Allow("z")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after an idle hour, want 1", n)
	}
}

func TestLimiter_KeysAreCapped(t *testing.T) {
	c := newClock()
	l := New(2, time.Minute, c.now)
	l.maxKeys = 100
	for i := range 1000 {
		l.Allow(strconv.Itoa(i))
	}
	if n := len(l.buckets); n > 100 {
		t.Fatalf("%d keys remembered, want at most 100", n)
	}
}

// The back-off lets Free failures through, then makes each attempt wait
// twice as long as the one before, up to Max; it never refuses for longer
// than Max, and forgets failures at one per Leak.
func TestBackoff_GrowingDelayNeverALockOut(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffConfig{Free: 3, Base: time.Second, Max: time.Minute, Leak: time.Hour}, c.now)
	var waits []time.Duration
	for range 12 {
		ok, wait := b.Reserve("k")
		for tries := 0; !ok; tries++ {
			if tries == 10 {
				t.Fatalf("still refused after waiting %v: a lock-out", waits[len(waits)-10:])
			}
			if wait <= 0 || wait > time.Minute {
				t.Fatalf("refused with a wait of %v, want within (0, Max]", wait)
			}
			waits = append(waits, wait)
			c.advance(wait)
			ok, wait = b.Reserve("k")
		}
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v seconds", waits, want)
	}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", waits, want)
		}
	}
	if ok, _ := b.Reserve("other"); !ok {
		t.Fatal("another key was slowed by the first")
	}
}

func TestBackoff_ReleasedAttemptsDoNotCount(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffConfig{Free: 2, Base: time.Second, Max: time.Minute, Leak: time.Hour}, c.now)
	for range 50 {
		ok, _ := b.Reserve("k")
		if !ok {
			t.Fatal("attempts that were all released were slowed")
		}
		b.Release("k")
	}
}

func TestBackoff_FailuresLeakAway(t *testing.T) {
	c := newClock()
	b := NewBackoff(BackoffConfig{Free: 5, Base: time.Second, Max: time.Hour, Leak: time.Minute}, c.now)
	for range 5 {
		b.Reserve("k")
	}
	c.advance(3 * time.Minute) // three of five forgotten
	for i := range 3 {
		if ok, _ := b.Reserve("k"); !ok {
			t.Fatalf("attempt %d after three leaked = refused, want free", i)
		}
	}
	if ok, _ := b.Reserve("k"); !ok {
		t.Fatal("the first attempt past Free was refused; it is the next that waits")
	}
	if ok, wait := b.Reserve("k"); ok || wait != time.Second {
		t.Fatalf("attempt after the first past Free = %v, %v; want to wait a second", ok, wait)
	}
	c.advance(time.Hour)
	b.Reserve("x") // sweeps
	if _, kept := b.keys["k"]; kept {
		t.Fatal("a key with every failure leaked is still remembered")
	}
}
