package metering_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	azmarket "github.com/marketbridge/marketbridge/internal/emulator/azure/market"
	"github.com/marketbridge/marketbridge/internal/emulator/google"
	gmarket "github.com/marketbridge/marketbridge/internal/emulator/google/market"
	"github.com/marketbridge/marketbridge/internal/emulator/google/servicecontrol"
	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/gcpmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// The Google Cloud Marketplace chaos run (#16): the Microsoft run's shape
// against Google's house of the emulator, reached over HTTP through the
// seller's adapter (gcpmp) with the service account's access tokens from
// Google's identity stand-in. Google wants an hour's usage within the hour
// after it, so rounds are shorter than Microsoft's.
const (
	gcChaosRounds        = 30
	gcChaosRound         = 20 * time.Minute
	gcChaosSubs          = 5 // entitlements, each of its own billing account and organization
	gcChaosCancellations = 2 // at most, ended mid-hour
	gcChaosTries         = 5 // sends a round, two minutes apart, as the worker tries every few minutes
	gcChaosSeeds         = 2 // a run's, unless chaosSeedsEnv says
	// gcChaosWindow is the seller's window for Google's records, as serve
	// configures it (gcpMeteringWindow).
	gcChaosWindow = 110 * time.Minute
	// gcAudience is the seller's sign-up domain (the aud of sign-up JWTs).
	gcAudience = "seller.example.com"
)

// gcpProduct is the seller's catalog entry of the demo product: its code
// is the service name, metered in cents of usage.
var gcpProduct = marketplace.Product{Marketplace: marketplace.GCP, Code: google.DemoService, Name: "Example Cloud on Google Cloud",
	OfferType: marketplace.OfferPAYG, MeteredDimension: "usage_cents", Dimensions: []marketplace.Dimension{{Name: "usage_cents"}}}

// gcSeller is the seller selling through Google Cloud Marketplace, and
// Google's house under /google/ of one loopback server.
type gcSeller struct {
	t        *testing.T
	db       *store.DB
	clock    *azClock // the one clock of the run, as in the Microsoft run
	id       *googleid.Server
	house    *google.House
	client   *gcpmp.Client
	market   *marketplace.Service
	ingester *usage.Ingester
	maker    *metering.Maker
	user     int64
}

