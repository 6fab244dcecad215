package metering_test

import (
	"context"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// A marketplace clock two months ahead of real time, as the demo's runs:
// MeteredClock finds it from the records, and Reconcile with no month
// reckons in the month of the Maker's clock, not of real time (#11: the
// reconcile command and the operator view reported every cent metered as a
// difference).
func TestReconcile_OnTheMeteringClock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if got, err := metering.MeteredClock(ctx, db, time.Now()); err != nil || time.Since(got) > time.Minute || time.Until(got) > 0 {
			t.Fatalf("MeteredClock with no records = %v, %v; want real time", got, err)
		}
		s := newSellerWith(t, db, func(s *seller) int64 {
			s.shift(ctx, 62*24*time.Hour)
			return s.subscription(1)
		})
		linked := s.Now()
		s.use(event("ahead-1", "compute", linked.Add(time.Minute), "1000"))
		s.shift(ctx, 2*time.Hour)
		s.meterAndSend()

		clock, err := metering.MeteredClock(ctx, db, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if newest := s.Now().Truncate(time.Hour); !clock.Equal(newest) {
			t.Fatalf("MeteredClock = %v, want %v: the end of the newest metered hour", clock, newest)
		}
		lines, err := s.maker.Reconcile(ctx, time.Time{})
		if err != nil || len(lines) != 1 {
			t.Fatalf("Reconcile = %+v, %v", lines, err)
		}
		month := s.Now().UTC().Format("2006-01")
		if l := lines[0]; l.Month != month || l.Difference() != 0 {
			t.Fatalf("Reconcile with no month: %+v, want the clock's month %s and no difference", l, month)
		}
		// The usage's hour is in that month unless the clock just crossed
		// into a new one.
		if l := lines[0]; linked.UTC().Format("2006-01") == month && (l.DueCents != 22_000 || l.AcceptedCents != 22_000) {
			t.Fatalf("Reconcile with no month: %+v, want $220 due and accepted", l)
		}
	})
}
