package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// Subscriptions lists what to meter, and takes the use of committed
// credits for its alerts (package marketplace).
type Subscriptions interface {
	MeteredSubscriptions(ctx context.Context) ([]marketplace.Metered, error)
	RecordCreditUse(ctx context.Context, use marketplace.CreditUse) error
}

// Usage totals usage per meter (package usage).
type Usage interface {
	// ByMeter totals, in micro-units, the hours in [from, to) but those in
	// skip; a total it cannot rate fails with usage.ErrBadTotals.
	ByMeter(ctx context.Context, orgID int64, from, to time.Time, skip []time.Time) (map[string]*big.Int, error)
	// BadHours finds the hours of [from, to) that make ByMeter fail so.
	BadHours(ctx context.Context, orgID int64, from, to time.Time) ([]usage.BadHour, error)
}

// Prices are the meters' prices (the catalog).
type Prices interface {
	Meter(name string) (marketplace.Meter, bool)
}

// Units of money: usage is rated in micro-dollars; AWS is sent $0.01 units
// (R11).
const (
	microsPerCent   = 10_000
	microsPerCredit = 1_000_000
)

// MakerConfig configures a Maker.
type MakerConfig struct {
	DB            *store.DB
	Subscriptions Subscriptions
	Usage         Usage
	Prices        Prices
	Logger        *slog.Logger
	Now           func() time.Time
	// ZeroRecords sends a record for hours without usage too, as AWS
	// recommends, so that AWS sees the seller metering every hour.
	ZeroRecords bool
	// Registry, when set, gets the Maker's metrics.
	Registry prometheus.Registerer
	// Unbilled, when set, records usage.unbilled events after each round
	// of records (Run); nil records none.
	Unbilled *Coverage
}

// Maker turns usage into metering records, one per subscription and closed
// hour (R10).
type Maker struct {
	cfg        MakerConfig
	db         *store.DB
	failedHour prometheus.Counter
}

// NewMaker returns a Maker.
func NewMaker(cfg MakerConfig) (*Maker, error) {
	if cfg.DB == nil || cfg.Subscriptions == nil || cfg.Usage == nil || cfg.Prices == nil || cfg.Logger == nil || cfg.Now == nil {
		return nil, errors.New("metering: Maker needs DB, Subscriptions, Usage, Prices, Logger and Now")
	}
	m := &Maker{cfg: cfg, db: cfg.DB, failedHour: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "marketbridge_metering_failed_hours_total",
		Help: "Subscription-hours whose usage could not be rated: left out of metering and listed in the operator view.",
	})}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(m.failedHour); err != nil {
			return nil, fmt.Errorf("register metering metrics: %w", err)
		}
	}
	return m, nil
}

// MakeRecords makes the records of every closed hour not yet recorded, for
// every metered subscription, and returns how many it made. A subscription
// being cancelled also gets its current, partial hour at once (R18).
func (m *Maker) MakeRecords(ctx context.Context) (int, error) {
	subs, err := m.cfg.Subscriptions.MeteredSubscriptions(ctx)
	if err != nil {
		return 0, err
	}
	now := store.Now(m.cfg.Now())
	made := 0
	var errs []error
	for _, sub := range subs {
		n, err := m.makeFor(ctx, sub, now)
		made += n
		if err != nil {
			errs = append(errs, fmt.Errorf("subscription %d: %w", sub.SubscriptionID, err))
		}
	}
	return made, errors.Join(errs...)
}

