package metering_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// used is usage of the test catalog's "compute" meter ($0.22 a unit), some
// time before the report's clock.
type used struct {
	ago   time.Duration
	units int64
}

func dollarsOf(units int64) int64 { return units * 220_000 } // micro-dollars

// The billing page's committed credits are those of the current term, over
// the whole term and nothing outside it, as metering draws them down: usage
// before the link or a renewal's start is not drawn, nor usage after the
// term's end; usage older than the chart's 30 days is (R12, R13, R14). A
// renewal made before the old term ends leaves the old term current until
// its end, with its own credits (R22). The run-out day projects the recent
// daily rate. Every case is also metered, and the drawdown metering records
// for the credit alerts (R15) equals the page's figure.
func TestSummarize_R13_CommittedCreditsOverTheWholeTerm(t *testing.T) {
	day := 24 * time.Hour
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	lastSevenDays := func(units int64) []used {
		var out []used
		for d := 1; d <= 7; d++ {
			out = append(out, used{time.Duration(d)*day - 30*time.Minute, units}) // 10:00 each day, within the closed hours
		}
		return out
	}
	cases := []struct {
		name       string
		payg       bool
		linked     time.Duration // before now
		renewed    time.Duration // before now: when a renewal started the current term; 0 for the first term
		endsIn     time.Duration // after now; negative when the term is over
		usage      []used
		wantUsed   int64  // micro-dollars
		wantRunOut string // YYYY-MM-DD, "" for none
		// unmetered is the usage of the hour under way: on the page at
		// once, drawn by metering when the hour closes.
		unmetered int64
		// earlyRenewal, when set, is when the first term ends, after now
		// (negative: before): a renewal recorded before then began a second
		// term there, with 20,000 credits, ending endsIn after now.
		earlyRenewal time.Duration
	}{
		{name: "usage before the link, even earlier on the link's day, is not drawn",
			linked: 10 * day, endsIn: 355 * day,
			usage:    []used{{12 * day, 1000}, {10*day + 5*time.Hour, 1000}, {9 * day, 500}},
			wantUsed: dollarsOf(500)},
		{name: "usage older than 30 days within the term is drawn",
			linked: 60 * day, endsIn: 305 * day,
			usage:    []used{{45 * day, 2000}, {2 * day, 1000}},
			wantUsed: dollarsOf(3000), wantRunOut: "2027-09-16"}, // $9,340 left at $220 a week: 7,132 hours
		{name: "after a renewal the new term starts fresh",
			linked: 400 * day, renewed: 20 * day, endsIn: 345 * day,
			usage:    []used{{100 * day, 30000}, {21 * day, 1000}, {10 * day, 1000}, {3 * day, 500}},
			wantUsed: dollarsOf(1500), wantRunOut: ""}, // at $110 a week they outlast the term
		{name: "after an early renewal the old term's credits are drawn until it ends, and can run out before",
			linked: 30 * day, earlyRenewal: 5 * day, endsIn: 370 * day,
			usage:    []used{{20 * day, 40000}, {2 * day, 5000}},
			wantUsed: dollarsOf(45000), wantRunOut: "2026-11-24"}, // $100 left at $1,100 a week: 15 hours
		{name: "once the old term has ended, the early renewal's term starts fresh",
			linked: 30 * day, earlyRenewal: -10 * day, endsIn: 355 * day,
			usage:    []used{{20 * day, 40000}, {10*day + 10*time.Minute, 1000}, {5 * day, 500}},
			wantUsed: dollarsOf(500)}, // the hour the old term ends in is the old term's
		{name: "usage after the term's end is not drawn",
			linked: 380 * day, endsIn: -15 * day,
			usage:    []used{{20 * day, 1000}, {5 * day, 2000}},
			wantUsed: dollarsOf(1000)},
		{name: "beyond the commitment the credits are used up",
			linked: 30 * day, endsIn: 335 * day,
			usage:    []used{{20 * day, 50000}, {1 * day, 100}},
			wantUsed: 10_000_000_000},
		{name: "a young term's daily rate is taken over the term so far",
			linked: 2 * day, endsIn: 363 * day,
			usage:    []used{{3 * day, 10000}, {1 * day, 2000}},
			wantUsed: dollarsOf(2000), wantRunOut: "2027-01-05"}, // $9,560 left at $440 in 48 hours: 1,042 hours
		{name: "a steady rate over the last seven days",
			linked: 60 * day, endsIn: 305 * day,
			usage:    append([]used{{50 * day, 25000}}, lastSevenDays(1000)...),
			wantUsed: dollarsOf(32000), wantRunOut: "2026-12-06"}, // $2,960 left at $1,540 a week: 322 hours
		{name: "the hour under way counts at once",
			linked: 10 * day, endsIn: 355 * day,
			usage:    []used{{20 * time.Minute, 100}},
			wantUsed: dollarsOf(100), unmetered: dollarsOf(100)},
		{name: "pay-as-you-go has no committed credits",
			payg: true, linked: 10 * day,
			usage: []used{{1 * day, 1000}}},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := func() time.Time { return now }
		catalog, err := marketplace.NewCatalog([]marketplace.Product{paygProduct, contractProduct}, testMeters...)
		if err != nil {
			t.Fatal(err)
		}
		draws := newDrawdowns(t, db, catalog, clock)
		maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: draws, Usage: usage.NewTotals(db), Prices: catalog,
			Logger: slog.New(slog.DiscardHandler), Now: clock, ZeroRecords: true})
		if err != nil {
			t.Fatal(err)
		}
		type fixture struct{ org, sub int64 }
		fixtures := make([]fixture, len(cases))
		for i, tc := range cases {
			term := contractTerm{linked: now.Add(-tc.linked), end: now.Add(tc.endsIn)}
			if tc.renewed > 0 {
				term.start = now.Add(-tc.renewed)
			}
			if tc.earlyRenewal != 0 {
				term.start, term.credits = now.Add(tc.earlyRenewal), 20_000
				term.earlier = []marketplace.Term{{End: term.start, Credits: 10_000}}
			}
			fixtures[i].org, fixtures[i].sub = linkedSubscription(t, db, i, !tc.payg, term)
			for _, u := range tc.usage {
				useAt(t, db, fixtures[i].org, now.Add(-u.ago), u.units)
			}
			// Metering ran until two hours before the term's last closed
			// hour, so that it makes records for two hours only, not every
			// hour of the term.
			last := now.Truncate(time.Hour)
			if tc.endsIn < 0 {
				last = term.end.Truncate(time.Hour).Add(time.Hour)
			}
			meteredUntil(t, db, fixtures[i].sub, !tc.payg, last.Add(-2*time.Hour))
		}
		if _, err := maker.MakeRecords(ctx); err != nil {
			t.Fatal(err)
		}
		reports := metering.NewReporter(db, catalog, clock)
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				in := metering.SummaryInput{OrgID: fixtures[i].org, SubscriptionID: fixtures[i].sub, LinkedAt: now.Add(-tc.linked)}
				if !tc.payg {
					in.CommittedDimension = contractProduct.CommittedDimension
				}
				s, err := reports.Summarize(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if tc.payg {
					if s.CommittedMicros != 0 || s.UsedMicros != 0 || !s.RunOut.IsZero() || !s.TermStart.IsZero() {
						t.Fatalf("pay-as-you-go shows committed credits: %+v", s)
					}
					return
				}
				wantCommitted := int64(10_000_000_000)
				wantStart, wantEnd := now.Add(-tc.linked), now.Add(tc.endsIn)
				switch {
				case tc.renewed > 0:
					wantStart = now.Add(-tc.renewed)
				case tc.earlyRenewal > 0: // the first term still runs
					wantEnd = now.Add(tc.earlyRenewal)
				case tc.earlyRenewal < 0:
					wantStart, wantCommitted = now.Add(tc.earlyRenewal), 20_000_000_000
				}
				if s.CommittedMicros != wantCommitted || s.UsedMicros != tc.wantUsed || s.RemainingMicros() != s.CommittedMicros-tc.wantUsed {
					t.Errorf("credits: %d used of %d, %d remaining; want %d used of %d", s.UsedMicros, s.CommittedMicros,
						s.RemainingMicros(), tc.wantUsed, wantCommitted)
				}
				runOut := ""
				if !s.RunOut.IsZero() {
					runOut = s.RunOut.Format(time.DateOnly)
				}
				if runOut != tc.wantRunOut {
					t.Errorf("run-out day %q, want %q", runOut, tc.wantRunOut)
				}
				if !s.TermStart.Equal(wantStart) || !s.TermEnd.Equal(wantEnd) {
					t.Errorf("term %s to %s, want %s to %s", s.TermStart, s.TermEnd, wantStart, wantEnd)
				}
				if got, ok := draws.used(fixtures[i].sub); !ok || got != tc.wantUsed-tc.unmetered {
					t.Errorf("metering drew %d (recorded: %v), want %d: the page and metering disagree", got, ok, tc.wantUsed-tc.unmetered)
				}
				// The chart stays the last 30 days.
				var chart, want int64
				for _, d := range s.Days {
					chart += d.Micros
				}
				for _, u := range tc.usage {
					if !now.Add(-u.ago).Before(now.Truncate(24*time.Hour).AddDate(0, 0, -29)) {
						want += dollarsOf(u.units)
					}
				}
				if len(s.Days) != 30 || chart != want {
					t.Errorf("chart: %d days, %d in all; want 30 days, %d", len(s.Days), chart, want)
				}
			})
		}
	})
}

