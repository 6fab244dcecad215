package metering_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// unbilledEvent is a recorded usage.unbilled event, as a receiver reads
// its data.
type unbilledEvent struct {
	OrgID int64
	Seq   int64
	Data  struct {
		metering.UnbilledEvent
		Organization webhook.Organization `json:"organization"`
		Sequence     int64                `json:"sequence"`
	}
}

func (w *world) unbilledEvents() []unbilledEvent {
	w.t.Helper()
	rows, err := w.db.Read().Query(`SELECT org_id, seq, data FROM webhook_events WHERE type = 'usage.unbilled' ORDER BY org_id, seq`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []unbilledEvent
	for rows.Next() {
		var e unbilledEvent
		var data string
		if err := rows.Scan(&e.OrgID, &e.Seq, &data); err != nil {
			w.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			w.t.Fatalf("event data %s: %v", data, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) recordUnbilled(c *metering.Coverage) int {
	w.t.Helper()
	n, err := c.RecordUnbilled(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// realClock is the webhook recorder's clock: real time, whatever the
// marketplace's.
var realClock = webhook.NewRecorder(func() time.Time { return time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC) })

// When an hour closes with usage no marketplace bills, the organization
// gets one usage.unbilled event for it, with the unbilled quantities and
// micro-dollars per meter and the reason: before a link, in grace after a
// cancellation, and after a cancellation AWS sent before the seller heard
// of it. A linked hour gets none (R12, R19, R20).
func TestUnbilled_R20_OneEventPerUnbilledHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, time.Date(2026, 11, 23, 9, 10, 0, 0, time.UTC), realClock)
		unlinked, linked, graced, late := w.newOrg("Unlinked"), w.newOrg("Linked"), w.newOrg("Graced"), w.newOrg("Late")
		w.link(linked)
		gracedSub, lateSub := w.link(graced), w.link(late)
		w.pass(time.Minute)
		// Hour 09: 10 compute ($2.20) and 1.5 storage ($0.0000525) each.
		for _, o := range []int64{unlinked, linked, graced, late} {
			w.use(o, "compute", w.Now(), 10_000_000)
			w.use(o, "storage", w.Now(), 1_500_000)
		}
		// Graced is cancelled at 09:20: its hour 09 is still billed (R18).
		w.pass(9 * time.Minute)
		w.tell(gracedSub, marketplace.ActionUnsubscribeSuccess, w.Now())
		w.pass(41 * time.Minute) // 10:00: hour 09 closed
		if n := w.recordUnbilled(w.coverage); n != 1 {
			t.Fatalf("hour 09: %d events, want 1 (the unlinked organization's)", n)
		}
		// Hour 10: grace for Graced; Late is still linked as far as the
		// seller knows.
		w.use(graced, "egress", w.Now(), 2_000_000) // $0.18
		w.use(late, "egress", w.Now(), 2_000_000)
		w.use(linked, "egress", w.Now(), 2_000_000)
		w.pass(time.Hour) // 11:00
		if n := w.recordUnbilled(w.coverage); n != 1 {
			t.Fatalf("hour 10: %d events, want 1 (Graced's)", n)
		}
		// At 11:30 the seller hears that AWS cancelled Late at 09:55:
		// hour 10 and 11 were not billed after all. The next round, when
		// hour 11 closes, looks back at hour 10 too.
		w.pass(30 * time.Minute)
		w.tell(lateSub, marketplace.ActionUnsubscribeSuccess, time.Date(2026, 11, 23, 9, 55, 0, 0, time.UTC))
		w.use(late, "compute", w.Now(), 1_000_000) // $0.22, hour 11
		w.pass(30 * time.Minute)                   // 12:00
		if n := w.recordUnbilled(w.coverage); n != 2 {
			t.Fatalf("hours 10 and 11: %d events, want Late's two", n)
		}
		hour := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }
		type meterWant struct {
			meter, quantity string
			micros          int64
		}
		want := []struct {
			org    int64
			hour   time.Time
			reason metering.Reason
			micros int64
			meters []meterWant
		}{
			{unlinked, hour(9), metering.ReasonNoLink, 2_200_052, []meterWant{{"compute", "10", 2_200_000}, {"storage", "1.5", 52}}},
			{graced, hour(10), metering.ReasonGrace, 180_000, []meterWant{{"egress", "2", 180_000}}},
			{late, hour(10), metering.ReasonCancelled, 180_000, []meterWant{{"egress", "2", 180_000}}},
			{late, hour(11), metering.ReasonCancelled, 220_000, []meterWant{{"compute", "1", 220_000}}},
		}
		got := w.unbilledEvents()
		if len(got) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
		}
		// Events are listed by organization, then sequence.
		byOrg := map[int64][]unbilledEvent{}
		for _, e := range got {
			byOrg[e.OrgID] = append(byOrg[e.OrgID], e)
		}
		next := map[int64]int{}
		for _, wt := range want {
			i := next[wt.org]
			next[wt.org]++
			if i >= len(byOrg[wt.org]) {
				t.Fatalf("organization %d: no event for %s", wt.org, wt.hour)
			}
			e := byOrg[wt.org][i]
			d := e.Data
			if !d.Hour.Equal(wt.hour) || d.Reason != wt.reason || d.UnbilledMicros != wt.micros || d.Organization.ID != wt.org ||
				d.Sequence != e.Seq || len(d.Meters) != len(wt.meters) {
				t.Errorf("organization %d: event %+v, want %s %s %d micro-dollars", wt.org, d, wt.hour, wt.reason, wt.micros)
				continue
			}
			for j, m := range wt.meters {
				if g := d.Meters[j]; g.Meter != m.meter || g.Quantity != m.quantity || g.Micros != m.micros {
					t.Errorf("organization %d, %s: meter %+v, want %+v", wt.org, wt.hour, g, m)
				}
			}
		}
		if len(byOrg[linked]) != 0 {
			t.Errorf("the linked organization got events: %+v", byOrg[linked])
		}
		// Nothing new closed: nothing more.
		if n := w.recordUnbilled(w.coverage); n != 0 {
			t.Errorf("a second round in the same hour recorded %d events", n)
		}
	})
}

