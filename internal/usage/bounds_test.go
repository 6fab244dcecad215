package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// pricedMeters is a catalog with prices, for the money bound.
type pricedMeters map[string]int64

func (m pricedMeters) Meter(name string) (usage.Meter, bool) {
	p, ok := m[name]
	return usage.Meter{Name: name, PriceMicros: p}, ok
}

func startPricedIngester(t *testing.T, db *store.DB, prices pricedMeters) *usage.Ingester {
	t.Helper()
	ing, err := usage.New(usage.Config{DB: db, Meters: prices, Logger: discard(), Now: (&clock{now: testNow}).Now})
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

// maxEvents is n events of the largest quantity in one hour, for one meter,
// over seven subjects: the bound is per hour whatever the subject.
func maxEvents(prefix string, n int, fields map[string]any) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		f := map[string]any{"subject": fmt.Sprintf("svc-%d", i%7), "data": map[string]any{"quantity": json.Number("1e9")}}
		for k, v := range fields {
			f[k] = v
		}
		out[i] = ev(fmt.Sprintf("%s-%d", prefix, i), f)
	}
	return out
}

// meterHourTotal is what usage_meter_hourly holds for an organization.
func meterHourTotal(t *testing.T, db *store.DB, orgID int64) int64 {
	t.Helper()
	var units, micros int64
	if err := db.Read().QueryRow(`SELECT COALESCE(SUM(quantity / 1000000), 0), COALESCE(SUM(quantity % 1000000), 0)
		FROM usage_meter_hourly WHERE org_id = $1`, orgID).Scan(&units, &micros); err != nil {
		t.Fatal(err)
	}
	return units*1_000_000 + micros
}

// TestIngest_11_TheAttackIsRefusedPastTheHourBound sends issue #11's attack:
// two batches of 9,000 events of the largest quantity (1e9) in one hour,
// which were both accepted and overflowed the totals. Now the first 1,000
// fill the hour's bound (10^12 units), every later one is refused alone with
// the reason, and what is stored stays exact and rateable.
func TestIngest_11_TheAttackIsRefusedPastTheHourBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		ctx := context.Background()
		const perHour = int(usage.MaxHourQuantity / usage.MaxQuantity) // 1,000
		for b, want := range []int{perHour, 0} {
			res, err := ing.Ingest(ctx, 1, batch(t, maxEvents(fmt.Sprintf("attack-%d", b), 9000, nil)...))
			if err != nil {
				t.Fatalf("batch %d: %v", b, err)
			}
			if res.Accepted != want || res.Duplicates != 0 || len(res.Rejected) != 9000-want {
				t.Fatalf("batch %d: accepted %d, duplicates %d, rejected %d; want %d, 0, %d", b, res.Accepted, res.Duplicates, len(res.Rejected), want, 9000-want)
			}
			for i, r := range res.Rejected {
				if r.Index != want+i || r.Kind != usage.RejectionOverBound ||
					!strings.Contains(r.Message, `usage of meter "api-calls" in the hour from 2026-11-23T09:00:00Z past 1000000000000 units`) {
					t.Fatalf("batch %d, rejection %d: %+v", b, i, r)
				}
			}
		}
		full := int64(usage.MaxHourQuantity)
		got := storedTotals(t, db, 1)
		if got.Events != int64(perHour) || got.Quantity != full || got.HourlyQuantity != full || got.Keys != int64(perHour) {
			t.Errorf("stored %+v, want %d events and keys, %d micro-units, exact", got, perHour, full)
		}
		if n := meterHourTotal(t, db, 1); n != full {
			t.Errorf("usage_meter_hourly holds %d, want %d", n, full)
		}
		totals, err := usage.NewTotals(db).ByMeter(ctx, 1, testNow.Add(-24*time.Hour), testNow.Add(time.Hour), nil)
		if err != nil || totals["api-calls"].Cmp(big.NewInt(full)) != 0 {
			t.Errorf("ByMeter = %v, %v; want api-calls %d", totals, err, full)
		}
		// A refused event stored nothing, its key included: sent again it
		// is refused again, not taken for a duplicate.
		res, err := ing.Ingest(ctx, 1, batch(t, maxEvents("attack-1", 1, nil)...))
		if err != nil || len(res.Rejected) != 1 || res.Duplicates != 0 {
			t.Errorf("a refused event sent again: %+v, %v; want refused again", res, err)
		}
		// Other meters, other hours and other organizations are not held
		// back, and accepted events are still deduplicated.
		for _, c := range []struct {
			name   string
			org    int64
			events []map[string]any
			want   usage.Result
		}{
			{"other meter", 1, maxEvents("other-meter", 3, map[string]any{"type": "compute-seconds"}), usage.Result{Accepted: 3}},
			{"other hour", 1, maxEvents("other-hour", 3, map[string]any{"time": "2026-11-23T08:15:00Z"}), usage.Result{Accepted: 3}},
			{"other organization", 2, maxEvents("attack-0", 3, nil), usage.Result{Accepted: 3}},
			{"resent", 1, maxEvents("attack-0", 3, nil), usage.Result{Duplicates: 3}},
		} {
			res, err := ing.Ingest(ctx, c.org, batch(t, c.events...))
			if err != nil || res.Accepted != c.want.Accepted || res.Duplicates != c.want.Duplicates || len(res.Rejected) != 0 {
				t.Errorf("%s: %+v, %v; want %+v", c.name, res, err, c.want)
			}
		}
	})
}

