package control

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// FuzzControlBodies sends arbitrary bodies to the control API's writing
// endpoints: never a panic nor a 500, whatever arrives.
func FuzzControlBodies(f *testing.F) {
	for _, s := range []string{`{"ack_window":"10s"}`, `{"kind":"delay","delay_ms":5}`, `{"duration":"1h"}`,
		`{"tenant_id":"11111111-1111-4111-8111-111111111111","app_id":"22222222-2222-4222-8222-222222222222"}`,
		`{"publisher_id":"p","plans":[{"id":"a","terms":[{"unit":"P1M"}]}]}`, `{"offer_id":"o"}`, `[`, ``} {
		f.Add(s)
	}
	m, err := market.Open(context.Background(), market.Config{})
	if err != nil {
		f.Fatal(err)
	}
	h := New(m, nil)
	paths := []string{"PUT /emulator/v1/settings", "POST /emulator/v1/faults", "PUT /emulator/v1/publishers/p",
		"PUT /emulator/v1/offers/o", "POST /emulator/v1/subscriptions", "PUT /emulator/v1/offers/o/plans/a/audience"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			method, path, _ := strings.Cut(p, " ")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
			if rec.Code == http.StatusInternalServerError {
				t.Fatalf("%s %q: 500 %s", p, body, rec.Body)
			}
		}
		m.SetSettings(market.Settings{}) //nolint:errcheck // back to the defaults between inputs
	})
}
