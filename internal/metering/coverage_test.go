package metering_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// noResolver is the marketplace's resolver in tests that never resolve a
// token nor read entitlements: pay-as-you-go links made in the database.
type noResolver struct{}

func (noResolver) ResolveCustomer(context.Context, string) (marketplace.Resolved, error) {
	return marketplace.Resolved{}, marketplace.ErrMarketplaceUnavailable
}

func (noResolver) Entitlements(context.Context, string, marketplace.Customer) ([]marketplace.Entitlement, error) {
	return nil, marketplace.ErrMarketplaceUnavailable
}

// world is the seller side without AWS: organizations, pay-as-you-go
// subscriptions and links made as a set-up makes them, cancellations
// applied as AWS's notifications are, hourly usage totals as ingest keeps
// them, the record maker, and the coverage under test.
type world struct {
	t        testing.TB
	db       *store.DB
	catalog  *marketplace.Catalog
	market   *marketplace.Service
	orgs     *org.Service
	maker    *metering.Maker
	coverage *metering.Coverage
	user     int64
	mu       sync.Mutex
	now      time.Time
	accounts int
	messages int
}

func (w *world) Now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }

func (w *world) advance(d time.Duration) { w.mu.Lock(); defer w.mu.Unlock(); w.now = w.now.Add(d) }

func newWorld(t testing.TB, db *store.DB, start time.Time, events *webhook.Recorder) *world {
	t.Helper()
	w := &world{t: t, db: db, now: start}
	catalog, err := marketplace.NewCatalog([]marketplace.Product{paygProduct, contractProduct}, testMeters...)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	outbox := mail.NewOutbox(db, w.Now)
	if w.orgs, err = org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: w.Now, BaseURL: "https://seller.example.com"}); err != nil {
		t.Fatal(err)
	}
	if w.market, err = marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Resolver: noResolver{}, Orgs: w.orgs, Mailer: outbox,
		Logger: logger, Now: w.Now, BaseURL: "https://seller.example.com"}); err != nil {
		t.Fatal(err)
	}
	w.catalog = catalog
	w.coverage = w.newCoverage(db, events)
	if w.maker, err = metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: w.market, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger, Now: w.Now, ZeroRecords: true, Unbilled: w.coverage}); err != nil {
		t.Fatal(err)
	}
	scan(t, db.Write().QueryRow(`INSERT INTO users (email, name, password_hash, email_verified_at, created_at) VALUES ('w@example.com', 'W', 'x', $1, $1) RETURNING id`,
		store.Now(start)), &w.user)
	return w
}

// newCoverage is a Coverage on db: another process's when db is another
// handle on the same database.
func (w *world) newCoverage(db *store.DB, events *webhook.Recorder) *metering.Coverage {
	w.t.Helper()
	c, err := metering.NewCoverage(metering.CoverageConfig{DB: db, Links: w.market, Prices: w.catalog, Logger: slog.New(slog.DiscardHandler),
		Now: w.Now, Events: events})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) newOrg(name string) int64 {
	w.t.Helper()
	o, err := w.orgs.Create(context.Background(), w.user, org.CreateInput{Name: name})
	if err != nil {
		w.t.Fatal(err)
	}
	return o.ID
}

// link subscribes a new buyer account and links its subscription to the
// organization now, returning the subscription.
func (w *world) link(orgID int64) int64 {
	w.t.Helper()
	w.accounts++
	account := fmt.Sprintf("8880%08d", w.accounts)
	now := store.Now(w.Now())
	var sub int64
	scan(w.t, w.db.Write().QueryRow(`INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id, license_arn,
		agreement_key, created_at, updated_at) VALUES ('aws', $1, 'payg', $2, $3, $3, $4, $4) RETURNING id`,
		paygProduct.Code, account, "arn:aws:license-manager::294406891311:license:l-"+account, now), &sub)
	if _, err := w.db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
		sub, orgID, w.user, now); err != nil {
		w.t.Fatal(err)
	}
	return sub
}

