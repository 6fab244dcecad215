package usage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"math/big"
	"slices"
	"time"
)

// The bounds on stored usage (#11). Without them a product could send,
// within the limits of each event, enough usage in one hour to overflow
// the 64-bit sums that rating, metering and the billing page make, and so
// stop its own organization's metering for good. Ingest refuses each event
// that would take a total past a bound, alone, with a 422 that says which.
//
// Every sum of usage that marketbridge makes then fits its type, on both
// engines:
//
//   - One (organization, meter, hour), every subject together, holds at most
//     MaxHourQuantity: 10^18 micro-units, a trillion units, a thousand events
//     of the largest quantity. A total plus one event (10^15) stays far
//     below int64's 9.2 × 10^18, in SQL and in Go.
//   - Usage times lie in the 2^20 hours from 2020 (keyEpoch) to 2139, so a
//     sum over hours adds at most 2^20 of them. Totals sums whole units and
//     millionths apart: at most 2^20 × 10^12 ≈ 1.05 × 10^18 units and
//     2^20 × 10^6 millionths, both well inside int64; callers add them in
//     big integers. A day (the billing page's chart) is 24 hours of at
//     most 10^18 each, summed in big integers too.
//   - One organization's hour, every meter together, rates to at most
//     MaxHourMicros at the catalog's prices: $20,000,000, just under the
//     most AWS Marketplace takes in one hourly record (2^31 - 1 cents,
//     $21,474,836.47), so an hour within the bound can be billed in its own
//     hour. A month (744 hours) then rates to at most 1.5 × 10^16
//     micro-dollars, 600 times inside int64; every hour since 2020 to
//     2.1 × 10^19 micro-dollars, past int64, which is why rating works in
//     big integers and keeps only cents in int64 (at most 2.1 × 10^15) or
//     the part of a contract's credits used (at most the credits).
//
// Prices may change after usage is stored; conversions to int64 are checked
// wherever a sum could then leave it, and fail rather than wrap.
const (
	MaxHourQuantity Quantity = 1_000_000_000_000 * QuantityScale
	MaxHourMicros   int64    = 20_000_000 * 1_000_000
)

// hourSpan is how many hours usage times may span, from keyEpoch: the hour
// field of a deduplication slot has 20 bits.
const hourSpan = 1 << (64 - 1 - slotHashBits)

// lastUsageHour is the end of the hours usage may be stored for.
var lastUsageHour = keyEpoch.Add(hourSpan * time.Hour)

// orgHour is one organization's hour, the unit of the money bound.
type orgHour struct {
	org  int64
	hour int64 // since the Unix epoch
}

// meterHour is one organization's meter in one hour, the unit of the
// quantity bound and one row of usage_meter_hourly.
type meterHour struct {
	orgID int64
	hour  time.Time
	meter string
	add   Quantity
}

// hourState is what a round knows of one organization's hour.
type hourState struct {
	hour   time.Time
	totals map[string]Quantity // per meter, stored and accepted so far
	// money is the hour's usage rated exactly, in micro-units times
	// micro-dollars (micro-dollars × 10^6), so that no fraction is lost
	// before the comparison.
	money *big.Int
}

// moneyBound is MaxHourMicros in the unit of hourState.money.
var moneyBound = new(big.Int).Mul(big.NewInt(MaxHourMicros), big.NewInt(QuantityScale))

// applyBounds checks the round's new events, in order, against the bounds,
// given what the database holds, inside the round's transaction, once it
// holds the hours' locks (on PostgreSQL; SQLite has one writer).
// It sets refused on each event that would pass a bound and returns how
// many it refused; when none, it returns the increments of
// usage_meter_hourly.
func (in *Ingester) applyBounds(ctx context.Context, tx *sql.Tx, fresh []*item) (refused int, adds []meterHour, err error) {
	hours, keys := roundHours(fresh)
	if err := in.sql.lockHours(ctx, tx, keys); err != nil {
		return 0, nil, fmt.Errorf("lock usage hours: %w", err)
	}
	stored, err := in.sql.hourTotals(ctx, tx, keys, hours)
	if err != nil {
		return 0, nil, fmt.Errorf("read usage hour totals: %w", err)
	}
	refused, adds = in.checkBounds(fresh, hours, stored)
	return refused, adds, nil
}

