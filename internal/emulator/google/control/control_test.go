package control

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

const svc = "example-cloud.gcpmarketplace.example.com"

func do(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestControlFlow(t *testing.T) {
	m, err := market.Open(context.Background(), market.Config{ProviderID: "example-cloud-provider"})
	if err != nil {
		t.Fatal(err)
	}
	h := New(m, nil)
	var entID string
	tests := []struct {
		method, path, body string
		want               int
		after              func(map[string]any)
	}{
		{"PUT", "/emulator/v1/settings", `{"activation_delay":"5s","allow_unapproved_account":true}`, 200, nil},
		{"PUT", "/emulator/v1/settings", `{"bogus":1}`, 400, nil},
		{"PUT", "/emulator/v1/products/" + svc, `{"plans":[{"name":"standard","metrics":{"` + svc + `/usage_cents":10000}},{"name":"team"}]}`, 200, nil},
		{"PUT", "/emulator/v1/products/other", `{"service_name":"x","plans":[{"name":"a"}]}`, 400, nil},
		{"POST", "/emulator/v1/entitlements", `{"billing_account":"billingAccounts/B1","product":"` + svc + `","plan":"standard"}`, 201, func(b map[string]any) {
			entID = b["entitlement"].(map[string]any)["id"].(string)
		}},
		{"POST", "/emulator/v1/entitlements", `{"billing_account":"nope","product":"` + svc + `","plan":"standard"}`, 400, nil},
		{"POST", "/emulator/v1/clock/advance", `{"duration":"-1h"}`, 400, nil},
		{"GET", "/emulator/v1/clock", ``, 200, nil},
		{"PUT", "/emulator/v1/frontend", `{"company":"Example Cloud","signup_url":"http://127.0.0.1:8080/gcp/signup"}`, 200, nil},
		{"GET", "/emulator/v1/frontend", ``, 200, func(b map[string]any) {
			if b["company"] != "Example Cloud" {
				t.Errorf("frontend %v", b)
			}
		}},
		{"GET", "/emulator/v1/events", ``, 200, func(b map[string]any) {
			if n := len(b["events"].([]any)); n != 2 {
				t.Errorf("events: %d", n)
			}
		}},
	}
	for i, tt := range tests {
		code, body := do(t, h, tt.method, tt.path, tt.body)
		if code != tt.want {
			t.Fatalf("%d %s %s: %d %v, want %d", i, tt.method, tt.path, code, body, tt.want)
		}
		if tt.after != nil {
			tt.after(body)
		}
	}
	if _, err := m.ApproveEntitlement(context.Background(), entID); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/emulator/v1/entitlements/" + entID + "/cancel", ``, 200},
		{"POST", "/emulator/v1/clock/advance", `{"duration":"10s"}`, 200},
		{"POST", "/emulator/v1/entitlements/" + entID + "/change-plan", `{"plan":"team"}`, 409},
		{"POST", "/emulator/v1/entitlements/nope/cancel", ``, 404},
		{"GET", "/emulator/v1/entitlements?billing_account=billingAccounts/B1", ``, 200},
		{"POST", "/emulator/v1/entitlements/" + entID + "/end-term", ``, 200},
		{"GET", "/emulator/v1/accounts", ``, 200},
		{"POST", "/emulator/v1/reset", ``, 204},
	}
	for i, s := range steps {
		if code, body := do(t, h, s.method, s.path, s.body); code != s.want {
			t.Fatalf("step %d %s %s: %d %v, want %d", i, s.method, s.path, code, body, s.want)
		}
	}
}