// tell applies AWS's notification about the subscription, sent at sentAt,
// as the notification worker does.
func (w *world) tell(sub int64, action string, sentAt time.Time) {
	w.t.Helper()
	var c marketplace.Customer
	scan(w.t, w.db.Read().QueryRow(`SELECT customer_aws_account_id, license_arn FROM subscriptions WHERE id = $1`, sub),
		&c.AccountID, &c.LicenseArn)
	w.messages++
	ctx := context.Background()
	if _, _, err := w.market.Record(ctx, marketplace.Notification{Source: "sns", MessageID: "m" + strconv.Itoa(w.messages), Action: action,
		ProductCode: paygProduct.Code, Customer: c, SentAt: sentAt, Payload: "{}"}); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.market.ApplyPending(ctx, 100); err != nil {
		w.t.Fatal(err)
	}
}

// use adds micro-units of a meter to the organization's hour, as ingest
// keeps its totals.
func (w *world) use(orgID int64, meter string, at time.Time, micros int64) {
	w.t.Helper()
	hour := store.Now(at.UTC().Truncate(time.Hour))
	if _, err := w.db.Write().Exec(`INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at)
		VALUES ($1, $2, '', $3, $4, 1, $3) ON CONFLICT (org_id, meter, hour, subject) DO UPDATE SET quantity = usage_hourly.quantity + excluded.quantity`,
		orgID, meter, hour, micros); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.db.Write().Exec(`INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, hour, meter) DO UPDATE SET quantity = usage_meter_hourly.quantity + excluded.quantity`,
		orgID, hour, meter, micros); err != nil {
		w.t.Fatal(err)
	}
}

