package metering_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// termUsage is the usage of the renewal scenarios, by hour after the link's
// hour. The first term's hours rate $110, then $22, $0.007 and $2.20:
// $134.207; the second term's $99, then $2.207: $101.207. At 100 credits a
// term that is 3,420.7 cents of overage in the first term and 120.7 in the
// second, 3,541.4 in all: the first term's 0.7 cent must cross the boundary
// to make the 3,541st cent (R11).
var termUsage = map[int][]struct{ meter, qty string }{
	1: {{"compute", "500"}},
	4: {{"compute", "100"}},
	5: {{"storage", "200"}},
	6: {{"compute", "10"}},
	7: {{"compute", "450"}},
	8: {{"compute", "10"}, {"storage", "200"}},
}

const (
	firstTermRated   = 134_207_000 // micro-dollars, all of the first term's usage
	firstTermByHour5 = 132_007_000 // the same, up to the end of hour 5
	secondTermRated  = 101_207_000
)

// termCase is a contract's first term, its renewal and when the seller
// learns of it, over the hours of termUsage.
type termCase struct {
	name           string
	credits        int64         // the first term's committed credits
	renewedCredits int64         // the second term's; 0: the contract is not renewed, and expires
	endAfter       time.Duration // when the first term ends, after the link's hour
	seenAt         int           // the hour the seller re-reads the entitlements (AWS renews in hour 3)
	senderDown     [2]int        // hours [from, to) in which records are made but not sent
	// Cents billed for the hours of each term: in AWS's ledger, or refused
	// by AWS (the seller sent them).
	wantOld, wantNew int64
}

var termCases = []termCase{
	{name: "renewed early with the same credits: the old term's rest draws the old credits, then overage",
		credits: 100, renewedCredits: 100, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 3,
		wantOld: 3420, wantNew: 121},
	{name: "renewed early with more credits: the old term keeps its own",
		credits: 100, renewedCredits: 200, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 3,
		wantOld: 3420, wantNew: 0},
	{name: "the old term's credits run out after the renewal arrived",
		credits: 120, renewedCredits: 120, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 3,
		wantOld: 1420, wantNew: 0},
	{name: "the term ends on the hour, and the seller learns of the renewal after it ended",
		credits: 100, renewedCredits: 100, endAfter: 7 * time.Hour, seenAt: 9,
		wantOld: 3420, wantNew: 121},
	{name: "the old term's last records are carried into the new term's",
		credits: 100, renewedCredits: 100, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 3, senderDown: [2]int{4, 12},
		wantOld: 1000, wantNew: 2541},
	{name: "a contract expires, and AWS says so before its last hour is metered",
		credits: 100, endAfter: 6*time.Hour + 30*time.Minute, seenAt: 7,
		wantOld: 3420, wantNew: 0},
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

// A contract renewed before its term ends: AWS moves the entitlement's end
// date at once, while the old term still runs. The usage of the old term's
// remaining hours draws the old term's credits, then is overage on the
// consumption dimension; the new term's usage draws the new credits, fresh;
// no hour is billed twice or lost across the boundary, and a sub-cent
// remainder of the old term reaches AWS with the new term's cents (R11,
// R13, R14, R22). A term that expires keeps its credits for the usage in
// it, and nothing after its end is billed through it (R14). The billing
// page shows the term the hour belongs to, as metering draws it.
func TestMetering_R13_R14_R22_EarlyRenewalBillsEachTermsUsageOnce(t *testing.T) {
	for _, tc := range termCases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				p := playTerms(t, db, tc, func(p *termPlay, hour int) {
					if hour == 5 {
						// The first term's, whether or not the renewal is known.
						p.summarized(tc.credits, min(firstTermByHour5, tc.credits*1_000_000), p.linked, p.firstEnd)
					}
				})
				old, renewed := p.billedByTerm(market.DemoContractCode, p.first.Add(7*time.Hour)) // the hour after the one the first term ends in
				if old != tc.wantOld || renewed != tc.wantNew {
					t.Errorf("billed %d cents for the first term's hours and %d for the second's, want %d and %d",
						old, renewed, tc.wantOld, tc.wantNew)
				}
				p.ledgerHoldsOursOnce(market.DemoContractCode)
				if tc.renewedCredits > 0 {
					p.summarized(tc.renewedCredits, min(secondTermRated, tc.renewedCredits*1_000_000), p.firstEnd, p.firstEnd.AddDate(0, 1, 0))
				} else {
					p.summarized(tc.credits, min(firstTermRated, tc.credits*1_000_000), p.linked, p.firstEnd)
				}
			})
		})
	}
}

