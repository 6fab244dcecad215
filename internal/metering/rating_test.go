package metering_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

var testMeters = []marketplace.Meter{
	{Name: "compute", PriceMicros: 220_000}, // $0.22 per vCPU-hour
	{Name: "storage", PriceMicros: 35},      // $0.000035 per GB-hour: sub-cent amounts pile up
	{Name: "egress", PriceMicros: 90_000},
}

var paygProduct = marketplace.Product{Code: market.DemoPAYGCode, Name: "PAYG", OfferType: marketplace.OfferPAYG,
	MeteredDimension: "credits", Dimensions: []marketplace.Dimension{{Name: "credits"}}}

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
	orgID    int64
}

func newSeller(t *testing.T, db *store.DB) *seller {
	t.Helper()
	b := newBench(t, db)
	ctx := context.Background()
	catalog, err := marketplace.NewCatalog([]marketplace.Product{paygProduct}, testMeters...)
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
		Logger: logger, Now: b.Now, BaseURL: "https://seller.example.com"})
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
	s := &seller{bench: b, catalog: catalog, market: mkt, ingester: ing, maker: maker}
	// A buyer subscribes and links an organization now.
	sub := b.subscription(1)
	var user int64
	db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at) VALUES ('m@example.com', 'M', 'x', $1, $1) RETURNING id`,
		store.Now(b.Now())).Scan(&user)
	o, err := orgs.Create(ctx, user, org.CreateInput{Name: "Metered"})
	if err != nil {
		t.Fatal(err)
	}
	s.orgID = o.ID
	if _, err := db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
		sub, o.ID, user, store.Now(b.Now())); err != nil {
		t.Fatal(err)
	}
	return s
}

// use ingests events for the organization.
func (s *seller) use(events ...usage.Input) {
	s.t.Helper()
	res, err := s.ingester.Ingest(context.Background(), s.orgID, events)
	if err != nil || len(res.Rejected) > 0 {
		s.t.Fatalf("ingest: %+v, %v", res, err)
	}
}

func event(id, meter string, at time.Time, quantity string) usage.Input {
	return usage.Input{SpecVersion: "1.0", ID: id, Source: "test", Type: meter, Time: at.UTC().Format(time.RFC3339Nano),
		Data: json.RawMessage(`{"quantity":` + quantity + `}`)}
}

// expectedCents is the whole-cent amount of all usage, computed apart from
// the code under test: per meter, total micro-units times the price.
func expectedCents(totals map[string]*big.Int) int64 {
	sum := new(big.Int)
	for _, m := range testMeters {
		if q, ok := totals[m.Name]; ok {
			v := new(big.Int).Mul(q, big.NewInt(m.PriceMicros))
			sum.Add(sum, v.Quo(v, big.NewInt(1_000_000)))
		}
	}
	return sum.Quo(sum, big.NewInt(10_000)).Int64()
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
		db.Read().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT hour) FROM metering_records`).Scan(&hours, &distinct)
		if hours != distinct || hours < 6 {
			t.Fatalf("%d records for %d hours: want one per hour, every hour since the link", hours, distinct)
		}
	})
}