// TestIngest_11_MoneyBoundPerOrganizationHour: every meter of an hour
// together rates to at most $20,000,000 at the catalog's prices, counted
// exactly, below a micro-dollar too; events past it are refused alone, in
// the order they came.
func TestIngest_11_MoneyBoundPerOrganizationHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startPricedIngester(t, db, pricedMeters{"compute": 220_000, "storage": 35, "free": 0})
		q := func(id, meter, quantity string) map[string]any {
			return ev(id, map[string]any{"type": meter, "data": map[string]any{"quantity": json.Number(quantity)}})
		}
		events := []map[string]any{
			q("a", "compute", "90909090"), // $19,999,999.80
			q("b", "storage", "10000"),    // + $0.35: past the bound
			q("c", "storage", "5000"),     // + $0.175 = $19,999,999.975
			q("d", "compute", "1"),        // + $0.22: past
			q("e", "storage", "714"),      // + $0.02499 = $19,999,999.99999
			q("f", "storage", "1"),        // + $0.000035: past
			q("g", "compute", "0.000045"), // + $0.0000099 = $19,999,999.9999999
			q("h", "compute", "0.000001"), // + $0.00000022: past
			q("i", "free", "1000000000"),  // no price: only the quantity bound
			q("j", "compute", "0"),        // nothing
		}
		res, err := ing.Ingest(context.Background(), 1, batch(t, events...))
		if err != nil {
			t.Fatal(err)
		}
		var refused []int
		for _, r := range res.Rejected {
			refused = append(refused, r.Index)
			if r.Kind != usage.RejectionOverBound || !strings.Contains(r.Message, "past $20,000,000.00 at the catalog's prices") {
				t.Errorf("rejection %+v", r)
			}
		}
		if res.Accepted != 6 || fmt.Sprint(refused) != "[1 3 5 7]" {
			t.Errorf("accepted %d, refused %v; want 6 and [1 3 5 7]", res.Accepted, refused)
		}
		// What is stored is what was accepted, nothing refused.
		if got := storedTotals(t, db, 1); got.Events != 6 || got.HourlyEvents != 6 || got.Keys != 6 {
			t.Errorf("stored %+v, want the 6 accepted events", got)
		}
		// The same events for another organization's hour start afresh.
		res, err = ing.Ingest(context.Background(), 2, batch(t, events[:1]...))
		if err != nil || res.Accepted != 1 {
			t.Errorf("other organization: %+v, %v", res, err)
		}
	})
}

