package metering

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"sort"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
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
	// Contracts: committed credits, how much of them is used, and when they
	// run out at the last week's pace (zero when not within 365 days).
	CommittedMicros int64
	UsedMicros      int64
	RunOut          time.Time
	Records         []RecordView
}

// UsedPercent is the share of committed credits used, 0-100.
func (s Summary) UsedPercent() int64 {
	if s.CommittedMicros == 0 {
		return 0
	}
	return min(100, s.UsedMicros*100/s.CommittedMicros)
}

// Reporter builds billing summaries.
type Reporter struct {
	db     *store.DB
	prices Prices
	now    func() time.Time
}

// NewReporter returns a Reporter.
func NewReporter(db *store.DB, prices Prices, now func() time.Time) *Reporter {
	return &Reporter{db: db, prices: prices, now: now}
}

// Summarize reports an organization's usage and metering. committed is the
// contract's committed credits ($1 each) and since when they are drawn
// (the link); zero for pay-as-you-go.
func (r *Reporter) Summarize(ctx context.Context, orgID, subscriptionID, committedCredits int64, since time.Time) (Summary, error) {
	now := r.now().UTC()
	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -29)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := first
	if monthStart.Before(from) {
		from = monthStart
	}
	rows, err := r.db.Read().QueryContext(ctx, `SELECT hour, meter, quantity FROM usage_hourly WHERE org_id = $1 AND hour >= $2`, orgID, store.Now(from))
	if err != nil {
		return Summary{}, fmt.Errorf("read usage of organization %d: %w", orgID, err)
	}
	type dayMeter struct {
		day   time.Time
		meter string
	}
	perDay := map[dayMeter]int64{}
	for rows.Next() {
		var hour time.Time
		var meter string
		var q int64
		if err := rows.Scan(&hour, &meter, &q); err != nil {
			rows.Close()
			return Summary{}, err
		}
		perDay[dayMeter{hour.UTC().Truncate(24 * time.Hour), meter}] += q
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Summary{}, err
	}
	s := Summary{CommittedMicros: committedCredits * microsPerCredit}
	byDay := map[time.Time]int64{}
	for k, q := range perDay {
		micros := r.rate(k.meter, q)
		byDay[k.day] += micros
		if !k.day.Before(monthStart) {
			s.MonthMicros += micros
		}
	}
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		s.Days = append(s.Days, Day{Date: d, Micros: byDay[d]})
	}
	if subscriptionID != 0 {
		if err := r.records(ctx, subscriptionID, monthStart, &s); err != nil {
			return Summary{}, err
		}
	}
	if s.CommittedMicros > 0 {
		var used int64
		for d, micros := range byDay {
			if !d.Before(since.UTC().Truncate(24 * time.Hour)) {
				used += micros
			}
		}
		s.UsedMicros = min(used, s.CommittedMicros)
		s.RunOut = runOut(s, today)
	}
	return s, nil
}

// rate prices one meter's quantity in micro-dollars, for display.
func (r *Reporter) rate(meter string, q int64) int64 {
	p, ok := r.prices.Meter(meter)
	if !ok {
		return 0
	}
	v := new(big.Int).Mul(big.NewInt(q), big.NewInt(p.PriceMicros))
	return v.Quo(v, big.NewInt(1_000_000)).Int64()
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

// runOut projects when committed credits run out at the last seven days'
// average pace.
func runOut(s Summary, today time.Time) time.Time {
	days := s.Days
	sort.Slice(days, func(i, j int) bool { return days[i].Date.Before(days[j].Date) })
	var week int64
	for _, d := range days[max(0, len(days)-7):] {
		week += d.Micros
	}
	left := s.CommittedMicros - s.UsedMicros
	if week <= 0 || left <= 0 {
		return time.Time{}
	}
	daysLeft := left * 7 / week
	if daysLeft > 365 {
		return time.Time{}
	}
	return today.AddDate(0, 0, int(daysLeft))
}
