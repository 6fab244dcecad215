package metering_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// lateTakeOffPacer lets every call go at once. On its first Wait it has
// another connection hold the records for a second, so that the take-off
// behind that wait ends late; later Waits answer err.
type lateTakeOffPacer struct {
	db    *store.DB
	err   error
	mu    sync.Mutex
	waits int
	held  sync.WaitGroup
}

func (p *lateTakeOffPacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	p.waits++
	n := p.waits
	p.mu.Unlock()
	if n > 1 {
		return p.err
	}
	locked := make(chan struct{})
	p.held.Go(func() {
		_ = p.db.InTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM metering_records`+p.db.Dialect().ForUpdate())
			if err != nil {
				close(locked)
				return err
			}
			rows.Close()
			close(locked)
			time.Sleep(time.Second) // the take-off waits at least this long
			return nil
		})
	})
	<-locked
	return nil
}

// TestSender_13_LateTakeOffWaitsForANewSlot: a call whose take-off ended
// long after its slot would reach AWS bunched with the calls of later slots,
// which AWS's bucket throttles past 0.9 s: it waits for a new slot, and if
// that wait fails, its records are not left marked as in flight.
func TestSender_13_LateTakeOffWaitsForANewSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name      string
			err       error
			wantCalls int
			wantState string
		}{
			{"sent in the new slot", nil, 1, "accepted"},
			{"no new slot", errors.New("quota unavailable"), 0, "pending"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := db.Write().Exec(`DELETE FROM metering_records`); err != nil {
					t.Fatal(err)
				}
				b := newBench(t, db)
				sub := b.subscription(0)
				b.shiftToHalfPast(context.Background(), 8*time.Hour)
				b.record(sub, b.Now().UTC().Truncate(time.Hour).Add(-time.Hour), 5)
				pacer := &lateTakeOffPacer{db: db, err: tc.err}
				counting := &countingMeterer{real: b.client}
				s, err := metering.NewSender(metering.SenderConfig{DB: db, Meterer: counting, Pacer: pacer, Logger: slog.New(slog.DiscardHandler),
					Now: b.Now, Window: 6 * time.Hour, Lease: time.Minute, Workers: 1})
				if err != nil {
					t.Fatal(err)
				}
				_, err = s.SendPending(context.Background())
				pacer.held.Wait()
				if (err != nil) != (tc.err != nil) {
					t.Fatalf("SendPending: %v", err)
				}
				var status string
				var inFlight, maybe bool
				scan(t, db.Read().QueryRow(`SELECT status, in_flight, maybe_sent FROM metering_records`), &status, &inFlight, &maybe)
				if pacer.waits != 2 || counting.records != tc.wantCalls || status != tc.wantState || inFlight || maybe {
					t.Fatalf("%d waits, %d records sent, %s (in flight %v, maybe sent %v); want 2 waits, %d sent, %s, neither",
						pacer.waits, counting.records, status, inFlight, maybe, tc.wantCalls, tc.wantState)
				}
			})
		}
	})
}