// roundHours is the hours of the round's events, with their state to be
// filled, and their keys in the order writers lock them.
func roundHours(fresh []*item) (map[orgHour]*hourState, []orgHour) {
	hours := map[orgHour]*hourState{}
	var keys []orgHour
	for _, it := range fresh {
		k := orgHour{it.ev.OrgID, it.ev.Time.Unix() / 3600}
		if _, ok := hours[k]; !ok {
			hours[k] = &hourState{hour: it.ev.Time.Truncate(time.Hour), totals: map[string]Quantity{}, money: new(big.Int)}
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b orgHour) int {
		if c := cmp.Compare(a.org, b.org); c != 0 {
			return c
		}
		return cmp.Compare(a.hour, b.hour)
	})
	return hours, keys
}

// checkBounds is applyBounds once the hours' stored totals are known.
func (in *Ingester) checkBounds(fresh []*item, hours map[orgHour]*hourState, stored []meterHour) (refused int, adds []meterHour) {
	for _, mh := range stored {
		st := hours[orgHour{mh.orgID, mh.hour.Unix() / 3600}]
		st.totals[mh.meter] = mh.add
		st.money.Add(st.money, in.value(mh.meter, mh.add))
	}
	for _, it := range fresh {
		ev := &it.ev
		k := orgHour{ev.OrgID, ev.Time.Unix() / 3600}
		st := hours[k]
		cur := st.totals[ev.Meter]
		if cur > MaxHourQuantity || ev.Quantity > MaxHourQuantity-cur {
			it.refused = fmt.Sprintf("data.quantity: would take the organization's usage of meter %q in the hour from %s past %s units, "+
				"the most one hour may hold; it holds %s", ev.Meter, st.hour.Format(time.RFC3339), MaxHourQuantity, cur)
			refused++
			continue
		}
		money := st.money
		if v := in.value(ev.Meter, ev.Quantity); v.Sign() > 0 {
			money = new(big.Int).Add(st.money, v)
			if money.Cmp(moneyBound) > 0 {
				it.refused = fmt.Sprintf("data.quantity: would take the organization's usage in the hour from %s past $20,000,000.00 "+
					"at the catalog's prices, the most one hour may hold (AWS Marketplace bills at most $21,474,836.47 an hour)",
					st.hour.Format(time.RFC3339))
				refused++
				continue
			}
		}
		st.totals[ev.Meter] = cur + ev.Quantity
		st.money = money
	}
	if refused > 0 {
		return refused, nil
	}
	return 0, meterAdds(fresh, hours)
}

// meterAdds is what the events add to usage_meter_hourly, sorted by key so
// that concurrent writers lock rows in one order.
func meterAdds(fresh []*item, hours map[orgHour]*hourState) []meterHour {
	type addKey struct {
		k     orgHour
		meter string
	}
	added := map[addKey]Quantity{}
	for _, it := range fresh {
		added[addKey{orgHour{it.ev.OrgID, it.ev.Time.Unix() / 3600}, it.ev.Meter}] += it.ev.Quantity
	}
	adds := make([]meterHour, 0, len(added))
	for ak, q := range added {
		adds = append(adds, meterHour{orgID: ak.k.org, hour: hours[ak.k].hour, meter: ak.meter, add: q})
	}
	slices.SortFunc(adds, func(a, b meterHour) int {
		if c := cmp.Compare(a.orgID, b.orgID); c != 0 {
			return c
		}
		if c := a.hour.Compare(b.hour); c != 0 {
			return c
		}
		return cmp.Compare(a.meter, b.meter)
	})
	return adds
}

// value is q of meter rated exactly, in micro-dollars × 10^6; zero for a
// meter without a price (or no longer in the catalog).
func (in *Ingester) value(meter string, q Quantity) *big.Int {
	m, ok := in.cfg.Meters.Meter(meter)
	if !ok || m.PriceMicros <= 0 || q <= 0 {
		return new(big.Int)
	}
	return new(big.Int).Mul(big.NewInt(int64(q)), big.NewInt(m.PriceMicros))
}

// hourLockClass is the first key of the PostgreSQL advisory locks that make
// concurrent writers take turns on an organization's hour ("usag").
const hourLockClass = 0x75736167

// hourLockKeys are the advisory lock keys of hours, ascending and distinct,
// so that every writer takes them in one order. Two hours may share a key:
// they then only take turns when they need not.
func hourLockKeys(keys []orgHour) []int32 {
	out := make([]int32, 0, len(keys))
	for _, k := range keys {
		h := fnv.New32a()
		var b [16]byte
		for i := range 8 {
			b[i] = byte(uint64(k.org) >> (8 * i))
			b[8+i] = byte(uint64(k.hour) >> (8 * i))
		}
		h.Write(b[:])
		out = append(out, int32(h.Sum32()))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
