package market

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchMarket is a market of n active flat-rate subscriptions, each with a
// finished operation, as after a busy month.
func benchMarket(b *testing.B, n int) (*Market, []string) {
	b.Helper()
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	m, err := Open(context.Background(), Config{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	m.PutPublisher(ctx, PublisherInput{ID: "contoso", TenantID: pubTenant, AppID: pubApp}) //nolint:errcheck // the fixture's
	if _, err := m.PutOffer(ctx, fixtureOffer()); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		s, _, err := m.Purchase(ctx, PurchaseInput{OfferID: "cloud", PlanID: "flat", Name: "s",
			Beneficiary: Identity{TenantID: buyerTenant, EmailID: "a@b.example"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Activate(ctx, "contoso", s.ID, "flat", nil); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Renew(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	return m, ids
}

func BenchmarkTick(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m, _ := benchMarket(b, n)
			b.ResetTimer()
			for b.Loop() {
				if err := m.Tick(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBatch25 records batches of 25 events for different subscriptions.
func BenchmarkBatch25(b *testing.B) {
	m, ids := benchMarket(b, 10000)
	hour := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch := make([]UsageInput, 25)
		for j := range batch {
			k := (i*25 + j) % len(ids)
			if k == 0 {
				hour = (hour + 1) % 20
			}
			batch[j] = UsageInput{ResourceID: ids[k], Quantity: "1.5", Dimension: "emails", PlanID: "flat",
				EffectiveStartTime: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC).Add(-time.Duration(hour) * time.Hour).Format(time.RFC3339)}
		}
		if _, err := m.RecordUsage(context.Background(), "contoso", batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateSubscription is the seller's PATCH and its completion by
// the clock, among 10,000 subscriptions with a finished operation each.
func BenchmarkUpdateSubscription(b *testing.B) {
	m, ids := benchMarket(b, 10000)
	ctx := context.Background()
	plans := []string{"flat-big", "flat"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		if _, err := m.UpdateSubscription(ctx, "contoso", id, ChangeInput{PlanID: plans[(i/len(ids))%2]}); err != nil {
			b.Fatal(err)
		}
		if _, err := m.AdvanceClock(ctx, 2*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