// meter runs the worker's round of records (and of usage.unbilled events).
func (w *world) meter() {
	w.t.Helper()
	if _, err := w.maker.MakeRecords(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// pass lets d go by as the worker sees it: a round a minute in, as the
// worker's interval has it, so that a cancelled subscription's last hour
// is metered within AWS's final-metering window, then one every few
// hours, which catches up every hour closed since.
func (w *world) pass(d time.Duration) {
	w.t.Helper()
	step := time.Minute
	for d > 0 {
		step = min(d, step)
		w.advance(step)
		w.meter()
		d -= step
		step = 6 * time.Hour
	}
}

func (w *world) report(orgID int64, from, to time.Time, g metering.Granularity) []metering.Period {
	w.t.Helper()
	periods, err := w.coverage.Usage(context.Background(), metering.UsageQuery{OrgID: orgID, From: from, To: to, Granularity: g})
	if err != nil {
		w.t.Fatal(err)
	}
	return periods
}

// linkSpan is one link of a history as the test made it.
type linkSpan struct {
	sub       int64
	linked    time.Time
	cancelled time.Time // AWS's time of the cancellation; zero if none
	ended     time.Time // when the seller heard of it and ended the link
}

// playHistory plays a random history of one organization: usage every few
// minutes, links, cancellations (some heard of hours late, some after
// unsubscribe-pending) and relinks to new subscriptions (R21), with a jump
// past the grace period now and then. It returns the organization, its
// links, and the closed hours the history spans.
func playHistory(w *world, rng *rand.Rand) (orgID int64, links []linkSpan, from, to time.Time) {
	orgID = w.newOrg("History")
	from = w.Now().Truncate(time.Hour)
	meters := []string{"compute", "storage", "egress", "unpriced"}
	jumped := false
	for range 20 + rng.IntN(25) {
		if rng.IntN(10) < 7 {
			w.use(orgID, meters[rng.IntN(len(meters))], w.Now(), rng.Int64N(50_000_000)+1)
		}
		live := len(links) > 0 && links[len(links)-1].ended.IsZero()
		switch r := rng.IntN(100); {
		case !live && r < 30:
			links = append(links, linkSpan{sub: w.link(orgID), linked: w.Now()})
		case live && r < 15:
			l := &links[len(links)-1]
			// AWS cancelled up to three hours ago, never before the link.
			at := w.Now().Add(-time.Duration(rng.IntN(180)) * time.Minute)
			if at.Before(l.linked) {
				at = l.linked
			}
			if rng.IntN(2) == 0 {
				w.tell(l.sub, marketplace.ActionUnsubscribePending, at)
			}
			w.tell(l.sub, marketplace.ActionUnsubscribeSuccess, at.Add(time.Minute))
			l.cancelled, l.ended = store.Now(at.Add(time.Minute)), store.Now(w.Now())
		case !jumped && r > 96:
			jumped = true
			w.pass(marketplace.GracePeriod + time.Duration(rng.IntN(48))*time.Hour)
		}
		w.pass(time.Duration(5+rng.IntN(115)) * time.Minute)
	}
	w.pass(time.Hour)
	return orgID, links, from, w.Now().Truncate(time.Hour)
}

// recordedHours are the hours metering made a record for, of the
// organization's subscriptions, that AWS takes: none after the hour of a
// cancellation, which AWS refuses whenever marketbridge heard of it.
func recordedHours(w *world, links []linkSpan) map[time.Time]bool {
	out := map[time.Time]bool{}
	for _, l := range links {
		rows, err := w.db.Read().Query(`SELECT hour FROM metering_records WHERE subscription_id = $1`, l.sub)
		if err != nil {
			w.t.Fatal(err)
		}
		for rows.Next() {
			var h time.Time
			if err := rows.Scan(&h); err != nil {
				w.t.Fatal(err)
			}
			h = h.UTC()
			if l.cancelled.IsZero() || !h.After(l.cancelled.Truncate(time.Hour)) {
				out[h] = true
			}
		}
		rows.Close()
	}
	return out
}

// expectedReason is why no marketplace bills an hour, from the history.
func expectedReason(links []linkSpan, hour time.Time) metering.Reason {
	var latest *linkSpan
	for i := range links {
		if !hour.Before(links[i].linked.Truncate(time.Hour)) {
			latest = &links[i]
		}
	}
	switch {
	case latest == nil:
		return metering.ReasonNoLink
	case latest.ended.IsZero() || hour.Before(latest.ended):
		return metering.ReasonCancelled // the link stood, AWS had cancelled
	case hour.Before(latest.ended.Add(marketplace.GracePeriod)):
		return metering.ReasonGrace
	}
	return metering.ReasonSuspended
}

// propertyCases is how many random histories each engine plays: many on
// SQLite, a few on PostgreSQL, where each case's schema takes longer to
// make; MARKETBRIDGE_COVERAGE_CASES raises them.
func propertyCases(engine string) int {
	if n, err := strconv.Atoi(os.Getenv("MARKETBRIDGE_COVERAGE_CASES")); err == nil && n > 0 {
		return n
	}
	if engine == "postgres" {
		return 4
	}
	return 40
}

// Over random histories of links, cancellations and relinks, the usage
// report's parts always sum to the rated total, and its billed hours are
// exactly those metering makes records for that AWS takes, with the reason
// the history gives for every other hour (R12, R18, R19, R20, R21).
func TestCoverage_R20_PartsSumToRatedTotalOverRandomHistories(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			seen := map[metering.Reason]int{}
			cases := propertyCases(engine)
			for c := range cases {
				seed := uint64(1200 + c)
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(seed, 12))
					start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(24*60)) * time.Minute)
					w := newWorld(t, storetest.Open(t, engine), start, nil)
					orgID, links, from, to := playHistory(w, rng)
					checkReport(t, w, orgID, links, from, to, seen)
				})
			}
			t.Logf("%d histories, unbilled meter-hours by reason: %v", cases, seen)
			// Enough histories must reach every reason, or the property
			// says little about some of them.
			if cases >= 20 {
				for _, r := range []metering.Reason{metering.ReasonNoLink, metering.ReasonCancelled, metering.ReasonGrace, metering.ReasonSuspended} {
					if seen[r] == 0 {
						t.Errorf("no history reached an hour unbilled for %s", r)
					}
				}
			}
		})
	}
}

