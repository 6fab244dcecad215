package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// Every delivery is a Standard Webhook the official library verifies: the
// event's id as webhook-id, the attempt's time as webhook-timestamp, a v1
// signature, and a JSON body {"type", "timestamp", "data"} whose data is
// the recorded event's, verbatim.
func TestDeliver_StandardWebhooksVerifyEveryDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		_, secret := createEndpoint(t, eps, rc.srv.URL+"/hooks")
		rc.setSecrets(secret)
		rec := NewRecorder(clock.Now)
		orgID := newOrg(t, db, "acme", "tenant-acme")
		linked := record(t, db, rec, orgID, TypeOrganizationLinked, map[string]string{"state": "active"})
		updated := record(t, db, rec, orgID, TypeSubscriptionUpdated, map[string]string{"state": "cancelling"})
		d := newDeliverer(t, db, clock)
		if n, err := d.DeliverDue(context.Background()); err != nil || n != 2 {
			t.Fatalf("DeliverDue = %d, %v; want 2 attempts", n, err)
		}
		got := rc.received()
		if len(got) != 2 {
			t.Fatalf("received %d requests, want 2", len(got))
		}
		byID := map[string]received{}
		for _, r := range got {
			if r.verified[0] != nil {
				t.Errorf("delivery %s does not verify: %v", r.id, r.verified[0])
			}
			if r.contentType != "application/json" {
				t.Errorf("Content-Type %q", r.contentType)
			}
			byID[r.id] = r
		}
		for _, e := range []Event{linked, updated} {
			r, ok := byID[e.ID]
			if !ok {
				t.Fatalf("no delivery with webhook-id %s", e.ID)
			}
			var b struct {
				Type      Type            `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339Nano, b.Timestamp)
			if b.Type != e.Type || err != nil || !at.Equal(e.OccurredAt) || string(b.Data) != string(e.Data) {
				t.Errorf("body %s, want type %s, timestamp %s, data %s", r.body, e.Type, e.OccurredAt, e.Data)
			}
			if p := r.parse(t); p.Data.Organization.ExternalID != "tenant-acme" || p.Data.Sequence != e.Seq {
				t.Errorf("data %+v", p.Data)
			}
		}
		if s := deliveryStatuses(t, db); s[StatusDelivered] != 2 || len(s) != 1 {
			t.Errorf("deliveries %v, want 2 delivered", s)
		}
		attempts, err := eps.Attempts(context.Background(), 1, 10)
		if err != nil || len(attempts) != 2 || attempts[0].StatusCode != 200 || !strings.HasPrefix(attempts[0].Response, "answer 200") {
			t.Errorf("attempts = %+v, %v", attempts, err)
		}
	})
}

// Retries back off with full jitter for at least three days, then the
// delivery fails for good; every attempt carries the same webhook-id and
// a timestamp of its own time.
func TestDeliver_BackoffRetriesForThreeDays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := newFakeClock()
		eps := newEndpoints(t, db, clock)
		rc := newReceiver(t)
		rc.checkTime = clock.Now
		rc.behave = func(int, *http.Request) int { return http.StatusServiceUnavailable }
		_, secret := createEndpoint(t, eps, rc.srv.URL)
		rc.setSecrets(secret)
		e := record(t, db, NewRecorder(clock.Now), newOrg(t, db, "acme", ""), TypeSubscriptionUpdated, nil)
		start := clock.Now()
		d := newDeliverer(t, db, clock)
		deliverAll(t, db, clock, 200, d)

		if s := deliveryStatuses(t, db); s[StatusFailed] != 1 {
			t.Fatalf("deliveries %v, want one failed", s)
		}
		attempts, err := eps.Attempts(context.Background(), 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		last := attempts[0].AttemptedAt
		if span := last.Sub(start); span < RetryFor {
			t.Errorf("retried for %v, want at least %v", span, RetryFor)
		}
		prev := start
		for i := len(attempts) - 1; i >= 0; i-- {
			gap := attempts[i].AttemptedAt.Sub(prev)
			if gap > schedule[len(schedule)-1] {
				t.Errorf("attempt %d came %v after the one before, more than the cap", len(attempts)-i, gap)
			}
			prev = attempts[i].AttemptedAt
		}
		got := rc.received()
		if len(got) != len(attempts) || len(got) < 10 {
			t.Fatalf("%d requests, %d attempts logged; want the same, and many", len(got), len(attempts))
		}
		for _, r := range got {
			if r.id != e.ID || r.verified[0] != nil {
				t.Fatalf("attempt with webhook-id %s (want %s): %v", r.id, e.ID, r.verified[0])
			}
		}
		t.Logf("%d attempts over %v", len(got), last.Sub(start))
	})
}

// The schedule grows to its cap, and full jitter stays within it.
func TestBackoff_FullJitterWithinSchedule(t *testing.T) {
	for _, tc := range []struct {
		step int
		r    float64
		want time.Duration
	}{
		{0, 0, minBackoff},
		{0, 0.999999, 5 * time.Second},
		{1, 0.5, 15 * time.Second},
		{2, 1, 2 * time.Minute},
		{8, 0.5, 4 * time.Hour},
		{100, 0.5, 4 * time.Hour},
	} {
		d := &Deliverer{cfg: DelivererConfig{Rand: func() float64 { return tc.r }}}
		if got := d.backoff(tc.step); got.Round(time.Second) != tc.want {
			t.Errorf("backoff(%d) at %v = %v, want %v", tc.step, tc.r, got, tc.want)
		}
	}
	var total time.Duration
	for _, s := range schedule {
		total += s
	}
	if total >= RetryFor {
		t.Logf("schedule alone spans %v", total)
	}
}