func newGCSeller(t *testing.T, db *store.DB) *gcSeller {
	t.Helper()
	ctx := context.Background()
	s := &gcSeller{t: t, db: db, clock: &azClock{}}
	logger := slog.New(slog.DiscardHandler)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	var err error
	// Access tokens keep real time (the seller's oauth2 client caches them
	// by real time); sign-up tokens are minted on the run's clock.
	if s.id, err = googleid.New(googleid.Config{PublicURL: base + "/google/id/", Now: time.Now}, logger); err != nil {
		t.Fatal(err)
	}
	// No background tick: shift ticks, so that a replayed seed's
	// transitions happen at the same moments.
	if s.house, err = google.New(ctx, google.Config{Identity: s.id, PublicURL: base + "/google", Now: s.clock.Now,
		TickInterval: -1, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	seed, err := s.house.DemoSeed(ctx, google.DemoInput{SignupURL: "https://" + gcAudience + "/marketplace/gcp/signup"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/google/", http.StripPrefix("/google", s.house.Handler()))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() { srv.Close(); s.house.Close() })

	if s.client, err = gcpmp.New(ctx, gcpmp.Config{ProviderID: google.DemoProviderID, Products: []string{google.DemoService},
		ProcurementURL: base + "/google/procurement/", ServiceControlURL: base + "/google/servicecontrol/",
		CredentialsJSON: seed.ServiceAccountKey, Now: s.clock.Now,
		Signup: gcpmp.SignupConfig{CertsURL: s.id.PartnerCertsURL(), Issuer: s.id.SignupIssuer(), Audiences: []string{gcAudience}},
		Push:   gcpmp.PushConfig{CertsURL: s.id.OIDCJWKSURL(), Audience: "https://" + gcAudience + "/marketplace/gcp/pubsub", Email: google.DemoPushAccount},
		// One repeat after a failure without an answer, at once: the
		// sender's own backoff decides the rest.
		MaxAttempts: 2, RetryBase: time.Millisecond}); err != nil {
		t.Fatal(err)
	}

	catalog, err := marketplace.NewCatalog([]marketplace.Product{gcpProduct}, testMeters...)
	if err != nil {
		t.Fatal(err)
	}
	outbox := mail.NewOutbox(db, s.clock.Now)
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: s.clock.Now, BaseURL: "https://" + gcAudience})
	if err != nil {
		t.Fatal(err)
	}
	if s.market, err = marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: noResolver{}, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: s.clock.Now, BaseURL: "https://" + gcAudience, Events: webhook.NewRecorder(time.Now),
		Providers: map[string]marketplace.Provider{marketplace.GCP: gcpmp.NewProvider(s.client)}}); err != nil {
		t.Fatal(err)
	}
	if s.ingester, err = usage.New(usage.Config{DB: db, Meters: catalogMeters{catalog}, Logger: logger, Now: s.clock.Now}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.ingester.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	if s.maker, err = metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: s.market, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger, Now: s.clock.Now}); err != nil {
		t.Fatal(err)
	}
	scan(t, db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at) VALUES ('gc@example.com', 'Gc', 'x', $1, $1) RETURNING id`,
		store.Now(s.clock.Now())), &s.user)
	return s
}

// shift moves the one clock, and lets Google's house apply what became due.
func (s *gcSeller) shift(ctx context.Context, d time.Duration) {
	s.t.Helper()
	s.clock.advance(d)
	if err := s.house.Market().Tick(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// sender is the seller's sender of Google's records, as serve wires it
// (gcpSender: its products, Google's window), through m.
func (s *gcSeller) sender(m metering.Meterer) *metering.Sender {
	s.t.Helper()
	snd, err := metering.NewSender(metering.SenderConfig{DB: s.db, Meterer: m, Logger: slog.New(slog.DiscardHandler), Now: s.clock.Now,
		Pacer: rate.NewLimiter(1000, 1000), Window: gcChaosWindow, Lease: time.Minute, Workers: 3, Products: []string{google.DemoService}})
	if err != nil {
		s.t.Fatal(err)
	}
	return snd
}

// gcSub is one entitlement of the run and what its organization used; key
// is Google's entitlement id.
type gcSub struct {
	azSub
	billing string // the buyer's billing account
	pending time.Time
}

// buy is a buyer's order on Google's, the sign-up JWT posted to the
// seller, the purchase claimed and linked to a new organization, which
// approves the account and the entitlement at Google's.
func (s *gcSeller) buy(ctx context.Context, n int) *gcSub {
	s.t.Helper()
	billing := fmt.Sprintf("billingAccounts/0C%04d-D5E6F7-A8B9C0", n)
	email := fmt.Sprintf("buyer%d@example.com", n)
	ent, acc, err := s.house.Market().Order(ctx, gmarket.OrderRequest{BillingAccount: billing, Product: google.DemoService, Plan: "standard", User: email})
	if err != nil {
		s.t.Fatal(err)
	}
	tok, err := s.id.SignupToken(acc.ID, gcAudience, []string{ent.ID}, email, googleid.WithIssuedAt(s.clock.Now()))
	if err != nil {
		s.t.Fatal(err)
	}
	claim, _, err := s.market.Land(ctx, marketplace.GCP, tok)
	if err != nil {
		s.t.Fatalf("land entitlement %d: %v", n, err)
	}
	p, err := s.market.ClaimPurchase(ctx, claim, s.user)
	if err != nil {
		s.t.Fatal(err)
	}
	res, err := s.market.Link(ctx, marketplace.LinkInput{PurchaseID: p.ID, UserID: s.user, NewOrgName: fmt.Sprint("Chaos org ", n)})
	if err != nil {
		s.t.Fatalf("link entitlement %d: %v", n, err)
	}
	if !res.Activating {
		s.t.Fatalf("link of entitlement %d: %+v, want it activating", n, res)
	}
	return &gcSub{azSub: azSub{chaosSub: chaosSub{id: p.Subscription.ID, orgID: res.Org.ID, totals: map[string]*big.Int{}}, key: ent.ID}, billing: billing}
}

// fleet buys the run's entitlements; Google activates them a moment after
// the approval, and the core's activation reads them active, with their
// usageReportingIds. One approval's answer is lost after Google made it.
func (s *gcSeller) fleet(ctx context.Context) []*gcSub {
	s.t.Helper()
	var subs []*gcSub
	for n := 1; n <= gcChaosSubs; n++ {
		if n == 2 {
			if err := s.house.Procurement().FailNext(1, http.StatusServiceUnavailable); err != nil {
				s.t.Fatal(err)
			}
		}
		subs = append(subs, s.buy(ctx, n))
	}
	for range 5 {
		s.shift(ctx, 2*time.Minute) // past Google's activation delay and the core's lease and backoff
		if _, err := s.market.ActivateWanted(ctx, 100); err != nil {
			s.t.Fatal(err)
		}
	}
	for _, c := range subs {
		got, ok := s.house.Market().Entitlement(c.key)
		var activation, status string
		var usageID sql.NullString
		scan(s.t, s.db.Read().QueryRow(`SELECT activation, status, customer_identifier FROM subscriptions WHERE id = $1`, c.id), &activation, &status, &usageID)
		if !ok || got.State != gmarket.StateActive || activation != marketplace.ActivationDone || status != marketplace.StatusActive ||
			usageID.String != got.UsageReportingID {
			s.t.Fatalf("entitlement %s after the link: %s (usage id %q) at Google's, activation %q, %q, usage id %q here; want ACTIVE, done, active, the same id",
				c.key, got.State, got.UsageReportingID, activation, status, usageID.String)
		}
	}
	return subs
}

// noAzureLedger is the Microsoft run's failing connection's ledger for
// Google's: the connection counts no "resent, Duplicate" (Service Control
// answers a resend as a first report).
func noAzureLedger(string) (azmarket.UsageEvent, bool) { return azmarket.UsageEvent{}, false }

// Several entitlements ordered at Google's, signed up, linked and approved
// through the core; random usage with resends and late events over many
// hours; Service Control failing (429, 500, 503) and losing answers after
// it recorded the report, the procurement API failing, the connection
// failing and processes dying with records claimed; cancellations (pending,
// then ended mid-hour) that the seller learns of by reconciliation. In the
// end Service Control's ledger holds, for each entitlement, exactly the
// cents its usage rates to, one operation per entitlement, metric and hour
// (the final one until the end), no operationId twice, none of zero, none
// after the end; every record of the seller is accepted as such, carried
// into a later one, or a conflict Google holds exactly as the seller made
// it (R10, R11, R18; #16).
func TestMetering_GCPChaosLedgerEqualsRatedUsage(t *testing.T) {
	seeds := chaosSeedList(t)
	if os.Getenv(chaosSeedEnv) == "" && os.Getenv(chaosSeedsEnv) == "" {
		seeds = seeds[:min(len(seeds), gcChaosSeeds)]
	}
	t.Logf("seeds %v (%s=<seed> replays one, %s=<n> runs n)", seeds, chaosSeedEnv, chaosSeedsEnv)
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with %s=%d go test -race -run TestMetering_GCPChaosLedgerEqualsRatedUsage ./internal/metering/", chaosSeedEnv, seed)
				}
			})
			storetest.Each(t, func(t *testing.T, db *store.DB) { runGCPChaos(t, db, seed) })
		})
	}
}

func runGCPChaos(t *testing.T, db *store.DB, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 16))
	ctx := context.Background()
	s := newGCSeller(t, db)
	subs := s.fleet(ctx)
	linked := s.clock.Now()
	stats := map[string]int{}
	n := 0
	for round := range gcChaosRounds {
		for _, c := range subs {
			var batch []usage.Input
			var qtys []string
			for range rng.IntN(10) {
				m := testMeters[rng.IntN(len(testMeters))].Name
				qty := fmt.Sprintf("%d.%06d", rng.IntN(300), rng.IntN(1_000_000))
				// Usage of the last 3 hours, never before the link: some
				// of it late for an hour already metered (R11).
				back, jitter := time.Duration(rng.IntN(int(3*time.Hour/time.Second)))*time.Second, time.Duration(rng.IntN(60))*time.Second
				at := s.clock.Now().Add(-back)
				if at.Before(linked) {
					at = linked.Add(jitter)
				}
				batch = append(batch, event(fmt.Sprintf("gc%d", n), m, at, qty))
				qtys = append(qtys, qty)
				n++
			}
			if !c.cancelled.IsZero() {
				// Ended: the organization no longer has the product (drawn
				// all the same, so that a replayed seed's usage does not
				// depend on when the seller learnt of the end).
				batch = nil
			}
			for i, e := range batch {
				c.add(e.Type, qtys[i])
			}
			if len(batch) > 0 {
				if res, err := s.ingester.Ingest(ctx, c.orgID, batch); err != nil || len(res.Rejected) > 0 || res.Accepted != len(batch) {
					t.Fatalf("round %d: ingest: %+v, %v", round, res, err)
				}
				c.sent = append(c.sent, batch...)
				stats["events"] += len(batch)
			}
			if len(c.sent) > 0 && rng.IntN(4) == 0 {
				k := rng.IntN(len(c.sent))
				again := c.sent[k:min(len(c.sent), k+1+rng.IntN(5))]
				res, err := s.ingester.Ingest(ctx, c.orgID, again)
				if err != nil || res.Accepted != 0 {
					t.Fatalf("round %d: resent events: %+v, %v; want none accepted as new", round, res, err)
				}
				stats["resent"] += len(again)
			}
		}
		// Google's faults: Service Control refusing calls, or losing the
		// answer after it recorded the report; the procurement API failing
		// under the reconciliation and the final-hour reads.
		switch rng.IntN(4) {
		case 0:
			codes := []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable}
			code := codes[rng.IntN(len(codes))]
			if err := s.house.ServiceControl().FailNext(1+rng.IntN(3), code); err != nil {
				t.Fatal(err)
			}
			stats[fmt.Sprint("fault service control ", code)]++
		case 1:
			s.house.ServiceControl().LoseNextAnswers(1 + rng.IntN(2))
			stats["fault service control answer lost"]++
		case 2:
			if rng.IntN(2) == 0 {
				if err := s.house.Procurement().FailNext(1+rng.IntN(2), http.StatusServiceUnavailable); err != nil {
					t.Fatal(err)
				}
				stats["fault procurement 503"]++
			}
		}
		// A buyer cancels (pending cancellation, revertible, until the
		// term ends); a later round the term ends mid-hour.
		for _, c := range subs {
			if !c.pending.IsZero() && c.cancelled.IsZero() && rng.IntN(2) == 0 {
				e, err := s.house.Market().EndTerm(ctx, c.key)
				if err != nil {
					t.Fatal(err)
				}
				c.cancelled, c.heard = e.EndedAt, "reconcile"
				c.before = map[string]*big.Int{}
				for m, q := range c.totals {
					c.before[m] = new(big.Int).Set(q)
				}
				stats["ended"]++
			}
		}
		if stats["cancelled"] < gcChaosCancellations && round < gcChaosRounds-4 && rng.IntN(4) == 0 {
			var live []*gcSub
			for _, c := range subs {
				if c.pending.IsZero() {
					live = append(live, c)
				}
			}
			if len(live) > 1 {
				c := live[rng.IntN(len(live))]
				if _, err := s.house.Market().Cancel(ctx, c.billing, c.key); err != nil {
					t.Fatal(err)
				}
				c.pending = s.clock.Now()
				stats["cancelled"]++
			}
		}
		// The providers' loop: now and then the reconciliation, which
		// may meet the faults.
		if rng.IntN(2) == 0 {
			if _, err := s.market.Reconcile(ctx, marketplace.GCP); err != nil {
				stats["reconcile failed"]++
			} else {
				stats["reconciled"]++
			}
		}
		if _, err := s.maker.MakeRecords(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		calls := rand.New(rand.NewPCG(seed, uint64(round)))
		for range gcChaosTries {
			pctx, die := context.WithCancel(ctx)
			// The Microsoft run's failing connection: refused, answer
			// lost, died before or after Google took the call.
			_, _ = s.sender(&azChaos{real: gcpmp.NewMeter(s.client), rng: calls, dies: die, stats: stats, ledger: noAzureLedger,
				now: s.clock.Now}).SendPending(pctx)
			die()
			s.shift(ctx, 2*time.Minute) // past the leases of dead processes and the backoffs
		}
		// Uneven steps, so that cancellations and ends fall mid-hour.
		s.shift(ctx, gcChaosRound-gcChaosTries*2*time.Minute+time.Duration(rng.IntN(300))*time.Second)
	}
	// Faults off; the seller reconciles and sends what is left; then the
	// clock moves hours on, and nothing changes.
	if err := s.house.ServiceControl().FailNext(0, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	s.house.ServiceControl().LoseNextAnswers(0)
	if err := s.house.Procurement().FailNext(0, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if _, err := s.market.Reconcile(ctx, marketplace.GCP); err != nil {
		t.Fatalf("final reconciliation: %v", err)
	}
	s.shift(ctx, time.Hour)
	s.makeAndDrain()
	before := s.recordStatuses()
	s.shift(ctx, 3*time.Hour)
	s.makeAndDrain()
	if after := s.recordStatuses(); after != before {
		t.Errorf("hours later the records changed:\nbefore %s\nafter  %s", before, after)
	}
	cents := s.checkGCPChaos(t, subs)
	var keys []string
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, stats[k]))
	}
	var ended []string
	for _, c := range subs {
		if !c.cancelled.IsZero() {
			ended = append(ended, fmt.Sprintf("%d cancelled at %s, ended at %s", c.id, c.pending.UTC().Format("15:04:05"), c.cancelled.UTC().Format("15:04:05")))
		}
	}
	t.Logf("%d entitlements (%s); %s; %s", len(subs), strings.Join(ended, "; "), strings.Join(parts, ", "), cents)
}

// makeAndDrain makes the records due and sends until none is pending,
// through the real connection, moving the clock past leases and backoffs.
func (s *gcSeller) makeAndDrain() {
	s.t.Helper()
	ctx := context.Background()
	snd := s.sender(gcpmp.NewMeter(s.client))
	for round := 0; ; round++ {
		// Made each round: a record carried past Google's window goes
		// into the next one the maker makes (R11).
		if _, err := s.maker.MakeRecords(ctx); err != nil {
			s.t.Fatal(err)
		}
		if round > 60 {
			s.t.Fatalf("records still pending, or carried cents waiting, after 60 rounds without faults: %s", s.recordStatuses())
		}
		if _, err := snd.SendPending(ctx); err != nil {
			s.t.Logf("send round %d: %v", round, err)
		}
		// A carried record's cents wait for a later record, which the
		// maker makes when the next hour closes.
		var pending, waiting int
		scan(s.t, s.db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records WHERE status = 'pending'`), &pending)
		scan(s.t, s.db.Read().QueryRow(`SELECT COUNT(*) FROM metering_records r WHERE status = 'carried' AND quantity > 0
			AND NOT EXISTS (SELECT 1 FROM metering_records l WHERE l.subscription_id = r.subscription_id AND l.dimension = r.dimension
				AND l.hour > r.hour AND l.status <> 'carried')`), &waiting)
		switch {
		case pending > 0:
			s.shift(ctx, 2*time.Minute)
		case waiting > 0:
			s.shift(ctx, 20*time.Minute)
		default:
			return
		}
	}
}

