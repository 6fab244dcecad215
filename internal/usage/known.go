package usage

import "sync"

// knownTotals holds, per organization hour, the per-meter totals of
// usage_meter_hourly as this process last committed them (PostgreSQL). With
// them a writer checks a small round's bounds before it writes, and writes
// it in one round trip (writeKnownRound), which fails if the database holds
// other totals: they are a guess that the database confirms, never trusted
// alone. Totals only grow, so of two values for a meter the larger is the
// newer.
type knownTotals struct {
	mu     sync.Mutex
	hours  map[orgHour]map[string]Quantity
	newest int64 // the newest hour held
}

// keepHours is how many hours before the newest the cache keeps: a late
// event for an older hour goes the way of two round trips.
const keepHours = 2

// get returns the totals of every hour of keys, as rows of
// usage_meter_hourly, or false if one of the hours is not known.
func (c *knownTotals) get(keys []orgHour, states map[orgHour]*hourState) ([]meterHour, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rows []meterHour
	for _, k := range keys {
		meters, ok := c.hours[k]
		if !ok {
			return nil, false
		}
		for meter, q := range meters {
			rows = append(rows, meterHour{orgID: k.org, hour: states[k].hour, meter: meter, add: q})
		}
	}
	return rows, true
}

// put records the totals of states after a committed round: each hour's
// totals, every meter of it, as checkBounds left them.
func (c *knownTotals) put(states map[orgHour]*hourState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hours == nil {
		c.hours = map[orgHour]map[string]Quantity{}
	}
	for k, st := range states {
		meters := c.hours[k]
		if meters == nil {
			meters = make(map[string]Quantity, len(st.totals))
			c.hours[k] = meters
		}
		for meter, q := range st.totals {
			meters[meter] = max(meters[meter], q)
		}
		if k.hour > c.newest {
			c.newest = k.hour
			for old := range c.hours {
				if old.hour < c.newest-keepHours {
					delete(c.hours, old)
				}
			}
		}
	}
}

// forget drops the hours of keys, whose totals moved.
func (c *knownTotals) forget(keys []orgHour) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.hours, k)
	}
}
