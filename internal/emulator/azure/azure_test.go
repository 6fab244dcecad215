package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

const (
	pubTenant   = "11111111-1111-4111-8111-111111111111"
	pubApp      = "22222222-2222-4222-8222-222222222222"
	buyerTenant = "33333333-3333-4333-8333-333333333333"
	apiVersion  = "?api-version=2018-08-31"
)

type fakeEntra struct{}

func (fakeEntra) VerifyAccessToken(raw string, _ time.Time) (string, string, error) {
	if raw == "good" {
		return pubTenant, pubApp, nil
	}
	return "", "", errors.New("bad token")
}

func (fakeEntra) WebhookToken(tenant, aud string, _ time.Time) (string, error) {
	return "hook-" + aud, nil
}

// house runs the emulator behind a test server at /azure, as the lead
// mounts it in the emulator process.
type house struct {
	e   *azure.Emulator
	srv *httptest.Server
}

func start(t *testing.T, dir string, publicURL *string) *house {
	t.Helper()
	h := &house{}
	var handler atomic.Value
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	*publicURL = h.srv.URL + "/azure"
	e, err := azure.New(context.Background(), azure.Config{DataDir: dir, PublicURL: *publicURL, Auth: fakeEntra{}, Tokens: fakeEntra{},
		TickInterval: 10 * time.Millisecond, DeliveryPoll: 10 * time.Millisecond,
		Settings: market.Settings{WebhookRetryInitial: 5 * time.Millisecond, WebhookRetryMax: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	handler.Store(http.StripPrefix("/azure", e.Handler()))
	return h
}

func (h *house) stop(t *testing.T) {
	t.Helper()
	h.srv.Close()
	if err := h.e.Close(); err != nil {
		t.Fatal(err)
	}
}

func (h *house) do(t *testing.T, method, path, body string, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+"/azure"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

type hookSeller struct {
	mu     sync.Mutex
	accept bool
	got    []map[string]any
}

func (s *hookSeller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.accept || r.Header.Get("Authorization") != "Bearer hook-"+pubApp {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var p map[string]any
	json.NewDecoder(r.Body).Decode(&p) //nolint:errcheck // an empty map shows the problem
	s.got = append(s.got, p)
}

func (s *hookSeller) actions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.got {
		out = append(out, p["action"].(string))
	}
	return out
}

// TestBuyerToSellerAcrossRestart walks a purchase from the control API to
// the landing URL, resolve and activate on the wire API, usage and an
// invoice, and a Suspend webhook that the seller refuses until the emulator
// has restarted: the outbox resumes it.
func TestBuyerToSellerAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	seller := &hookSeller{}
	sellerSrv := httptest.NewServer(seller)
	defer sellerSrv.Close()
	var public string
	h := start(t, dir, &public)

	steps := []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/emulator/v1/publishers/contoso", `{"tenant_id":"` + pubTenant + `","app_id":"` + pubApp + `","landing_url":"https://seller.example/landing","webhook_url":"` + sellerSrv.URL + `/hook"}`, 200},
		{"PUT", "/emulator/v1/offers/cloud", `{"publisher_id":"contoso","display_name":"Cloud","dimensions":[{"id":"emails","display_name":"Emails","unit_of_measure":"per email"}],
			"plans":[{"id":"flat","display_name":"Flat","price_per_seat":false,"terms":[{"unit":"P1M","price_micros":99990000}],"meters":[{"dimension_id":"emails","price_micros":3333}]}]}`, 200},
	}
	for _, s := range steps {
		if status, b, _ := h.do(t, s.method, s.path, s.body); status != s.status {
			t.Fatalf("%s %s: %d %s", s.method, s.path, status, b)
		}
	}
	status, b, _ := h.do(t, "POST", "/emulator/v1/subscriptions", `{"offer_id":"cloud","plan_id":"flat","name":"Ann's","beneficiary":{"tenantId":"`+buyerTenant+`","emailId":"ann@buyer.example"}}`)
	if status != 201 {
		t.Fatalf("purchase: %d %s", status, b)
	}
	var bought struct {
		Subscription market.Subscription `json:"subscription"`
		Token        string              `json:"token"`
		LandingURL   string              `json:"landing_url"`
	}
	json.Unmarshal(b, &bought) //nolint:errcheck // checked below
	u, err := url.Parse(bought.LandingURL)
	if err != nil || !strings.HasPrefix(bought.LandingURL, "https://seller.example/landing?token=") || u.Query().Get("token") != bought.Token {
		t.Fatalf("landing URL %q for token %q", bought.LandingURL, bought.Token)
	}
	id := bought.Subscription.ID
	auth := []string{"Authorization", "Bearer good"}
	if status, b, _ := h.do(t, "POST", "/api/saas/subscriptions/resolve"+apiVersion, "", append(auth, "x-ms-marketplace-token", u.Query().Get("token"))...); status != 200 || !strings.Contains(string(b), id) {
		t.Fatalf("resolve: %d %s", status, b)
	}
	if status, b, _ := h.do(t, "POST", "/api/saas/subscriptions/"+id+"/activate"+apiVersion, `{"planId":"flat"}`, auth...); status != 200 {
		t.Fatalf("activate: %d %s", status, b)
	}
	hour := time.Now().UTC().Truncate(time.Hour).Format(time.RFC3339)
	ev := `{"request":[{"resourceId":"` + id + `","quantity":3,"dimension":"emails","effectiveStartTime":"` + hour + `","planId":"flat"}]}`
	if status, b, _ := h.do(t, "POST", "/api/batchUsageEvent"+apiVersion, ev, auth...); status != 200 || !strings.Contains(string(b), `"Accepted"`) {
		t.Fatalf("usage: %d %s", status, b)
	}
	_, b, _ = h.do(t, "GET", "/emulator/v1/subscriptions/"+id+"/invoice", "")
	var inv market.Invoice
	json.Unmarshal(b, &inv) //nolint:errcheck // checked below
	// 99.99 for the month + 3 × 0.003333 = 0.009999 → 1 cent, half up.
	if len(inv.Lines) != 2 || inv.Lines[1].AmountMicros != "9999" || inv.Lines[1].AmountCents != 1 || inv.TotalCents != 10000 {
		t.Fatalf("invoice %s", b)
	}
	if status, b, _ := h.do(t, "POST", "/emulator/v1/subscriptions/"+id+"/suspend", ""); status != 200 {
		t.Fatalf("suspend: %d %s", status, b)
	}
	waitFor(t, "a refused attempt", func() bool { return h.e.Market().Deliveries()[0].Attempts > 0 })
	h.stop(t)

	seller.mu.Lock()
	seller.accept = true
	seller.mu.Unlock()
	h = start(t, dir, &public)
	defer h.stop(t)
	waitFor(t, "the Suspend webhook after the restart", func() bool { return len(seller.actions()) == 1 })
	if a := seller.actions(); a[0] != "Suspend" {
		t.Fatalf("webhooks %v", a)
	}
	if _, b, _ := h.do(t, "GET", "/api/saas/subscriptions/"+id+apiVersion, "", auth...); !strings.Contains(string(b), `"Suspended"`) {
		t.Fatalf("after restart: %s", b)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestControlAPIErrors(t *testing.T) {
	var public string
	h := start(t, "", &public)
	defer h.stop(t)
	setup := []struct{ method, path, body string }{
		{"PUT", "/emulator/v1/publishers/contoso", `{"tenant_id":"` + pubTenant + `","app_id":"` + pubApp + `"}`},
		{"PUT", "/emulator/v1/offers/cloud", `{"publisher_id":"contoso","plans":[{"id":"seats","price_per_seat":true,"max_quantity":5,"terms":[{"unit":"P1M"}]},{"id":"more","price_per_seat":true,"terms":[{"unit":"P1M"}]}]}`},
	}
	for _, s := range setup {
		if status, b, _ := h.do(t, s.method, s.path, s.body); status != 200 {
			t.Fatalf("%s: %d %s", s.path, status, b)
		}
	}
	_, b, _ := h.do(t, "POST", "/emulator/v1/subscriptions", `{"offer_id":"cloud","plan_id":"seats","quantity":2,"name":"x","beneficiary":{"tenantId":"`+buyerTenant+`","emailId":"a@b.example"}}`)
	var bought struct {
		Subscription market.Subscription `json:"subscription"`
	}
	json.Unmarshal(b, &bought) //nolint:errcheck // an empty id fails the cases below
	sub := "/emulator/v1/subscriptions/" + bought.Subscription.ID
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"publisher with a bad tenant", "PUT", "/emulator/v1/publishers/x", `{"tenant_id":"nope","app_id":"` + pubApp + `"}`, 400},
		{"landing URL with #", "PUT", "/emulator/v1/publishers/x", `{"tenant_id":"` + pubTenant + `","app_id":"` + buyerTenant + `","landing_url":"https://a.example/#x"}`, 400},
		{"same app as another publisher", "PUT", "/emulator/v1/publishers/x", `{"tenant_id":"` + pubTenant + `","app_id":"` + pubApp + `"}`, 409},
		{"unknown field", "PUT", "/emulator/v1/publishers/x", `{"tenant":"x"}`, 400},
		{"unknown publisher", "GET", "/emulator/v1/publishers/nobody", ``, 404},
		{"offer of an unknown publisher", "PUT", "/emulator/v1/offers/o2", `{"publisher_id":"nobody","plans":[{"id":"a","terms":[{"unit":"P1M"}]}]}`, 404},
		{"offer with a bad term", "PUT", "/emulator/v1/offers/o2", `{"publisher_id":"contoso","plans":[{"id":"a","terms":[{"unit":"P7D"}]}]}`, 400},
		{"removing a plan in use", "PUT", "/emulator/v1/offers/cloud", `{"publisher_id":"contoso","plans":[{"id":"more","price_per_seat":true,"terms":[{"unit":"P1M"}]}]}`, 409},
		{"unknown offer", "GET", "/emulator/v1/offers/nope", ``, 404},
		{"audience of an unknown plan", "PUT", "/emulator/v1/offers/cloud/plans/nope/audience", `{"tenants":[]}`, 404},
		{"purchase of an unknown plan", "POST", "/emulator/v1/subscriptions", `{"offer_id":"cloud","plan_id":"nope","quantity":1,"name":"x","beneficiary":{"tenantId":"` + buyerTenant + `","emailId":"a@b.example"}}`, 404},
		{"purchase above the seats", "POST", "/emulator/v1/subscriptions", `{"offer_id":"cloud","plan_id":"seats","quantity":6,"name":"x","beneficiary":{"tenantId":"` + buyerTenant + `","emailId":"a@b.example"}}`, 400},
		{"change a pending subscription", "POST", sub + "/change-quantity", `{"quantity":3}`, 400},
		{"change a pending subscription's plan", "POST", sub + "/change-plan", `{"plan_id":"more"}`, 400},
		{"renew a pending subscription", "POST", sub + "/renew", ``, 400},
		{"publishers", "GET", "/emulator/v1/publishers", ``, 200},
		{"offers", "GET", "/emulator/v1/offers", ``, 200},
		{"plans for a tenant", "GET", "/emulator/v1/offers/cloud/plans?tenant=" + buyerTenant, ``, 200},
		{"plans of an unknown offer", "GET", "/emulator/v1/offers/nope/plans", ``, 404},
		{"subscriptions", "GET", "/emulator/v1/subscriptions", ``, 200},
		{"settings read", "GET", "/emulator/v1/settings", ``, 200},
		{"clock read", "GET", "/emulator/v1/clock", ``, 200},
		{"suspend a pending subscription", "POST", sub + "/suspend", ``, 400},
		{"reinstate a pending subscription", "POST", sub + "/reinstate", ``, 400},
		{"auto-renew without a value", "PUT", sub + "/auto-renew", `{}`, 400},
		{"auto-renew off", "PUT", sub + "/auto-renew", `{"auto_renew":false}`, 200},
		{"landing token", "POST", sub + "/landing-token", ``, 201},
		{"cancel", "POST", sub + "/cancel", ``, 200},
		{"cancel twice", "POST", sub + "/cancel", ``, 400},
		{"operations of an unknown subscription", "GET", "/emulator/v1/subscriptions/nope/operations", ``, 404},
		{"invoice of an unknown subscription", "GET", "/emulator/v1/subscriptions/nope/invoice", ``, 404},
		{"clock backwards", "POST", "/emulator/v1/clock/advance", `{"duration":"-1h"}`, 400},
		{"clock nonsense", "POST", "/emulator/v1/clock/advance", `{"duration":"soon"}`, 400},
		{"clock forward", "POST", "/emulator/v1/clock/advance", `{"duration":"1h"}`, 200},
		{"fault of an unknown kind", "POST", "/emulator/v1/faults", `{"kind":"meteor"}`, 400},
		{"fault of an unknown scope", "POST", "/emulator/v1/faults", `{"kind":"internal_error","scope":"nope"}`, 400},
		{"delay without a delay", "POST", "/emulator/v1/faults", `{"kind":"delay"}`, 400},
		{"fault", "POST", "/emulator/v1/faults", `{"kind":"internal_error","scope":"metering","count":2}`, 201},
		{"remove an unknown fault", "DELETE", "/emulator/v1/faults/nope", ``, 404},
		{"remove all faults", "DELETE", "/emulator/v1/faults", ``, 204},
		{"settings with a bad duration", "PUT", "/emulator/v1/settings", `{"ack_window":"ten"}`, 400},
		{"settings", "PUT", "/emulator/v1/settings", `{"ack_window":"2s","throttle_rate":5}`, 200},
		{"status", "GET", "/emulator/v1/status", ``, 200},
		{"ledger", "GET", "/emulator/v1/ledger", ``, 200},
		{"webhooks", "GET", "/emulator/v1/webhooks", ``, 200},
	}
	for _, c := range cases {
		if status, b, _ := h.do(t, c.method, c.path, c.body); status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, status, b, c.status)
		}
	}
	if s := h.e.Market().Settings(); s.AckWindow != 2*time.Second || s.ThrottleBurst != 5 || s.PageSize != 100 {
		t.Fatalf("settings %+v", s)
	}
	// Reset empties the market: nothing is left to list.
	if status, b, _ := h.do(t, "POST", "/emulator/v1/reset", ``); status != 200 {
		t.Fatalf("reset: %d %s", status, b)
	}
	_, b, _ = h.do(t, "GET", "/emulator/v1/status", ``)
	var st struct{ Publishers, Offers, Subscriptions, Faults int }
	if err := json.Unmarshal(b, &st); err != nil || st.Publishers+st.Offers+st.Subscriptions+st.Faults != 0 {
		t.Fatalf("status after reset: %s (%v)", b, err)
	}
}