// recordStatuses counts the seller's records by status, as the Microsoft
// run's does (it reads the database only).
func (s *gcSeller) recordStatuses() string {
	s.t.Helper()
	return (&azSeller{t: s.t, db: s.db}).recordStatuses()
}

// checkGCPChaos compares Service Control's ledger with the rated usage of
// each entitlement, and describes the cents.
func (s *gcSeller) checkGCPChaos(t *testing.T, subs []*gcSub) string {
	t.Helper()
	entries, err := s.house.ServiceControl().Ledger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ledger := map[string]map[int64]servicecontrol.Entry{} // entitlement -> hour
	byOp := map[string]int64{}
	var late int
	for _, e := range entries {
		if _, twice := byOp[e.OperationID]; twice {
			t.Errorf("Service Control billed operation %s twice", e.OperationID)
		}
		byOp[e.OperationID] = e.Quantity
		if ledger[e.Entitlement] == nil {
			ledger[e.Entitlement] = map[int64]servicecontrol.Entry{}
		}
		if _, twice := ledger[e.Entitlement][e.Start.Unix()]; twice {
			t.Errorf("Service Control holds %s's hour %s twice", e.Entitlement, e.Start)
		}
		ledger[e.Entitlement][e.Start.Unix()] = e
		// An hour, or the final hour until the entitlement's end (checked
		// below).
		if e.Quantity <= 0 || e.Metric != google.DemoMetric || e.PriceMicros != 10_000 || e.Start.Minute() != 0 ||
			!e.End.After(e.Start) || e.End.After(e.Start.Add(time.Hour)) {
			t.Errorf("Service Control holds %s of %s: %d of %s at %d micros until %s; want whole cents above zero of %s, at most an hour",
				e.OperationID, e.Start, e.Quantity, e.Metric, e.PriceMicros, e.End, google.DemoMetric)
		}
		if e.AfterEnd || len(e.Overlaps) > 0 {
			t.Errorf("Service Control holds %s of %s after the entitlement's end (%v) or overlapping %v", e.OperationID, e.Start, e.AfterEnd, e.Overlaps)
		}
		if e.Late {
			late++
		}
	}
	var ledgerAll, ratedAll, records, conflicts, finals int64
	for _, c := range subs {
		at := ledger[c.key]
		var table []string
		rows, err := s.db.Read().Query(`SELECT hour, quantity, status, metering_record_id, last_error FROM metering_records
			WHERE subscription_id = $1 ORDER BY hour`, c.id)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[int64]string{}
		for rows.Next() {
			var hour time.Time
			var status string
			var qty int64
			var id, lastError sql.NullString
			if err := rows.Scan(&hour, &qty, &status, &id, &lastError); err != nil {
				t.Fatal(err)
			}
			records++
			ours[hour.Unix()] = status
			// A record whose answers were all lost has no id stored: it is
			// the one the meter derives (the same on every send).
			op := gcpmp.OperationID(c.key, google.DemoMetric, hour)
			if id.Valid && id.String != "" && id.String != op {
				t.Errorf("entitlement %d: record of %s has operationId %q, want %q", c.id, hour.UTC(), id.String, op)
			}
			table = append(table, fmt.Sprintf("%s %d %s (Google: %d) %s", hour.UTC().Format("02 15:04"), qty, status, at[hour.Unix()].Quantity, lastError.String))
			switch status {
			case metering.StatusAccepted:
				if held, ok := byOp[op]; !ok || held != qty || at[hour.Unix()].Quantity != qty {
					t.Errorf("entitlement %d: accepted record of %s (%d cents, %q) is not in Service Control's ledger as such (%d)", c.id, hour.UTC(), qty, op, held)
				}
			case metering.StatusConflict:
				// Every send after a lost answer failed until the record's
				// hour left the seller's window (50 minutes after its close
				// on Google's): the sender stops and tells the operator
				// Google may hold it, rather than risk billing it twice.
				// Google dedupes on the operationId, so it is sound only if
				// Google holds exactly that record.
				if held, ok := byOp[op]; !ok || held != qty || at[hour.Unix()].Quantity != qty || !strings.Contains(lastError.String, "answer was lost") {
					t.Errorf("entitlement %d: record of %s (%d cents, %q) is a conflict, but Service Control does not hold it as such (%d): %s",
						c.id, hour.UTC(), qty, op, held, lastError.String)
				}
				conflicts++
			case metering.StatusCarried:
				if _, held := at[hour.Unix()]; held {
					t.Errorf("entitlement %d: record of %s is carried, but Service Control holds the hour", c.id, hour.UTC())
				}
			default:
				t.Errorf("entitlement %d (cancelled %v, ended %v): record of %s (%d cents) is %s at the end: %s",
					c.id, c.pending.UTC(), c.cancelled.UTC(), hour.UTC(), qty, status, lastError.String)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		var got int64
		for hour, e := range at {
			got += e.Quantity
			if end := e.Start.Add(time.Hour); !e.End.Equal(end) {
				finals++
			}
			if end := e.Start.Add(time.Hour); !e.End.Equal(end) && (c.cancelled.IsZero() || !e.End.Equal(c.cancelled.UTC().Truncate(time.Second)) || !end.After(c.cancelled)) {
				t.Errorf("entitlement %d (ended %v): Service Control holds usage of %s until %s: want the hour, or the final hour until the end",
					c.id, c.cancelled.UTC(), e.Start, e.End)
			}
			if st := ours[hour]; st != metering.StatusAccepted && st != metering.StatusConflict {
				t.Errorf("entitlement %d: Service Control holds hour %s, which we have as %q", c.id, time.Unix(hour, 0).UTC(), st)
			}
		}
		if want := expectedCents(c.totals); got != want {
			t.Errorf("entitlement %d (%s, cancelled %v, ended %v): Service Control's ledger holds %d cents; its rated usage is %d; its records:\n%s",
				c.id, c.key, c.pending.UTC(), c.cancelled.UTC(), got, want, strings.Join(table, "\n"))
		}
		ledgerAll += got
		ratedAll += expectedCents(c.totals)

		// Both sides agree on the entitlement's state.
		var status string
		scan(t, s.db.Read().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, c.id), &status)
		want := marketplace.StatusActive
		switch {
		case !c.cancelled.IsZero():
			want = marketplace.StatusCancelled
		case !c.pending.IsZero():
			want = marketplace.StatusUnsubscribePending
		}
		if status != want {
			t.Errorf("entitlement %d: %s here, want %s", c.id, status, want)
		}
	}
	return fmt.Sprintf("%d records (%d conflicts Google holds); Service Control's ledger %d cents (%d entries flagged late, %d final hours until an end), rated usage %d cents; records %s",
		records, conflicts, ledgerAll, late, finals, ratedAll, s.recordStatuses())
}
