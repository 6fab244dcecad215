package metering_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// BenchmarkSender_Throttled meters against the emulator's AWS quota of 10
// BatchMeterUsage calls a second and reports the calls and records a second
// the sender keeps up, counting only calls AWS answered and records it
// accepted (a throttled call is a try, not a call kept). Run:
// go test -run '^$' -bench Sender ./internal/metering
func BenchmarkSender_Throttled(b *testing.B) {
	for _, tc := range []struct {
		name     string
		throttle float64 // the emulator's quota; 0 turns it off
		rate     float64 // the sender's pace
		subs     int
	}{
		{"aws-quota-10rps", 10, 10, 1200}, // 240 calls: long enough that the first second's burst does not count
		{"no-throttle", 0, 1000, benchSubscriptions()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			settings := market.Settings{ThrottleRate: tc.throttle, ThrottleBurst: max(1, int(tc.throttle))}
			if tc.throttle == 0 {
				// The emulator reads a zero rate as AWS's default of 10;
				// an infinite one is no bucket at all.
				settings.ThrottleRate = float64(rate.Inf)
			}
			db := storetest.Open(b, "sqlite")
			bench := newBenchWith(b, db, settings)
			hours := 5 // records per subscription: 6,000 records, 240 calls of 25
			if tc.subs > 1200 {
				hours = 1 // a large run: one record each
			}
			ctx := context.Background()
			setUp := time.Now()
			ids := bench.subscriptions(tc.subs)
			bench.shift(ctx, 8*time.Hour)
			hour := bench.Now().UTC().Truncate(time.Hour)
			setUpTime := time.Since(setUp)
			b.ResetTimer()
			var calls, records, throttled int
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				if _, err := db.Write().Exec(`DELETE FROM metering_records`); err != nil {
					b.Fatal(err)
				}
				bench.records(ids, hour, hours)
				counter := &answeredMeterer{real: bench.client}
				s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: counter, Logger: slog.New(slog.DiscardHandler), Now: bench.Now,
					Pacer: rate.NewLimiter(rate.Limit(tc.rate), max(1, int(tc.rate))), Window: 6 * time.Hour, Lease: time.Minute, Workers: 4})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				deadline := start.Add(10 * time.Minute) // a sender that never empties the queue fails, not hangs
				for {
					if _, err := s.SendPending(ctx); err != nil {
						b.Logf("send: %v", err)
					}
					var pending int
					scan(b, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'pending'`), &pending)
					if pending == 0 {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d records still pending after %s", pending, time.Since(start))
					}
					bench.advance(10 * time.Second) // past the backoff of a throttled batch
				}
				elapsed += time.Since(start)
				b.StopTimer()
				var accepted int
				scan(b, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'accepted'`), &accepted)
				if want := len(ids) * hours; accepted != want || counter.records != want {
					b.Fatalf("%d records accepted, %d answered as accepted; want %d", accepted, counter.records, want)
				}
				b.StartTimer()
				calls += counter.calls
				records += counter.records
				throttled += counter.throttled
			}
			b.ReportMetric(setUpTime.Seconds(), "setup-s")
			b.ReportMetric(float64(calls)/elapsed.Seconds(), "calls/s")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(throttled)/float64(b.N), "throttled/op")
		})
	}
}

// answeredMeterer counts the calls AWS answered, the records it accepted in
// them, and the calls it throttled.
type answeredMeterer struct {
	real                      metering.Meterer
	mu                        sync.Mutex
	calls, records, throttled int
}

func (c *answeredMeterer) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	out, err := c.real.BatchMeterUsage(ctx, product, recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, metering.ErrThrottled):
		c.throttled++
	case err == nil:
		c.calls++
		for _, o := range out {
			if o.Status == metering.OutcomeAccepted || o.Status == metering.OutcomeDuplicate {
				c.records++
			}
		}
	}
	return out, err
}

// benchSubscriptions is how many subscriptions the unthrottled case meters:
// 1,200 unless MARKETBRIDGE_BENCH_SUBSCRIPTIONS asks for a larger run, as
// the 100,000.
func benchSubscriptions() int {
	if n, err := strconv.Atoi(os.Getenv("MARKETBRIDGE_BENCH_SUBSCRIPTIONS")); err == nil && n > 0 {
		return n
	}
	return 1200
}

