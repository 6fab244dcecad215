package usage

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// BenchmarkResend sends again batches of events already stored, on SQLite,
// where every key of a resent batch is looked up in usage_keys and in every
// run (the filters say "perhaps" for each): what a client that retries
// whole batches costs. The hour holds a million keys in twenty runs of
// 50,000 and the keys of the last ones in memory.
// go test -run '^$' -bench Resend -benchtime 200000x ./internal/usage
func BenchmarkResend(b *testing.B) {
	const stored, runKeys, batchSize = 1_000_000, 50_000, 1000
	db := storetest.Open(b, "sqlite")
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	ing, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, RunKeys: runKeys})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ing.Run(ctx) }()
	defer func() { cancel(); <-done }()
	batch := func(first int) []Input {
		in := make([]Input, batchSize)
		for i := range in {
			n := (first + i) % stored
			in[i] = Input{SpecVersion: "1.0", ID: fmt.Sprintf("e%d", n), Source: "s", Type: "api-calls",
				Time: now.Add(-time.Duration(n%1800) * time.Second).Format(time.RFC3339), Data: []byte(`{"quantity":1}`)}
		}
		return in
	}
	for first := 0; first < stored; first += batchSize {
		if res, err := ing.Ingest(ctx, 1, batch(first)); err != nil || res.Accepted != batchSize {
			b.Fatalf("storing: %+v %v", res, err)
		}
	}
	// Let the log's keys reach their runs, as they would over time.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var logged int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_events WHERE id > (SELECT through FROM usage_key_log)`).Scan(&logged); err != nil {
			b.Fatal(err)
		}
		if logged < runKeys || time.Now().After(deadline) {
			break
		}
	}
	for _, bc := range []struct {
		name   string
		events int // resent events are drawn from the last this many stored
	}{
		{"last-200k", 200_000}, // a client retrying lately: keys in memory and the newest runs
		{"any", stored},        // keys in any of the twenty runs
	} {
		b.Run(bc.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i += batchSize {
				first := stored - bc.events + (i*7919)%bc.events
				if res, err := ing.Ingest(ctx, 1, batch(first)); err != nil || res.Duplicates != batchSize {
					b.Fatalf("resending: %+v %v", res, err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
