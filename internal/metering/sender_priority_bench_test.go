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

// BenchmarkSender_MoneyFirstAtQuota meters one hour of many idle
// subscriptions (a zero record each, as --meter-zero-hours makes) and
// 10,000 with usage, against the emulator throttling BatchMeterUsage at
// AWS's 10 calls a second (burst 10) and the sender paced at 10 a second
// with 4 workers, as serve has (#14). The zero records were made first, so
// they lead in id order. It reports when the last record with money was
// accepted, in seconds from the start, and the calls AWS answered a second
// until then; the zero records after that are not waited for. The idle
// subscriptions are 100,000 unless MARKETBRIDGE_BENCH_IDLE says otherwise
// (the 1,000,000 takes a large machine's set-up). Run:
// go test -run '^$' -bench MoneyFirstAtQuota -benchtime 1x ./internal/metering
func BenchmarkSender_MoneyFirstAtQuota(b *testing.B) {
	idle := 100_000
	if n, err := strconv.Atoi(os.Getenv("MARKETBRIDGE_BENCH_IDLE")); err == nil && n > 0 {
		idle = n
	}
	const paying = 10_000
	for _, engine := range storetest.Engines {
		b.Run(fmt.Sprintf("%s/idle-%d/paying-%d", engine, idle, paying), func(b *testing.B) {
			db := storetest.Open(b, engine)
			bench := newBenchWith(b, db, market.Settings{ThrottleRate: 10, ThrottleBurst: 10})
			ctx := context.Background()
			ids := bench.subscriptions(idle + paying)
			bench.shiftToHalfPast(ctx, 8*time.Hour)
			// The closed hour, as the sender finds it a few minutes in.
			hour := bench.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
			var last, calls float64
			for range b.N {
				b.StopTimer()
				if _, err := db.Write().Exec(`DELETE FROM metering_records`); err != nil {
					b.Fatal(err)
				}
				bench.quantities(ids[:idle], hour, 0)
				bench.quantities(ids[idle:], hour, 7)
				if db.Dialect() == store.DialectPostgres {
					if _, err := db.Write().Exec(`ANALYZE metering_records`); err != nil {
						b.Fatal(err)
					}
				}
				runCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
				m := &moneyWatch{real: bench.client, want: paying, done: cancel}
				s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: m, Logger: slog.New(slog.DiscardHandler), Now: bench.Now,
					Pacer: rate.NewLimiter(10, 1), Window: 5 * time.Hour, Lease: 2 * time.Minute, Workers: 4})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				m.start = time.Now()
				for runCtx.Err() == nil {
					if _, err := s.SendPending(runCtx); err != nil && runCtx.Err() == nil {
						b.Logf("send: %v", err)
					}
				}
				b.StopTimer()
				cancel()
				m.mu.Lock()
				if m.money != paying {
					b.Fatalf("%d records with money accepted after %s, want %d", m.money, time.Since(m.start), paying)
				}
				last += m.last.Sub(m.start).Seconds()
				calls += float64(m.calls) / m.last.Sub(m.start).Seconds()
				b.Logf("last money record accepted %.1fs after the start; %d calls answered, %d throttled, %d zero records accepted by then",
					m.last.Sub(m.start).Seconds(), m.calls, m.throttled, m.zero)
				m.mu.Unlock()
				var accepted int
				scan(b, db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'accepted' AND quantity > 0`), &accepted)
				if accepted != paying {
					b.Fatalf("%d records with money stored as accepted, want %d", accepted, paying)
				}
				b.StartTimer()
			}
			b.ReportMetric(last/float64(b.N), "s-to-last-money")
			b.ReportMetric(calls/float64(b.N), "calls/s")
		})
	}
}

// moneyWatch notes when AWS accepted the last of want records with money,
// and then ends the run.
type moneyWatch struct {
	real                          metering.Meterer
	want                          int
	done                          func()
	mu                            sync.Mutex
	start, last                   time.Time
	calls, throttled, money, zero int
}

func (m *moneyWatch) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	out, err := m.real.BatchMeterUsage(ctx, product, recs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if errors.Is(err, metering.ErrThrottled) {
		m.throttled++
	}
	if err != nil {
		return out, err
	}
	m.calls++
	for i, o := range out {
		if o.Status != metering.OutcomeAccepted && o.Status != metering.OutcomeDuplicate {
			continue
		}
		if recs[i].Quantity == 0 {
			m.zero++
			continue
		}
		if m.money++; m.money == m.want {
			m.last = time.Now()
			// The outcome is stored after this returns, with a context the
			// end of the run would cancel: end it a moment later.
			time.AfterFunc(2*time.Second, m.done)
		}
	}
	return out, err
}

// quantities puts a record of qty for hour for every sub, by multi-row
// inserts in one transaction.
func (b *bench) quantities(subs []int64, hour time.Time, qty int64) {
	b.t.Helper()
	ctx := context.Background()
	err := b.db.InTx(ctx, func(tx *sql.Tx) error {
		const rows = 1000
		for start := 0; start < len(subs); start += rows {
			var q strings.Builder
			q.WriteString(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at) VALUES `)
			args := []any{market.DemoPAYGCode, store.Now(hour), qty, store.Now(b.Now())}
			for i, sub := range subs[start:min(start+rows, len(subs))] {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "($%d, $1, 'credits', $2, $3, $4)", len(args)+1)
				args = append(args, sub)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("insert metering records: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
}
