package metering

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// unlimited is a Pacer that never waits: the claim benchmark makes no call.
type unlimited struct{}

func (unlimited) Wait(context.Context) error { return nil }

// BenchmarkSender_ClaimCost times one claim of 25 records with 10,000
// records with money pending behind 10k, 100k and 1M pending zero records
// of older hours (#14), the rows put in directly by SQL rather than made and
// sent. "money" claims money records while all the zero ones wait; "zero"
// claims zero records once no money is left. Each claim leases the 25 it
// takes, so the next claims the 25 after them, as the sender's workers do.
// The query plans of both claims are logged (-v). Run:
// go test -run '^$' -bench ClaimCost -benchtime 200x ./internal/metering
func BenchmarkSender_ClaimCost(b *testing.B) {
	for _, engine := range storetest.Engines {
		for _, zeros := range []int{10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/pending-zero-%d", engine, zeros), func(b *testing.B) {
				db := storetest.Open(b, engine)
				now := time.Now().UTC()
				hour := now.Truncate(time.Hour)
				claimRows(b, db, zeros, 0, hour.Add(-3*time.Hour), "z")
				claimRows(b, db, 10_000, 1, hour.Add(-time.Hour), "m")
				if engine == "postgres" {
					// As autovacuum would soon after such a load.
					if _, err := db.Write().Exec(`ANALYZE metering_records`); err != nil {
						b.Fatal(err)
					}
				}
				s, err := NewSender(SenderConfig{DB: db, Meterer: nil, Pacer: unlimited{}, Logger: slog.New(slog.DiscardHandler),
					Now: func() time.Time { return now }, Window: 5 * time.Hour, Lease: time.Hour, Workers: 1})
				if err == nil || s != nil {
					b.Fatal("a sender without a Meterer was made")
				}
				s = &Sender{cfg: SenderConfig{DB: db, Pacer: unlimited{}, Logger: slog.New(slog.DiscardHandler),
					Now: func() time.Time { return now }, Window: 5 * time.Hour, Lease: time.Hour, Workers: 1}, db: db, owner: "bench"}
				for _, class := range claimClasses {
					b.Logf("plan of the claim of %s:\n%s", class, claimPlan(b, db, class, now.Add(-5*time.Hour), now))
				}
				for _, tc := range []struct {
					name     string
					positive bool
				}{{"money", true}, {"zero", false}} {
					b.Run(tc.name, func(b *testing.B) {
						if !tc.positive {
							if _, err := db.Write().Exec(`DELETE FROM metering_records WHERE quantity > 0`); err != nil {
								b.Fatal(err)
							}
						}
						if b.N*batchSize > 10_000 {
							b.Fatalf("%d claims take more than the 10,000 records of a class there are", b.N)
						}
						ctx := context.Background()
						b.ResetTimer()
						for range b.N {
							recs, err := s.claim(ctx)
							if err != nil {
								b.Fatal(err)
							}
							if len(recs) != batchSize || (recs[0].Quantity > 0) != tc.positive {
								b.Fatalf("claimed %d records, the first of quantity %d", len(recs), recs[0].Quantity)
							}
						}
					})
				}
			})
		}
	}
}

// claimRows puts n pending records of one subscription and hour in the
// table, each of its own dimension, in multi-row inserts.
func claimRows(b *testing.B, db *store.DB, n int, qty int64, hour time.Time, prefix string) {
	b.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		var sub int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM subscriptions LIMIT 1`).Scan(&sub)
		if err == sql.ErrNoRows {
			err = tx.QueryRowContext(ctx, `INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id,
				license_arn, agreement_key, created_at, updated_at) VALUES ('aws', 'prod', 'payg', '777000000000', 'arn', 'arn', $1, $1)
				RETURNING id`, store.Now(hour)).Scan(&sub)
		}
		if err != nil {
			return err
		}
		const rows = 1000
		for start := 0; start < n; start += rows {
			var q strings.Builder
			q.WriteString(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at) VALUES `)
			for i := start; i < min(start+rows, n); i++ {
				if i > start {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "($1, 'prod', '%s%d', $2, $3, $2)", prefix, i)
			}
			if _, err := tx.ExecContext(ctx, q.String(), sub, store.Now(hour), qty); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// claimPlan is the engine's plan of the first query of a claim of class.
func claimPlan(b *testing.B, db *store.DB, class string, cutoff, now time.Time) string {
	b.Helper()
	explain := "EXPLAIN QUERY PLAN "
	if db.Dialect() == store.DialectPostgres {
		explain = "EXPLAIN (ANALYZE, COSTS OFF) "
	}
	q := explain + `SELECT product_code FROM metering_records WHERE status = 'pending' AND ` + class + `
		AND hour > $1 AND (lease_until IS NULL OR lease_until < $2) ORDER BY hour, id LIMIT 1`
	q2 := explain + `SELECT r.id FROM metering_records r JOIN subscriptions s ON s.id = r.subscription_id
		WHERE r.status = 'pending' AND r.` + class + ` AND r.product_code = $1 AND r.hour > $2
		AND (r.lease_until IS NULL OR r.lease_until < $3) ORDER BY r.hour, r.id LIMIT 25`
	var out strings.Builder
	for _, x := range []struct {
		q    string
		args []any
	}{{q, []any{store.Now(cutoff), store.Now(now)}}, {q2, []any{"prod", store.Now(cutoff), store.Now(now)}}} {
		rows, err := db.Read().Query(x.q, x.args...)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			fmt.Fprintln(&out, vals[len(vals)-1])
		}
		rows.Close()
		out.WriteString("--\n")
	}
	return out.String()
}
