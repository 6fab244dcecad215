package metering_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// The chaos test's seeds: a fresh random one per run unless chaosSeedEnv
// replays one; chaosSeedsEnv sets how many a run tries.
const (
	chaosSeedEnv  = "MARKETBRIDGE_CHAOS_SEED"
	chaosSeedsEnv = "MARKETBRIDGE_CHAOS_SEEDS"
	chaosSeeds    = 3
)

// One seed's run: rounds of usage, faults, cancellations, making records and
// sending them through a failing connection, each moving the clock on.
const (
	chaosRounds        = 18
	chaosRound         = 20 * time.Minute
	chaosPAYG          = 3 // pay-as-you-go subscriptions
	chaosContracts     = 2 // contracts with committed credits
	chaosCancellations = 2 // at most, mid-hour, of any kind
	chaosTries         = 2 // sends a round, as the worker tries every few minutes
)

// chaos is a marketplace connection that fails at random points: before
// AWS sees the call, after AWS accepted it (the answer is lost), or it hangs
// until its process dies with the records claimed.
type chaos struct {
	real  metering.Meterer
	mu    sync.Mutex // the sender calls from several workers
	rng   *rand.Rand
	dies  func()
	stats map[string]int
}

func (c *chaos) BatchMeterUsage(ctx context.Context, product string, recs []metering.Record) ([]metering.Outcome, error) {
	c.mu.Lock()
	roll := c.rng.IntN(6)
	c.stats[[]string{"refused", "answer lost", "process died", "passed", "passed", "passed"}[roll]]++
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

// chaosSub is one subscription of the run and what its organization used.
type chaosSub struct {
	id, orgID int64
	license   string
	credits   int64 // committed credits ($1 each); none for pay-as-you-go
	totals    map[string]*big.Int
	sent      []usage.Input // for resends
	cancelled time.Time     // when the buyer cancelled on AWS; zero while active
	ended     bool          // the seller heard unsubscribe-success
}

func (c *chaosSub) add(meter, qty string) {
	q, err := usage.ParseQuantity(qty)
	if err != nil {
		panic(err) // the test writes quantities that parse
	}
	if c.totals[meter] == nil {
		c.totals[meter] = new(big.Int)
	}
	c.totals[meter].Add(c.totals[meter], big.NewInt(int64(q)))
}

// want is the cents AWS must hold for the subscription, computed apart from
// the code under test: all its usage, less the committed credits (R12, R14).
func (c *chaosSub) want() int64 {
	over := ratedMicros(c.totals)
	if over.Sub(over, big.NewInt(c.credits*1_000_000)); over.Sign() <= 0 {
		return 0
	}
	return over.Quo(over, big.NewInt(10_000)).Int64()
}

func (c *chaosSub) kind() string {
	if c.credits > 0 {
		return fmt.Sprintf("contract of %d credits", c.credits)
	}
	return "pay-as-you-go"
}

// chaosSeedList is the seeds to run: chaosSeedEnv's alone, or chaosSeedsEnv's
// number (chaosSeeds by default) of fresh ones.
func chaosSeedList(t *testing.T) []uint64 {
	t.Helper()
	if s := os.Getenv(chaosSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", chaosSeedEnv, err)
		}
		return []uint64{seed}
	}
	n := chaosSeeds
	if s := os.Getenv(chaosSeedsEnv); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", chaosSeedsEnv, s)
		}
	}
	base := uint64(time.Now().UnixNano())
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

// Several subscriptions (pay-as-you-go, contracts with committed credits,
// some cancelled mid-hour) and a random stream of usage with resends, hours
// closing, emulator faults (throttling, errors, unprocessed records), failed
// calls, lost answers and processes dying with records claimed: in the end
// AWS's ledger holds, for each subscription, exactly the cents its usage
// rates to, less its credits, less only what an operator is shown (a
// conflict AWS does not hold; a final record AWS refused after the
// cancellation's window); and no hour is at AWS twice (R10-R12, R14, R18).
func TestMetering_ChaosLedgerEqualsRatedUsage(t *testing.T) {
	seeds := chaosSeedList(t)
	t.Logf("seeds %v (%s=<seed> replays one, %s=<n> runs n)", seeds, chaosSeedEnv, chaosSeedsEnv)
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with %s=%d go test -race -run TestMetering_ChaosLedgerEqualsRatedUsage ./internal/metering/", chaosSeedEnv, seed)
				}
			})
			storetest.Each(t, func(t *testing.T, db *store.DB) { runChaos(t, db, seed) })
		})
	}
}

