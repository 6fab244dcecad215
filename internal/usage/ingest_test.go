package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

func TestIngest_StoresEventsAndHourlyTotalsExactly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		ctx := context.Background()
		res, err := ing.Ingest(ctx, 7, batch(t,
			ev("a", map[string]any{"data": map[string]any{"quantity": json.Number("0.1")}}),
			ev("b", map[string]any{"data": map[string]any{"quantity": json.Number("0.2")}}),
			ev("c", map[string]any{"time": "2026-11-23T08:59:59.999999Z", "data": map[string]any{"quantity": json.Number("1e3")}}),
			ev("d", map[string]any{"subject": nil}),
		))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(usage.Result{Accepted: 4}, res); diff != "" {
			t.Fatalf("result (-want +got):\n%s", diff)
		}
		type row struct {
			Meter, Subject, Source, ID string
			Usage, Quantity            int64
		}
		rows, err := db.Read().Query(`SELECT meter, subject, source, event_id, usage_us, quantity FROM usage_events WHERE org_id = 7 ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.Meter, &r.Subject, &r.Source, &r.ID, &r.Usage, &r.Quantity); err != nil {
				t.Fatal(err)
			}
			got = append(got, r)
		}
		src := "//billing.example.com/svc"
		t915 := time.Date(2026, 11, 23, 9, 15, 0, 0, time.UTC).UnixMicro()
		want := []row{
			{"api-calls", "svc-1", src, "a", t915, 100_000},
			{"api-calls", "svc-1", src, "b", t915, 200_000},
			{"api-calls", "svc-1", src, "c", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).UnixMicro() - 1, 1_000_000_000},
			{"api-calls", "", src, "d", t915, 1_500_000},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("usage_events (-want +got):\n%s", diff)
		}
		type hour struct {
			Subject  string
			Hour     time.Time
			Quantity int64
			Events   int64
		}
		hrows, err := db.Read().Query(`SELECT subject, hour, quantity, events FROM usage_hourly WHERE org_id = 7 AND meter = 'api-calls' ORDER BY hour, subject`)
		if err != nil {
			t.Fatal(err)
		}
		defer hrows.Close()
		var hours []hour
		for hrows.Next() {
			var h hour
			if err := hrows.Scan(&h.Subject, &h.Hour, &h.Quantity, &h.Events); err != nil {
				t.Fatal(err)
			}
			h.Hour = h.Hour.UTC()
			hours = append(hours, h)
		}
		h8, h9 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		wantHours := []hour{{"svc-1", h8, 1_000_000_000, 1}, {"", h9, 1_500_000, 1}, {"svc-1", h9, 300_000, 2}}
		if diff := cmp.Diff(wantHours, hours); diff != "" {
			t.Fatalf("usage_hourly (-want +got):\n%s", diff)
		}
	})
}

func TestIngest_RejectsOnlyBadEventsWithEveryReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		long := strings.Repeat("x", 600)
		cases := []struct {
			name   string
			fields map[string]any
			want   string
		}{
			{"specversion", map[string]any{"specversion": "0.3"}, `specversion: must be "1.0"`},
			{"no specversion", map[string]any{"specversion": nil}, `specversion: must be "1.0"`},
			{"no id", map[string]any{"id": ""}, "id: is required"},
			{"long id", map[string]any{"id": long}, "id: is longer than 256 bytes"},
			{"no source", map[string]any{"source": nil}, "source: is required"},
			{"long source", map[string]any{"source": long}, "source: is longer than 512 bytes"},
			{"long subject", map[string]any{"subject": long}, "subject: is longer than 256 bytes"},
			{"no type", map[string]any{"type": nil}, "type: is required: the name of a meter"},
			{"unknown meter", map[string]any{"type": "gpu-hours"}, `type: "gpu-hours" is not a meter of the catalog`},
			{"no time", map[string]any{"time": nil}, "time: is required"},
			{"bad time", map[string]any{"time": "23/11/2026"}, "time: must be RFC 3339"},
			{"too old", map[string]any{"time": "2026-11-16T09:29:59Z"}, "time: is more than 168h0m0s in the past"},
			{"future", map[string]any{"time": "2026-11-23T09:35:01Z"}, "time: is more than 5m0s in the future"},
			{"content type", map[string]any{"datacontenttype": "text/plain"}, "datacontenttype: must be"},
			{"no data", map[string]any{"data": nil}, "data: is required"},
			{"bare number", map[string]any{"data": 5}, "data: must be an object"},
			{"no quantity", map[string]any{"data": map[string]any{}}, "data.quantity: is required"},
			{"string quantity", map[string]any{"data": map[string]any{"quantity": "5"}}, "data.quantity: must be a JSON number"},
			{"negative", map[string]any{"data": map[string]any{"quantity": -1}}, "data.quantity: must not be negative"},
			{"too precise", map[string]any{"data": map[string]any{"quantity": json.Number("0.0000001")}}, "data.quantity: has more than 6 decimal places"},
			{"too large", map[string]any{"data": map[string]any{"quantity": json.Number("1e12")}}, "data.quantity: must be at most"},
			{"id not a string", map[string]any{"id": 5}, "id: must be a JSON string"},
		}
		events := []map[string]any{ev("good-0", nil)}
		for i, c := range cases {
			events = append(events, ev(fmt.Sprintf("bad-%d", i), c.fields))
		}
		events = append(events, ev("good-1", nil))
		res, err := ing.Ingest(context.Background(), 1, batch(t, events...))
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || res.Duplicates != 0 || len(res.Rejected) != len(cases) {
			t.Fatalf("accepted %d, duplicates %d, rejected %d; want 2, 0, %d: %+v", res.Accepted, res.Duplicates, len(res.Rejected), len(cases), res.Rejected)
		}
		for i, c := range cases {
			r := res.Rejected[i]
			if r.Index != i+1 || !strings.Contains(r.Message, c.want) {
				t.Errorf("%s: rejection %+v, want index %d and %q", c.name, r, i+1, c.want)
			}
		}
		if got := storedTotals(t, db, 1); got.Events != 2 || got.HourlyEvents != 2 {
			t.Errorf("stored %+v, want the 2 good events", got)
		}
		// Several problems of one event are all reported; a request of that
		// one event (checkOne's path) stores nothing.
		res, err = ing.Ingest(context.Background(), 1, batch(t, ev("x", map[string]any{"type": "nope", "time": "soon", "data": nil})))
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 0 || res.Duplicates != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || res.Rejected[0].ID != "x" {
			t.Fatalf("one bad event: %+v, want only its rejection, index 0, id x", res)
		}
		if got := storedTotals(t, db, 1); got.Events != 2 || got.HourlyEvents != 2 {
			t.Errorf("after one bad event, stored %+v, want the 2 good events", got)
		}
		msg := res.Rejected[0].Message
		for _, want := range []string{"type:", "time:", "data:"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
	})
}

func TestDecode_ElementsThatAreNotEventsAreRejectedAlone(t *testing.T) {
	ins, err := usage.DecodeBatch([]byte(`[{"specversion":"1.0"}, "hello", 5, {"id": ["x"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 4 {
		t.Fatalf("%d inputs, want 4", len(ins))
	}
	for _, body := range []string{``, `{`, `[1,`, `{"a":1}`, `nope`} {
		if _, err := usage.DecodeBatch([]byte(body)); body != `{"a":1}` && err == nil {
			t.Errorf("DecodeBatch(%q) accepted", body)
		}
	}
	if _, err := usage.DecodeBatch([]byte(`{"a":1}`)); !errors.Is(err, usage.ErrNotJSON) {
		t.Errorf("DecodeBatch of an object: %v, want ErrNotJSON", err)
	}
	if _, err := usage.DecodeEvent([]byte(`[{}]`)); !errors.Is(err, usage.ErrNotJSON) {
		t.Errorf("DecodeEvent of an array: %v, want ErrNotJSON", err)
	}
}

func TestIngest_ResendsCountOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		ctx := context.Background()
		steps := []struct {
			name   string
			org    int64
			events []map[string]any
			want   usage.Result
		}{
			{"first", 1, []map[string]any{ev("a", nil), ev("b", nil)}, usage.Result{Accepted: 2}},
			{"within a batch", 1, []map[string]any{ev("c", nil), ev("c", nil), ev("c", nil)}, usage.Result{Accepted: 1, Duplicates: 2}},
			{"across requests", 1, []map[string]any{ev("a", nil), ev("b", nil), ev("d", nil)}, usage.Result{Accepted: 1, Duplicates: 2}},
			{"same id, other source", 1, []map[string]any{ev("a", map[string]any{"source": "other"})}, usage.Result{Accepted: 1}},
			{"same id, other organization", 2, []map[string]any{ev("a", nil)}, usage.Result{Accepted: 1}},
			{"resend with another quantity counts the first", 1, []map[string]any{
				ev("a", map[string]any{"data": map[string]any{"quantity": 99}})}, usage.Result{Duplicates: 1}},
		}
		for _, s := range steps {
			res, err := ing.Ingest(ctx, s.org, batch(t, s.events...))
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if diff := cmp.Diff(s.want, res); diff != "" {
				t.Errorf("%s (-want +got):\n%s", s.name, diff)
			}
		}
		if got := storedTotals(t, db, 1); got.Events != 5 || got.Quantity != 5*1_500_000 || got.HourlyQuantity != got.Quantity {
			t.Errorf("organization 1 stored %+v, want 5 events of 1.5", got)
		}
	})
}

