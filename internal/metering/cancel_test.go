package metering_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// cancelOnAWS cancels the subscription's agreement on the emulator, as the
// buyer would: AWS takes its final usage for another hour (R18). It returns
// the moment of the cancellation.
func (b *bench) cancelOnAWS(ctx context.Context, sub int64) time.Time {
	b.t.Helper()
	var account, product, license string
	scan(b.t, b.db.Read().QueryRow(`SELECT customer_aws_account_id, product_code, license_arn FROM subscriptions WHERE id = $1`, sub),
		&account, &product, &license)
	for _, a := range b.emu.Market().Agreements(account, product) {
		if a.LicenseArn == license {
			cancelled, err := b.emu.Market().Cancel(ctx, a.ID)
			if err != nil {
				b.t.Fatal(err)
			}
			return *cancelled.CancelledAt
		}
	}
	b.t.Fatalf("no agreement on AWS for subscription %d", sub)
	return time.Time{}
}

// tell delivers AWS's notification about the subscription to the seller
// and applies it, as the notification worker does.
func (s *seller) tell(ctx context.Context, sub int64, id, action string, at time.Time) {
	s.t.Helper()
	var c marketplace.Customer
	var product string
	scan(s.t, s.db.Read().QueryRow(`SELECT customer_aws_account_id, license_arn, product_code FROM subscriptions WHERE id = $1`, sub),
		&c.AccountID, &c.LicenseArn, &product)
	if _, _, err := s.market.Record(ctx, marketplace.Notification{Source: "sns", MessageID: id, Action: action, ProductCode: product,
		Customer: c, SentAt: at, Payload: "{}"}); err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.market.ApplyPending(ctx, 100); err != nil {
		s.t.Fatal(err)
	}
	var status string
	scan(s.t, s.db.Read().QueryRow(`SELECT status FROM notifications WHERE source = 'sns' AND message_id = $1`, id), &status)
	if status != "applied" {
		s.t.Fatalf("notification %s (%s) is %s, want applied", id, action, status)
	}
}

// A subscription cancelled mid-hour is billed for its usage up to the
// cancellation, the hour it was cancelled in included, whether the maker
// ran while the cancellation was pending (the current hour made at once)
// or first saw it cancelled (the hours up to and including the
// cancellation's, R18). The maker then makes no record after that hour.
func TestMetering_R18_CancelledMidHourBillsItsLastHour(t *testing.T) {
	for _, tc := range []struct {
		name string
		// makerSeesPending runs the maker between unsubscribe-pending
		// and unsubscribe-success.
		makerSeesPending bool
	}{
		{"maker saw it pending", true},
		{"maker first saw it cancelled", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				s := newSeller(t, db)
				ctx := context.Background()
				linked := s.Now()
				s.shiftToHalfPast(ctx, 3*time.Hour)
				sub := s.subscriptionOf(s.orgID)
				// $220.00 in the link's hour, $2.20 in the hour of the
				// cancellation, before it.
				s.use(event("early", "compute", linked.Add(time.Minute), "1000"))
				s.use(event("last", "compute", s.Now().Add(-20*time.Minute), "10"))
				want := expectedCents(map[string]*big.Int{"compute": big.NewInt(1010_000_000)})
				cancelled := s.cancelOnAWS(ctx, sub)
				s.tell(ctx, sub, "pending", marketplace.ActionUnsubscribePending, cancelled)
				if tc.makerSeesPending {
					s.meterAndSend()
				}
				// AWS ends the subscription within the cancellation's hour;
				// the seller hears of it while AWS still takes usage.
				s.tell(ctx, sub, "success", marketplace.ActionUnsubscribeSuccess, cancelled.Add(5*time.Minute))
				s.meterAndSend()
				if got := s.ledgerCents(); got != want {
					t.Fatalf("AWS's ledger holds %d cents, want %d: the usage up to the cancellation, its hour included", got, want)
				}
				s.ledgerEqualsOurs()
				// Later rounds, still inside the final-metering window, add
				// no hour after the cancellation's.
				s.shift(ctx, 20*time.Minute)
				s.meterAndSend()
				var last time.Time
				scan(t, db.Read().QueryRow(`SELECT hour FROM metering_records WHERE subscription_id = $1 ORDER BY hour DESC LIMIT 1`, sub), &last)
				if hour := cancelled.UTC().Truncate(time.Hour); !last.Equal(hour) {
					t.Fatalf("last record for %s, want the cancellation's hour %s", last.UTC(), hour)
				}
				if got := s.ledgerCents(); got != want {
					t.Fatalf("after another round AWS's ledger holds %d cents, want %d", got, want)
				}
			})
		})
	}
}

// subscriptionOf is the subscription linked to the organization.
func (b *bench) subscriptionOf(orgID int64) int64 {
	b.t.Helper()
	var sub int64
	scan(b.t, b.db.Read().QueryRow(`SELECT subscription_id FROM billing_links WHERE org_id = $1 ORDER BY linked_at DESC LIMIT 1`, orgID), &sub)
	return sub
}