func runChaos(t *testing.T, db *store.DB, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	// The emulator's own throttle counts real time, in which a chaos run's
	// rounds are instant: fast enough, it throttled every call of the last
	// drain once the SDK's retry quota was spent, and the run failed with
	// records pending. Throttles come from the chaos faults instead, where
	// the seed says.
	s := newSellerSettings(t, db, market.Settings{ThrottleOff: true}, func(s *seller) int64 { return s.subscription(1) })
	ctx := context.Background()
	linked := s.Now()
	subs := s.chaosFleet(ctx, rng)
	stats := map[string]int{}
	n := 0
	for round := range chaosRounds {
		s.endCancelled(ctx, subs)
		for _, c := range subs {
			if !c.cancelled.IsZero() {
				continue // no usage after the cancellation: it is not this subscription's (R20)
			}
			// Contracts use more, so that they go past their credits.
			most := 200
			if c.credits > 0 {
				most = 2000
			}
			var batch []usage.Input
			for range rng.IntN(12) {
				m := testMeters[rng.IntN(len(testMeters))].Name
				qty := fmt.Sprintf("%d.%06d", rng.IntN(most), rng.IntN(1_000_000))
				// Usage of the last 3 hours, never before the link: some of
				// it late for an hour already metered (R11).
				// (Both draws always: a replay's clock differs a little.)
				back, jitter := time.Duration(rng.IntN(int(3*time.Hour/time.Second)))*time.Second, time.Duration(rng.IntN(60))*time.Second
				at := s.Now().Add(-back)
				if at.Before(linked) {
					at = linked.Add(jitter)
				}
				batch = append(batch, event(fmt.Sprintf("x%d", n), m, at, qty))
				c.add(m, qty)
				n++
			}
			if len(batch) > 0 {
				s.useIn(c.orgID, batch...)
				c.sent = append(c.sent, batch...)
				stats["events"] += len(batch)
			}
			// The client sends some events again: counted once.
			if len(c.sent) > 0 && rng.IntN(4) == 0 {
				k := rng.IntN(len(c.sent))
				again := c.sent[k:min(len(c.sent), k+1+rng.IntN(5))]
				if fresh := s.useIn(c.orgID, again...); fresh != 0 {
					t.Fatalf("round %d: %d of %d resent events accepted as new", round, fresh, len(again))
				}
				stats["resent"] += len(again)
			}
		}
		if rng.IntN(2) == 0 {
			kinds := []string{market.FaultThrottle, market.FaultInternalError, market.FaultUnprocessedRecords}
			kind := kinds[rng.IntN(len(kinds))]
			if _, err := s.emu.Market().AddFault(ctx, market.FaultInput{Kind: kind,
				Operation: "BatchMeterUsage", Count: 1 + rng.IntN(2), Records: 3}); err != nil {
				t.Fatal(err)
			}
			stats["fault "+kind]++
		}
		// A buyer cancels mid-hour; the seller hears unsubscribe-pending
		// and has AWS's final-metering window to send the rest (R18).
		if stats["cancelled"] < chaosCancellations && rng.IntN(6) == 0 {
			var live []*chaosSub
			for _, c := range subs {
				if c.cancelled.IsZero() {
					live = append(live, c)
				}
			}
			if len(live) > 1 {
				c := live[rng.IntN(len(live))]
				c.cancelled = s.cancelOnAWS(ctx, c.id)
				s.tell(ctx, c.id, fmt.Sprint("pending-", c.id), marketplace.ActionUnsubscribePending, c.cancelled)
				stats["cancelled"]++
			}
		}
		if _, err := s.maker.MakeRecords(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// The connection's failures have a generator of their own: how
		// many calls a round makes depends on timing, and the usage,
		// faults and cancellations of a replayed seed must not.
		calls := rand.New(rand.NewPCG(seed, uint64(round)))
		for range chaosTries {
			pctx, die := context.WithCancel(ctx)
			sender := s.sender(&chaos{real: s.client, rng: calls, dies: die, stats: stats})
			_, _ = sender.SendPending(pctx)
			die()
			s.shift(ctx, 2*time.Minute) // past the leases of dead processes and the backoffs
		}
		s.shift(ctx, chaosRound-chaosTries*2*time.Minute) // hours close
	}
	s.shift(ctx, time.Hour)
	s.endCancelled(ctx, subs)
	s.meterAndSend()
	flagged := s.checkChaos(t, subs)
	t.Logf("%d subscriptions, %d of them cancelled; %v; %d cents flagged for an operator", len(subs), stats["cancelled"], stats, flagged)
}

// chaosFleet is the run's subscriptions, each linked to an organization of
// its own: the seller's first, more pay-as-you-go ones and contracts with
// random committed credits.
func (s *seller) chaosFleet(ctx context.Context, rng *rand.Rand) []*chaosSub {
	s.t.Helper()
	first := s.subscriptionOf(s.orgID)
	subs := []*chaosSub{{id: first, orgID: s.orgID}}
	for n := 2; n <= chaosPAYG; n++ {
		subs = append(subs, &chaosSub{id: s.subscription(n)})
	}
	for n := 1; n <= chaosContracts; n++ {
		credits := int64(100 + rng.IntN(3000))
		subs = append(subs, &chaosSub{id: s.publicContract(n, credits), credits: credits})
	}
	for i, c := range subs {
		c.totals = map[string]*big.Int{}
		scan(s.t, s.db.Read().QueryRow(`SELECT license_arn FROM subscriptions WHERE id = $1`, c.id), &c.license)
		if c.orgID != 0 {
			continue
		}
		o, err := s.orgs.Create(ctx, s.user, org.CreateInput{Name: fmt.Sprint("Chaos ", i)})
		if err != nil {
			s.t.Fatal(err)
		}
		c.orgID = o.ID
		if _, err := s.db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
			c.id, o.ID, s.user, store.Now(s.Now())); err != nil {
			s.t.Fatal(err)
		}
	}
	return subs
}

