package metering

import (
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// TestLastHour_CancellationPendingByMarketplace_R18: AWS ends a
// subscription within the hour of unsubscribe-pending, so its current hour
// is recorded as final at once; Google's pending cancellation runs to the
// end of the term and may be withdrawn, so its hours close as an active
// subscription's do, and the open hour is not recorded early (#16).
func TestLastHour_CancellationPendingByMarketplace_R18(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 40, 0, 0, time.UTC)
	spans := []span{{from: now.Add(-48 * time.Hour)}}
	for _, tc := range []struct {
		marketplace, status string
		want                time.Time
	}{
		{marketplace.AWS, marketplace.StatusActive, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{marketplace.AWS, marketplace.StatusUnsubscribePending, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{"", marketplace.StatusUnsubscribePending, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{marketplace.GCP, marketplace.StatusActive, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{marketplace.GCP, marketplace.StatusUnsubscribePending, time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.marketplace+"/"+tc.status, func(t *testing.T) {
			sub := marketplace.Metered{Status: tc.status, Product: marketplace.Product{Marketplace: tc.marketplace}}
			if got := lastHour(sub, spans, now); !got.Equal(tc.want) {
				t.Fatalf("lastHour = %s, want %s (records end before it)", got, tc.want)
			}
		})
	}
}
