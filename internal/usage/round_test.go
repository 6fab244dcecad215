package usage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// roundItem is a checked event of the cold hour 05:00 (outside SQLite's hot
// window at 09:30, so that its key needs a lookup rather than a filter),
// with key k when k is not zero.
func roundItem(t *testing.T, now time.Time, id string, k key) item {
	t.Helper()
	in := Input{SpecVersion: "1.0", ID: id, Source: "s", Type: "api-calls", Time: "2026-11-23T05:10:00Z", Data: []byte(`{"quantity":1}`)}
	ev, err := checker{meters: oneMeter{}, now: now, maxAge: 24 * time.Hour, maxFuture: time.Minute}.check(1, in)
	if err != nil {
		t.Fatal(err)
	}
	if k == (key{}) {
		k = keyOf(&ev)
	}
	return item{ev: ev, key: k}
}

// TestCommit_TwoItemsOfOneRoundProbeTheSameSlot: two items of one round
// that both need a lookup and probe the same slot, which the database does
// not hold yet. The first claims it; the second must see that claim ("claimed
// by this round meanwhile", runs.go) and not claim the slot again: as a resend
// of the same event (same chk, from another request of the round) it is a
// duplicate; as another event whose hash collides (other chk) it moves to the
// next slot. The resend of both, later, finds both (#11).
func TestCommit_TwoItemsOfOneRoundProbeTheSameSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ing, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
			MaxAge: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// commit is the writer's round, called directly so that both
		// items are in one round for sure (Run gathers whatever waits).
		commit := func(t *testing.T, subs ...*submission) (accepted, dups int) {
			t.Helper()
			if err := ing.commit(ctx, subs); err != nil {
				t.Fatalf("commit: %v", err)
			}
			for _, s := range subs {
				for _, it := range s.items {
					if it.dup {
						dups++
					} else {
						accepted++
					}
				}
			}
			return accepted, dups
		}
		t.Run("same event from two requests", func(t *testing.T) {
			a := roundItem(t, now, "same", key{})
			first, second := &submission{items: []item{a}}, &submission{items: []item{a}}
			if acc, dups := commit(t, first, second); acc != 1 || dups != 1 || first.items[0].dup || !second.items[0].dup {
				t.Fatalf("one round: %d accepted, %d duplicates, want the first accepted and the second a duplicate", acc, dups)
			}
			if acc, dups := commit(t, &submission{items: []item{a}}); acc != 0 || dups != 1 {
				t.Fatalf("resend: %d accepted, %d duplicates, want a duplicate", acc, dups)
			}
		})
		t.Run("two events whose slots collide", func(t *testing.T) {
			a := roundItem(t, now, "collide-a", key{})
			b := roundItem(t, now, "collide-b", key{slot: a.key.slot, chk: a.key.chk + 1})
			sub := &submission{items: []item{a, b}}
			if acc, dups := commit(t, sub); acc != 2 || dups != 0 {
				t.Fatalf("one round: %d accepted, %d duplicates, want both accepted", acc, dups)
			}
			if got, want := sub.items[1].key.slot, a.key.next().slot; got != want {
				t.Fatalf("the colliding event took slot %x, want the next one %x", got, want)
			}
			// Resent in either order, each finds its own slot: the first
			// probing a slot the other holds must not move the other past
			// its own.
			for _, first := range []string{"collide-a", "collide-b"} {
				a2 := roundItem(t, now, "collide-a", key{})
				b2 := roundItem(t, now, "collide-b", key{slot: a.key.slot, chk: a.key.chk + 1})
				items := []item{a2, b2}
				if first == "collide-b" {
					items = []item{b2, a2}
				}
				if acc, dups := commit(t, &submission{items: items}); acc != 0 || dups != 2 {
					t.Fatalf("resend, %s first: %d accepted, %d duplicates, want two duplicates", first, acc, dups)
				}
			}
		})
		var events int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events`).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != 3 {
			t.Fatalf("%d events stored, want 3", events)
		}
	})
}