// subscriptions is subscription(i) for i < n in bulk: the emulator makes the
// buyers and their agreements in one transaction, and the seller's rows go
// in by multi-row inserts in one transaction, so that 100,000 take seconds.
// It returns the seller's subscription ids in the order of i.
func (b *bench) subscriptions(n int) []int64 {
	b.t.Helper()
	ctx := context.Background()
	accounts := make([]string, n)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("7770%08d", i)
	}
	agreements, err := b.emu.Market().SubscribeNewAccounts(ctx, market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode,
		AccountIDs: accounts, Name: "buyer"})
	if err != nil {
		b.t.Fatal(err)
	}
	now := store.Now(b.Now())
	byAccount := make(map[string]int64, n)
	err = b.db.InTx(ctx, func(tx *sql.Tx) error {
		const rows = 500 // 2 parameters a row, far below either engine's limit
		for start := 0; start < n; start += rows {
			chunk := agreements[start:min(start+rows, n)]
			var q strings.Builder
			q.WriteString(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, license_arn,
				agreement_key, created_at, updated_at) VALUES `)
			args := []any{market.DemoPAYGCode, now}
			for i, a := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "('aws', $1, 'payg', $%d, $%d, $%d, $2, $2)", len(args)+1, len(args)+2, len(args)+2)
				args = append(args, a.AccountID, a.LicenseArn)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("insert subscriptions: %w", err)
			}
		}
		// A multi-row insert's RETURNING order is not promised: read the ids back.
		rs, err := tx.QueryContext(ctx, `SELECT id, customer_aws_account_id FROM subscriptions WHERE product_code = $1`, market.DemoPAYGCode)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id int64
			var account string
			if err := rs.Scan(&id, &account); err != nil {
				return err
			}
			byAccount[account] = id
		}
		return rs.Err()
	})
	if err != nil {
		b.t.Fatal(err)
	}
	ids := make([]int64, n)
	for i, account := range accounts {
		if ids[i] = byAccount[account]; ids[i] == 0 {
			b.t.Fatalf("no subscription row for account %s", account)
		}
	}
	return ids
}

// records is record(sub, hour-h, h) for every sub and h from 1 to hours, by
// multi-row inserts in one transaction.
func (b *bench) records(subs []int64, hour time.Time, hours int) {
	b.t.Helper()
	ctx := context.Background()
	now := store.Now(b.Now())
	err := b.db.InTx(ctx, func(tx *sql.Tx) error {
		const rows = 1000 // 3 parameters a row, far below either engine's limit
		var q strings.Builder
		args := []any{}
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			_, err := tx.ExecContext(ctx, q.String(), args...)
			q.Reset()
			args = args[:0]
			if err != nil {
				return fmt.Errorf("insert metering records: %w", err)
			}
			return nil
		}
		for _, sub := range subs {
			for h := 1; h <= hours; h++ {
				if len(args) == 0 {
					q.WriteString(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at) VALUES `)
					args = append(args, market.DemoPAYGCode, now)
				} else {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "($%d, $1, 'credits', $%d, $%d, $2)", len(args)+1, len(args)+2, len(args)+3)
				args = append(args, sub, store.Now(hour.Add(-time.Duration(h)*time.Hour)), int64(h))
				if len(args) >= 2+3*rows {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	})
	if err != nil {
		b.t.Fatal(err)
	}
}

// TestSender_BulkSetUpMetersLikeOneByOne checks the benchmark's bulk set-up:
// its subscriptions and records are sent and accepted exactly as those made
// one by one, on both engines.
func TestSender_BulkSetUpMetersLikeOneByOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := newBench(t, db)
		ctx := context.Background()
		subs := append(b.subscriptions(60), b.subscription(60))
		b.shift(ctx, 8*time.Hour)
		b.records(subs, b.Now().UTC().Truncate(time.Hour), 2)
		b.drain(b.sender(nil))
		var accepted, distinct int
		scan(t, db.Read().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT subscription_id) FROM metering_records WHERE status = 'accepted'`), &accepted, &distinct)
		if accepted != 2*len(subs) || distinct != len(subs) {
			t.Fatalf("%d records of %d subscriptions accepted, want %d of %d", accepted, distinct, 2*len(subs), len(subs))
		}
		b.ledgerEqualsOurs()
	})
}