// publicContract subscribes a new buyer to the contract product's public
// offer with the committed credits, and records the subscription and its
// entitlement on the seller's side, as a set-up with GetEntitlements would.
func (b *bench) publicContract(n int, credits int64) int64 {
	b.t.Helper()
	ctx := context.Background()
	account := fmt.Sprintf("7771%08d", n)
	if _, err := b.emu.Market().CreateAccount(ctx, market.AccountInput{ID: account, Name: "contract buyer"}); err != nil {
		b.t.Fatal(err)
	}
	res, err := b.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: account, ProductCode: market.DemoContractCode,
		Entitlements: map[string]int64{"committed_credits": credits}})
	if err != nil {
		b.t.Fatal(err)
	}
	a := res.Agreement
	var id int64
	scan(b.t, b.db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, license_arn,
		agreement_key, created_at, updated_at) VALUES ('aws', $1, 'contract', $2, $3, $3, $4, $4) RETURNING id`,
		market.DemoContractCode, a.AccountID, a.LicenseArn, store.Now(b.Now())), &id)
	if _, err := b.db.Write().Exec(`INSERT INTO entitlements (subscription_id, dimension, value_kind, integer_value, expires_at, updated_at)
		VALUES ($1, 'committed_credits', 'integer', $2, $3, $4)`, id, credits, store.Now(*a.EndAt), store.Now(b.Now())); err != nil {
		b.t.Fatal(err)
	}
	return id
}

// endCancelled tells the seller unsubscribe-success for each cancellation
// whose final-metering window has closed, as AWS sends it then.
func (s *seller) endCancelled(ctx context.Context, subs []*chaosSub) {
	s.t.Helper()
	window := s.emu.Market().Settings().FinalMeteringWindow
	for _, c := range subs {
		if end := c.cancelled.Add(window); !c.cancelled.IsZero() && !c.ended && !s.Now().Before(end) {
			s.tell(ctx, c.id, fmt.Sprint("success-", c.id), marketplace.ActionUnsubscribeSuccess, end)
			c.ended = true
		}
	}
}

// checkChaos compares AWS's ledger with the rated usage of each
// subscription, and returns the cents flagged for an operator.
func (s *seller) checkChaos(t *testing.T, subs []*chaosSub) (flaggedInAll int64) {
	t.Helper()
	atAWS := map[string]map[int64]market.MeteringRecord{} // by license, then hour
	byID := map[string]market.MeteringRecord{}
	for _, r := range s.emu.Market().Records(market.RecordFilter{}) {
		hours := atAWS[r.LicenseArn]
		if hours == nil {
			hours = map[int64]market.MeteringRecord{}
			atAWS[r.LicenseArn] = hours
		}
		if _, twice := hours[r.Hour.Unix()]; twice {
			t.Errorf("AWS holds hour %s of %s twice", r.Hour, r.LicenseArn)
		}
		hours[r.Hour.Unix()] = r
		byID[r.ID] = r
	}
	for _, c := range subs {
		ours := map[int64]string{}
		var flagged int64
		var table []string // for the failure message
		rows, err := s.db.Read().Query(`SELECT hour, quantity, status, metering_record_id FROM metering_records WHERE subscription_id = $1`, c.id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var hour time.Time
			var qty int64
			var status string
			var id sql.NullString
			if err := rows.Scan(&hour, &qty, &status, &id); err != nil {
				t.Fatal(err)
			}
			ours[hour.Unix()] = status
			table = append(table, fmt.Sprintf("%s %d %s (AWS: %d)", hour.UTC().Format("15:04"), qty, status, atAWS[c.license][hour.Unix()].Quantity))
			switch status {
			case metering.StatusAccepted:
				if r, ok := byID[id.String]; !ok || r.Quantity != qty || !r.Hour.Equal(hour) || r.LicenseArn != c.license {
					t.Errorf("subscription %d: accepted record of %s (%d cents, %q) is not in AWS's ledger as such: %+v", c.id, hour.UTC(), qty, id.String, r)
				}
			case metering.StatusConflict:
				// An answer lost and no resend inside AWS's window: the
				// operator sees it; billing it again could bill twice.
				if _, at := atAWS[c.license][hour.Unix()]; !at {
					flagged += qty
				}
			case metering.StatusNotSubscribed:
				// Only a cancelled subscription's final records can come
				// after AWS's window, when every try in it failed.
				if c.cancelled.IsZero() {
					t.Errorf("subscription %d, never cancelled: AWS refused its record of %s as not subscribed", c.id, hour.UTC())
				}
				flagged += qty
			case metering.StatusCarried:
				// Its quantity went into a later record (R11).
			default:
				t.Errorf("subscription %d: record of %s is %s at the end", c.id, hour.UTC(), status)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		var got int64
		for h, r := range atAWS[c.license] {
			got += r.Quantity
			if st := ours[h]; st != metering.StatusAccepted && st != metering.StatusConflict {
				t.Errorf("subscription %d: AWS holds hour %s, which we have as %q", c.id, r.Hour, st)
			}
		}
		if want := c.want(); got > want || got+flagged != want {
			t.Errorf("subscription %d (%s, cancelled %v): AWS's ledger holds %d cents and %d more are flagged for an operator; its rated usage is %d; its records:\n%s",
				c.id, c.kind(), c.cancelled.UTC(), got, flagged, want, strings.Join(table, "\n"))
		}
		flaggedInAll += flagged
	}
	return flaggedInAll
}
