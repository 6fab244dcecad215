package metering_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// chaos is a marketplace connection that fails at random points: before
// AWS sees the call, after AWS accepted it (the answer is lost), or it hangs
// until its process dies with the records claimed.
type chaos struct {
	real metering.Meterer
	mu   sync.Mutex // the sender calls from several workers
	rng  *rand.Rand
	dies func()
}

func (c *chaos) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	c.mu.Lock()
	roll := c.rng.IntN(6)
	c.mu.Unlock()
	switch roll {
	case 0:
		// The connection is refused: the request never left, AWS has nothing.
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	case 1:
		if _, err := c.real.BatchMeterUsage(ctx, product, recs); err != nil {
			return nil, err
		}
		return nil, errors.New("connection reset after the request was sent")
	case 2:
		c.dies() // the process is killed while the call is out
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return c.real.BatchMeterUsage(ctx, product, recs)
}

// A random stream of usage, hours closing, emulator faults, failed calls,
// lost answers and processes dying with records claimed: in the end AWS's
// ledger equals the rated usage to the cent, and no hour is accepted twice.
func TestMetering_ChaosLedgerEqualsRatedUsage(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				s := newSeller(t, db)
				ctx := context.Background()
				linked := s.Now()
				rng := rand.New(rand.NewPCG(seed, 99))
				totals := map[string]*big.Int{}
				n := 0
				for round := range 12 {
					for range rng.IntN(30) {
						m := testMeters[rng.IntN(len(testMeters))].Name
						qty := fmt.Sprintf("%d.%06d", rng.IntN(200), rng.IntN(1_000_000))
						// Usage of the last 3 hours, never before the link.
						at := s.Now().Add(-time.Duration(rng.IntN(int(3*time.Hour/time.Second))) * time.Second)
						if at.Before(linked) {
							at = linked.Add(time.Duration(rng.IntN(60)) * time.Second)
						}
						s.use(event(fmt.Sprintf("x%d", n), m, at, qty))
						q, _ := usage.ParseQuantity(qty)
						if totals[m] == nil {
							totals[m] = new(big.Int)
						}
						totals[m].Add(totals[m], big.NewInt(int64(q)))
						n++
					}
					if rng.IntN(3) == 0 {
						kinds := []string{market.FaultThrottle, market.FaultInternalError, market.FaultUnprocessedRecords}
						if _, err := s.emu.Market().AddFault(ctx, market.FaultInput{Kind: kinds[rng.IntN(len(kinds))],
							Operation: "BatchMeterUsage", Count: 1 + rng.IntN(2), Records: 3}); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := s.maker.MakeRecords(ctx); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					pctx, die := context.WithCancel(ctx)
					sender := s.sender(&chaos{real: s.client, rng: rng, dies: die})
					_, _ = sender.SendPending(pctx)
					die()
					s.shift(ctx, 40*time.Minute) // hours close; leases of dead processes run out
				}
				s.shift(ctx, time.Hour)
				s.meterAndSend()
				// Never more than the usage at AWS; and every cent of it either at
				// AWS or in a conflict an operator sees (an answer lost and no
				// resend inside AWS's window: billing it again could bill twice).
				got, want := s.ledgerCents(), expectedCents(totals)
				var flagged int64
				scan(t, db.Read().QueryRow(`SELECT COALESCE(SUM(quantity), 0) FROM metering_records WHERE status = 'conflict'`), &flagged)
				inLedger := map[int64]int64{}
				for _, r := range s.emu.Market().Records(market.RecordFilter{}) {
					inLedger[r.Hour.Unix()] = r.Quantity
				}
				conflicts, err := db.Read().Query(`SELECT hour, quantity FROM metering_records WHERE status = 'conflict'`)
				if err != nil {
					t.Fatal(err)
				}
				var flaggedNotAtAWS int64
				for conflicts.Next() {
					var h time.Time
					var q int64
					if err := conflicts.Scan(&h, &q); err != nil {
						t.Fatal(err)
					}
					if _, at := inLedger[h.Unix()]; !at {
						flaggedNotAtAWS += q
					}
				}
				if err := conflicts.Err(); err != nil {
					t.Fatal(err)
				}
				conflicts.Close()
				if got > want || got+flaggedNotAtAWS != want {
					t.Fatalf("AWS's ledger holds %d cents, %d more are flagged as conflicts (%d in all), rated usage is %d", got, flaggedNotAtAWS, flagged, want)
				}
				// Each hour at most once at AWS; each of AWS's records is one of
				// ours that is accepted, or a conflict left for an operator
				// because its answer was lost and no resend came in time.
				ours := map[int64]string{}
				rows, err := db.Read().Query(`SELECT hour, status FROM metering_records`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var h time.Time
					var st string
					if err := rows.Scan(&h, &st); err != nil {
						t.Fatal(err)
					}
					ours[h.Unix()] = st
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				rows.Close()
				seen := map[int64]bool{}
				for _, r := range s.emu.Market().Records(market.RecordFilter{}) {
					if seen[r.Hour.Unix()] {
						t.Fatalf("AWS holds hour %s twice", r.Hour)
					}
					seen[r.Hour.Unix()] = true
					if st := ours[r.Hour.Unix()]; st != metering.StatusAccepted && st != metering.StatusConflict {
						t.Fatalf("AWS holds hour %s, which we have as %q", r.Hour, st)
					}
				}
			})
		})
	}
}
