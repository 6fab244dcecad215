package servicecontrol

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	sc "google.golang.org/api/servicecontrol/v1"
)

// Demo values (gcp-shared.md).
const (
	testService = "example-cloud.gcpmarketplace.example.com"
	testMetric  = testService + "/usage_cents"
	testSeller  = "marketbridge-seller@example-cloud-provider.iam.gserviceaccount.com"
	goodToken   = "good-token"
	consumerA   = "project_number:123456789012"
	consumerEnd = "project_number:222222222222" // cancelled at cancelledAt
	consumerOff = "project_number:333333333333" // approved, not active yet
	consumerBad = "project_number:444444444444" // check scripted BILLING_DISABLED
	mountPrefix = "/google/servicecontrol"
)

var (
	hour0       = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cancelledAt = hour0.Add(90 * time.Minute)
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeConsumers is the house's side: consumerIds of live entitlements.
type fakeConsumers struct {
	mu   sync.Mutex
	byID map[string]Consumer
	err  error
}

func (f *fakeConsumers) Consumer(_ context.Context, service, id string) (Consumer, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Consumer{}, false, f.err
	}
	c, ok := f.byID[id]
	return c, ok && service == testService, nil
}

func demoConsumers() *fakeConsumers {
	metrics := map[string]int64{testMetric: 10_000} // 1 cent each
	return &fakeConsumers{byID: map[string]Consumer{
		consumerA:   {Entitlement: "ent-a", Account: "acct-1", Product: testService, Plan: "standard", Metrics: metrics, Active: true},
		consumerEnd: {Entitlement: "ent-end", Account: "acct-2", Product: testService, Plan: "standard", Metrics: metrics, EndedAt: cancelledAt},
		consumerOff: {Entitlement: "ent-off", Account: "acct-3", Product: testService, Plan: "standard", Metrics: metrics},
		consumerBad: {Entitlement: "ent-bad", Account: "acct-4", Product: testService, Plan: "standard", Metrics: metrics, Active: true, CheckError: "BILLING_DISABLED"},
	}}
}

// staticAuthorizer accepts goodToken as testSeller.
func staticAuthorizer(r *http.Request) (string, error) {
	if r.Header.Get("Authorization") == "Bearer "+goodToken {
		return testSeller, nil
	}
	return "", errors.New("no good token")
}

type env struct {
	s         *Server
	srv       *httptest.Server
	clock     *fakeClock
	consumers *fakeConsumers
	client    *sc.Service
	endpoint  string
	cfg       Config
}

func newEnv(t *testing.T, edit ...func(*Config)) *env {
	t.Helper()
	e := &env{clock: &fakeClock{t: hour0.Add(61 * time.Minute)}, consumers: demoConsumers()}
	e.cfg = Config{
		Services:   map[string]ServiceConfig{testService: {Callers: []string{testSeller}}},
		Authorize:  staticAuthorizer,
		Consumers:  e.consumers,
		LedgerPath: ":memory:",
		Now:        e.clock.Now,
	}
	for _, f := range edit {
		f(&e.cfg)
	}
	e.start(t)
	return e
}

// start (re)opens the server on e.cfg behind a fresh listener.
func (e *env) start(t *testing.T) {
	t.Helper()
	s, err := New(t.Context(), e.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	mux.Handle(mountPrefix+"/", http.StripPrefix(mountPrefix, s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.s, e.srv, e.endpoint = s, srv, srv.URL+mountPrefix+"/"
	e.client = e.newClient(t, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: goodToken, TokenType: "Bearer"})))
}

func (e *env) newClient(t *testing.T, opts ...option.ClientOption) *sc.Service {
	t.Helper()
	c, err := sc.NewService(t.Context(), append([]option.ClientOption{option.WithEndpoint(e.endpoint)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// usageOp is an hourly usage operation as the seller sends it.
func usageOp(id, consumer string, start time.Time, quantity int64) *sc.Operation {
	return &sc.Operation{
		OperationId: id, OperationName: "Hourly Usage Report", ConsumerId: consumer,
		StartTime: start.Format(time.RFC3339), EndTime: start.Add(time.Hour).Format(time.RFC3339),
		MetricValueSets: []*sc.MetricValueSet{{MetricName: testMetric, MetricValues: []*sc.MetricValue{{Int64Value: ptr(quantity)}}}},
		UserLabels:      map[string]string{"cloudmarketplace.googleapis.com/resource_name": "r1"},
	}
}

func ptr[T any](v T) *T { return &v }

func (e *env) report(t *testing.T, ops ...*sc.Operation) (*sc.ReportResponse, error) {
	t.Helper()
	return e.client.Services.Report(testService, &sc.ReportRequest{Operations: ops}).Context(t.Context()).Do()
}

func (e *env) ledger(t *testing.T) []Entry {
	t.Helper()
	entries, err := e.s.Ledger(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// post sends a raw body, for what the generated client cannot produce.
func (e *env) post(t *testing.T, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL+mountPrefix+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+goodToken)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// newLoopback is a test server whose handler is set up after its URL is
// known (the identity's key files name its token URL).
func newLoopback(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
