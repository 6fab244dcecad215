package usage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

type oneMeter struct{}

func (oneMeter) Meter(name string) (Meter, bool) { return Meter{Name: name}, name == "api-calls" }

// runAt runs an Ingester of the meter api-calls whose clock stands at now,
// until the test ends.
func runAt(t *testing.T, db *store.DB, now time.Time) *Ingester {
	t.Helper()
	return runWith(t, db, oneMeter{}, now)
}

// checkedKey is in as Ingest checks it for organization 1, of the meter
// api-calls, at now, and its deduplication key.
func checkedKey(t *testing.T, now time.Time, in Input) (Event, key) {
	t.Helper()
	c := checker{meters: oneMeter{}, now: now, maxAge: time.Hour, maxFuture: time.Minute}
	var ev Event
	if err := c.check(1, &in, &ev); err != nil {
		t.Fatal(err)
	}
	return ev, keyOf(&ev)
}

// runWith runs an Ingester of meters whose clock stands at now, until the
// test ends.
func runWith(t *testing.T, db *store.DB, meters Meters, now time.Time) *Ingester {
	t.Helper()
	ing, err := New(Config{DB: db, Meters: meters, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ing.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return ing
}

// TestDedup_HashCollisionsMoveToTheNextSlot: a slot taken by another event
// (same 43 hash bits, other chk) must neither swallow the new event nor
// count it twice when it is resent.
func TestDedup_HashCollisionsMoveToTheNextSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ing := runAt(t, db, now)

		in := Input{SpecVersion: "1.0", ID: "e1", Source: "s", Type: "api-calls", Time: "2026-11-23T09:00:00Z", Data: []byte(`{"quantity":1}`)}
		_, k := checkedKey(t, now, in)
		// Another event holds the slot, and the next one too.
		for i, slot := range []int64{k.slot, k.next().slot} {
			if _, err := db.Write().Exec(`INSERT INTO usage_keys (slot, chk) VALUES ($1, $2)`, slot, k.chk+1+int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []Result{{Accepted: 1}, {Duplicates: 1}} {
			res, err := ing.Ingest(context.Background(), 1, []Input{in})
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != want.Accepted || res.Duplicates != want.Duplicates {
				t.Errorf("send %d: %+v, want %+v", i, res, want)
			}
		}
		var chk int64
		if err := db.Read().QueryRow(`SELECT chk FROM usage_keys WHERE slot = $1
			UNION ALL SELECT chk FROM usage_events WHERE slot = $1`, k.next().next().slot).Scan(&chk); err != nil || chk != k.chk {
			t.Errorf("third slot holds %d (%v), want the event's chk %d", chk, err, k.chk)
		}
	})
}

func TestKey_NextWrapsWithinTheHour(t *testing.T) {
	hour := int64(12345) << slotHashBits
	k := key{slot: hour | slotHashMask}
	if got := k.next().slot; got != hour {
		t.Errorf("next of the hour's last slot = %x, want %x", got, hour)
	}
}