func TestIngest_ResendsCountOnceAcrossRestarts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		first := startIngester(t, db, nil)
		if _, err := first.Ingest(ctx, 1, batch(t, ids("r", 50)...)); err != nil {
			t.Fatal(err)
		}
		// A second Ingester, as after a restart, knows nothing in memory.
		second := startIngester(t, db, nil)
		res, err := second.Ingest(ctx, 1, batch(t, ids("r", 60)...))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(usage.Result{Accepted: 10, Duplicates: 50}, res); diff != "" {
			t.Errorf("after restart (-want +got):\n%s", diff)
		}
	})
}

func TestIngest_ConcurrentResendsCountOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const clients, events = 8, 200
		total := sendShared(t, []*usage.Ingester{startIngester(t, db, nil)}, clients, events, 10, [2]int{7, 13}, func(c int) int { return 1 + c*5 })
		want := usage.Result{Accepted: events + clients*10, Duplicates: (clients - 1) * events}
		if diff := cmp.Diff(want, total); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := storedTotals(t, db, 1); got.Events != int64(want.Accepted) || got.HourlyEvents != got.Events || got.Keys != got.Events {
			t.Errorf("stored %+v, want %d events, keys and hourly events", got, want.Accepted)
		}
	})
}

// TestIngest_14_ResendsAcrossProcessesCountOnce: two Ingesters on one
// database, as two processes, take the same events at once, in other
// orders and batch sizes. On PostgreSQL each round is first written as if
// all its keys were new; a key the other process holds, committed or not,
// fails that try and the round is done the careful way. No event may be
// lost or counted twice, and the writers must never deadlock (key locks
// come before hour locks on both ways): one process has four writers, the
// other one, so rounds of both ways meet within a process too.
func TestIngest_14_ResendsAcrossProcessesCountOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ings := []*usage.Ingester{startWriters(t, db, 4), startWriters(t, db, 1)}
		const clients, shared, own = 6, 300, 20
		total := sendShared(t, ings, clients, shared, own, [2]int{11, 17}, func(c int) int { return 3 + c*7 })
		want := usage.Result{Accepted: shared + clients*own, Duplicates: (clients - 1) * shared}
		if diff := cmp.Diff(want, total); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := storedTotals(t, db, 1); got.Events != int64(want.Accepted) || got.HourlyEvents != got.Events || got.Keys != got.Events ||
			got.Quantity != int64(want.Accepted)*1_500_000 || got.HourlyQuantity != got.Quantity {
			t.Errorf("stored %+v, want %d events, keys and hourly events of 1.5", got, want.Accepted)
		}
	})
}

