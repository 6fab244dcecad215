package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// meters is a catalog of three meters.
type meters map[string]bool

func (m meters) Meter(name string) (usage.Meter, bool) {
	if m[name] {
		return usage.Meter{Name: name}, true
	}
	return usage.Meter{}, false
}

var testMeters = meters{"api-calls": true, "storage-gb-hours": true, "compute-seconds": true}

// clock is the tests' time: 2026-11-23 09:30 UTC unless moved.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

var testNow = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

// startIngester returns an Ingester whose writer runs until the test ends.
func startIngester(t testing.TB, db *store.DB, now func() time.Time) *usage.Ingester {
	t.Helper()
	if now == nil {
		now = (&clock{now: testNow}).Now
	}
	return startIngesterWith(t, usage.Config{DB: db, Meters: testMeters, Logger: slog.New(slog.DiscardHandler), Now: now})
}

// startWriters returns an Ingester with n writers (PostgreSQL; SQLite has
// one whatever n), as a process of its own.
func startWriters(t testing.TB, db *store.DB, n int) *usage.Ingester {
	t.Helper()
	return startIngesterWith(t, usage.Config{DB: db, Meters: testMeters, Logger: slog.New(slog.DiscardHandler),
		Now: (&clock{now: testNow}).Now, Writers: n})
}

// startIngesterWith runs an Ingester of cfg until the test ends.
func startIngesterWith(t testing.TB, cfg usage.Config) *usage.Ingester {
	t.Helper()
	ing, err := usage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ing.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ing
}

// ev is a valid event's JSON object; fields override attributes (a nil
// value removes one).
func ev(id string, fields map[string]any) map[string]any {
	m := map[string]any{
		"specversion": "1.0", "id": id, "source": "//billing.example.com/svc", "type": "api-calls",
		"subject": "svc-1", "time": "2026-11-23T09:15:00Z", "data": map[string]any{"quantity": json.Number("1.5")},
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// batch decodes events as a batch body would be.
func batch(t testing.TB, events ...map[string]any) []usage.Input {
	t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := usage.DecodeBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

// stored sums what the tables hold for orgID: events, their quantity, and
// the same from the hourly totals, which must agree.
type totals struct {
	Events, Quantity, HourlyEvents, HourlyQuantity, Keys int64
}

func storedTotals(t testing.TB, db *store.DB, orgID int64) totals {
	t.Helper()
	var s totals
	err := db.Read().QueryRow(`SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM usage_events WHERE org_id = $1`, orgID).Scan(&s.Events, &s.Quantity)
	if err == nil {
		err = db.Read().QueryRow(`SELECT COALESCE(SUM(events), 0), COALESCE(SUM(quantity), 0) FROM usage_hourly WHERE org_id = $1`, orgID).
			Scan(&s.HourlyEvents, &s.HourlyQuantity)
	}
	if err == nil {
		// On SQLite a key is in usage_keys, in a run or in the log (runs.go).
		err = db.Read().QueryRow(`SELECT (SELECT COUNT(*) FROM usage_keys) +
			(SELECT COALESCE(SUM(length(keys)), 0) / 16 FROM usage_key_blocks)`).Scan(&s.Keys)
		s.Keys += loggedKeys(t, db)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loggedKeys counts the keys only SQLite's log holds: those of events after
// usage_key_log's through (runs.go).
func loggedKeys(t testing.TB, db *store.DB) int64 {
	t.Helper()
	if db.Dialect() != store.DialectSQLite {
		return 0
	}
	var n int64
	if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events WHERE id > (SELECT through FROM usage_key_log)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(prefix string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = ev(fmt.Sprintf("%s-%d", prefix, i), nil)
	}
	return out
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