// Several processes, and a process that restarts and looks at every hour
// again, record each (organization, hour) once.
func TestUnbilled_OnceAcrossProcessesAndRestarts(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			db := storetest.OpenURL(t, url)
			w := newWorld(t, db, time.Date(2026, 11, 23, 9, 10, 0, 0, time.UTC), realClock)
			// Three processes, each with its own connections.
			covers := []*metering.Coverage{w.coverage, w.newCoverage(storetest.OpenURL(t, url), realClock), w.newCoverage(storetest.OpenURL(t, url), realClock)}
			orgs := []int64{w.newOrg("A"), w.newOrg("B"), w.newOrg("C")}
			w.recordUnbilled(w.coverage) // the first round marks where events start
			for range 3 {
				for _, o := range orgs {
					w.use(o, "compute", w.Now(), 1_000_000)
				}
				w.advance(time.Hour)
			}
			for round := range 3 {
				if round == 2 {
					// A restart that lost track of how far it got.
					if _, err := db.Write().Exec(`DELETE FROM settings WHERE key = 'usage_unbilled_through'`); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for _, c := range covers {
					wg.Go(func() {
						if _, err := c.RecordUnbilled(context.Background()); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			seen := map[[2]int64]int{}
			for _, e := range w.unbilledEvents() {
				seen[[2]int64{e.OrgID, e.Data.Hour.Unix()}]++
			}
			// The first round, at 09:10, marked hours up to 09:00 done:
			// hours 09, 10 and 11 of each organization have events.
			if len(seen) != 9 {
				t.Errorf("%d (organization, hour) pairs have events, want 9: %v", len(seen), seen)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("organization %d, hour %s: %d events", k[0], time.Unix(k[1], 0).UTC(), n)
				}
			}
			// Markers of hours no round looks at again are pruned.
			for range 2 {
				w.advance(30 * time.Hour)
				w.recordUnbilled(w.coverage)
			}
			var marks int
			scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM usage_unbilled_hours`), &marks)
			if marks != 0 {
				t.Errorf("%d markers left two days on", marks)
			}
		})
	}
}

// An event whose transaction rolls back leaves no marker: the next round
// records it, once.
func TestUnbilled_RolledBackRecordsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, time.Date(2026, 11, 23, 9, 10, 0, 0, time.UTC), realClock)
		o := w.newOrg("Rolled")
		w.recordUnbilled(w.coverage)
		w.use(o, "compute", w.Now(), 1_000_000)
		w.advance(time.Hour)
		// The outbox cannot be written: Record fails inside the event's
		// transaction.
		if _, err := db.Write().Exec(`ALTER TABLE webhook_events RENAME TO webhook_events_away`); err != nil {
			t.Fatal(err)
		}
		if _, err := w.coverage.RecordUnbilled(context.Background()); err == nil {
			t.Fatal("RecordUnbilled succeeded without an outbox")
		}
		if _, err := db.Write().Exec(`ALTER TABLE webhook_events_away RENAME TO webhook_events`); err != nil {
			t.Fatal(err)
		}
		var marks, seq int64
		scan(t, db.Read().QueryRow(`SELECT COUNT(*) FROM usage_unbilled_hours`), &marks)
		scan(t, db.Read().QueryRow(`SELECT event_seq FROM organizations WHERE id = $1`, o), &seq)
		if marks != 0 || seq != 0 {
			t.Fatalf("after the rollback: %d markers, sequence %d, want none", marks, seq)
		}
		if n := w.recordUnbilled(w.coverage); n != 1 {
			t.Fatalf("the next round recorded %d events, want 1", n)
		}
		if n := w.recordUnbilled(w.coverage); n != 0 || len(w.unbilledEvents()) != 1 {
			t.Fatalf("then %d more, %d in all: want the one", n, len(w.unbilledEvents()))
		}
	})
}