// TestIngest_11_BoundHoldsAcrossProcesses: two Ingesters on one database,
// as two processes, fill one hour at once; together they take exactly the
// bound, never more (on PostgreSQL an advisory lock per hour makes them
// take turns, and one has three writers; on SQLite its one writer does).
func TestIngest_11_BoundHoldsAcrossProcesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ings := []*usage.Ingester{startWriters(t, db, 3), startWriters(t, db, 1)}
		var mu sync.Mutex
		accepted, refused := 0, 0
		var wg sync.WaitGroup
		for c := range 6 {
			wg.Go(func() {
				for b := range 5 {
					res, err := ings[c%2].Ingest(context.Background(), 1, batch(t, maxEvents(fmt.Sprintf("p%d-%d", c, b), 40, nil)...))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					accepted += res.Accepted
					refused += len(res.Rejected)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// 6 × 5 × 40 = 1,200 events; the hour holds 1,000.
		if accepted != 1000 || refused != 200 {
			t.Errorf("accepted %d, refused %d; want 1000 and 200", accepted, refused)
		}
		if n := meterHourTotal(t, db, 1); n != int64(usage.MaxHourQuantity) {
			t.Errorf("usage_meter_hourly holds %d, want %d", n, int64(usage.MaxHourQuantity))
		}
		if got := storedTotals(t, db, 1); got.Quantity != int64(usage.MaxHourQuantity) || got.HourlyQuantity != got.Quantity {
			t.Errorf("stored %+v", got)
		}
	})
}

// TestIngest_14_TotalsPastInt64AreRefusedEventByEvent: PostgreSQL's fast
// way writes a round's totals before it checks the bounds, so a round whose
// totals cannot be written must still end as the careful way ends it, with
// the events past the bound refused one by one, not the request failed:
// a batch of 10,000 events of the largest quantity (its sum, 10^19
// micro-units, passes int64), and an hour whose stored total is already
// int64's largest (a row from before #11's bounds).
func TestIngest_14_TotalsPastInt64AreRefusedEventByEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		ctx := context.Background()
		const perHour = int(usage.MaxHourQuantity / usage.MaxQuantity) // 1,000
		res, err := ing.Ingest(ctx, 1, batch(t, maxEvents("wrap", usage.MaxBatch, nil)...))
		if err != nil || res.Accepted != perHour || len(res.Rejected) != usage.MaxBatch-perHour {
			t.Errorf("a batch whose sum passes int64: accepted %d, rejected %d (%v); want %d and %d",
				res.Accepted, len(res.Rejected), err, perHour, usage.MaxBatch-perHour)
		}
		if got := storedTotals(t, db, 1); got.Events != int64(perHour) || got.Quantity != int64(usage.MaxHourQuantity) {
			t.Errorf("stored %+v, want %d events filling the hour", got, perHour)
		}

		legacy := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		if _, err := db.Write().ExecContext(ctx, `INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ($1, $2, $3, $4)`,
			2, legacy, "api-calls", int64(math.MaxInt64)); err != nil {
			t.Fatal(err)
		}
		res, err = ing.Ingest(ctx, 2, batch(t, ev("late", map[string]any{"time": "2026-11-23T08:15:00Z"}), ev("now", nil)))
		if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || res.Rejected[0].Kind != usage.RejectionOverBound {
			t.Errorf("an hour already at int64's largest: %+v, %v; want the event of that hour refused and the other accepted", res, err)
		}
	})
}

// TestIngest_14_KnownTotalsThatMovedAreNotTrusted: on PostgreSQL a writer
// checks a small round's bounds against the hour's totals as it last
// committed them, and the database confirms them in the same round trip.
// Here another process has filled the hour since, on the meter the writer
// knows and then on one it has never seen: the event that would fit the
// totals it knows, and does not fit the database's, is refused.
func TestIngest_14_KnownTotalsThatMovedAreNotTrusted(t *testing.T) {
	prices := pricedMeters{"compute": 220_000, "gpu": 220_000}
	q := func(id, meter, quantity string) map[string]any {
		return ev(id, map[string]any{"type": meter, "data": map[string]any{"quantity": json.Number(quantity)}})
	}
	for _, tc := range []struct {
		name  string
		other map[string]any // what the other process adds: the hour is then $20,000,000.00 less a little
		last  map[string]any // what fits the totals the first process knows, not the hour's
	}{
		{"same meter", q("b", "compute", "90909089"), q("a2", "compute", "1")}, // $19,999,999.80, then + $0.22
		{"new meter", q("b", "gpu", "90909089"), q("a2", "compute", "1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				mine, other := startPricedIngester(t, db, prices), startPricedIngester(t, db, prices)
				send := func(ing *usage.Ingester, e map[string]any) usage.Result {
					t.Helper()
					res, err := ing.Ingest(context.Background(), 1, batch(t, e))
					if err != nil {
						t.Fatal(err)
					}
					return res
				}
				if res := send(mine, q("a1", "compute", "1")); res.Accepted != 1 { // $0.22: the hour it knows
					t.Fatalf("first event: %+v", res)
				}
				if res := send(other, tc.other); res.Accepted != 1 {
					t.Fatalf("the other process's event: %+v", res)
				}
				res := send(mine, tc.last)
				if res.Accepted != 0 || len(res.Rejected) != 1 || res.Rejected[0].Kind != usage.RejectionOverBound {
					t.Errorf("got %+v, want the event refused past the money bound", res)
				}
				if got := storedTotals(t, db, 1); got.Events != 2 || got.HourlyEvents != 2 {
					t.Errorf("stored %+v, want the 2 accepted events", got)
				}
			})
		})
	}
}
