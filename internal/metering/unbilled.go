package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// Links lists an organization's billing links, ended ones too (package
// marketplace).
type Links interface {
	LinkHistory(ctx context.Context, orgID int64) ([]marketplace.Metered, error)
}

// CoverageConfig configures a Coverage.
type CoverageConfig struct {
	DB     *store.DB
	Links  Links
	Prices Prices
	Logger *slog.Logger
	Now    func() time.Time // the marketplace's clock, as metering's
	// Events, when set, records a usage.unbilled event for each
	// organization and closed hour with usage no marketplace bills
	// (RecordUnbilled); nil records none.
	Events *webhook.Recorder
}

// Validate reports every missing dependency at once.
func (c CoverageConfig) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("metering: Coverage needs DB"))
	}
	if c.Links == nil {
		errs = append(errs, errors.New("metering: Coverage needs Links"))
	}
	if c.Prices == nil {
		errs = append(errs, errors.New("metering: Coverage needs Prices"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("metering: Coverage needs Logger"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("metering: Coverage needs Now"))
	}
	return errors.Join(errs...)
}

// Coverage tells the vendor which usage a marketplace bills and which it
// does not, so that the vendor bills the rest another way (R12, R20, R23):
// the same hours metering bills (coverage), rated as metering rates them.
type Coverage struct {
	cfg CoverageConfig
}

// NewCoverage returns a Coverage.
func NewCoverage(cfg CoverageConfig) (*Coverage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coverage{cfg: cfg}, nil
}

// Granularity is the length of a usage report's periods.
type Granularity string

// Report periods: an hour, or a UTC day.
const (
	GranularityHour Granularity = "hour"
	GranularityDay  Granularity = "day"
)

// Bounds of a usage report: 31 days of hours, 366 days of days.
const (
	MaxReportHours = 31 * 24
	MaxReportDays  = 366
)

// Length is how long a period of the granularity lasts.
func (g Granularity) Length() time.Duration {
	if g == GranularityDay {
		return 24 * time.Hour
	}
	return time.Hour
}

// UsageQuery asks for an organization's usage over [From, To) in periods
// of Granularity.
type UsageQuery struct {
	OrgID       int64
	From, To    time.Time
	Granularity Granularity
}

// Validate reports every field error at once: both ends aligned to the
// granularity (a UTC day starts at midnight UTC), From before To, and at
// most MaxReportHours hours or MaxReportDays days.
func (q UsageQuery) Validate() error {
	var errs []error
	if q.OrgID <= 0 {
		errs = append(errs, fault.Field("organization", "Name an organization."))
	}
	// Whatever the granularity, periods start on the hour: an unknown
	// one is checked as hours, so that every error comes back at once.
	g := GranularityHour
	switch q.Granularity {
	case GranularityHour, GranularityDay:
		g = q.Granularity
	default:
		errs = append(errs, fault.Field("granularity", `Use "hour" or "day".`))
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"from", q.From}, {"to", q.To}} {
		if start := f.t.UTC().Truncate(g.Length()); !f.t.IsZero() && !start.Equal(f.t) {
			errs = append(errs, fault.Field(f.name, fmt.Sprintf("Must start a UTC %s (such as %s).", g, start.Format(time.RFC3339))))
		}
	}
	switch {
	case q.From.IsZero() || q.To.IsZero():
		if q.From.IsZero() {
			errs = append(errs, fault.Field("from", "Give the start, in RFC 3339 (2026-11-23T09:00:00Z)."))
		}
		if q.To.IsZero() {
			errs = append(errs, fault.Field("to", "Give the end, in RFC 3339 (2026-11-24T00:00:00Z)."))
		}
	case !q.From.Before(q.To):
		errs = append(errs, fault.Field("to", "Must be after from."))
	case q.Granularity == GranularityHour && q.To.Sub(q.From) > MaxReportHours*time.Hour:
		errs = append(errs, fault.Field("to", fmt.Sprintf("At most %d hours (31 days) after from; ask for days for longer.", MaxReportHours)))
	case q.Granularity == GranularityDay && q.To.Sub(q.From) > MaxReportDays*24*time.Hour:
		errs = append(errs, fault.Field("to", fmt.Sprintf("At most %d days after from.", MaxReportDays)))
	}
	return fault.Validation(errs...)
}

