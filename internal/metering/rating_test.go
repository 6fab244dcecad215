package metering_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

var testMeters = []marketplace.Meter{
	{Name: "compute", PriceMicros: 220_000}, // $0.22 per vCPU-hour
	{Name: "storage", PriceMicros: 35},      // $0.000035 per GB-hour: sub-cent amounts pile up
	{Name: "egress", PriceMicros: 90_000},
}

var (
	paygProduct = marketplace.Product{Code: market.DemoPAYGCode, Name: "PAYG", OfferType: marketplace.OfferPAYG,
		MeteredDimension: "credits", Dimensions: []marketplace.Dimension{{Name: "credits"}}}
	contractProduct = marketplace.Product{Code: market.DemoContractCode, Name: "Contract", OfferType: marketplace.OfferContract,
		CommittedDimension: "committed_credits", MeteredDimension: "additional_usage",
		Dimensions: []marketplace.Dimension{{Name: "committed_credits"}, {Name: "additional_usage"}}}
)

type catalogMeters struct{ c *marketplace.Catalog }

func (m catalogMeters) Meter(name string) (usage.Meter, bool) {
	_, ok := m.c.Meter(name)
	return usage.Meter{Name: name}, ok
}

// seller is the seller side for metering: a linked subscription, usage
// ingestion, the record maker and the sender.
type seller struct {
	*bench
	catalog  *marketplace.Catalog
	market   *marketplace.Service
	ingester *usage.Ingester
	maker    *metering.Maker
	orgs     *org.Service
	user     int64 // the admin of the organizations
	orgID    int64
}

func newSeller(t *testing.T, db *store.DB) *seller { return newSellerOf(t, db, false) }

// newSellerOf is newSeller with a PAYG subscription, or with the demo
// buyer's accepted private offer (10,000 committed credits for 12 months).
func newSellerOf(t *testing.T, db *store.DB, contract bool) *seller {
	t.Helper()
	return newSellerWith(t, db, func(s *seller) int64 {
		if contract {
			return s.contract()
		}
		return s.subscription(1)
	})
}

// newSellerWith is newSeller with the subscription subscribe records.
func newSellerWith(t *testing.T, db *store.DB, subscribe func(s *seller) int64) *seller {
	t.Helper()
	return newSellerSettings(t, db, market.Settings{}, subscribe)
}

