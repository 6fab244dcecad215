package metering_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// killSeedEnv replays a run's random choices (not its processes' timing).
const killSeedEnv = "MARKETBRIDGE_KILL_SEED"

const (
	killRounds        = 8
	killSubscriptions = 30
	killCallTimeout   = time.Second
)

// Metering processes (one, then two at once on one database) killed with
// SIGKILL at random moments and at chosen points of their calls: as a call
// leaves, after AWS answered and before the process heard, just after it
// heard; between processes the clock moves, so hours close and unsent ones
// fall out of AWS's window; AWS throttles, fails, leaves records
// unprocessed and answers slowly, and the network delivers calls twice,
// loses answers and delays them past the caller's timeout. In the end AWS
// holds each hour at most once, the ledger never exceeds the rated usage,
// and it equals the rated usage to the cent for every subscription and
// month, less only what an operator is shown as a conflict (R10, R11).
func TestMetering_KilledProcessesLedgerEqualsRatedUsage(t *testing.T) {
	if raw := os.Getenv(killChildEnv); raw != "" {
		killChild(t, raw)
		return
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(killSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s: %v", killSeedEnv, err)
		}
	}
	t.Logf("seed %d (%s=%d replays its choices)", seed, killSeedEnv, seed)
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Run("one-process", func(t *testing.T) { runKills(t, engine, 1, seed) })
			t.Run("two-processes", func(t *testing.T) { runKills(t, engine, 2, seed) })
		})
	}
}

