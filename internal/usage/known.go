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
	mu    sync.Mutex
	hours map[orgHour]map[string]Quantity
	now   int64 // the current hour when entries were last dropped
	// shared counts, per hour whose totals moved under this process, the
	// rounds that still go the way of two round trips: when another
	// process writes the same hour, most guesses would be wrong, and a
	// wrong guess costs its round's rows written and rolled back.
	shared map[orgHour]int
}

// sharedRounds is how many rounds of an hour skip the guess after it was
// wrong.
const sharedRounds = 32

// keepHours is how many hours before the current one the cache keeps: a
// late event for an older hour, or one for an hour after the next, goes
// the way of two round trips.
const keepHours = 2

// get returns the totals of every hour of keys, as rows of
// usage_meter_hourly, or false if one of the hours is not known.
func (c *knownTotals) get(keys []orgHour, states map[orgHour]*hourState) ([]meterHour, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if n := c.shared[k]; n > 0 {
			if n == 1 {
				delete(c.shared, k)
			} else {
				c.shared[k] = n - 1
			}
			return nil, false
		}
	}
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
// totals, every meter of it, as checkBounds left them. now is the current
// hour (since the Unix epoch): hours far from it are not kept, so an event
// dated in the future cannot push out the hours that take the traffic.
func (c *knownTotals) put(states map[orgHour]*hourState, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hours == nil {
		c.hours = map[orgHour]map[string]Quantity{}
	}
	if now > c.now {
		c.now = now
		for old := range c.hours {
			if old.hour < now-keepHours {
				delete(c.hours, old)
			}
		}
		for old := range c.shared {
			if old.hour < now-keepHours {
				delete(c.shared, old)
			}
		}
	}
	for k, st := range states {
		if k.hour < now-keepHours || k.hour > now+1 {
			continue
		}
		meters := c.hours[k]
		if meters == nil {
			meters = make(map[string]Quantity, len(st.totals))
			c.hours[k] = meters
		}
		for meter, q := range st.totals {
			meters[meter] = max(meters[meter], q)
		}
	}
}

// forget drops the hours of keys, whose totals this process guessed
// wrong: moved says another writer moved them, and the next sharedRounds
// rounds of those hours do not guess.
func (c *knownTotals) forget(keys []orgHour, moved bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if moved && c.shared == nil {
		c.shared = map[orgHour]int{}
	}
	for _, k := range keys {
		delete(c.hours, k)
		if moved {
			c.shared[k] = sharedRounds
		}
	}
}
