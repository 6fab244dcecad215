package webhook

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// BenchmarkDeliver_LoopbackReceiver measures one process delivering to a
// receiver on loopback that answers at once: the cost of marketbridge's
// side (fan-out, claim, sign, send, store the outcome), per delivery.
//
//	go test ./internal/webhook -run XXX -bench Deliver -benchtime 2000x
func BenchmarkDeliver_LoopbackReceiver(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(engine, func(b *testing.B) {
			db := storetest.Open(b, engine)
			clock := newFakeClock()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			defer srv.Close()
			eps := newEndpoints(b, db, clock)
			createEndpoint(b, eps, srv.URL)
			ctx := context.Background()
			var userID, orgID int64
			if err := db.Write().QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, created_at) VALUES ('b@example.com', 'B', '', $1) RETURNING id`,
				clock.Now()).Scan(&userID); err != nil {
				b.Fatal(err)
			}
			if err := db.Write().QueryRowContext(ctx, `INSERT INTO organizations (name, created_by, created_at) VALUES ('B', $1, $2) RETURNING id`,
				userID, clock.Now()).Scan(&orgID); err != nil {
				b.Fatal(err)
			}
			rec := NewRecorder(clock.Now)
			// Record in batches: recording is the domain packages' cost.
			for i := 0; i < b.N; i += 500 {
				if err := db.InTx(ctx, func(tx *sql.Tx) error {
					for j := i; j < min(i+500, b.N); j++ {
						if _, err := rec.Record(ctx, tx, orgID, TypeSubscriptionUpdated, map[string]string{"state": "active"}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			d := newDeliverer(b, db, clock, func(c *DelivererConfig) { c.Workers = 8 })
			b.ResetTimer()
			start := time.Now()
			n, err := d.DeliverDue(ctx)
			if err != nil || n != b.N {
				b.Fatalf("DeliverDue = %d, %v; want %d", n, err, b.N)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}