func runKills(t *testing.T, engine string, procs int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(procs)))
	url := storetest.URL(t, engine)
	db := storetest.OpenURL(t, url)
	s := newKillSeller(t, db, rng)
	ctx := context.Background()
	slots := make([]*slot, procs)
	links := make([]*faultyLink, procs)
	endpoints := make([]string, procs)
	for i := range procs {
		slots[i] = &slot{kills: map[string]int{}}
		links[i] = newFaultyLink(s.emu.Market().Settings().PublicURL, slots[i], killCallTimeout, rng.Uint64())
		srv := httptest.NewServer(links[i])
		endpoints[i] = srv.URL
		t.Cleanup(func() {
			slots[i].stop()
			srv.Close()
			links[i].client.CloseIdleConnections()
			if t.Failed() {
				t.Logf("the last metering processes of slot %d logged:\n%s", i, strings.Join(slots[i].logs, "\n"))
			}
		})
	}
	for round := range killRounds {
		s.useRandomly(rng)
		s.addFaults(ctx, rng)
		errs := make([]error, procs)
		var wg sync.WaitGroup
		for i := range procs {
			cfg := killChildConfig{DB: url, Endpoint: endpoints[i], Offset: s.clockOffset(), Timeout: killCallTimeout}
			plan := randomKillPlan(rng)
			wg.Go(func() { errs[i] = slots[i].live(cfg, plan) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.shift(ctx, randomShift(rng))
	}
	s.finish(ctx)
	s.check(t)

	kills, network := map[string]int{}, map[string]int{}
	for i := range procs {
		slots[i].mu.Lock()
		for k, v := range slots[i].kills {
			kills[k] += v
		}
		slots[i].mu.Unlock()
		links[i].mu.Lock() // a call of a killed process may still be on its way
		for k, v := range links[i].stats {
			network[k] += v
		}
		links[i].mu.Unlock()
	}
	if n := network["record answers "+market.RecordDuplicate]; n > 0 {
		t.Errorf("AWS answered DuplicateRecord %d times: a record was sent with another quantity than AWS holds", n)
	}
	t.Logf("processes killed: %s", describe(kills))
	t.Logf("at the link: %s", describe(network))
	t.Logf("records: %s", describe(s.statuses()))
}

func describe(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, "; ")
}

// randomShift is how far the clock moves between processes: mostly under
// an hour, as a restarted process would be, sometimes longer than AWS's
// six-hour window.
func randomShift(rng *rand.Rand) time.Duration {
	switch r := rng.IntN(10); {
	case r < 7:
		return time.Duration(20+rng.IntN(40)) * time.Minute
	case r < 9:
		return time.Duration(60+rng.IntN(120)) * time.Minute
	}
	return time.Duration(360+rng.IntN(120)) * time.Minute
}

// killSeller is the seller's side in the parent: the database, the usage it
// ingests for several linked subscriptions, and the emulator.
type killSeller struct {
	*bench
	ingester *usage.Ingester
	maker    *metering.Maker
	monthEnd time.Time // the run crosses it
	subs     []*killSub
	events   int
}

type killSub struct {
	id, org int64
	account string
	linked  time.Time
	usage   []killUse // every event ingested
}

type killUse struct {
	at     time.Time
	meter  string
	micros int64
}

// newKillSeller starts the clocks a few hours before a month ends, and
// subscribes and links killSubscriptions buyers.
func newKillSeller(t *testing.T, db *store.DB, rng *rand.Rand) *killSeller {
	t.Helper()
	b := newBench(t, db)
	ctx := context.Background()
	now := b.Now().UTC()
	end := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	if end.Sub(now) < 10*time.Hour {
		end = end.AddDate(0, 1, 0)
	}
	b.shift(ctx, end.Add(-time.Duration(180+rng.IntN(240))*time.Minute).Sub(now))

	logger := slog.New(slog.DiscardHandler)
	catalog := killCatalog(t)
	ing, err := usage.New(usage.Config{DB: db, Meters: catalogMeters{catalog}, Logger: logger, Now: b.Now})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = ing.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	s := &killSeller{bench: b, ingester: ing, maker: killMaker(t, db, catalog, b.client, b.Now, logger), monthEnd: end}

	var user int64
	if err := db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at)
		VALUES ('k@example.com', 'K', 'x', $1, $1) RETURNING id`, store.Now(b.Now())).Scan(&user); err != nil {
		t.Fatal(err)
	}
	for n := range killSubscriptions {
		sub := &killSub{id: b.subscription(n), linked: store.Now(b.Now())}
		err := db.Write().QueryRow(`SELECT customer_aws_account_id FROM subscriptions WHERE id = $1`, sub.id).Scan(&sub.account)
		if err == nil {
			err = db.Write().QueryRow(`INSERT INTO organizations (name, created_by, created_at) VALUES ($1, $2, $3) RETURNING id`,
				fmt.Sprint("org ", n), user, sub.linked).Scan(&sub.org)
		}
		if err == nil {
			_, err = db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
				sub.id, sub.org, user, sub.linked)
		}
		if err != nil {
			t.Fatal(err)
		}
		s.subs = append(s.subs, sub)
	}
	return s
}

func (s *killSeller) clockOffset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// useRandomly ingests a few events per subscription, at times after its
// latest record: usage that arrives late for an hour already recorded goes
// into a later record by design (R11), which would make the amount of a
// month depend on when the usage arrived.
func (s *killSeller) useRandomly(rng *rand.Rand) {
	s.t.Helper()
	now := s.Now()
	for _, sub := range s.subs {
		from := sub.linked
		var latest sql.NullTime
		err := s.db.Read().QueryRow(`SELECT hour FROM metering_records WHERE subscription_id = $1 ORDER BY hour DESC LIMIT 1`, sub.id).Scan(&latest)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			s.t.Fatal(err)
		}
		if latest.Valid && latest.Time.Add(time.Hour).After(from) {
			from = latest.Time.Add(time.Hour)
		}
		if !from.Before(now) {
			continue
		}
		var batch []usage.Input
		for range rng.IntN(8) {
			m := testMeters[rng.IntN(len(testMeters))].Name
			qty := fmt.Sprintf("%d.%06d", rng.IntN(200), rng.IntN(1_000_000))
			at := store.Now(from.Add(time.Duration(rng.Int64N(int64(now.Sub(from))))))
			q, err := usage.ParseQuantity(qty)
			if err != nil {
				s.t.Fatal(err)
			}
			s.events++
			batch = append(batch, event(fmt.Sprintf("k%d", s.events), m, at, qty))
			sub.usage = append(sub.usage, killUse{at: at, meter: m, micros: int64(q)})
		}
		if len(batch) == 0 {
			continue
		}
		res, err := s.ingester.Ingest(context.Background(), sub.org, batch)
		if err != nil || len(res.Rejected) > 0 {
			s.t.Fatalf("ingest: %+v, %v", res, err)
		}
	}
}

// addFaults makes AWS throttle, fail, leave records unprocessed or answer
// slowly (past the caller's timeout, at times) for the next few calls.
func (s *killSeller) addFaults(ctx context.Context, rng *rand.Rand) {
	s.t.Helper()
	for range rng.IntN(3) {
		f := market.FaultInput{Operation: "BatchMeterUsage", Count: 1 + rng.IntN(3)}
		switch rng.IntN(4) {
		case 0:
			f.Kind = market.FaultThrottle
		case 1:
			f.Kind = market.FaultInternalError
		case 2:
			f.Kind, f.Records = market.FaultUnprocessedRecords, rng.IntN(26) // 0: all
		default:
			f.Kind, f.DelayMillis = market.FaultSlow, int64(200+rng.IntN(1300))
		}
		if _, err := s.emu.Market().AddFault(ctx, f); err != nil {
			s.t.Fatal(err)
		}
	}
}

// finish is a clean process after the crashes: no faults, the clock past
// the month's end, and hours metered and sent until a pass carries nothing,
// so that every carried amount has reached a later record.
func (s *killSeller) finish(ctx context.Context) {
	s.t.Helper()
	if err := s.emu.Market().RemoveFault(ctx, ""); err != nil {
		s.t.Fatal(err)
	}
	if d := s.monthEnd.Add(time.Hour).Sub(s.Now()); d > 0 {
		s.shift(ctx, d)
	}
	sender := s.sender(nil)
	for pass := 0; ; pass++ {
		carried := s.statuses()[metering.StatusCarried]
		s.shift(ctx, time.Hour)
		if _, err := s.maker.MakeRecords(ctx); err != nil {
			s.t.Fatal(err)
		}
		s.drain(sender)
		// drain moved only the seller's clock: AWS's catches up, or it would
		// soon find closed hours in its future.
		if _, err := s.emu.Market().AdvanceClock(ctx, s.clockOffset()-s.emu.Market().ClockOffset()); err != nil {
			s.t.Fatal(err)
		}
		if pass > 0 && s.statuses()[metering.StatusCarried] == carried {
			return
		}
		if pass == 5 {
			s.t.Fatal("records still carried after 5 clean passes")
		}
	}
}

func (s *killSeller) statuses() map[string]int {
	s.t.Helper()
	rows, err := s.db.Read().Query(`SELECT status, COUNT(*) FROM metering_records GROUP BY status`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			s.t.Fatal(err)
		}
		out[st] = n
	}
	return out
}

// amount is an hour's quantity, in cents.
type amount struct {
	hour time.Time
	qty  int64
}

func sumBefore(as []amount, before time.Time) int64 {
	var n int64
	for _, a := range as {
		if a.hour.Before(before) {
			n += a.qty
		}
	}
	return n
}

// ratedCents is the usage before a time rated to whole cents, computed apart
// from the code under test.
func ratedCents(uses []killUse, before time.Time) int64 {
	totals := map[string]*big.Int{}
	for _, u := range uses {
		if u.at.Before(before) {
			if totals[u.meter] == nil {
				totals[u.meter] = new(big.Int)
			}
			totals[u.meter].Add(totals[u.meter], big.NewInt(u.micros))
		}
	}
	return expectedCents(totals)
}

// check compares AWS's ledger with our records and with the usage.
//
// Each record AWS holds is one of ours, accepted (with its MeteringRecordId)
// or a conflict, with the same quantity; no hour twice; none carried, which
// would bill it twice. A conflict AWS does not hold is what the ledger lacks:
// its answer was lost and no resend came inside the window, and billing it
// again could bill it twice, so an operator is shown it instead.
//
// Per subscription and month: the ledger and the unheld conflicts up to the
// month's end make the rated usage up to it to the cent, but for carried
// records whose amount went into a record of the next month (R11: carried,
// never dropped), so never more than the rated usage; and at the end of the
// run, exactly the rated usage.
func (s *killSeller) check(t *testing.T) {
	type hourKey struct {
		account string
		hour    int64
	}
	atAWS := map[hourKey]market.MeteringRecord{}
	for _, r := range s.emu.Market().Records(market.RecordFilter{}) {
		k := hourKey{r.AccountID, r.Hour.Unix()}
		if _, twice := atAWS[k]; twice {
			t.Errorf("AWS accepted hour %s of %s twice", r.Hour, r.AccountID)
		}
		atAWS[k] = r
	}
	matched := map[hourKey]bool{}
	end := s.Now().UTC().Truncate(time.Hour) // every hour before it is recorded
	exact, conflicts := 0, map[string]int{}
	for _, sub := range s.subs {
		rows, err := s.db.Read().Query(`SELECT hour, quantity, status, metering_record_id FROM metering_records
			WHERE subscription_id = $1 ORDER BY hour`, sub.id)
		if err != nil {
			t.Fatal(err)
		}
		var held, unheld, carried []amount
		for rows.Next() {
			var a amount
			var status, id string
			if err := rows.Scan(&a.hour, &a.qty, &status, &id); err != nil {
				t.Fatal(err)
			}
			k := hourKey{sub.account, a.hour.Unix()}
			r, ok := atAWS[k]
			switch {
			case status == metering.StatusAccepted && (!ok || r.ID != id || r.Quantity != a.qty):
				t.Errorf("accepted record of %s at %s (%d, %s) is not so in AWS's ledger: %+v", sub.account, a.hour, a.qty, id, r)
			case status == metering.StatusConflict && ok && r.Quantity != a.qty:
				t.Errorf("conflict of %s at %s: ours %d, AWS's %d", sub.account, a.hour, a.qty, r.Quantity)
			case status == metering.StatusConflict && !ok:
				unheld = append(unheld, a)
				conflicts["not held by AWS"]++
			case status == metering.StatusConflict:
				conflicts["held by AWS"]++
			case status == metering.StatusCarried && ok:
				t.Errorf("AWS holds hour %s of %s, which was carried into a later record: billed twice", a.hour, sub.account)
			case status == metering.StatusCarried:
				carried = append(carried, a)
			case status != metering.StatusAccepted && status != metering.StatusConflict:
				t.Errorf("record of %s at %s is %s at the end", sub.account, a.hour, status)
			}
			if ok {
				matched[k] = true
				held = append(held, amount{a.hour, r.Quantity})
			}
		}
		rows.Close()
		first := time.Date(sub.linked.Year(), sub.linked.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		for cut := first; ; cut = cut.AddDate(0, 1, 0) {
			if cut.After(end) {
				cut = end
			}
			rated, billed, lost := ratedCents(sub.usage, cut), sumBefore(held, cut), sumBefore(unheld, cut)
			short, deferred := rated-billed-lost, sumBefore(carried, cut)
			if billed > rated || short < 0 || short > deferred || cut.Equal(end) && short != 0 {
				t.Errorf("%s up to %s: AWS's ledger holds %d cents, conflicts not at AWS %d, rated usage %d, carried %d",
					sub.account, cut, billed, lost, rated, deferred)
			}
			if short == 0 {
				exact++
			}
			if cut.Equal(end) {
				break
			}
		}
	}
	for k, r := range atAWS {
		if !matched[k] {
			t.Errorf("AWS holds hour %s of %s (%d), which we have no record of", r.Hour, r.AccountID, r.Quantity)
		}
	}
	t.Logf("%d subscriptions, %d events; ledger equal to the rated usage to the cent at %d of the month ends and run ends checked",
		len(s.subs), s.events, exact)
	t.Logf("conflicts: %s", describe(conflicts))
}
