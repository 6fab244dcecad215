package procurement

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

// BenchmarkListFiltered measures entitlements.list with an account and
// state filter over 1,000 entitlements (the seller's reconcile call).
func BenchmarkListFiltered(b *testing.B) {
	ctx := context.Background()
	m, err := market.Open(ctx, market.Config{ProviderID: provider})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.PutProduct(ctx, market.Product{ServiceName: svc, Plans: []market.Plan{{Name: "standard"}}}); err != nil {
		b.Fatal(err)
	}
	var acct string
	for i := 0; i < 1000; i++ {
		_, a, err := m.Order(ctx, market.OrderRequest{BillingAccount: fmt.Sprintf("billingAccounts/B%04d", i), Product: svc, Plan: "standard"})
		if err != nil {
			b.Fatal(err)
		}
		acct = a.ID
	}
	h := New(m, nil, nil)
	url := "/v1/providers/" + provider + "/entitlements?alt=json&filter=account%3D" + acct + "+state%3Dactivation_requested&pageSize=50"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
