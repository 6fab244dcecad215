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

// TestKnownTotals_AHourThatMovedIsNotGuessedFor: after a guess was wrong
// (another process writes the hour), the next sharedRounds rounds of it
// read the totals, even once they are known again; then guessing resumes.
func TestKnownTotals_AHourThatMovedIsNotGuessedFor(t *testing.T) {
	const now = int64(500_000)
	k := orgHour{1, now}
	states := map[orgHour]*hourState{k: {hour: time.Unix(now*3600, 0).UTC(), totals: map[string]Quantity{"a": 5}}}
	var c knownTotals
	c.put(states, now)
	c.forget([]orgHour{k}, true)
	c.put(states, now) // a round the way of two round trips
	for i := range sharedRounds {
		if _, ok := c.get([]orgHour{k}, states); ok {
			t.Fatalf("round %d after the wrong guess guesses again", i+1)
		}
	}
	if _, ok := c.get([]orgHour{k}, states); !ok {
		t.Errorf("after %d rounds the hour is still not guessed for", sharedRounds)
	}
	c.forget([]orgHour{k}, false) // the careful way wrote it: read once, no penalty
	c.put(states, now)
	if _, ok := c.get([]orgHour{k}, states); !ok {
		t.Error("a forgotten hour known again is not guessed for")
	}
}
