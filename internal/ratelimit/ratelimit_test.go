package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter_BurstThenRefill(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	if l.Allow("a") {
		t.Fatal("4th attempt allowed, want refused")
	}
	if !l.Allow("b") {
		t.Fatal("another key was limited by the first")
	}
	now = now.Add(time.Minute)
	if !l.Allow("a") {
		t.Fatal("no attempt allowed after one refill period")
	}
	if l.Allow("a") {
		t.Fatal("two attempts allowed after one refill period")
	}
}

func TestLimiter_ForgetsIdleKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(2, time.Second, func() time.Time { return now })
	for i := range 100 {
		l.Allow(string(rune('a' + i%26)))
	}
	now = now.Add(time.Hour)
	l.Allow("z")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after an idle hour, want 1", n)
	}
}