// drawdowns is the marketplace service, keeping the committed credits
// metering says are used instead of mailing alerts about them.
type drawdowns struct {
	*marketplace.Service
	mu    sync.Mutex
	drawn map[int64]int64
}

func newDrawdowns(t *testing.T, db *store.DB, catalog *marketplace.Catalog, now func() time.Time) *drawdowns {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	outbox := mail.NewOutbox(db, now)
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: now, BaseURL: "https://seller.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing here calls AWS.
	unused := awsmp.New(aws.Config{Region: "us-east-1"}, awsmp.Endpoints{Metering: "http://127.0.0.1:0", Entitlement: "http://127.0.0.1:0"})
	svc, err := marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: unused, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: now, BaseURL: "https://seller.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return &drawdowns{Service: svc, drawn: map[int64]int64{}}
}

func (d *drawdowns) RecordCreditUse(_ context.Context, use marketplace.CreditUse) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drawn[use.SubscriptionID] = use.UsedMicros
	return nil
}

func (d *drawdowns) used(subscriptionID int64) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.drawn[subscriptionID]
	return v, ok
}

// contractTerm is when a subscription was linked and its committed
// credits' current term: start is zero for the first term, which runs from
// the link, else where a renewal began the current one; credits are 10,000
// when zero. earlier are the terms a renewal ended, as it records them.
type contractTerm struct {
	linked, start, end time.Time
	credits            int64
	earlier            []marketplace.Term
}

