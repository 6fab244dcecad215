package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// Day is one day of an organization's usage, rated.
type Day struct {
	Date   time.Time
	Micros int64 // rated usage in micro-dollars
}

// RecordView is a metering record as the billing page lists it.
type RecordView struct {
	Hour             time.Time
	Dimension        string
	Quantity         int64
	Status           string
	MeteringRecordID string
}

// Summary is what the billing page shows of usage and metering (R16).
type Summary struct {
	Days            []Day // the last 30 days, oldest first, every day present
	MonthMicros     int64 // rated usage this calendar month
	MonthMeterCents int64 // metered to the marketplace this calendar month (accepted or pending)
	// Contracts: the committed credits of the current term, how much of
	// them the term's usage has drawn, and the day they run out at the
	// recent daily rate (zero when they last the term, or nothing is used).
	// All zero for pay-as-you-go.
	CommittedMicros int64
	UsedMicros      int64 // at most CommittedMicros: beyond it is overage (R14)
	TermStart       time.Time
	TermEnd         time.Time // zero when the marketplace gave no end
	RunOut          time.Time
	Records         []RecordView
}

// UsedPercent is the share of committed credits used, 0-100. In big
// integers: used × 100 leaves int64 beyond 92 billion credits.
func (s Summary) UsedPercent() int64 {
	if s.CommittedMicros <= 0 {
		return 0
	}
	p := new(big.Int).Mul(big.NewInt(max(s.UsedMicros, 0)), big.NewInt(100))
	return min(100, p.Quo(p, big.NewInt(s.CommittedMicros)).Int64())
}

// RemainingMicros is what is left of the committed credits this term.
func (s Summary) RemainingMicros() int64 { return s.CommittedMicros - s.UsedMicros }

// Reporter builds billing summaries.
type Reporter struct {
	db     *store.DB
	prices Prices
	usage  Usage
	now    func() time.Time
}

// NewReporter returns a Reporter.
func NewReporter(db *store.DB, prices Prices, now func() time.Time) *Reporter {
	// The totals metering draws down from, read the same way.
	return &Reporter{db: db, prices: prices, usage: usage.NewTotals(db), now: now}
}

// SummaryInput says whose billing to summarize.
type SummaryInput struct {
	OrgID int64
	// SubscriptionID is the subscription billing the organization; 0 when
	// there is none.
	SubscriptionID int64
	// LinkedAt is when that subscription was linked: a contract's first
	// term is drawn from then.
	LinkedAt time.Time
	// CommittedDimension is the entitlement dimension of a contract's
	// committed credits; empty for pay-as-you-go.
	CommittedDimension string
}

// Validate reports every field error at once.
func (in SummaryInput) Validate() error {
	var errs []error
	if in.OrgID <= 0 {
		errs = append(errs, errors.New("metering: summary needs an organization"))
	}
	if in.CommittedDimension != "" && (in.SubscriptionID <= 0 || in.LinkedAt.IsZero()) {
		errs = append(errs, errors.New("metering: committed credits need the subscription and when it was linked"))
	}
	return errors.Join(errs...)
}

// Summarize reports an organization's usage and metering and, for a
// contract, its committed credits over the current term.
func (r *Reporter) Summarize(ctx context.Context, in SummaryInput) (Summary, error) {
	if err := in.Validate(); err != nil {
		return Summary{}, err
	}
	orgID, subscriptionID := in.OrgID, in.SubscriptionID
	now := r.now().UTC()
	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -29)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := first
	if monthStart.Before(from) {
		from = monthStart
	}
	// Hours metering set aside are left out here too, so that the page
	// shows what is billed.
	var skip []time.Time
	var err error
	if subscriptionID != 0 {
		if skip, err = failedHours(ctx, r.db, subscriptionID); err != nil {
			return Summary{}, err
		}
	}
	rows, err := r.db.Read().QueryContext(ctx, `SELECT hour, meter, quantity FROM usage_meter_hourly WHERE org_id = $1 AND hour >= $2`,
		orgID, store.Now(from))
	if err != nil {
		return Summary{}, fmt.Errorf("read usage of organization %d: %w", orgID, err)
	}
	type dayMeter struct {
		day   time.Time
		meter string
	}
	// Per day in big integers: a day is 24 hours of up to
	// usage.MaxHourQuantity each, more than int64 holds.
	perDay := map[dayMeter]*big.Int{}
	for rows.Next() {
		var hour time.Time
		var meter string
		var v any
		if err := rows.Scan(&hour, &meter, &v); err != nil {
			rows.Close()
			return Summary{}, err
		}
		q, ok := v.(int64)
		if !ok || q < 0 || q > int64(usage.MaxHourQuantity) || slices.ContainsFunc(skip, hour.Equal) {
			continue // beyond the bounds: metering sets such an hour aside
		}
		k := dayMeter{hour.UTC().Truncate(24 * time.Hour), meter}
		if perDay[k] == nil {
			perDay[k] = new(big.Int)
		}
		perDay[k].Add(perDay[k], big.NewInt(q))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Summary{}, err
	}
	var s Summary
	byDay := map[time.Time]*big.Int{}
	month := new(big.Int)
	for k, q := range perDay {
		micros := rateTotals(r.prices, map[string]*big.Int{k.meter: q}, nil)
		if byDay[k.day] == nil {
			byDay[k.day] = new(big.Int)
		}
		byDay[k.day].Add(byDay[k.day], micros)
		if !k.day.Before(monthStart) {
			month.Add(month, micros)
		}
	}
	s.MonthMicros = clampMicros(month)
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		var micros int64
		if v := byDay[d]; v != nil {
			micros = clampMicros(v)
		}
		s.Days = append(s.Days, Day{Date: d, Micros: micros})
	}
	if subscriptionID != 0 {
		if err := r.records(ctx, subscriptionID, monthStart, &s); err != nil {
			return Summary{}, err
		}
	}
	if in.CommittedDimension != "" {
		if err := r.credits(ctx, in, now, skip, &s); err != nil {
			return Summary{}, err
		}
	}
	return s, nil
}

