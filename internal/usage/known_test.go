package usage

import (
	"testing"
	"time"
)

// TestKnownTotals_KeepsTheCurrentHoursOnly: a round's totals are kept for
// the hours around the clock's, the larger of two values per meter (totals
// only grow), and an hour dated far ahead (MaxFuture allows up to a day)
// neither enters nor pushes the current hours out.
func TestKnownTotals_KeepsTheCurrentHoursOnly(t *testing.T) {
	const now = int64(500_000)
	state := func(hour int64, totals map[string]Quantity) map[orgHour]*hourState {
		return map[orgHour]*hourState{{1, hour}: {hour: time.Unix(hour*3600, 0).UTC(), totals: totals}}
	}
	var c knownTotals
	c.put(state(now, map[string]Quantity{"a": 5, "b": 1}), now)
	c.put(state(now, map[string]Quantity{"a": 3}), now) // an older answer that came late
	c.put(state(now+20, map[string]Quantity{"a": 1}), now)
	c.put(state(now-keepHours-1, map[string]Quantity{"a": 1}), now)
	for _, tc := range []struct {
		hour int64
		want map[string]Quantity // nil: not known
	}{
		{now, map[string]Quantity{"a": 5, "b": 1}},
		{now + 20, nil},
		{now - keepHours - 1, nil},
	} {
		keys := []orgHour{{1, tc.hour}}
		rows, ok := c.get(keys, state(tc.hour, nil))
		if ok != (tc.want != nil) {
			t.Errorf("hour %+d: known = %v", tc.hour-now, ok)
			continue
		}
		got := map[string]Quantity{}
		for _, r := range rows {
			got[r.meter] = r.add
		}
		if ok && (len(got) != len(tc.want) || got["a"] != tc.want["a"] || got["b"] != tc.want["b"]) {
			t.Errorf("hour %+d: %v, want %v", tc.hour-now, got, tc.want)
		}
	}
	// An hour later the hour before last is dropped.
	c.put(state(now+keepHours+1, map[string]Quantity{"a": 1}), now+keepHours+1)
	if _, ok := c.get([]orgHour{{1, now}}, state(now, nil)); ok {
		t.Error("an hour older than keepHours is still known")
	}
}
