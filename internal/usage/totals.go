package usage

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Totals reads the hourly totals that rating and metering work from.
type Totals struct {
	db *store.DB
}

// NewTotals returns a reader of usage totals.
func NewTotals(db *store.DB) *Totals { return &Totals{db: db} }

// ErrBadTotals is a stored total that cannot be rated: beyond the bounds
// (limits.go), which only usage stored before them or written by hand can
// be, or not an integer at all. Trying again does not help; metering sets
// the hour aside (package metering).
var ErrBadTotals = errors.New("stored usage total beyond its bounds")

// ByMeter returns the organization's usage per meter, in micro-units, over
// the hours that start in [from, to), except the hours in skip. Late events
// are in it as soon as they are accepted: the totals are kept in the same
// transaction as the events.
//
// Whole units and millionths are summed apart, so that no sum can leave
// int64 whatever the span (see limits.go), and added in big integers. A
// total beyond MaxHourQuantity fails with ErrBadTotals.
func (t *Totals) ByMeter(ctx context.Context, orgID int64, from, to time.Time, skip []time.Time) (map[string]*big.Int, error) {
	q := `SELECT meter, SUM(quantity / 1000000), SUM(quantity % 1000000), MIN(quantity), MAX(quantity) FROM usage_meter_hourly
		WHERE org_id = $1 AND hour >= $2 AND hour < $3`
	args := []any{orgID, store.Now(from), store.Now(to)}
	if len(skip) > 0 {
		var b strings.Builder
		for i, h := range skip {
			if i > 0 {
				b.WriteByte(',')
			}
			args = append(args, store.Now(h))
			b.WriteString("$" + strconv.Itoa(len(args)))
		}
		q += ` AND hour NOT IN (` + b.String() + `)`
	}
	rows, err := t.db.Read().QueryContext(ctx, q+` GROUP BY meter`, args...)
	if err != nil {
		if store.IsPermanent(err) {
			err = errors.Join(ErrBadTotals, err)
		}
		return nil, fmt.Errorf("usage totals of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	out := map[string]*big.Int{}
	for rows.Next() {
		var meter string
		var units, micros, lo, hi int64
		if err := rows.Scan(&meter, &units, &micros, &lo, &hi); err != nil {
			return nil, fmt.Errorf("usage totals of organization %d: %w", orgID, errors.Join(ErrBadTotals, err))
		}
		if lo < 0 || hi > int64(MaxHourQuantity) {
			bad := hi
			if lo < 0 {
				bad = lo
			}
			return nil, fmt.Errorf("usage totals of organization %d, meter %q: an hour holds %s units: %w",
				orgID, meter, Quantity(bad), ErrBadTotals)
		}
		v := new(big.Int).Mul(big.NewInt(units), big.NewInt(QuantityScale))
		out[meter] = v.Add(v, big.NewInt(micros))
	}
	if err := rows.Err(); err != nil {
		if store.IsPermanent(err) {
			err = errors.Join(ErrBadTotals, err)
		}
		return nil, fmt.Errorf("usage totals of organization %d: %w", orgID, err)
	}
	return out, nil
}

// BadHour is an hour whose stored totals cannot be rated, and why.
type BadHour struct {
	Hour   time.Time
	Reason string
}

// BadHours lists the organization's hours in [from, to) whose totals are
// beyond the bounds or not integers, oldest first: what makes ByMeter fail
// with ErrBadTotals. It reads every total of the span, so metering calls it
// only once ByMeter has failed.
func (t *Totals) BadHours(ctx context.Context, orgID int64, from, to time.Time) ([]BadHour, error) {
	rows, err := t.db.Read().QueryContext(ctx, `SELECT hour, meter, quantity FROM usage_meter_hourly
		WHERE org_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour, meter`, orgID, store.Now(from), store.Now(to))
	if err != nil {
		return nil, fmt.Errorf("check usage totals of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []BadHour
	for rows.Next() {
		var hour time.Time
		var meter string
		var v any
		if err := rows.Scan(&hour, &meter, &v); err != nil {
			return nil, fmt.Errorf("check usage totals of organization %d: %w", orgID, err)
		}
		hour = hour.UTC()
		var reason string
		switch q, ok := v.(int64); {
		case !ok:
			reason = fmt.Sprintf("the usage total of meter %q is not an integer (%T)", meter, v)
		case q < 0 || q > int64(MaxHourQuantity):
			reason = fmt.Sprintf("the usage total of meter %q is %s units, beyond the bound of %s", meter, Quantity(q), MaxHourQuantity)
		default:
			continue
		}
		if n := len(out); n > 0 && out[n-1].Hour.Equal(hour) {
			out[n-1].Reason += "; " + reason
			continue
		}
		out = append(out, BadHour{Hour: hour, Reason: reason})
	}
	return out, rows.Err()
}