// credits reports the committed credits of the contract's term that the
// current hour belongs to, as metering draws them (Maker.makeFor): each
// term from its start, the first from the link, up to its end, so that
// usage before the term or after it, an earlier term's remaining hours
// after an early renewal included, is not drawn from these credits (R13,
// R22), and usage older than the chart's 30 days still is. Usage of the
// hour under way counts at once; metering draws it when the hour closes.
func (r *Reporter) credits(ctx context.Context, in SummaryInput, now time.Time, skip []time.Time, s *Summary) error {
	terms, err := marketplace.ContractTerms(ctx, r.db, in.SubscriptionID, in.CommittedDimension)
	if err != nil || len(terms) == 0 {
		return err
	}
	spans := termSpans(in.LinkedAt, terms)
	hour := now.Truncate(time.Hour)
	i := spanAt(spans, hour)
	sp := spans[i]
	if sp.credits <= 0 {
		return nil
	}
	s.CommittedMicros = sp.credits
	s.TermStart = in.LinkedAt.UTC()
	if sp.term.Start.After(s.TermStart) {
		s.TermStart = sp.term.Start.UTC()
	}
	if !sp.term.End.IsZero() {
		s.TermEnd = sp.term.End.UTC()
	}
	rated, err := rateBySpan(ctx, r.usage, func(totals map[string]*big.Int) *big.Int { return rateTotals(r.prices, totals, nil) },
		in.OrgID, spans, hour.Add(time.Hour), skip)
	if err != nil {
		return err
	}
	s.UsedMicros = sp.credits
	if rated[i].Cmp(big.NewInt(sp.credits)) < 0 {
		s.UsedMicros = rated[i].Int64()
	}
	return r.runOut(ctx, in.OrgID, sp.from, now, skip, s)
}

// runOut projects the day the committed credits run out at the recent
// daily rate: the rated usage of the last seven days (closed hours), or of
// the term so far when it is younger, but over no less than a day, so that
// one busy hour just after a link does not make the forecast. Credits that
// last until the term ends do not run out: RunOut stays zero.
func (r *Reporter) runOut(ctx context.Context, orgID int64, termFrom, now time.Time, skip []time.Time, s *Summary) error {
	left := s.RemainingMicros()
	if left <= 0 || (!s.TermEnd.IsZero() && !now.Before(s.TermEnd)) {
		return nil
	}
	hour := now.Truncate(time.Hour)
	from := hour.Add(-7 * 24 * time.Hour)
	if termFrom.After(from) {
		from = termFrom
	}
	if day := hour.Add(-24 * time.Hour); from.After(day) {
		from = day
	}
	recent, err := r.rated(ctx, orgID, from, hour, skip)
	if err != nil || recent <= 0 {
		return err
	}
	// left / (recent / hours), in big integers: micro-dollars times hours
	// can exceed 64 bits for a large commitment used slowly.
	hours := new(big.Int).Mul(big.NewInt(left), big.NewInt(int64(hour.Sub(from)/time.Hour)))
	hours.Quo(hours, big.NewInt(recent))
	limit := s.TermEnd
	if limit.IsZero() {
		limit = now.AddDate(1, 0, 0) // no end date: a forecast beyond a year says nothing
	}
	if !hours.IsInt64() || hours.Int64() > int64(limit.Sub(now)/time.Hour) {
		return nil
	}
	s.RunOut = now.Add(time.Duration(hours.Int64()) * time.Hour).Truncate(24 * time.Hour)
	return nil
}

// rated is the organization's usage over the hours starting in [from, to),
// rated in micro-dollars as metering rates it: per meter over the whole
// span, each meter's fraction of a micro-dollar dropped once.
func (r *Reporter) rated(ctx context.Context, orgID int64, from, to time.Time, skip []time.Time) (int64, error) {
	totals, err := r.usage.ByMeter(ctx, orgID, from, to, skip)
	if err != nil {
		return 0, err
	}
	return clampMicros(rateTotals(r.prices, totals, nil)), nil
}

// clampMicros is v in int64. Within the bounds of package usage a month of
// usage rates to at most 1.5 × 10^16 micro-dollars, far inside; only
// totals stored beyond them, or prices raised a hundredfold since, could
// reach the limit, where the amount stops rather than wraps.
func clampMicros(v *big.Int) int64 {
	if !v.IsInt64() {
		if v.Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return v.Int64()
}

func (r *Reporter) records(ctx context.Context, subscriptionID int64, monthStart time.Time, s *Summary) error {
	rows, err := r.db.Read().QueryContext(ctx, `SELECT hour, dimension, quantity, status, metering_record_id FROM metering_records
		WHERE subscription_id = $1 ORDER BY hour DESC LIMIT 48`, subscriptionID)
	if err != nil {
		return fmt.Errorf("read metering records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v RecordView
		if err := rows.Scan(&v.Hour, &v.Dimension, &v.Quantity, &v.Status, &v.MeteringRecordID); err != nil {
			return err
		}
		s.Records = append(s.Records, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var cents sql.NullInt64
	if err := r.db.Read().QueryRowContext(ctx, `SELECT SUM(quantity) FROM metering_records WHERE subscription_id = $1 AND hour >= $2
		AND status IN ('accepted', 'pending')`, subscriptionID, store.Now(monthStart)).Scan(&cents); err != nil {
		return err
	}
	s.MonthMeterCents = cents.Int64
	return nil
}