// summarized checks the billing page's committed credits.
func (p *termPlay) summarized(credits, used int64, start, end time.Time) {
	p.t.Helper()
	sum, err := metering.NewReporter(p.db, p.catalog, p.Now).Summarize(context.Background(), metering.SummaryInput{OrgID: p.orgID,
		SubscriptionID: p.subID, LinkedAt: p.linked, CommittedDimension: contractProduct.CommittedDimension})
	if err != nil {
		p.t.Fatal(err)
	}
	if sum.CommittedMicros != credits*1_000_000 || sum.UsedMicros != used || !sum.TermStart.Equal(start) || !sum.TermEnd.Equal(end) {
		p.t.Errorf("billing page at %s: %d of %d used, term %s to %s; want %d of %d, term %s to %s", p.Now().UTC().Format(time.RFC3339),
			sum.UsedMicros, sum.CommittedMicros, sum.TermStart, sum.TermEnd, used, credits*1_000_000, start, end)
	}
}

// Reconciliation reckons what is due as metering does, across an early
// renewal, a renewal the seller learns of late, a carry into the new term
// and an expiry: at every hour nothing differs but what AWS refused, and
// at the end what is due is what each term's overage came to (R10, R13,
// R14).
func TestReconcile_R10_R13_AgreesWithMeteringAcrossTerms(t *testing.T) {
	for _, tc := range termCases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				p := playTerms(t, db, tc, func(p *termPlay, hour int) {
					if hour < tc.senderDown[0] || hour > tc.senderDown[1] { // the next record makes up what was carried
						p.reconciled(p.first, 0, false)
					}
				})
				p.reconciled(p.first, tc.wantOld+tc.wantNew, true)
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

// billedByTerm sums the cents the seller billed for the hours before
// boundary and from it: what AWS's ledger holds, and what AWS refused.
func (s *seller) billedByTerm(product string, boundary time.Time) (before, from int64) {
	s.t.Helper()
	add := func(hour time.Time, q int64) {
		if hour.Before(boundary) {
			before += q
		} else {
			from += q
		}
	}
	for _, r := range s.emu.Market().Records(market.RecordFilter{ProductCode: product}) {
		add(r.Hour, r.Quantity)
	}
	rows, err := s.db.Read().Query(`SELECT hour, quantity FROM metering_records WHERE status IN ('not-subscribed', 'rejected', 'conflict')`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var hour time.Time
		var q int64
		if err := rows.Scan(&hour, &q); err != nil {
			s.t.Fatal(err)
		}
		add(hour, q)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return before, from
}

// ledgerHoldsOursOnce checks that AWS's ledger holds each hour of the
// product once, and exactly the records the seller has as accepted.
func (s *seller) ledgerHoldsOursOnce(product string) {
	s.t.Helper()
	ledger := map[string]market.MeteringRecord{}
	hours := map[string]bool{}
	for _, r := range s.emu.Market().Records(market.RecordFilter{ProductCode: product}) {
		key := fmt.Sprintf("%s|%s|%d", r.AccountID, r.Dimension, r.Hour.Unix())
		if hours[key] {
			s.t.Errorf("AWS's ledger holds hour %s twice", key)
		}
		hours[key] = true
		ledger[r.ID] = r
	}
	rows, err := s.db.Read().Query(`SELECT metering_record_id, quantity FROM metering_records WHERE status = 'accepted' AND product_code = $1`, product)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	ours := 0
	for rows.Next() {
		var id string
		var q int64
		if err := rows.Scan(&id, &q); err != nil {
			s.t.Fatal(err)
		}
		ours++
		if r, ok := ledger[id]; !ok || r.Quantity != q {
			s.t.Errorf("accepted record %s (%d cents) is not in AWS's ledger as such", id, q)
		}
	}
	if ours != len(ledger) {
		s.t.Errorf("%d accepted records, AWS's ledger holds %d", ours, len(ledger))
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
