package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// Events whose deliveries are done go, with their deliveries and
// attempts, once Retention has passed; an event still pending at an
// endpoint, or recent, or not fanned out yet, stays; and the
// organization's sequence goes on where it was.
func TestPrune_KeepsWhatIsPendingOrRecent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		_, secret := createEndpoint(t, eps, rc.srv.URL)
		rc.setSecrets(secret)
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "")
		d := newDeliverer(t, db, clock)

		done := record(t, db, rec, orgID, TypeOrganizationLinked, nil)
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		// An endpoint that answers nothing: its delivery stays pending.
		createEndpoint(t, eps, "http://127.0.0.1:1/hooks")
		pending := record(t, db, rec, orgID, TypeSubscriptionUpdated, map[string]string{"state": "active"})
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(Retention + time.Hour)
		recent := record(t, db, rec, orgID, TypeSubscriptionUpdated, map[string]string{"state": "cancelling"})

		count := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := db.Read().QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(`SELECT COUNT(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_events e ON e.id = d.event_id
			WHERE e.event_id = $1`, done.ID); n != 1 {
			t.Fatalf("%d attempts of the delivered event before pruning, want 1", n)
		}
		removed, err := d.Prune(ctx)
		if err != nil || removed != 1 {
			t.Fatalf("Prune = %d, %v; want the one delivered old event", removed, err)
		}
		for _, tc := range []struct {
			e    Event
			kept bool
		}{{done, false}, {pending, true}, {recent, true}} {
			if got := count(`SELECT COUNT(*) FROM webhook_events WHERE event_id = $1`, tc.e.ID) == 1; got != tc.kept {
				t.Errorf("event %d (%s): kept = %v, want %v", tc.e.Seq, tc.e.Type, got, tc.kept)
			}
		}
		if n := count(`SELECT COUNT(*) FROM webhook_deliveries WHERE event_id NOT IN (SELECT id FROM webhook_events)`); n != 0 {
			t.Errorf("%d deliveries of removed events left", n)
		}
		if n := count(`SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id NOT IN (SELECT id FROM webhook_deliveries)`); n != 0 {
			t.Errorf("%d attempts of removed deliveries left", n)
		}
		if again, err := d.Prune(ctx); err != nil || again != 0 {
			t.Errorf("a second Prune = %d, %v; want nothing", again, err)
		}
		if next := record(t, db, rec, orgID, TypeSubscriptionUpdated, nil); next.Seq != recent.Seq+1 {
			t.Errorf("sequence after pruning = %d, want %d", next.Seq, recent.Seq+1)
		}
	})
}
