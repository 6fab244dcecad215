package market_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/emulator/sqlite"
)

// BenchmarkTick is one pass of the emulator's clock over many live
// agreements of which none is due, the common case: the pass holds the
// market's lock, so every API call waits for it. One op is one pass.
//
//	go test -run '^$' -bench Tick ./internal/emulator/market/
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("agreements=%d", n), func(b *testing.B) {
			ctx := context.Background()
			store, err := sqlite.OpenMemory(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			m, err := market.Open(ctx, market.Config{Store: store, DefaultAccessKeyID: "test", DefaultSecretAccessKey: "test"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.SeedDemo(ctx, market.DemoInput{FulfillmentURL: "https://seller.example.com/fulfillment"}); err != nil {
				b.Fatal(err)
			}
			for from := 0; from < n; from += 10_000 {
				if _, err := m.SubscribeNewAccounts(ctx, market.BulkSubscribeInput{ProductCode: market.DemoPAYGCode,
					AccountIDs: bulkIDs(from, min(10_000, n-from)), Name: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := m.Tick(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
