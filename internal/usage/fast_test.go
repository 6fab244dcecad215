package usage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// TestIngest_14_FastWayFallsBackAndResumes follows PostgreSQL's writer
// through a resend: rounds of new events go the fast way (one statement, no
// key claimed first); a round with a resent event fails that way and is
// done the careful way, which finds the duplicate; the next carefulRounds
// rounds are careful too, and then the writer goes fast again. The counts
// are checked on both engines; SQLite has no fast way and is never careful.
func TestIngest_14_FastWayFallsBackAndResumes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ing := runAt(t, db, now)
		pg := db.Dialect() == store.DialectPostgres

		send := func(ids ...string) Result {
			t.Helper()
			var in []Input
			for _, id := range ids {
				in = append(in, Input{SpecVersion: "1.0", ID: id, Source: "s", Type: "api-calls", Time: "2026-11-23T09:10:00Z",
					Data: []byte(`{"quantity":2}`)})
			}
			res, err := ing.Ingest(context.Background(), 1, in)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		// Ingest has returned, so Run wrote careful before it answered.
		careful := func(step string, want int) {
			t.Helper()
			if !pg {
				want = 0
			}
			if got := ing.careful.Load(); got != int32(want) {
				t.Errorf("%s: careful = %d, want %d", step, got, want)
			}
		}

		if res := send("a", "b", "c"); res.Accepted != 3 {
			t.Fatalf("first send: %+v", res)
		}
		careful("after new events", 0)
		if res := send("d", "b", "e", "e"); res.Accepted != 2 || res.Duplicates != 2 {
			t.Errorf("a resent event among new ones: %+v, want 2 accepted and 2 duplicates", res)
		}
		careful("after the resend", carefulRounds)
		for i := range carefulRounds {
			if res := send(fmt.Sprintf("n%d", i)); res.Accepted != 1 {
				t.Fatalf("careful round %d: %+v", i, res)
			}
		}
		careful("after the careful rounds", 0)
		if res := send("f", "a"); res.Accepted != 1 || res.Duplicates != 1 {
			t.Errorf("a resend when fast again: %+v, want 1 accepted and 1 duplicate", res)
		}
		careful("after the second resend", carefulRounds)

		var events, keys, sum int64
		if err := db.Read().QueryRow(`SELECT COUNT(*), SUM(quantity) FROM usage_events`).Scan(&events, &sum); err != nil {
			t.Fatal(err)
		}
		if err := db.Read().QueryRow(`SELECT SUM(events) FROM usage_hourly`).Scan(&keys); err != nil {
			t.Fatal(err)
		}
		if want := int64(3 + 2 + carefulRounds + 1); events != want || keys != want || sum != want*2_000_000 {
			t.Errorf("stored %d events (hourly %d) summing %d, want %d of 2", events, keys, sum, want)
		}
	})
}
