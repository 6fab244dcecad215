package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// TestRestartKeepsState: a subscription, its token, the clock offset and the
// ledger survive closing and reopening the data folder; reset forgets them.
func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := func() time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC) }
	open := func(reset bool) (*Store, *market.Market) {
		st, err := Open(ctx, dir, reset)
		if err != nil {
			t.Fatal(err)
		}
		m, err := market.Open(ctx, market.Config{Store: st, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return st, m
	}
	st, m := open(false)
	if _, err := m.PutPublisher(ctx, market.PublisherInput{ID: "contoso", TenantID: "11111111-1111-4111-8111-111111111111",
		AppID: "22222222-2222-4222-8222-222222222222"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutOffer(ctx, market.OfferInput{ID: "cloud", PublisherID: "contoso", Dimensions: []market.Dimension{{ID: "emails"}},
		Plans: []market.Plan{{ID: "flat", Terms: []market.TermPrice{{Unit: "P1M"}}, Meters: []market.PlanMeter{{DimensionID: "emails", PriceMicros: 10}}}}}); err != nil {
		t.Fatal(err)
	}
	sub, tok, err := m.Purchase(ctx, market.PurchaseInput{OfferID: "cloud", PlanID: "flat", Name: "x",
		Beneficiary: market.Identity{TenantID: "33333333-3333-4333-8333-333333333333", EmailID: "a@b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Activate(ctx, "contoso", sub.ID, "flat", nil); err != nil {
		t.Fatal(err)
	}
	res, err := m.RecordUsage(ctx, "contoso", []market.UsageInput{{ResourceID: sub.ID, Quantity: "2.5", Dimension: "emails",
		EffectiveStartTime: "2026-03-10T12:00:00Z", PlanID: "flat"}})
	if err != nil || res[0].Status != market.UsageAccepted {
		t.Fatalf("usage: %+v %v", res, err)
	}
	if _, err := m.AdvanceClock(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, m = open(false)
	if got, err := m.Resolve("contoso", tok.Token); err != nil || got.Status != market.StatusSubscribed {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if m.ClockOffset() != time.Minute {
		t.Fatalf("clock offset %s", m.ClockOffset())
	}
	if l := m.Ledger(market.LedgerFilter{}); len(l) != 1 || l[0].Quantity.String() != "2.5" {
		t.Fatalf("ledger %+v", l)
	}
	// The dedupe index is rebuilt: the same hour is a Duplicate.
	res, _ = m.RecordUsage(ctx, "contoso", []market.UsageInput{{ResourceID: sub.ID, Quantity: "1", Dimension: "emails",
		EffectiveStartTime: "2026-03-10T12:00:30Z", PlanID: "flat"}})
	if res[0].Status != market.UsageDuplicate {
		t.Fatalf("after restart: %s", res[0].Status)
	}
	st.Close()

	st, m = open(true)
	defer st.Close()
	if len(m.Publishers()) != 0 {
		t.Fatal("reset kept state")
	}
}
