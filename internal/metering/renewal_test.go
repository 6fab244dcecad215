package metering_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// termUsage is the usage of the term scenarios, by hour after the link's
// hour.
var termUsage = map[int][]struct{ meter, qty string }{
	1: {{"compute", "500"}},
	4: {{"compute", "100"}},
	5: {{"storage", "200"}},
	6: {{"compute", "10"}},
	7: {{"compute", "450"}},
	8: {{"compute", "10"}, {"storage", "200"}},
}

// termCase is a contract's first term, its renewal and when the seller
// learns of it, over the hours of termUsage.
type termCase struct {
	name           string
	credits        int64         // the first term's committed credits
	renewedCredits int64         // the second term's; 0: the contract is not renewed, and expires
	endAfter       time.Duration // when the first term ends, after the link's hour
	seenAt         int           // the hour the seller re-reads the entitlements (AWS renews in hour 3); 0: never
	senderDown     [2]int        // hours [from, to) in which records are made but not sent
	wantDue        int64         // cents due in all, when not 0
}

var termCases = []termCase{
	{name: "renewed early",
		credits: 100, renewedCredits: 100, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 3},
	{name: "renewed, and the seller learns of it after the old term ended",
		credits: 100, renewedCredits: 100, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 9},
	// $134.207 of usage in the term, 100 credits: 3,420 cents of overage.
	{name: "expired, and the seller is not told: nothing after the term's end is due",
		credits: 100, endAfter: 6*time.Hour + 30*time.Minute, wantDue: 3420},
}

// termPlay is a termCase played against the emulator.
type termPlay struct {
	*seller
	first    time.Time // the link's hour
	linked   time.Time
	firstEnd time.Time // the first term's end
	subID    int64
}

// playTerms plays tc hour by hour: at 20 past each hour its usage comes in,
// AWS and the seller act as tc says, metering makes its records and sends
// them; then each runs.
func playTerms(t *testing.T, db *store.DB, tc termCase, each func(p *termPlay, hour int)) *termPlay {
	t.Helper()
	ctx := context.Background()
	p := &termPlay{}
	var agreement string
	var customer marketplace.Customer
	p.seller = newSellerWith(t, db, func(s *seller) int64 {
		p.first = s.Now().UTC().Truncate(time.Hour)
		agreement, customer, p.subID = s.contractEnding(tc.credits, p.first.Add(tc.endAfter))
		return p.subID
	})
	if err := db.Read().QueryRow(`SELECT linked_at FROM billing_links`).Scan(&p.linked); err != nil {
		t.Fatal(err)
	}
	p.firstEnd = p.first.Add(tc.endAfter)
	for hour := 1; hour <= 14; hour++ {
		p.setClock(ctx, p.first.Add(time.Duration(hour)*time.Hour+20*time.Minute))
		for i, u := range termUsage[hour] {
			p.use(event(fmt.Sprintf("h%d-%d", hour, i), u.meter, p.first.Add(time.Duration(hour)*time.Hour), u.qty))
		}
		if hour == 3 && tc.renewedCredits > 0 {
			if _, err := p.emu.Market().Renew(ctx, agreement, 1); err != nil {
				t.Fatal(err)
			}
			if tc.renewedCredits != tc.credits {
				if _, err := p.emu.Market().Upgrade(ctx, agreement, map[string]int64{"committed_credits": tc.renewedCredits}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if hour == tc.seenAt {
			if tc.renewedCredits == 0 {
				if err := p.emu.Market().Tick(ctx); err != nil { // AWS expires the contract
					t.Fatal(err)
				}
			}
			p.entitlementUpdated(customer, hour)
		}
		if _, err := p.maker.MakeRecords(ctx); err != nil {
			t.Fatal(err)
		}
		if hour < tc.senderDown[0] || hour >= tc.senderDown[1] {
			p.drain(p.sender(nil))
		}
		each(p, hour)
	}
	return p
}

// Reconciliation reckons what is due as metering does, across a renewal,
// early or learnt of late, and an expiry: at every hour nothing differs but
// what AWS refused (R10, R13, R14).
func TestReconcile_R10_R13_AgreesWithMeteringAcrossTerms(t *testing.T) {
	for _, tc := range termCases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				p := playTerms(t, db, tc, func(p *termPlay, hour int) {
					if hour < tc.senderDown[0] || hour > tc.senderDown[1] { // the next record makes up what was carried
						p.reconciled(p.first, 0, false)
					}
				})
				p.reconciled(p.first, tc.wantDue, tc.wantDue != 0)
			})
		})
	}
}