// newSellerSettings is newSellerWith on an emulator of settings.
func newSellerSettings(t *testing.T, db *store.DB, settings market.Settings, subscribe func(s *seller) int64) *seller {
	t.Helper()
	b := newBenchWith(t, db, settings)
	ctx := context.Background()
	catalog, err := marketplace.NewCatalog([]marketplace.Product{paygProduct, contractProduct}, testMeters...)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	outbox := mail.NewOutbox(db, b.Now)
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: b.Now, BaseURL: "https://seller.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	mkt, err := marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: b.client, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: b.Now, BaseURL: "https://seller.example.com", Events: webhook.NewRecorder(time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	ing, err := usage.New(usage.Config{DB: db, Meters: catalogMeters{catalog}, Logger: logger, Now: b.Now})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ing.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: mkt, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger, Now: b.Now, ZeroRecords: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &seller{bench: b, catalog: catalog, market: mkt, ingester: ing, maker: maker, orgs: orgs}
	// A buyer subscribes and links an organization now.
	sub := subscribe(s)
	var user int64
	scan(t, db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at) VALUES ('m@example.com', 'M', 'x', $1, $1) RETURNING id`,
		store.Now(b.Now())), &user)
	o, err := orgs.Create(ctx, user, org.CreateInput{Name: "Metered"})
	if err != nil {
		t.Fatal(err)
	}
	s.orgID, s.user = o.ID, user
	if _, err := db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
		sub, o.ID, user, store.Now(b.Now())); err != nil {
		t.Fatal(err)
	}
	return s
}

// use ingests events for the organization.
func (s *seller) use(events ...usage.Input) {
	s.t.Helper()
	s.useIn(s.orgID, events...)
}

// useIn ingests events for the organization orgID, and returns how many
// were new.
func (s *seller) useIn(orgID int64, events ...usage.Input) int {
	s.t.Helper()
	res, err := s.ingester.Ingest(context.Background(), orgID, events)
	if err != nil || len(res.Rejected) > 0 {
		s.t.Fatalf("ingest: %+v, %v", res, err)
	}
	return res.Accepted
}

func event(id, meter string, at time.Time, quantity string) usage.Input {
	return usage.Input{SpecVersion: "1.0", ID: id, Source: "test", Type: meter, Time: at.UTC().Format(time.RFC3339Nano),
		Data: json.RawMessage(`{"quantity":` + quantity + `}`)}
}

// expectedCents is the whole-cent amount of all usage, computed apart from
// the code under test.
func expectedCents(totals map[string]*big.Int) int64 {
	sum := ratedMicros(totals)
	return sum.Quo(sum, big.NewInt(10_000)).Int64()
}

// ratedMicros is what usage rates to in micro-dollars: per meter, total
// micro-units times the price, less the fraction of a micro-dollar.
func ratedMicros(totals map[string]*big.Int) *big.Int {
	sum := new(big.Int)
	for _, m := range testMeters {
		if q, ok := totals[m.Name]; ok {
			v := new(big.Int).Mul(q, big.NewInt(m.PriceMicros))
			sum.Add(sum, v.Quo(v, big.NewInt(1_000_000)))
		}
	}
	return sum
}

func (s *seller) ledgerCents() int64 {
	var total int64
	for _, r := range s.emu.Market().Records(market.RecordFilter{ProductCode: market.DemoPAYGCode}) {
		total += r.Quantity
	}
	return total
}

func (s *seller) meterAndSend() {
	s.t.Helper()
	if _, err := s.maker.MakeRecords(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.drain(s.sender(nil))
}

// Random usage over several hours, with duplicates and sub-cent amounts:
// what AWS's ledger holds equals the rated usage to the cent, each hour
// metered once, and late usage reaches the next record (R10, R11).
func TestMetering_R11_LedgerEqualsRatedUsageToTheCent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newSeller(t, db)
		ctx := context.Background()
		linked := s.Now()
		s.shift(ctx, 5*time.Hour)
		rng := rand.New(rand.NewPCG(7, 11))
		totals := map[string]*big.Int{}
		add := func(meter, qty string) {
			q, err := usage.ParseQuantity(qty)
			if err != nil {
				t.Fatal(err)
			}
			if totals[meter] == nil {
				totals[meter] = new(big.Int)
			}
			totals[meter].Add(totals[meter], big.NewInt(int64(q)))
		}
		var batch []usage.Input
		for i := range 400 {
			m := testMeters[rng.IntN(len(testMeters))].Name
			at := linked.Add(time.Duration(rng.IntN(int(4*time.Hour/time.Second))) * time.Second)
			qty := fmt.Sprintf("%d.%06d", rng.IntN(50), rng.IntN(1_000_000))
			batch = append(batch, event(fmt.Sprintf("e%d", i), m, at, qty))
			add(m, qty)
		}
		s.use(batch...)
		s.use(batch[:50]...) // resent: counted once
		s.meterAndSend()
		if got, want := s.ledgerCents(), expectedCents(totals); got != want {
			t.Fatalf("AWS's ledger holds %d cents, rated usage is %d", got, want)
		}
		// Usage that arrives late, for an hour already metered, is carried
		// into the next hour's record, never lost.
		late := event("late-1", "compute", linked.Add(30*time.Minute), "12.345678")
		s.use(late)
		add("compute", "12.345678")
		s.shift(ctx, time.Hour)
		s.meterAndSend()
		if got, want := s.ledgerCents(), expectedCents(totals); got != want {
			t.Fatalf("after late usage: ledger %d cents, rated usage %d", got, want)
		}
		s.ledgerEqualsOurs()
		var hours, distinct int
		scan(t, db.Read().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT hour) FROM metering_records`), &hours, &distinct)
		if hours != distinct || hours < 6 {
			t.Fatalf("%d records for %d hours: want one per hour, every hour since the link", hours, distinct)
		}
	})
}

