package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

const (
	pubTenant   = "11111111-1111-4111-8111-111111111111"
	pubApp      = "22222222-2222-4222-8222-222222222222"
	otherApp    = "55555555-5555-4555-8555-555555555555"
	buyerTenant = "33333333-3333-4333-8333-333333333333"
	otherTenant = "44444444-4444-4444-8444-444444444444"

	tokContoso  = "token-contoso"
	tokFabrikam = "token-fabrikam"
	tokStranger = "token-stranger" // valid, but no publisher's app
)

// fakeAuth stands in for the Entra stand-in: fixed tokens.
type fakeAuth struct{}

func (fakeAuth) VerifyAccessToken(raw string, _ time.Time) (string, string, error) {
	switch raw {
	case tokContoso:
		return pubTenant, pubApp, nil
	case tokFabrikam:
		return pubTenant, otherApp, nil
	case tokStranger:
		return otherTenant, otherApp, nil
	}
	return "", "", errors.New("signature invalid")
}

// env is a market on a hand-moved clock behind an httptest server.
type env struct {
	t    *testing.T
	m    *market.Market
	srv  *httptest.Server
	spec *specChecker
	mu   sync.Mutex
	now  time.Time
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func newEnv(t *testing.T, s market.Settings) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 3, 9, 12, 30, 0, 0, time.UTC)}
	if s.PageSize == 0 {
		s.PageSize = 2
	}
	m, err := market.Open(context.Background(), market.Config{Settings: s, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	ctx := context.Background()
	for _, p := range []market.PublisherInput{
		{ID: "contoso", TenantID: pubTenant, AppID: pubApp, LandingURL: "https://seller.example/landing"},
		{ID: "fabrikam", TenantID: pubTenant, AppID: otherApp},
	} {
		if _, err := m.PutPublisher(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.PutOffer(ctx, testOffer("cloud", "contoso")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutOffer(ctx, testOffer("other", "fabrikam")); err != nil {
		t.Fatal(err)
	}
	// The handler is built after the server so that its base URL is the server's.
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	h, err = New(Config{Market: m, Auth: fakeAuth{}, BaseURL: e.srv.URL + "/api", Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.spec = newSpecChecker(t, e.srv.Client().Transport, e.srv.URL+"/api")
	t.Cleanup(func() { e.spec.report(t) })
	return e
}

func testOffer(id, publisher string) market.OfferInput {
	return market.OfferInput{ID: id, PublisherID: publisher, DisplayName: "Cloud",
		Dimensions: []market.Dimension{{ID: "emails", DisplayName: "Emails", UnitOfMeasure: "per email"}, {ID: "gb", DisplayName: "GB"}},
		Plans: []market.Plan{
			{ID: "flat", DisplayName: "Flat", Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 100_000_000}},
				Meters: []market.PlanMeter{{DimensionID: "emails", PriceMicros: 10_000, IncludedMonthly: 1000}, {DimensionID: "gb", Unlimited: true}}},
			{ID: "flat-big", DisplayName: "Flat big", Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 300_000_000}},
				Meters: []market.PlanMeter{{DimensionID: "emails", PriceMicros: 5_000}}},
			{ID: "seats", DisplayName: "Seats", PricePerSeat: true, MinQuantity: 1, MaxQuantity: 50, Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 12_000_000}}},
			{ID: "seats-gold", DisplayName: "Seats gold", PricePerSeat: true, MaxQuantity: 5, Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 20_000_000}}},
			{ID: "deal", DisplayName: "Private deal", Private: true, Audience: []string{buyerTenant},
				Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 50_000_000}}, Meters: []market.PlanMeter{{DimensionID: "emails", PriceMicros: 1_000}}},
			{ID: "secret", DisplayName: "Another's deal", Private: true, Audience: []string{otherTenant},
				Terms: []market.TermPrice{{Unit: "P1M", PriceMicros: 50_000_000}}},
		}}
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
	if err := e.m.Tick(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// buy purchases a subscription of offer cloud; activate makes it Subscribed.
func (e *env) buy(plan string, qty int, opts ...func(*market.PurchaseInput)) (market.Subscription, string) {
	e.t.Helper()
	in := market.PurchaseInput{OfferID: "cloud", PlanID: plan, Quantity: qty, Name: "mine",
		Beneficiary: market.Identity{TenantID: buyerTenant, EmailID: "ann@buyer.example"}}
	for _, o := range opts {
		o(&in)
	}
	s, tok, err := e.m.Purchase(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return s, tok.Token
}

func (e *env) active(plan string, qty int, opts ...func(*market.PurchaseInput)) market.Subscription {
	e.t.Helper()
	s, _ := e.buy(plan, qty, opts...)
	var q *int
	if qty > 0 {
		q = &qty
	}
	if err := e.m.Activate(context.Background(), "contoso", s.ID, plan, q); err != nil {
		e.t.Fatal(err)
	}
	s, _ = e.m.Subscription(s.ID)
	return s
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code is the error body's code, in either shape.
func (r reply) code() string {
	var b struct {
		Code  string `json:"code"`
		Error struct {
			Code string `json:"Code"`
		} `json:"Error"`
	}
	json.Unmarshal(r.body, &b) //nolint:errcheck // empty code on a non-error body
	if b.Code != "" {
		return b.Code
	}
	return b.Error.Code
}

// call sends a request with the contoso token and the API version unless
// the path says otherwise (a raw "?" in path replaces the default query).
func (e *env) call(method, path, body string, hdr ...string) reply {
	e.t.Helper()
	url := e.srv.URL + path
	if !strings.Contains(path, "?") {
		url += "?api-version=" + APIVersion
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokContoso)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := (&http.Client{Transport: e.spec}).Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}
