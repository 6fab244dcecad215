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

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Subscriptions lists what to meter, and takes the use of committed
// credits for its alerts (package marketplace).
type Subscriptions interface {
	MeteredSubscriptions(ctx context.Context) ([]marketplace.Metered, error)
	RecordCreditUse(ctx context.Context, subscriptionID, used, committed int64) error
}

// Usage totals usage per meter (package usage).
type Usage interface {
	ByMeter(ctx context.Context, orgID int64, from, to time.Time) (map[string]int64, error)
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
}

// Maker turns usage into metering records, one per subscription and closed
// hour (R10).
type Maker struct {
	cfg MakerConfig
	db  *store.DB
}

// NewMaker returns a Maker.
func NewMaker(cfg MakerConfig) (*Maker, error) {
	if cfg.DB == nil || cfg.Subscriptions == nil || cfg.Usage == nil || cfg.Prices == nil || cfg.Logger == nil || cfg.Now == nil {
		return nil, errors.New("metering: Maker needs DB, Subscriptions, Usage, Prices, Logger and Now")
	}
	return &Maker{cfg: cfg, db: cfg.DB}, nil
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
	from, last := meteredHours(sub, now)
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
	next := from
	if latest.Valid {
		next = latest.Time.UTC().Add(time.Hour)
	}
	made := 0
	for hour := next; hour.Before(last); hour = hour.Add(time.Hour) {
		ok, err := m.makeOne(ctx, sub, from, hour)
		if err != nil {
			return made, err
		}
		if ok {
			made++
		}
	}
	if made > 0 && sub.CommittedCredits > 0 {
		// Alerts follow the hours metered: the usage they report is final.
		totals, err := m.cfg.Usage.ByMeter(ctx, sub.OrgID, from, last)
		if err != nil {
			return made, err
		}
		committed := sub.CommittedCredits * microsPerCredit
		used := min(m.Rate(totals).Int64(), committed)
		if err := m.cfg.Subscriptions.RecordCreditUse(ctx, sub.SubscriptionID, used, committed); err != nil {
			return made, err
		}
	}
	return made, nil
}

// meteredHours are the hours metering makes records for, [from, last).
// They start at the link, or at the start of the current term once a
// renewal began one: a renewed contract draws its fresh credits from its
// own term's usage only; the previous term's hours were settled with that
// term (R13). They end with the closed hours; for a subscription being
// cancelled, with its current hour, which goes now, final; for one
// cancelled before the worker saw it pending, with its cancellation's hour
// (R18); and for a contract, with the hour its term ends in (R14).
func meteredHours(sub marketplace.Metered, now time.Time) (from, last time.Time) {
	from = sub.LinkedAt.UTC().Truncate(time.Hour)
	if ts := sub.TermStart.UTC().Truncate(time.Hour); ts.After(from) {
		from = ts
	}
	last = now.UTC().Truncate(time.Hour)
	switch sub.Status {
	case marketplace.StatusUnsubscribePending:
		last = last.Add(time.Hour)
	case marketplace.StatusCancelled:
		last = sub.CancelledAt.UTC().Truncate(time.Hour).Add(time.Hour)
	}
	if !sub.TermEnd.IsZero() && sub.TermEnd.Before(last) {
		last = sub.TermEnd.UTC().Truncate(time.Hour).Add(time.Hour)
	}
	return from, last
}

// makeOne makes the record of one hour: what is due up to the hour's end,
// less what earlier records already carry. Fractions of a cent stay in the
// cumulative total and reach a later record (R11); usage that arrives late
// for an hour already recorded does too; so does a carried record.
func (m *Maker) makeOne(ctx context.Context, sub marketplace.Metered, from, hour time.Time) (bool, error) {
	end := hour.Add(time.Hour)
	totals, err := m.cfg.Usage.ByMeter(ctx, sub.OrgID, from, end)
	if err != nil {
		return false, err
	}
	due := m.dueCents(sub, totals)
	made := false
	err = m.db.InTx(ctx, func(tx *sql.Tx) error {
		// The subscription row is the lock that makes two processes take
		// turns on one subscription's records.
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM subscriptions WHERE id = $1`+m.db.Dialect().ForUpdate(), sub.SubscriptionID).Scan(&status); err != nil {
			return err
		}
		// Only the records of this link count: a subscription moved to
		// another organization (R8) starts its due amount again at the link.
		var already int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(quantity), 0) FROM metering_records
			WHERE subscription_id = $1 AND dimension = $2 AND status <> 'carried' AND hour >= $3`,
			sub.SubscriptionID, sub.Product.MeteredDimension, store.Now(from)).Scan(&already); err != nil {
			return err
		}
		// AWS takes an int32 quantity; more stays in the running total and
		// goes with the next hour.
		qty := min(max(due-already, 0), math.MaxInt32)
		if qty == 0 && !m.cfg.ZeroRecords {
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
// the usage in totals: everything for pay-as-you-go; for a contract, what
// goes beyond the committed credits (R12, R14).
func (m *Maker) dueCents(sub marketplace.Metered, totals map[string]int64) int64 {
	rated := m.Rate(totals)
	if sub.Product.OfferType == marketplace.OfferContract {
		rated.Sub(rated, big.NewInt(sub.CommittedCredits*microsPerCredit))
		if rated.Sign() < 0 {
			return 0
		}
	}
	return rated.Quo(rated, big.NewInt(microsPerCent)).Int64()
}

// Rate prices usage totals (micro-units per meter) in micro-dollars,
// exactly: big integers, because micro-units times micro-dollars overflow
// 64 bits for large customers; the fraction below a micro-dollar of each
// meter is dropped, and stays in the next cumulative total.
func (m *Maker) Rate(totals map[string]int64) *big.Int {
	sum := new(big.Int)
	for meter, q := range totals {
		p, ok := m.cfg.Prices.Meter(meter)
		if !ok {
			m.cfg.Logger.Warn("usage of a meter not in the catalog is not rated", "meter", meter)
			continue
		}
		v := new(big.Int).Mul(big.NewInt(q), big.NewInt(p.PriceMicros))
		sum.Add(sum, v.Quo(v, big.NewInt(1_000_000)))
	}
	return sum
}
