package usage

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// dollarMeters prices every unit of compute at $1.
type dollarMeters struct{}

func (dollarMeters) Meter(name string) (Meter, bool) {
	return Meter{Name: name, PriceMicros: 1_000_000}, name == "compute"
}

// waitForLockWait returns once a session of db waits for a lock of the
// kind ("advisory", "transactionid"): the round under test is blocked where
// the test wants it.
func waitForLockWait(t *testing.T, db *store.DB, kind string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		if err := db.Read().QueryRow(`SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = $1`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatalf("no session waits for a %s lock", kind)
}

func hourInput(id, meter, quantity string) Input {
	return Input{SpecVersion: "1.0", ID: id, Source: "s", Type: meter, Time: "2026-11-23T09:00:00Z", Data: []byte(`{"quantity":` + quantity + `}`)}
}

// TestIngest_14_KnownTotalsMovedWhileWaitingForTheHourLock: the totals a
// writer knows are confirmed under the hour's lock, not before it. Another
// process holds the lock and fills the hour while a small round waits for
// it; the round, whose event fits the totals known, must be refused. (It
// passes the bounds if the check reads its snapshot before the lock.)
func TestIngest_14_KnownTotalsMovedWhileWaitingForTheHourLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.DialectPostgres {
			t.Skip("PostgreSQL's hour locks")
		}
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ing := runWith(t, db, dollarMeters{}, now)

		if res, err := ing.Ingest(context.Background(), 1, []Input{hourInput("a1", "compute", "1")}); err != nil || res.Accepted != 1 {
			t.Fatal(res, err) // the writer now knows the hour: $1
		}
		tx, err := db.Write().Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := (postgresSQL{}).lockHours(context.Background(), tx, []orgHour{{1, now.Unix() / 3600}}); err != nil {
			t.Fatal(err)
		}
		// $1 short of the bound.
		if _, err := tx.Exec(`UPDATE usage_meter_hourly SET quantity = $1 WHERE org_id = 1`, (MaxHourMicros/1_000_000-1)*QuantityScale); err != nil {
			t.Fatal(err)
		}
		type answer struct {
			res Result
			err error
		}
		got := make(chan answer, 1)
		go func() {
			res, err := ing.Ingest(context.Background(), 1, []Input{hourInput("a2", "compute", "2")}) // $2: fits $1, not the hour
			got <- answer{res, err}
		}()
		waitForLockWait(t, db, "advisory")
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		a := <-got
		if a.err != nil || a.res.Accepted != 0 || len(a.res.Rejected) != 1 || a.res.Rejected[0].Kind != RejectionOverBound {
			t.Errorf("got %+v, %v; want the event refused past the money bound", a.res, a.err)
		}
	})
}

// TestIngest_14_NoHourLockWhileWaitingForAKey: every way takes the event's
// key before the hour's lock, so while a round waits for another
// transaction's key it holds no hour lock, and writers cannot wait for
// each other in a circle. The fast way (its first round, and a second
// whose hour's totals it knows) and the careful way, in turn.
func TestIngest_14_NoHourLockWhileWaitingForAKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.DialectPostgres {
			t.Skip("PostgreSQL's hour locks")
		}
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		ing := runAt(t, db, now)
		for _, way := range []struct {
			name    string
			careful int32
		}{{"fast", 0}, {"careful", carefulRounds}} {
			for _, id := range []string{"first", "known"} {
				in := hourInput(way.name+"-"+id, "api-calls", "1")
				ev, k := checkedKey(t, now, in)
				ing.careful.Store(way.careful)
				tx, err := db.Write().Begin()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(`INSERT INTO usage_keys (slot, chk) VALUES ($1, $2)`, k.slot, k.chk); err != nil {
					t.Fatal(err)
				}
				got := make(chan error, 1)
				go func() { _, err := ing.Ingest(context.Background(), 1, []Input{in}); got <- err }()
				waitForLockWait(t, db, "transactionid") // the round waits for tx's key
				if held := hourLockHeld(t, tx, ev.Time); held {
					t.Errorf("%s way, %s round: the hour's lock is held while the round waits for a key", way.name, id)
				}
				tx.Rollback()
				if err := <-got; err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// hourLockHeld reports whether another session holds the hour's lock: tx
// cannot take it at once.
func hourLockHeld(t *testing.T, tx *sql.Tx, at time.Time) bool {
	t.Helper()
	var free bool
	lk := hourLockKeys([]orgHour{{1, at.Unix() / 3600}})[0]
	if err := tx.QueryRow(`SELECT pg_try_advisory_xact_lock($1, $2)`, int32(hourLockClass), lk).Scan(&free); err != nil {
		t.Fatal(err)
	}
	return !free
}
