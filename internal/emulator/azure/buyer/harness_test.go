package buyer

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

const (
	prefix      = "/azure/buyer"
	pubTenant   = "11111111-1111-4111-8111-111111111111"
	pubApp      = "22222222-2222-4222-8222-222222222222"
	buyerTenant = "33333333-3333-4333-8333-333333333333"
	otherTenant = "44444444-4444-4444-8444-444444444444"
	landingURL  = "https://seller.example/marketplace/azure/landing"
)

// fixture is a market in memory on a fixed clock, with one publisher and an
// offer of a flat-rate metered plan, two per-user plans (one with a free
// trial), and a private plan for buyerTenant; and the pages mounted at
// prefix the way the house mounts them.
type fixture struct {
	m *market.Market
	h http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	ctx := context.Background()
	m, err := market.Open(ctx, market.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutPublisher(ctx, market.PublisherInput{ID: "contoso", TenantID: pubTenant, AppID: pubApp, LandingURL: landingURL}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutOffer(ctx, market.OfferInput{ID: "cloud", PublisherID: "contoso", DisplayName: "Contoso Cloud",
		Dimensions: []market.Dimension{{ID: "emails", DisplayName: "Emails sent", UnitOfMeasure: "per 1,000 emails"}},
		Plans: []market.Plan{
			{ID: "flat", DisplayName: "Flat", Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 100_000_000}, {Unit: "P1Y", PriceMicros: 1_000_000_000}},
				Meters: []market.PlanMeter{{DimensionID: "emails", PriceMicros: 2_500, IncludedMonthly: 1000, IncludedAnnual: 12000}}},
			{ID: "flat-big", DisplayName: "Flat big", Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 300_000_000}}},
			{ID: "seats", DisplayName: "Per user", PricePerSeat: true, MinQuantity: 1, MaxQuantity: 50, Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 12_000_000}}},
			{ID: "seats-trial", DisplayName: "Per user with trial", PricePerSeat: true, FreeTrial: true, Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 15_000_000}}},
			{ID: "deal", DisplayName: "Negotiated deal", Private: true, Audience: []string{buyerTenant},
				Terms: []market.TermPrice{{Unit: "P1Y", PriceMicros: 50_000_000_000}}},
		}}); err != nil {
		t.Fatal(err)
	}
	p, err := NewPages(Config{Market: m, Prefix: prefix, Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<12))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, p))
	return &fixture{m: m, h: mux}
}

// req is one browser request: as tenant (none: signed out), with a form for
// a POST, and extra headers.
type req struct {
	method, path string
	tenant       string
	form         url.Values
	header       http.Header
}

func (f *fixture) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	} else {
		body = strings.NewReader("")
	}
	hr := httptest.NewRequest(r.method, "http://127.0.0.1:8090"+r.path, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	if r.tenant != "" {
		hr.AddCookie(&http.Cookie{Name: buyerCookie, Value: buyer{Tenant: r.tenant, Email: "pat@" + r.tenant[:4] + ".example"}.encode()})
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, hr)
	return w
}

// buy purchases through the market, as another test's setup.
func (f *fixture) buy(t *testing.T, tenant, plan string, seats int) market.Subscription {
	t.Helper()
	s, _, err := f.m.Purchase(context.Background(), market.PurchaseInput{OfferID: "cloud", PlanID: plan, Quantity: seats,
		Name: "setup " + plan, Beneficiary: market.Identity{TenantID: tenant, EmailID: "pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// active buys and activates, as the publisher's landing page would.
func (f *fixture) active(t *testing.T, tenant, plan string, seats int) market.Subscription {
	t.Helper()
	s := f.buy(t, tenant, plan, seats)
	var q *int
	if seats > 0 {
		q = &seats
	}
	if err := f.m.Activate(context.Background(), "contoso", s.ID, plan, q); err != nil {
		t.Fatal(err)
	}
	return f.sub(t, s.ID)
}

func (f *fixture) sub(t *testing.T, id string) market.Subscription {
	t.Helper()
	s, err := f.m.Subscription(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// checkPage fails unless the answer is an HTML page with status and every
// fragment, and no trace of Go internals.
func checkPage(t *testing.T, w *httptest.ResponseRecorder, status int, fragments ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", w.Code, status, w.Body)
	}
	body := w.Body.String()
	if ct := w.Header().Get("Content-Type"); status != http.StatusSeeOther && !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:", "runtime error"} {
		if strings.Contains(body, bad) {
			t.Errorf("page shows %q:\n%s", bad, body)
		}
	}
	for _, want := range fragments {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
}