// Period is the usage of one period, per meter: only periods and meters
// with usage are listed.
type Period struct {
	Start  time.Time
	Meters []MeterUsage
}

// MeterUsage is one meter's usage of a period, rated, and split into what
// a marketplace bills and what it does not. RatedMicros is always
// BilledMicros + UnbilledMicros: each unbilled part is rated on its own,
// the fraction of a micro-dollar dropped (the vendor never charges a
// fraction more than the usage), and the rest of the rated total is the
// billed part.
type MeterUsage struct {
	Meter          string
	Quantity       *big.Int // micro-units
	RatedMicros    int64
	BilledMicros   int64
	UnbilledMicros int64
	Unbilled       []UnbilledPart // by reason, in the order of the reasons' constants
}

// UnbilledPart is the usage of a period that no marketplace bills for one
// reason.
type UnbilledPart struct {
	Reason   Reason
	Quantity *big.Int // micro-units
	Micros   int64
}

// Usage reports the organization's usage over the query's span, rated,
// with what no marketplace bills and why (R12, R20, R23). The hours are
// attributed as metering bills them (coverage); usage of the hour under
// way counts as billed while a live link stands, as metering bills it
// when it closes.
func (c *Coverage) Usage(ctx context.Context, q UsageQuery) ([]Period, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	links, err := c.cfg.Links.LinkHistory(ctx, q.OrgID)
	if err != nil {
		return nil, err
	}
	hours, err := c.hourly(ctx, q.OrgID, q.From, q.To)
	if err != nil {
		return nil, err
	}
	return splitUsage(hours, newAttribution(links), c.cfg.Prices, q.Granularity), nil
}

// hourUsage is one meter's usage total of one hour.
type hourUsage struct {
	hour     time.Time
	meter    string
	quantity int64 // micro-units
}

