package azuremp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests play Microsoft's side with an httptest TLS server that holds
// both Entra ID's token endpoint ({srv}/{tenant}/oauth2/v2.0/token) and the
// marketplace API ({srv}/api/...), answering with the contract's examples
// from testdata/.

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClientID = "c5b3a9f1-2d4e-4f6a-8b7c-9d0e1f2a3b4c"
	testSecret   = "s3cret~value"
	testSubID    = "37f9dea2-4345-438f-b0bd-03d40d28c7e0"
	testOpID     = "74dfb4db-c193-4891-827d-eb05fbdc64b0"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// seen is one API request as Microsoft received it.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// fakeMicrosoft records what it receives and answers with api.
type fakeMicrosoft struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	api         http.HandlerFunc
	requests    []seen
	tokenForms  []map[string]string
	tokenStatus int // 0: issue tokens
	tokenN      int
}

// clock is a test clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// newFake starts Microsoft's side and a client of it, whose waits are
// recorded instead of slept.
func newFake(t *testing.T, api http.HandlerFunc, opts ...func(*Config)) (*fakeMicrosoft, *Client, *[]time.Duration, *clock) {
	t.Helper()
	f := &fakeMicrosoft{t: t, api: api}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	clk := &clock{now: time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)}
	cfg := f.config(clk.Now)
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	return f, c, &waits, clk
}

func (f *fakeMicrosoft) config(now func() time.Time) Config {
	return Config{
		BaseURL:       f.srv.URL + "/api",
		AuthorityHost: f.srv.URL + "/",
		TenantID:      testTenant,
		ClientID:      testClientID,
		ClientSecret:  testSecret,
		HTTPClient:    f.srv.Client(),
		Now:           now,
	}
}

func (f *fakeMicrosoft) setAPI(h http.HandlerFunc) { f.mu.Lock(); defer f.mu.Unlock(); f.api = h }

func (f *fakeMicrosoft) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/"+testTenant+"/oauth2/v2.0/token" {
		f.token(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
	api := f.api
	f.mu.Unlock()
	// What every call must carry (contract §3.1).
	if r.URL.Query().Get("api-version") != APIVersion {
		f.t.Errorf("%s %s: api-version %q", r.Method, r.URL, r.URL.Query().Get("api-version"))
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer token-") {
		f.t.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}
	if !uuidRE.MatchString(r.Header.Get("x-ms-requestid")) || r.Header.Get("x-ms-correlationid") == "" {
		f.t.Errorf("%s %s: x-ms-requestid %q, x-ms-correlationid %q", r.Method, r.URL.Path, r.Header.Get("x-ms-requestid"), r.Header.Get("x-ms-correlationid"))
	}
	// Microsoft echoes both ids.
	w.Header().Set("x-ms-requestid", r.Header.Get("x-ms-requestid"))
	w.Header().Set("x-ms-correlationid", r.Header.Get("x-ms-correlationid"))
	api(w, r)
}

// token plays Entra ID's client-credentials endpoint (v2).
func (f *fakeMicrosoft) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token request: %v", err)
	}
	form := map[string]string{}
	for k := range r.PostForm {
		form[k] = r.PostForm.Get(k)
	}
	f.mu.Lock()
	f.tokenForms = append(f.tokenForms, form)
	f.tokenN++
	n, status := f.tokenN, f.tokenStatus
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		w.WriteHeader(status)
		w.Write([]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"trace_id":"t","correlation_id":"c"}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
		"access_token": "token-" + string(rune('0'+n))})
}

func (f *fakeMicrosoft) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// sample reads a testdata file.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply answers with status and body.
func reply(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if len(body) > 0 {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		w.Write(body)
	}
}

// noKeepAlives makes every request open its own connection: net/http
// repeats a GET by itself when a reused connection breaks, which would hide
// the client's own retries.
func noKeepAlives(c *Config) {
	tr := c.HTTPClient.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	c.HTTPClient = &http.Client{Transport: tr}
}