// sendShared has clients send the same shared events at once, each client
// in its own order (a shuffle by the two factors) and batch size, plus own
// events of its own, through the Ingesters in turn; it returns the counts
// of all the answers summed.
func sendShared(t *testing.T, ings []*usage.Ingester, clients, shared, own int, order [2]int, size func(client int) int) usage.Result {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total usage.Result
	for c := range clients {
		wg.Go(func() {
			all := ids("shared", shared)
			for i := range all {
				j := (i*order[0] + c*order[1]) % len(all)
				all[i], all[j] = all[j], all[i]
			}
			all = append(all, ids(fmt.Sprintf("own-%d", c), own)...)
			n := size(c)
			for lo := 0; lo < len(all); lo += n {
				res, err := ings[c%len(ings)].Ingest(context.Background(), 1, batch(t, all[lo:min(lo+n, len(all))]...))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total.Accepted += res.Accepted
				total.Duplicates += res.Duplicates
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total
}

func TestIngest_TooManyEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing := startIngester(t, db, nil)
		_, err := ing.Ingest(context.Background(), 1, make([]usage.Input, usage.MaxBatch+1))
		if !errors.Is(err, usage.ErrBatchTooLarge) {
			t.Fatalf("got %v, want ErrBatchTooLarge", err)
		}
	})
}

func TestIngest_AfterStopIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ing, err := usage.New(usage.Config{DB: db, Meters: testMeters, Logger: discard(), Now: (&clock{now: testNow}).Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := ing.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := ing.Ingest(context.Background(), 1, batch(t, ev("a", nil))); !errors.Is(err, usage.ErrStopped) {
			t.Fatalf("got %v, want ErrStopped", err)
		}
	})
}