// hourly reads the organization's hourly totals in [from, to), in order.
func (c *Coverage) hourly(ctx context.Context, orgID int64, from, to time.Time) ([]hourUsage, error) {
	rows, err := c.cfg.DB.Read().QueryContext(ctx, `SELECT hour, meter, quantity FROM usage_meter_hourly
		WHERE org_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour, meter`, orgID, store.Now(from), store.Now(to))
	if err != nil {
		return nil, fmt.Errorf("read usage of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []hourUsage
	for rows.Next() {
		var h hourUsage
		if err := rows.Scan(&h.hour, &h.meter, &h.quantity); err != nil {
			return nil, fmt.Errorf("read usage of organization %d: %w", orgID, err)
		}
		h.hour = h.hour.UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// reasonOrder is the order unbilled parts are listed in.
var reasonOrder = []Reason{ReasonNoLink, ReasonCancelled, ReasonGrace, ReasonSuspended, ReasonContractExpired}

// splitUsage sums hourly usage into periods and meters, split by whether a
// marketplace bills each hour.
func splitUsage(hours []hourUsage, attr attribution, prices Prices, g Granularity) []Period {
	type key struct {
		start time.Time
		meter string
	}
	type sums struct {
		total    *big.Int
		unbilled map[Reason]*big.Int
	}
	byKey := map[key]*sums{}
	var keys []key
	type verdict struct {
		billed bool
		reason Reason
	}
	seen := map[time.Time]verdict{}
	for _, h := range hours {
		v, ok := seen[h.hour]
		if !ok {
			v.billed, v.reason = attr.at(h.hour)
			seen[h.hour] = v
		}
		k := key{h.hour.Truncate(g.Length()), h.meter}
		s := byKey[k]
		if s == nil {
			s = &sums{total: new(big.Int), unbilled: map[Reason]*big.Int{}}
			byKey[k] = s
			keys = append(keys, k)
		}
		q := big.NewInt(h.quantity)
		s.total.Add(s.total, q)
		if !v.billed {
			if s.unbilled[v.reason] == nil {
				s.unbilled[v.reason] = new(big.Int)
			}
			s.unbilled[v.reason].Add(s.unbilled[v.reason], q)
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.meter, b.meter)
	})
	var out []Period
	for _, k := range keys {
		s := byKey[k]
		m := MeterUsage{Meter: k.meter, Quantity: s.total, RatedMicros: rateMeter(prices, k.meter, s.total)}
		for _, r := range reasonOrder {
			if q := s.unbilled[r]; q != nil {
				part := UnbilledPart{Reason: r, Quantity: q, Micros: rateMeter(prices, k.meter, q)}
				m.Unbilled = append(m.Unbilled, part)
				m.UnbilledMicros += part.Micros
			}
		}
		m.BilledMicros = m.RatedMicros - m.UnbilledMicros
		if n := len(out); n == 0 || !out[n-1].Start.Equal(k.start) {
			out = append(out, Period{Start: k.start})
		}
		out[len(out)-1].Meters = append(out[len(out)-1].Meters, m)
	}
	return out
}

// rateMeter rates one meter's quantity as metering does (rateTotals): a
// meter without a price rates to nothing.
func rateMeter(prices Prices, meter string, q *big.Int) int64 {
	return clampMicros(rateTotals(prices, map[string]*big.Int{meter: q}, nil))
}

// FormatQuantity writes micro-units as the usage API writes quantities: an
// exact decimal without trailing zeros ("12.5", "3"), of any size.
func FormatQuantity(q *big.Int) string {
	whole, frac := new(big.Int).QuoRem(q, big.NewInt(usage.QuantityScale), new(big.Int))
	out := whole.String()
	if frac.Sign() != 0 {
		f := strconv.FormatInt(frac.Int64()+usage.QuantityScale, 10)[1:]
		out += "." + strings.TrimRight(f, "0")
	}
	return out
}

// unbilledSetting is the settings key of the last hour RecordUnbilled has
// looked at: every hour before it is done.
const unbilledSetting = "usage_unbilled_through"

// unbilledLookback is how far back each round looks again: a cancellation
// AWS sends late turns hours that seemed billed into unbilled ones.
const unbilledLookback = 3 * time.Hour

// UnbilledEvent is the payload of a usage.unbilled event: one closed hour
// of an organization's usage that no marketplace bills.
type UnbilledEvent struct {
	Hour           time.Time       `json:"hour"`
	Reason         Reason          `json:"reason"`
	UnbilledMicros int64           `json:"unbilled_micros"`
	Meters         []UnbilledMeter `json:"meters"`
}

// UnbilledMeter is one meter's unbilled usage of the hour.
type UnbilledMeter struct {
	Meter    string `json:"meter"`
	Quantity string `json:"quantity"` // exact decimal, as the usage API writes it
	Micros   int64  `json:"micros"`
}

// RecordUnbilled records a usage.unbilled event for each organization and
// hour closed since the last round (and the few before, unbilledLookback)
// whose usage no marketplace bills, and returns how many it recorded. Each
// (organization, hour) gets one event, whichever process and however many
// rounds: a marker row, inserted in the event's transaction, says it was
// recorded. Usage that arrives for an hour after its event is in the usage
// report, not in another event. Without Events it does nothing.
func (c *Coverage) RecordUnbilled(ctx context.Context) (int, error) {
	if c == nil || c.cfg.Events == nil {
		return 0, nil
	}
	closed := c.cfg.Now().UTC().Truncate(time.Hour)
	through, err := c.through(ctx)
	if err != nil {
		return 0, err
	}
	if through.IsZero() {
		through = closed.Add(-time.Hour) // first round: from the hour that just closed
	}
	if !through.Before(closed) {
		return 0, nil // no hour closed since the last round
	}
	from := through.Add(-unbilledLookback)
	orgs, err := c.orgsWithUsage(ctx, from, closed)
	if err != nil {
		return 0, err
	}
	made := 0
	var errs []error
	for _, orgID := range orgs {
		n, err := c.recordUnbilledOf(ctx, orgID, from, closed)
		made += n
		if err != nil {
			errs = append(errs, fmt.Errorf("usage.unbilled events of organization %d: %w", orgID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return made, err // the next round tries these hours again
	}
	if err := c.setThrough(ctx, closed); err != nil {
		return made, err
	}
	// No round looks before this one's first hour again: its markers can
	// go, a day later, for a process whose clock lags.
	if _, err := c.cfg.DB.Write().ExecContext(ctx, `DELETE FROM usage_unbilled_hours WHERE hour < $1`, store.Now(from.Add(-24*time.Hour))); err != nil {
		return made, fmt.Errorf("prune usage.unbilled markers: %w", err)
	}
	return made, nil
}

func (c *Coverage) through(ctx context.Context) (time.Time, error) {
	var v string
	err := c.cfg.DB.Read().QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, unbilledSetting).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s: %w", unbilledSetting, err)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s %q: %w", unbilledSetting, v, err)
	}
	return t.UTC(), nil
}

// setThrough moves the mark forward only: a process whose clock lags does
// not move it back.
func (c *Coverage) setThrough(ctx context.Context, t time.Time) error {
	if _, err := c.cfg.DB.Write().ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE settings.value < excluded.value`,
		unbilledSetting, t.UTC().Format(time.RFC3339), store.Now(c.cfg.Now())); err != nil {
		return fmt.Errorf("write %s: %w", unbilledSetting, err)
	}
	return nil
}

// orgsWithUsage lists the organizations with usage in [from, to), through
// usage_hourly's index by hour.
func (c *Coverage) orgsWithUsage(ctx context.Context, from, to time.Time) ([]int64, error) {
	rows, err := c.cfg.DB.Read().QueryContext(ctx, `SELECT DISTINCT org_id FROM usage_hourly WHERE hour >= $1 AND hour < $2 ORDER BY org_id`,
		store.Now(from), store.Now(to))
	if err != nil {
		return nil, fmt.Errorf("list organizations with usage: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (c *Coverage) recordUnbilledOf(ctx context.Context, orgID int64, from, to time.Time) (int, error) {
	links, err := c.cfg.Links.LinkHistory(ctx, orgID)
	if err != nil {
		return 0, err
	}
	hours, err := c.hourly(ctx, orgID, from, to)
	if err != nil {
		return 0, err
	}
	made := 0
	for _, p := range splitUsage(hours, newAttribution(links), c.cfg.Prices, GranularityHour) {
		ev := UnbilledEvent{Hour: p.Start}
		for _, m := range p.Meters {
			// One hour has one reason: every meter's part is that one.
			for _, part := range m.Unbilled {
				if part.Quantity.Sign() == 0 {
					continue
				}
				ev.Reason = part.Reason
				ev.UnbilledMicros += part.Micros
				ev.Meters = append(ev.Meters, UnbilledMeter{Meter: m.Meter, Quantity: FormatQuantity(part.Quantity), Micros: part.Micros})
			}
		}
		if len(ev.Meters) == 0 {
			continue
		}
		ok, err := c.recordOne(ctx, orgID, ev)
		if err != nil {
			return made, err
		}
		if ok {
			made++
		}
	}
	return made, nil
}

// recordOne records the hour's event unless its marker says it was.
func (c *Coverage) recordOne(ctx context.Context, orgID int64, ev UnbilledEvent) (bool, error) {
	made := false
	err := c.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO usage_unbilled_hours (org_id, hour, event_id, recorded_at) VALUES ($1, $2, '', $3)
			ON CONFLICT (org_id, hour) DO NOTHING`, orgID, store.Now(ev.Hour), store.Now(c.cfg.Now()))
		if err != nil {
			return fmt.Errorf("mark hour %s: %w", ev.Hour.Format(time.RFC3339), err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // recorded before, by this process or another
		}
		e, err := c.cfg.Events.Record(ctx, tx, orgID, webhook.TypeUsageUnbilled, ev)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE usage_unbilled_hours SET event_id = $1 WHERE org_id = $2 AND hour = $3`,
			e.ID, orgID, store.Now(ev.Hour)); err != nil {
			return fmt.Errorf("mark hour %s: %w", ev.Hour.Format(time.RFC3339), err)
		}
		made = true
		return nil
	})
	return made, err
}
