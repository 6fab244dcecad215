package usage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// collidingIDs are two event ids whose keys share a slot (keyOf's 43 hash
// bits) for organization 1 and source "s", found by a birthday search, so
// that two events of one request probe the same slot.
var collidingIDs = [2]string{"c374062", "c5643116"}

// TestIngest_TwoEventsOfOneRoundProbeTheSameSlot: two events of one round
// that both need a lookup (their hour, 05:00, is outside SQLite's hot
// window at 09:30) and probe the same slot, which the database does not
// hold yet. The first claims it; the second must see that claim ("claimed
// by this round meanwhile", runs.go) and not claim the slot again: as the
// same event from another request it is a duplicate; as another event whose
// slot collides it moves to the next slot. Resent later, in either order,
// both are found (#11).
func TestIngest_TwoEventsOfOneRoundProbeTheSameSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ctx := context.Background()
		event := func(id string) Input {
			return Input{SpecVersion: "1.0", ID: id, Source: "s", Type: "api-calls", Time: "2026-11-23T05:10:00Z", Data: []byte(`{"quantity":1}`)}
		}
		newIngester := func(t *testing.T) (ing *Ingester, start func()) {
			t.Helper()
			ing, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
				MaxAge: 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			started := false
			t.Cleanup(func() {
				stop()
				if started {
					<-done
				}
			})
			return ing, func() {
				started = true
				go func() { defer close(done); _ = ing.Run(runCtx) }()
			}
		}
		ingest := func(t *testing.T, ing *Ingester, ids ...string) Result {
			t.Helper()
			var in []Input
			for _, id := range ids {
				in = append(in, event(id))
			}
			res, err := ing.Ingest(ctx, 1, in)
			if err != nil || len(res.Rejected) > 0 {
				t.Fatalf("ingest %v: %+v, %v", ids, res, err)
			}
			return res
		}

		t.Run("same event from two requests", func(t *testing.T) {
			ing, start := newIngester(t)
			results := make(chan Result, 2)
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					res, err := ing.Ingest(ctx, 1, []Input{event("same")})
					results <- res
					errs <- err
				}()
			}
			// Both wait in the queue before the writer starts, so that its
			// first round takes both.
			deadline := time.Now().Add(time.Minute)
			for len(ing.queue) < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("gave up waiting for both requests to queue: %d queued", len(ing.queue))
				}
				time.Sleep(time.Millisecond)
			}
			start()
			var got Result
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
				r := <-results
				got.Accepted += r.Accepted
				got.Duplicates += r.Duplicates
			}
			if got.Accepted != 1 || got.Duplicates != 1 {
				t.Fatalf("one round: %d accepted, %d duplicates, want one of each", got.Accepted, got.Duplicates)
			}
			if res := ingest(t, ing, "same"); res.Duplicates != 1 {
				t.Fatalf("resend: %+v, want a duplicate", res)
			}
		})

		t.Run("two events whose slots collide", func(t *testing.T) {
			a, b := collidingIDs[0], collidingIDs[1]
			c := checker{meters: oneMeter{}, now: now, maxAge: 24 * time.Hour, maxFuture: time.Minute}
			var keys [2]key
			for i, id := range collidingIDs {
				in := event(id)
				var ev Event
				if err := c.check(1, &in, &ev); err != nil {
					t.Fatal(err)
				}
				keys[i] = keyOf(&ev)
			}
			if keys[0].slot != keys[1].slot || keys[0].chk == keys[1].chk {
				t.Fatalf("%v no longer share a slot (keyOf changed?): find another pair with a birthday search", collidingIDs)
			}
			ing, start := newIngester(t)
			start()
			if res := ingest(t, ing, a, b); res.Accepted != 2 {
				t.Fatalf("one request: %+v, want both accepted", res)
			}
			// Resent in either order, each finds its own slot: the one that
			// probes first a slot the other holds must not move the other
			// past its own.
			for _, order := range [][]string{{b, a}, {a, b}} {
				if res := ingest(t, ing, order...); res.Duplicates != 2 {
					t.Fatalf("resend of %v: %+v, want two duplicates", order, res)
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