func checkReport(t *testing.T, w *world, orgID int64, links []linkSpan, from, to time.Time, seen map[metering.Reason]int) {
	t.Helper()
	recorded := recordedHours(w, links)
	hourly := w.report(orgID, from, to, metering.GranularityHour)
	type dayMeter struct {
		day   time.Time
		meter string
	}
	wantDay := map[dayMeter]*metering.MeterUsage{}
	checked := 0
	for _, p := range hourly {
		for _, m := range p.Meters {
			checkParts(t, p.Start, m)
			billed := len(m.Unbilled) == 0
			if billed != recorded[p.Start] {
				t.Errorf("%s %s: billed = %t, metering recorded it for AWS = %t (links %+v)", p.Start, m.Meter, billed, recorded[p.Start], links)
			}
			if !billed {
				seen[m.Unbilled[0].Reason]++
				if len(m.Unbilled) != 1 || m.Unbilled[0].Quantity.Cmp(m.Quantity) != 0 {
					t.Errorf("%s %s: an hour is unbilled whole, for one reason: %+v", p.Start, m.Meter, m.Unbilled)
				} else if want := expectedReason(links, p.Start); m.Unbilled[0].Reason != want {
					t.Errorf("%s %s: unbilled for %s, want %s (links %+v)", p.Start, m.Meter, m.Unbilled[0].Reason, want, links)
				}
			}
			k := dayMeter{p.Start.Truncate(24 * time.Hour), m.Meter}
			d := wantDay[k]
			if d == nil {
				d = &metering.MeterUsage{Quantity: new(big.Int)}
				wantDay[k] = d
			}
			d.Quantity.Add(d.Quantity, m.Quantity)
			for _, u := range m.Unbilled {
				d.Unbilled = addPart(d.Unbilled, u)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("the history has no usage: the case checks nothing")
	}
	// Days hold the same quantities as their hours, split the same way.
	days := w.report(orgID, from.Truncate(24*time.Hour), to.Add(24*time.Hour-1).Truncate(24*time.Hour), metering.GranularityDay)
	for _, p := range days {
		for _, m := range p.Meters {
			checkParts(t, p.Start, m)
			want := wantDay[dayMeter{p.Start, m.Meter}]
			if want == nil || want.Quantity.Cmp(m.Quantity) != 0 {
				t.Errorf("day %s %s: quantity %s, want the sum of its hours %v", p.Start, m.Meter, m.Quantity, want)
				continue
			}
			if fmt.Sprint(partsOf(m.Unbilled)) != fmt.Sprint(partsOf(want.Unbilled)) {
				t.Errorf("day %s %s: unbilled %v, want its hours' %v", p.Start, m.Meter, partsOf(m.Unbilled), partsOf(want.Unbilled))
			}
			delete(wantDay, dayMeter{p.Start, m.Meter})
		}
	}
	if len(wantDay) > 0 {
		t.Errorf("days missing from the daily report: %v", wantDay)
	}
}

// checkParts checks that a period's parts sum to its rated total, each
// rated as metering rates.
func checkParts(t *testing.T, start time.Time, m metering.MeterUsage) {
	t.Helper()
	if m.BilledMicros+m.UnbilledMicros != m.RatedMicros || m.BilledMicros < 0 || m.UnbilledMicros < 0 {
		t.Errorf("%s %s: billed %d + unbilled %d != rated %d", start, m.Meter, m.BilledMicros, m.UnbilledMicros, m.RatedMicros)
	}
	if want := ratedMicros(map[string]*big.Int{m.Meter: m.Quantity}); want.Int64() != m.RatedMicros {
		t.Errorf("%s %s: rated %d, want %s", start, m.Meter, m.RatedMicros, want)
	}
	var sum int64
	q := new(big.Int)
	for _, u := range m.Unbilled {
		sum += u.Micros
		q.Add(q, u.Quantity)
		if want := ratedMicros(map[string]*big.Int{m.Meter: u.Quantity}); want.Int64() != u.Micros {
			t.Errorf("%s %s %s: %d micro-dollars, want %s", start, m.Meter, u.Reason, u.Micros, want)
		}
	}
	if sum != m.UnbilledMicros || q.Cmp(m.Quantity) > 0 {
		t.Errorf("%s %s: unbilled parts %d (%s units) against %d (%s units)", start, m.Meter, sum, q, m.UnbilledMicros, m.Quantity)
	}
}

func addPart(parts []metering.UnbilledPart, u metering.UnbilledPart) []metering.UnbilledPart {
	for i := range parts {
		if parts[i].Reason == u.Reason {
			parts[i].Quantity = new(big.Int).Add(parts[i].Quantity, u.Quantity)
			return parts
		}
	}
	return append(parts, metering.UnbilledPart{Reason: u.Reason, Quantity: new(big.Int).Set(u.Quantity)})
}

func partsOf(parts []metering.UnbilledPart) map[metering.Reason]string {
	out := map[metering.Reason]string{}
	for _, p := range parts {
		out[p.Reason] = p.Quantity.String()
	}
	return out
}

// A contract's hours after its last term, and a moved subscription's hours
// after the move in the organization it left, are billed by no
// marketplace; the organization it moved to is billed from the move's hour
// (R8, R14).
func TestCoverage_R8_R14_ContractEndAndMove(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		start := time.Date(2026, 11, 23, 9, 10, 0, 0, time.UTC)
		w := newWorld(t, db, start, nil)
		contract, left, joined := w.newOrg("Contract"), w.newOrg("Left"), w.newOrg("Joined")
		sub := w.link(contract)
		if _, err := db.Write().Exec(`UPDATE subscriptions SET product_code = $1, offer_type = 'contract' WHERE id = $2`, contractProduct.Code, sub); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write().Exec(`INSERT INTO entitlements (subscription_id, dimension, value_kind, integer_value, expires_at, updated_at)
			VALUES ($1, 'committed_credits', 'integer', 100, $2, $3)`, sub, store.Now(start.Add(150*time.Minute)), store.Now(start)); err != nil {
			t.Fatal(err)
		}
		moved := w.link(left)
		at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 30, 0, 0, time.UTC) }
		for h := 9; h <= 13; h++ {
			for _, o := range []int64{contract, left, joined} {
				w.use(o, "compute", at(h), 1_000_000)
			}
		}
		// At 11:30 an admin moves the subscription to Joined.
		if _, err := db.Write().Exec(`UPDATE billing_links SET ended_at = $1, end_reason = 'moved' WHERE subscription_id = $2`, store.Now(at(11)), moved); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write().Exec(`INSERT INTO billing_links (subscription_id, org_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)`,
			moved, joined, w.user, store.Now(at(11))); err != nil {
			t.Fatal(err)
		}
		w.advance(5 * time.Hour)
		for _, tc := range []struct {
			org  int64
			want []metering.Reason // hours 09 to 13; "" is billed
		}{
			{contract, []metering.Reason{"", "", "", metering.ReasonContractExpired, metering.ReasonContractExpired}}, // the term ends at 11:40: its hour is in it
			{left, []metering.Reason{"", "", metering.ReasonNoLink, metering.ReasonNoLink, metering.ReasonNoLink}},
			{joined, []metering.Reason{metering.ReasonNoLink, metering.ReasonNoLink, "", "", ""}},
		} {
			periods := w.report(tc.org, at(9).Truncate(time.Hour), at(14).Truncate(time.Hour), metering.GranularityHour)
			if len(periods) != len(tc.want) {
				t.Fatalf("organization %d: %d periods, want %d", tc.org, len(periods), len(tc.want))
			}
			for i, p := range periods {
				m := p.Meters[0]
				var got metering.Reason
				if len(m.Unbilled) > 0 {
					got = m.Unbilled[0].Reason
				}
				if got != tc.want[i] {
					t.Errorf("organization %d, %s: unbilled for %q, want %q", tc.org, p.Start, got, tc.want[i])
				}
			}
		}
	})
}