// linkedSubscription records subscription n, a contract with 10,000
// committed credits (or pay-as-you-go), billing a new organization, as a
// set-up and its entitlements would.
func linkedSubscription(t *testing.T, db *store.DB, n int, contract bool, term contractTerm) (orgID, subID int64) {
	t.Helper()
	at := store.Now(term.linked)
	var user int64
	if err := db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, 'R', 'x', $2) RETURNING id`,
		fmt.Sprintf("report%d@example.com", n), at).Scan(&user); err != nil {
		t.Fatal(err)
	}
	if err := db.Write().QueryRow(`INSERT INTO organizations (name, created_by, created_at) VALUES ($1, $2, $3) RETURNING id`,
		fmt.Sprintf("Report %d", n), user, at).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	code, offer := market.DemoPAYGCode, "payg"
	if contract {
		code, offer = market.DemoContractCode, "contract"
	}
	account := fmt.Sprintf("8880%08d", n)
	if err := db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, agreement_key,
		created_at, updated_at) VALUES ('aws', $1, $2, $3, $3, $4, $4) RETURNING id`, code, offer, account, at).Scan(&subID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
		subID, orgID, user, at); err != nil {
		t.Fatal(err)
	}
	if !contract {
		return orgID, subID
	}
	var start *time.Time
	if !term.start.IsZero() {
		s := store.Now(term.start)
		start = &s
	}
	credits := cmp.Or(term.credits, 10_000)
	if _, err := db.Write().Exec(`INSERT INTO entitlements (subscription_id, dimension, value_kind, integer_value, expires_at, updated_at, term_start)
		VALUES ($1, 'committed_credits', 'integer', $2, $3, $4, $5)`, subID, credits, store.Now(term.end), at, start); err != nil {
		t.Fatal(err)
	}
	for _, e := range term.earlier {
		var start *time.Time
		if !e.Start.IsZero() {
			s := store.Now(e.Start)
			start = &s
		}
		if _, err := db.Write().Exec(`INSERT INTO entitlement_terms (subscription_id, dimension, integer_value, term_start, term_end, recorded_at)
			VALUES ($1, 'committed_credits', $2, $3, $4, $5)`, subID, e.Credits, start, store.Now(e.End), at); err != nil {
			t.Fatal(err)
		}
	}
	return orgID, subID
}

// useAt records usage in the hourly totals, as ingestion keeps them: per
// subject, and per meter (which rating reads).
func useAt(t *testing.T, db *store.DB, orgID int64, at time.Time, units int64) {
	t.Helper()
	if _, err := db.Write().Exec(`INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at)
		VALUES ($1, 'compute', '', $2, $3, 1, $2)`, orgID, store.Now(at.Truncate(time.Hour)), units*1_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write().Exec(`INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ($1, $2, 'compute', $3)`,
		orgID, store.Now(at.Truncate(time.Hour)), units*1_000_000); err != nil {
		t.Fatal(err)
	}
}

// meteredUntil records that metering accepted the hour before hour, with
// nothing over the commitment in it.
func meteredUntil(t *testing.T, db *store.DB, subID int64, contract bool, hour time.Time) {
	t.Helper()
	code, dim := market.DemoPAYGCode, paygProduct.MeteredDimension
	if contract {
		code, dim = market.DemoContractCode, contractProduct.MeteredDimension
	}
	if _, err := db.Write().Exec(`INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, status, created_at)
		VALUES ($1, $2, $3, $4, 0, 'accepted', $4)`, subID, code, dim, store.Now(hour.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
}
