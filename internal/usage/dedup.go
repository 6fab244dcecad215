package usage

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// dedup, on PostgreSQL's careful way, claims a usage_keys slot for every
// item of a round and returns the items that were new, in the round's
// order; the others are marked dup. Slots are probed in order within the
// event's hour, as in open addressing: an event's slot is the
// first of slot, slot+1, ... that is free or holds its own chk. Slots of an
// hour are only ever added (and dropped all together when the hour expires),
// so a resend walks the same path and finds its event.
//
// The hours' locks come after, in applyBounds, as on the fast way
// (writeRound), so that every writer takes key locks before hour locks,
// whichever way it goes: no writer waits for a key while it holds an hour,
// and the rows of one are written while another holds the hours. Keys are
// claimed in slot order within a pass; a later pass (probing past a
// collision) claims slots after the first pass's, so two careful writers
// whose probes meet could still wait for each other, which PostgreSQL
// breaks (40P01: a 503, and the client sends again). That needs two
// collisions of 43-bit hashes at once.
func (in *Ingester) dedup(ctx context.Context, tx *sql.Tx, items []*item) ([]*item, error) {
	// occupied is every slot known to be taken, by this round or by an
	// earlier one (learnt from the database), with its chk.
	occupied := make(map[int64]int64, len(items))
	pending := items
	for len(pending) > 0 {
		claim := make([]*item, 0, len(pending))
		// claimed is the slots this pass claims, not yet known to be free:
		// the database may hold another item's own key there (#11).
		claimed := make(map[int64]bool, len(pending))
		var wait []*item
		for _, it := range pending {
			for {
				chk, taken := occupied[it.key.slot]
				if !taken {
					occupied[it.key.slot] = it.key.chk
					claimed[it.key.slot] = true
					claim = append(claim, it)
					break
				}
				if chk == it.key.chk {
					it.dup = true
					break
				}
				if claimed[it.key.slot] {
					// Probing on would skip the slot where this event may be
					// stored: look again once the claim is settled.
					wait = append(wait, it)
					break
				}
				it.key = it.key.next()
			}
		}
		// In slot order, so that concurrent PostgreSQL writers lock keys
		// in the same order and cannot deadlock.
		slices.SortFunc(claim, func(a, b *item) int { return cmpInt64(a.key.slot, b.key.slot) })
		inserted, err := postgresSQL{}.insertKeys(ctx, tx, claim)
		if err != nil {
			return nil, fmt.Errorf("insert usage keys: %w", err)
		}
		var taken []*item
		for _, it := range claim {
			if _, ok := inserted[it.key.slot]; !ok {
				taken = append(taken, it)
			}
		}
		if len(taken) == 0 && len(wait) == 0 {
			break
		}
		var existing map[int64]int64
		if len(taken) > 0 {
			if existing, err = (postgresSQL{}).keyChecks(ctx, tx, taken); err != nil {
				return nil, fmt.Errorf("read usage keys: %w", err)
			}
		}
		pending = wait
		for _, it := range taken {
			chk := existing[it.key.slot]
			occupied[it.key.slot] = chk
			if chk == it.key.chk {
				it.dup = true
				continue
			}
			it.key = it.key.next() // a collision: try the next slot
			pending = append(pending, it)
		}
	}
	// Events go in in the order they came, so that ids follow arrival.
	fresh := make([]*item, 0, len(items))
	for _, it := range items {
		if !it.dup {
			fresh = append(fresh, it)
		}
	}
	return fresh, nil
}

// distinctKeys is the fast way's deduplication within the round: the
// items whose keys are new to it, and the others, their own repeats,
// marked dup. ok is false when two items meet on a slot with different
// checks: probing past a collision needs the database, the careful way.
func distinctKeys(items []*item) (fresh []*item, ok bool) {
	seen := make(map[int64]int64, len(items))
	fresh = make([]*item, 0, len(items))
	for _, it := range items {
		if chk, taken := seen[it.key.slot]; taken {
			if chk != it.key.chk {
				return nil, false
			}
			it.dup = true
			continue
		}
		seen[it.key.slot] = it.key.chk
		fresh = append(fresh, it)
	}
	return fresh, true
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hourly is one row of usage_hourly's increments.
type hourly struct {
	orgID    int64
	meter    string
	subject  string
	hour     time.Time
	quantity Quantity
	events   int64
}

// hourlyTotals sums the new events per organization, meter, subject and
// hour, sorted by key so that concurrent writers lock rows in one order.
func hourlyTotals(items []*item) []hourly {
	type hk struct {
		org            int64
		meter, subject string
		hour           int64
	}
	sums := map[hk]*hourly{}
	for _, it := range items {
		ev := &it.ev
		k := hk{ev.OrgID, ev.Meter, ev.Subject, ev.Time.Unix() / 3600}
		h := sums[k]
		if h == nil {
			h = &hourly{orgID: ev.OrgID, meter: ev.Meter, subject: ev.Subject, hour: ev.Time.Truncate(time.Hour)}
			sums[k] = h
		}
		h.quantity += ev.Quantity
		h.events++
	}
	out := make([]hourly, 0, len(sums))
	for _, h := range sums {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b hourly) int {
		if c := cmpInt64(a.orgID, b.orgID); c != 0 {
			return c
		}
		if a.meter != b.meter {
			if a.meter < b.meter {
				return -1
			}
			return 1
		}
		if c := a.hour.Compare(b.hour); c != 0 {
			return c
		}
		switch {
		case a.subject < b.subject:
			return -1
		case a.subject > b.subject:
			return 1
		}
		return 0
	})
	return out
}