// contract accepts the demo private offer and records the subscription and
// its committed credits, as a set-up with GetEntitlements would.
func (s *seller) contract() int64 {
	s.t.Helper()
	ctx := context.Background()
	res, err := s.emu.Market().AcceptOffer(ctx, market.DemoBuyerAccountID, s.demoOffer(), "")
	if err != nil {
		s.t.Fatal(err)
	}
	a := res.Agreement
	var id int64
	if err := s.db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, license_arn,
		agreement_key, created_at, updated_at) VALUES ('aws', $1, 'contract', $2, $3, $3, $4, $4) RETURNING id`,
		market.DemoContractCode, a.AccountID, a.LicenseArn, store.Now(s.Now())).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.db.Write().Exec(`INSERT INTO entitlements (subscription_id, dimension, value_kind, integer_value, expires_at, updated_at)
		VALUES ($1, 'committed_credits', 'integer', 10000, $2, $3)`, id, store.Now(s.Now().AddDate(1, 0, 0)), store.Now(s.Now())); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *seller) demoOffer() string {
	for _, o := range s.emu.Market().OffersFor(market.DemoBuyerAccountID) {
		if o.ProductCode == market.DemoContractCode {
			return o.ID
		}
	}
	s.t.Fatal("no demo private offer")
	return ""
}

// Contract usage draws the committed credits first; only what goes beyond
// them reaches AWS, on the overage dimension, to the cent (R12, R14); the
// admins are told at 50%, 75% and 90%, once each (R15).
func TestMetering_R12_R14_R15_ContractDrawdownThenOverage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newSellerOf(t, db, true)
		ctx := context.Background()
		linked := s.Now()
		s.shift(ctx, 4*time.Hour)
		// $0.22 a unit: 20,000 units = $4,400 (44% of $10,000); then
		// 30,000 more = $11,000 in all: $1,000 of overage.
		s.use(event("c1", "compute", linked.Add(10*time.Minute), "20000"))
		s.meterAndSend()
		if got := s.ledgerCentsOf(market.DemoContractCode); got != 0 {
			t.Fatalf("%d cents metered within the commitment, want 0", got)
		}
		s.use(event("c2", "compute", linked.Add(2*time.Hour+5*time.Minute), "30000"))
		s.shift(ctx, time.Hour)
		s.meterAndSend()
		if got := s.ledgerCentsOf(market.DemoContractCode); got != 100_000 {
			t.Fatalf("%d cents of overage metered, want 100000 ($1,000)", got)
		}
		for _, r := range s.emu.Market().Records(market.RecordFilter{ProductCode: market.DemoContractCode}) {
			if r.Dimension != "additional_usage" {
				t.Fatalf("record on dimension %q, want additional_usage", r.Dimension)
			}
		}
		var alerts int
		scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM credit_alerts`), &alerts)
		// 50, 75 and 90% are mailed (R15); 100%, the credits used up, is
		// only told to the vendor's product (issue 12).
		if alerts != 4 {
			t.Fatalf("%d credit alerts, want 50%%, 75%%, 90%% and 100%% once each", alerts)
		}
		s.shift(ctx, time.Hour)
		s.meterAndSend()
		scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM credit_alerts`), &alerts)
		if alerts != 4 {
			t.Fatalf("%d credit alerts after another hour, want still 4", alerts)
		}
	})
}

func (s *seller) ledgerCentsOf(product string) int64 {
	var total int64
	for _, r := range s.emu.Market().Records(market.RecordFilter{ProductCode: product}) {
		total += r.Quantity
	}
	return total
}

// Reconciliation finds nothing to flag when every hour was metered, and
// flags usage that arrived after its hour's record until the next one.
func TestReconcile_FlagsWhatIsNotMetered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newSeller(t, db)
		ctx := context.Background()
		linked := s.Now()
		s.shift(ctx, 3*time.Hour)
		s.use(event("r1", "compute", linked.Add(5*time.Minute), "1000"))
		s.meterAndSend()
		lines, err := s.maker.Reconcile(ctx, s.Now())
		if err != nil || len(lines) != 1 {
			t.Fatalf("Reconcile = %+v, %v", lines, err)
		}
		if l := lines[0]; l.DueCents != 22_000 || l.AcceptedCents != 22_000 || l.Difference() != 0 {
			t.Fatalf("after metering: %+v, want $220 due and accepted", l)
		}
		s.use(event("r2", "compute", linked.Add(10*time.Minute), "10"))
		lines, _ = s.maker.Reconcile(ctx, s.Now())
		if d := lines[0].Difference(); d != 220 {
			t.Fatalf("late usage not yet metered: difference %d cents, want 220", d)
		}
	})
}

// Two serve processes on one database meter the same subscriptions at once:
// every hour is recorded once and accepted once, and the ledger equals the
// rated usage.
func TestMetering_TwoProcessesMeterEachHourOnce(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			ctx := context.Background()
			open := func() *store.DB {
				db, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if _, err := db.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return db
			}
			s := newSeller(t, open())
			other := open()
			linked := s.Now()
			s.shift(ctx, 5*time.Hour)
			totals := map[string]*big.Int{"compute": big.NewInt(0)}
			for i := range 40 {
				qty := fmt.Sprintf("%d.%06d", i, i*7919%1_000_000)
				s.use(event(fmt.Sprintf("p%d", i), "compute", linked.Add(time.Duration(i)*6*time.Minute), qty))
				q, _ := usage.ParseQuantity(qty)
				totals["compute"].Add(totals["compute"], big.NewInt(int64(q)))
			}
			maker2, err := metering.NewMaker(metering.MakerConfig{DB: other, Subscriptions: s.market, Usage: usage.NewTotals(other),
				Prices: s.catalog, Logger: slog.New(slog.DiscardHandler), Now: s.Now, ZeroRecords: true})
			if err != nil {
				t.Fatal(err)
			}
			sender2, err := metering.NewSender(metering.SenderConfig{DB: other, Meterer: s.client, Logger: slog.New(slog.DiscardHandler),
				Now: s.Now, Pacer: rate.NewLimiter(1000, 1000), Window: 6 * time.Hour, Lease: time.Minute, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			sender1 := s.sender(nil)
			var wg sync.WaitGroup
			for _, p := range []struct {
				maker  *metering.Maker
				sender *metering.Sender
			}{{s.maker, sender1}, {maker2, sender2}} {
				wg.Go(func() {
					if _, err := p.maker.MakeRecords(ctx); err != nil {
						t.Error(err)
					}
					if _, err := p.sender.SendPending(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			s.drain(sender1)
			if got, want := s.ledgerCents(), expectedCents(totals); got != want {
				t.Fatalf("ledger %d cents, rated usage %d", got, want)
			}
			s.ledgerEqualsOurs()
		})
	}
}

// A renewed contract draws its fresh commitment from the new term's usage
// only: the first term's overage stays billed once, and the second term's
// usage within its credits adds nothing (R13). Here the earlier term is not
// recorded, as for renewals seen before migration 0014 kept ended terms:
// metering starts from the term it knows.
func TestMetering_R13_RenewalDrawsTheNewTermsCredits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newSellerOf(t, db, true)
		ctx := context.Background()
		linked := s.Now()
		s.shift(ctx, 3*time.Hour)
		s.use(event("t1", "compute", linked.Add(5*time.Minute), "50000")) // $11,000: $1,000 over
		s.meterAndSend()
		if got := s.ledgerCentsOf(market.DemoContractCode); got != 100_000 {
			t.Fatalf("first term: %d cents, want 100000", got)
		}
		// The renewal: a new term starts now with fresh credits.
		if _, err := db.Write().Exec(`UPDATE entitlements SET term_start = $1, expires_at = $2`,
			store.Now(s.Now().UTC().Truncate(time.Hour)), store.Now(s.Now().AddDate(1, 0, 0))); err != nil {
			t.Fatal(err)
		}
		s.shift(ctx, time.Hour)
		s.use(event("t2", "compute", s.Now().Add(-30*time.Minute), "10000")) // $2,200 of the new $10,000
		s.shift(ctx, time.Hour)
		s.meterAndSend()
		if got := s.ledgerCentsOf(market.DemoContractCode); got != 100_000 {
			t.Fatalf("after the renewal: %d cents, want still 100000", got)
		}
	})
}