// contractEnding accepts a private offer of the contract product for the
// demo buyer, with the credits and end date given, and sets it up through
// the seller's fulfillment, which reads its entitlements from AWS.
func (s *seller) contractEnding(credits int64, end time.Time) (agreementID string, c marketplace.Customer, subID int64) {
	s.t.Helper()
	ctx := context.Background()
	offer, err := s.emu.Market().CreateOffer(ctx, market.OfferInput{ProductCode: market.DemoContractCode,
		BuyerAccountIDs: []string{market.DemoBuyerAccountID}, EndAt: &end,
		Terms: []market.OfferTerm{{Dimension: "committed_credits", Quantity: credits, PriceMicros: 1_000_000},
			{Dimension: "additional_usage", PriceMicros: 10_000}}})
	if err != nil {
		s.t.Fatal(err)
	}
	res, err := s.emu.Market().AcceptOffer(ctx, market.DemoBuyerAccountID, offer.ID, "")
	if err != nil {
		s.t.Fatal(err)
	}
	reg, err := s.emu.Market().SetUpAccount(ctx, res.Agreement.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	_, p, err := s.market.Fulfill(ctx, marketplace.FulfillInput{Token: reg.Token})
	if err != nil {
		s.t.Fatal(err)
	}
	return res.Agreement.ID, p.Subscription.Customer, p.Subscription.ID
}

// setClock sets AWS's clock and the seller's to t: draining moves the
// seller's alone.
func (s *seller) setClock(ctx context.Context, t time.Time) {
	s.t.Helper()
	if _, err := s.emu.Market().SetClock(ctx, t); err != nil {
		s.t.Fatal(err)
	}
	s.advance(t.Sub(s.Now()))
}

// entitlementUpdated is AWS's notification of a contract change reaching
// the seller, which re-reads the entitlements.
func (s *seller) entitlementUpdated(c marketplace.Customer, n int) {
	s.t.Helper()
	ctx := context.Background()
	if _, _, err := s.market.Record(ctx, marketplace.Notification{Source: "sns", MessageID: fmt.Sprintf("entitlement-%d", n),
		Action: marketplace.ActionEntitlementUpdated, ProductCode: market.DemoContractCode, Customer: c, SentAt: s.Now(), Payload: "{}"}); err != nil {
		s.t.Fatal(err)
	}
	if n, err := s.market.ApplyPending(ctx, 10); err != nil || n != 1 {
		s.t.Fatalf("applied %d notifications, %v", n, err)
	}
}

// reconciled checks reconciliation over the months from first to now: what
// is due equals what metering made, and nothing differs but what AWS
// refused; at the end, what is due is also the scenario's total.
func (s *seller) reconciled(first time.Time, wantDue int64, end bool) {
	s.t.Helper()
	months := []time.Time{first}
	if now := s.Now().UTC(); now.Month() != first.Month() {
		months = append(months, now)
	}
	var due, difference, refused int64
	for _, m := range months {
		lines, err := s.maker.Reconcile(context.Background(), m)
		if err != nil || len(lines) != 1 {
			s.t.Fatalf("Reconcile(%s) = %+v, %v", m.Format("2006-01"), lines, err)
		}
		due += lines[0].DueCents
		difference += lines[0].Difference()
		refused += lines[0].RefusedCents
	}
	if difference != refused {
		s.t.Errorf("at %s reconciliation finds %d cents of difference, want only the %d AWS refused (%d due)",
			s.Now().UTC().Format(time.RFC3339), difference, refused, due)
	}
	if end && due != wantDue {
		s.t.Errorf("reconciliation: %d cents due, want %d", due, wantDue)
	}
}
