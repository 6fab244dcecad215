package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

// FuzzControlBodies sends arbitrary bodies to the writing endpoints: never
// a panic nor a 500, whatever arrives.
func FuzzControlBodies(f *testing.F) {
	for _, s := range []string{`{"activation_delay":"1s"}`, `{"duration":"1h"}`, `{"plans":[{"name":"a"}]}`,
		`{"billing_account":"billingAccounts/B","product":"p","plan":"a"}`, `{"plan":"b"}`, `[`, ``} {
		f.Add(s)
	}
	m, err := market.Open(context.Background(), market.Config{ProviderID: "p"})
	if err != nil {
		f.Fatal(err)
	}
	h := New(m, nil)
	paths := []string{"PUT /emulator/v1/settings", "POST /emulator/v1/clock/advance", "PUT /emulator/v1/products/p",
		"POST /emulator/v1/entitlements", "POST /emulator/v1/entitlements/x/change-plan", "PUT /emulator/v1/frontend"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			method, path, _ := strings.Cut(p, " ")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
			if rec.Code == http.StatusInternalServerError {
				t.Fatalf("%s %q: 500 %s", p, body, rec.Body)
			}
		}
		_ = m.Reset(context.Background()) // back to a clean market between inputs
	})
}