func TestConfig_ValidateReportsEveryProblem(t *testing.T) {
	err := usage.Config{MaxAge: -1, MaxFuture: 48 * time.Hour, MaxCommit: -1, Writers: 65}.Validate()
	for _, want := range []string{"DB", "Meters", "Logger", "Now", "MaxAge", "MaxFuture", "MaxCommit", "Writers"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a mention of %s", err, want)
		}
	}
}

// TestPruneKeys_DropsOnlyExpiredHours: keys of hours wholly older than
// MaxAge go; younger ones, and every event row, stay.
func TestPruneKeys_DropsOnlyExpiredHours(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := &clock{now: testNow}
		// One key a run: on SQLite keys leave the log for a run at once.
		ing := startIngesterWith(t, usage.Config{DB: db, Meters: testMeters, Logger: discard(), Now: clk.Now, RunKeys: 1})
		ctx := context.Background()
		old := ev("old", map[string]any{"time": "2026-11-16T10:00:00Z"}) // just inside 7 days
		young := ev("young", nil)
		if res, err := ing.Ingest(ctx, 1, batch(t, old, young)); err != nil || res.Accepted != 2 {
			t.Fatalf("%+v %v", res, err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			logged := loggedKeys(t, db)
			if logged == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d keys still in the log", logged)
			}
		}
		clk.mu.Lock()
		clk.now = clk.now.Add(2 * time.Hour) // "old" is now past the window
		clk.mu.Unlock()
		n, err := ing.PruneKeys(ctx)
		if err != nil || n != 1 {
			t.Fatalf("PruneKeys = %d, %v; want 1 key", n, err)
		}
		if got := storedTotals(t, db, 1); got.Keys != 1 || got.Events != 2 {
			t.Errorf("after pruning: %+v, want 1 key and both events", got)
		}
		// The young event is still deduplicated; the old one is too old.
		res, err := ing.Ingest(ctx, 1, batch(t, old, young))
		if err != nil || res.Duplicates != 1 || len(res.Rejected) != 1 {
			t.Errorf("resend after pruning: %+v, %v", res, err)
		}
	})
}

// TestRun_PrunesExpiredKeysBesideTheWriters: once an hour the writer
// prunes the keys of hours past MaxAge by itself; on PostgreSQL it does so
// beside the writers, and rounds go on meanwhile. (On SQLite a new key
// waits in the log, not in usage_keys, so there is nothing to see there.)
func TestRun_PrunesExpiredKeysBesideTheWriters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.DialectPostgres {
			t.Skip("SQLite's new keys are in its log")
		}
		clk := &clock{now: testNow}
		ing := startIngesterWith(t, usage.Config{DB: db, Meters: testMeters, Logger: discard(), Now: clk.Now, MaxAge: time.Hour})
		if res, err := ing.Ingest(context.Background(), 1, batch(t, ev("old", nil))); err != nil || res.Accepted != 1 {
			t.Fatalf("%+v, %v", res, err)
		}
		clk.mu.Lock()
		clk.now = testNow.Add(3 * time.Hour) // the first event's hour is past MaxAge, and an hour has passed
		clk.mu.Unlock()
		fresh := ev("new", map[string]any{"time": testNow.Add(3 * time.Hour).Format(time.RFC3339)})
		if res, err := ing.Ingest(context.Background(), 1, batch(t, fresh)); err != nil || res.Accepted != 1 {
			t.Fatalf("%+v, %v", res, err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var n int
			if err := db.Read().QueryRow(`SELECT count(*) FROM usage_keys`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				break // only the new event's key
			}
			if time.Now().After(deadline) {
				t.Fatalf("usage_keys holds %d keys, want the new event's only", n)
			}
		}
	})
}