func (m *Maker) makeFor(ctx context.Context, sub marketplace.Metered, now time.Time) (int, error) {
	spans, last := coverage(sub, now)
	var stopped int
	if err := m.db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM metering_records WHERE subscription_id = $1 AND status = 'not-subscribed'`,
		sub.SubscriptionID).Scan(&stopped); err != nil {
		return 0, fmt.Errorf("read record statuses: %w", err)
	}
	if stopped > 0 {
		return 0, nil // AWS said the customer is not subscribed: stop, an operator sees why
	}
	// ORDER BY rather than MAX: SQLite's aggregates lose the column's type,
	// and the driver then cannot return a time.
	var latest sql.NullTime
	err := m.db.Read().QueryRowContext(ctx, `SELECT hour FROM metering_records WHERE subscription_id = $1 ORDER BY hour DESC LIMIT 1`,
		sub.SubscriptionID).Scan(&latest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read latest record: %w", err)
	}
	next := spans[0].from
	if latest.Valid {
		next = latest.Time.UTC().Add(time.Hour)
	}
	skip, err := failedHours(ctx, m.db, sub.SubscriptionID)
	if err != nil {
		return 0, err
	}
	made := 0
	for hour := next; hour.Before(last); hour = hour.Add(time.Hour) {
		ok, err := m.makeOne(ctx, sub, spans, hour, skip)
		if errors.Is(err, usage.ErrBadTotals) {
			// Some hour's usage cannot be rated. Set it aside, so that
			// this hour, the later ones and the other subscriptions are
			// metered without it, and an operator sees it (#11).
			ok, skip, err = m.makeWithout(ctx, sub, spans, hour, skip, err)
		}
		if err != nil {
			return made, err
		}
		if ok {
			made++
		}
	}
	// Alerts follow the hours metered, so that the usage they report is
	// final: for each term whose hours this round metered, against that
	// term's credits (R15). Usage of an old term's last hours after an
	// early renewal, or a round that catches up across a term's end,
	// alerts against the old term's credits, not the new term's (R13,
	// R22). Hours count as metered without a record too: within the
	// credits nothing is due, and with ZeroRecords off no record is made.
	if err := m.alertCredits(ctx, sub, spans, next, last, skip); err != nil {
		return made, err
	}
	return made, nil
}

// alertCredits records the use of the credits of each term with credits
// that the hours [from, to) belong to, for its alerts.
func (m *Maker) alertCredits(ctx context.Context, sub marketplace.Metered, spans []span, from, to time.Time, skip []time.Time) error {
	if !from.Before(to) {
		return nil // no hour metered: nothing new to tell
	}
	var metered []int
	for i, sp := range spans {
		if sp.credits > 0 && sp.from.Before(to) && (sp.to.IsZero() || from.Before(sp.to)) {
			metered = append(metered, i)
		}
	}
	if len(metered) == 0 {
		return nil
	}
	rated, err := rateBySpan(ctx, m.cfg.Usage, m.Rate, sub.OrgID, spans, to, skip)
	if err != nil {
		return err
	}
	for _, i := range metered {
		used := spans[i].credits
		if rated[i].Cmp(big.NewInt(used)) < 0 {
			used = rated[i].Int64()
		}
		if err := m.cfg.Subscriptions.RecordCreditUse(ctx, marketplace.CreditUse{SubscriptionID: sub.SubscriptionID,
			Term: spans[i].term, UsedMicros: used}); err != nil {
			return err
		}
	}
	return nil
}

// lastHour is where the hours metering makes records for end: the closed
// hours; for a subscription being cancelled on AWS its current hour too, final,
// and for one cancelled before the worker saw it pending, the hours up to
// and including the cancellation's (R18); for a contract, no hour after
// its last term (R14). A link that moved to another organization, or whose
// subscription failed, ends with the hour before its end's: the next link
// starts at that hour (termSpans), and MeteredSubscriptions no longer
// lists it.
func lastHour(sub marketplace.Metered, spans []span, now time.Time) time.Time {
	last := now.UTC().Truncate(time.Hour)
	switch sub.Status {
	case marketplace.StatusUnsubscribePending:
		// AWS ends the subscription within the hour; Google's pending
		// cancellation runs to the term's end and may be withdrawn, so
		// its hours close as an active subscription's do.
		if sub.Product.Marketplace != marketplace.GCP {
			last = last.Add(time.Hour)
		}
	case marketplace.StatusCancelled:
		last = sub.CancelledAt.UTC().Truncate(time.Hour).Add(time.Hour)
	}
	if !sub.EndedAt.IsZero() && sub.EndReason != marketplace.StatusCancelled {
		if end := sub.EndedAt.UTC().Truncate(time.Hour); end.Before(last) {
			last = end
		}
	}
	if end := spans[len(spans)-1].to; !end.IsZero() && end.Before(last) {
		last = end
	}
	return last
}

// makeOne makes the record of one hour: what is due up to the hour's end,
// less what earlier records already carry. Fractions of a cent stay in the
// cumulative total and reach a later record (R11), across a term's end
// too; usage that arrives late for an hour already recorded does too; so
// does a carried record.
func (m *Maker) makeOne(ctx context.Context, sub marketplace.Metered, spans []span, hour time.Time, skip []time.Time) (bool, error) {
	due, err := m.dueCents(ctx, sub.OrgID, spans, hour.Add(time.Hour), skip)
	if err != nil {
		return false, err
	}
	made := false
	err = m.db.InTx(ctx, func(tx *sql.Tx) error {
		// The subscription row is the lock that makes two processes take
		// turns on one subscription's records.
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM subscriptions WHERE id = $1`+m.db.Dialect().ForUpdate(), sub.SubscriptionID).Scan(&status); err != nil {
			return err
		}
		// Only the records from the first hour due count: a subscription
		// moved to another organization (R8) starts its due amount again at
		// the link.
		var already int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM metering_records
			WHERE subscription_id = $1 AND dimension = $2 AND status <> 'carried' AND hour >= $3`,
			sub.SubscriptionID, sub.Product.MeteredDimension, store.Now(spans[0].from)).Scan(&already); err != nil {
			return err
		}
		// A link made within the hour a cancelled subscription of the
		// organization last bills (its cancellation's, R18) starts with
		// that hour too: that subscription's record of the hour has billed
		// the usage up to its cancellation, and this one bills the rest, not
		// the whole hour again. Both are cents of the organization's usage.
		// A record AWS refused billed nothing, and does not count.
		// (Subscriptions are metered in the order of their ids, so the
		// cancelled one's final record comes first.)
		var before int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(r.quantity), 0) FROM metering_records r
			WHERE r.hour = $1 AND r.status NOT IN ('carried', 'not-subscribed', 'rejected') AND r.subscription_id <> $2 AND r.subscription_id IN (
				SELECT l.subscription_id FROM billing_links l WHERE l.org_id = $3 AND l.end_reason = $4)`,
			store.Now(spans[0].from), sub.SubscriptionID, sub.OrgID, marketplace.StatusCancelled).Scan(&before); err != nil {
			return err
		}
		already += before
		// AWS takes an int32 quantity; more stays in the running total and
		// goes with the next hour.
		qty := min(max(due-already, 0), math.MaxInt32)
		// Microsoft refuses a zero quantity (#15): only AWS takes
		// zero-quantity hours.
		if qty == 0 && (!m.cfg.ZeroRecords || sub.Product.Marketplace != marketplace.AWS) {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO metering_records (subscription_id, product_code, dimension, hour, quantity, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subscription_id, dimension, hour) DO NOTHING`,
			sub.SubscriptionID, sub.Product.Code, sub.Product.MeteredDimension, store.Now(hour), qty, store.Now(m.cfg.Now()))
		if err != nil {
			return fmt.Errorf("make record for %s: %w", hour.Format(time.RFC3339), err)
		}
		n, _ := res.RowsAffected()
		made = n == 1
		return nil
	})
	return made, err
}

// dueCents is the cumulative amount owed to the marketplace, in cents, for
// the usage of the hours before to: everything for pay-as-you-go; for a
// contract, what goes beyond each term's committed credits (R12, R13,
// R14). The overage of the terms is summed before it is rounded down to
// the cent, so that a term's fraction of a cent goes with the next term's.
func (m *Maker) dueCents(ctx context.Context, orgID int64, spans []span, to time.Time, skip []time.Time) (int64, error) {
	rated, err := rateBySpan(ctx, m.cfg.Usage, m.Rate, orgID, spans, to, skip)
	if err != nil {
		return 0, err
	}
	over := new(big.Int)
	for i, r := range rated {
		if r.Sub(r, big.NewInt(spans[i].credits)); r.Sign() > 0 {
			over.Add(over, r)
		}
	}
	over.Quo(over, big.NewInt(microsPerCent))
	if !over.IsInt64() {
		// Within the bounds of package usage it is at most about 2 × 10^15
		// cents; only totals beyond them, or prices raised a thousandfold
		// since, get here. Never wrap.
		return 0, fmt.Errorf("usage of organization %d up to %s rates to %s cents, beyond int64: %w", orgID, to.Format(time.RFC3339), over, usage.ErrBadTotals)
	}
	return over.Int64(), nil
}

// span is the hours of one term: the usage of the hours that start in
// [from, to) draws its credits. to is zero when the term has no end.
type span struct {
	from, to time.Time
	credits  int64 // micro-dollars
	term     marketplace.Term
}

// termSpans lays a subscription's terms, oldest first, on the hours from
// its link. The first term runs from the link's hour; a term ends with the
// hour its end date falls in (or on the hour it names), and the next one
// starts there, so that every hour belongs to one term. Hours before the
// link are in none: that usage is not this link's (R8, R13); nor are those
// before a renewed term whose earlier term is not known (renewals recorded
// before migration 0014). Pay-as-you-go, and a contract without committed
// credits, is one span without credits or end.
func termSpans(linkedAt time.Time, terms []marketplace.Term) []span {
	first := linkedAt.UTC().Truncate(time.Hour)
	var out []span
	prev := first
	for _, t := range terms {
		// Credits beyond what micro-dollars in int64 hold are as good as
		// unlimited (9.2 trillion credits); keep them from wrapping.
		sp := span{from: first, credits: min(t.Credits, math.MaxInt64/microsPerCredit) * microsPerCredit, term: t}
		if !t.Start.IsZero() {
			sp.from = ceilHour(t.Start)
		}
		if sp.from.Before(prev) {
			sp.from = prev
		}
		if !t.End.IsZero() {
			if sp.to = ceilHour(t.End); !sp.to.After(sp.from) {
				continue // over before the link
			}
			prev = sp.to
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return []span{{from: first}}
	}
	return out
}

// ceilHour is the start of the first hour that begins at or after t.
func ceilHour(t time.Time) time.Time {
	h := t.UTC().Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h
}

// spanAt is the index of the span hour belongs to: the last that started
// by then, or the first when none has.
func spanAt(spans []span, hour time.Time) int {
	i := 0
	for j, sp := range spans {
		if !hour.Before(sp.from) {
			i = j
		}
	}
	return i
}

// rateBySpan rates, in micro-dollars, each span's usage of the hours before
// to. The usage is rated cumulatively from the first span and cut at the
// spans' edges, so that each meter's fraction of a micro-dollar is dropped
// once over the whole, as for a single term, never at a term's end (R11).
// Usage between two spans is in neither.
func rateBySpan(ctx context.Context, totals Usage, rate func(map[string]*big.Int) *big.Int, orgID int64, spans []span, to time.Time,
	skip []time.Time) ([]*big.Int, error) {
	origin := spans[0].from
	upTo := map[int64]*big.Int{origin.Unix(): new(big.Int)}
	rated := func(t time.Time) (*big.Int, error) {
		if v, ok := upTo[t.Unix()]; ok {
			return v, nil
		}
		byMeter, err := totals.ByMeter(ctx, orgID, origin, t, skip)
		if err != nil {
			return nil, err
		}
		upTo[t.Unix()] = rate(byMeter)
		return upTo[t.Unix()], nil
	}
	out := make([]*big.Int, len(spans))
	for i, sp := range spans {
		out[i] = new(big.Int)
		end := to
		if !sp.to.IsZero() && sp.to.Before(end) {
			end = sp.to
		}
		if !end.After(sp.from) {
			continue
		}
		hi, err := rated(end)
		if err != nil {
			return nil, err
		}
		lo, err := rated(sp.from)
		if err != nil {
			return nil, err
		}
		out[i].Sub(hi, lo)
	}
	return out, nil
}

// Rate prices usage totals (micro-units per meter) in micro-dollars,
// exactly: big integers, because micro-units times micro-dollars overflow
// 64 bits for large customers; the fraction below a micro-dollar of each
// meter is dropped, and stays in the next cumulative total.
func (m *Maker) Rate(totals map[string]*big.Int) *big.Int {
	return rateTotals(m.cfg.Prices, totals, func(meter string) {
		m.cfg.Logger.Warn("usage of a meter not in the catalog is not rated", "meter", meter)
	})
}

// rateTotals is Rate with the prices given; unknown, when not nil, hears
// of each meter without a price.
func rateTotals(prices Prices, totals map[string]*big.Int, unknown func(meter string)) *big.Int {
	sum := new(big.Int)
	for meter, q := range totals {
		p, ok := prices.Meter(meter)
		if !ok {
			if unknown != nil {
				unknown(meter)
			}
			continue
		}
		v := new(big.Int).Mul(q, big.NewInt(p.PriceMicros))
		sum.Add(sum, v.Quo(v, big.NewInt(usage.QuantityScale)))
	}
	return sum
}
