package metering_test

import (
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A subscription cancelled mid-hour bills its usage up to the
// cancellation, the hour's included (R18); an organization that links a
// new subscription within that hour has the new one bill the rest of the
// hour's usage, not the whole hour again: each cent of usage goes to the
// marketplace once (R11, R20).
func TestMetering_R18_R20_RelinkInCancellationHourBillsOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait time.Duration // from the cancellation to the new link
	}{
		{"relinked within the cancellation's hour", 10 * time.Minute},
		{"relinked the next hour", 50 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				w := newWorld(t, db, time.Date(2026, 11, 2, 9, 10, 0, 0, time.UTC), nil)
				orgID := w.newOrg("Relinked")
				a := w.link(orgID)
				w.use(orgID, "compute", w.Now(), 10_000_000) // $2.20 in the first link's first hour
				w.pass(65 * time.Minute)
				w.use(orgID, "compute", w.Now(), 100_000_000) // $22.00 before the cancellation, 10:15
				w.tell(a, marketplace.ActionUnsubscribeSuccess, w.Now())
				w.pass(tc.wait) // the cancelled subscription's last hour is metered at once (R18)
				b := w.link(orgID)
				w.use(orgID, "compute", w.Now().Add(time.Minute), 1000_000_000) // $220.00 after the new link
				w.pass(3 * time.Hour)
				var cents int64
				scan(t, db.Read().QueryRow(`SELECT COALESCE(SUM(quantity), 0) FROM metering_records
					WHERE subscription_id IN ($1, $2) AND status <> 'carried'`, a, b), &cents)
				if want := int64(220 + 2200 + 22000); cents != want {
					t.Errorf("the two subscriptions' records carry %d cents, want %d: the organization's usage once", cents, want)
				}
			})
		})
	}
}
