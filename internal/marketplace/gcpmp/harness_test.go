package gcpmp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// Test values: the demo's (gcp-shared.md).
const (
	testProvider = "example-cloud-provider"
	testProduct  = "example-cloud.gcpmarketplace.example.com"
	testAudience = "127.0.0.1:8080"
	testPushAud  = "https://seller.example.com/marketplace/gcp/pubsub"
	testPushSA   = "marketplace-push@example-cloud-provider.iam.gserviceaccount.com"
	testIssuer   = DefaultSignupIssuer
)

var (
	keysOnce sync.Once
	testKeys [3]*rsa.PrivateKey
)

// keys are three RSA keys made once per test binary: making them is slow.
func keys(t testing.TB) [3]*rsa.PrivateKey {
	keysOnce.Do(func() {
		for i := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = k
		}
	})
	return testKeys
}

func certPEM(t testing.TB, k *rsa.PrivateKey) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cloud-commerce-partner"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// sign makes a compact RS256 JWS of claims with kid.
func sign(t testing.TB, k *rsa.PrivateKey, kid string, claims any) string {
	t.Helper()
	return signAlg(t, jose.RS256, k, kid, claims)
}

// signAlg makes a compact JWS of claims by any algorithm, as a forger
// would.
func signAlg(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fakeGoogle plays Google's side on one loopback server: the sign-up x509
// map, the push JWKS, the Procurement API and Service Control. Its
// handlers read and change its state under mu.
type fakeGoogle struct {
	t   testing.TB
	srv *httptest.Server

	mu           sync.Mutex
	certs        map[string]string // kid -> PEM
	jwks         []jose.JSONWebKey
	certsCache   string // Cache-Control of the key answers
	certsFetches int
	keysDown     bool
	entitlements map[string]map[string]any
	accounts     map[string]string // account -> signup approval state
	calls        []string          // "METHOD path" of procurement and service control calls
	// fail, when set, answers a call instead of the normal handler: its
	// key is "METHOD path" (path after /v1/); it is consumed per call.
	fail map[string][]int
	// failBody is the error body of a failure (default by status).
	failBody map[int]string
	// approvedAndLost makes an approval change the state, then answer 503.
	approvedAndLost bool
	// checkErrors scripts check errors by consumerId.
	checkErrors map[string][]map[string]any
	// endedAt lifts a consumer's check errors for operations that end at
	// or before it (RFC 3339): usage before an entitlement's end.
	endedAt map[string]string
	// reportErrors scripts report errors by metricName, as google.rpc codes.
	reportErrors map[string]int
	reported     []map[string]any // operations reported (every call)
	loseReport   int              // report answers lost (503 after taking them)
}

func newFakeGoogle(t testing.TB) *fakeGoogle {
	f := &fakeGoogle{t: t, certs: map[string]string{}, entitlements: map[string]map[string]any{}, accounts: map[string]string{},
		fail: map[string][]int{}, failBody: map[int]string{}, checkErrors: map[string][]map[string]any{}, endedAt: map[string]string{}, reportErrors: map[string]int{},
		certsCache: "public, max-age=3600"}
	k := keys(t)
	f.certs["k1"] = certPEM(t, k[0])
	f.jwks = []jose.JSONWebKey{{Key: &k[1].PublicKey, KeyID: "p1", Algorithm: "RS256", Use: "sig"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogle) config(now func() time.Time) Config {
	return Config{ProviderID: testProvider, Products: []string{testProduct},
		ProcurementURL: f.srv.URL + "/procurement/", ServiceControlURL: f.srv.URL + "/sc/",
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "test-token", TokenType: "Bearer"}),
		Signup:      SignupConfig{CertsURL: f.srv.URL + "/x509", Audiences: []string{testAudience}},
		Push:        PushConfig{CertsURL: f.srv.URL + "/jwks", Audience: testPushAud, Email: testPushSA},
		Now:         now, RetryBase: time.Millisecond, AttemptTimeout: 5 * time.Second}
}

func (f *fakeGoogle) client(now func() time.Time, change ...func(*Config)) *Client {
	f.t.Helper()
	cfg := f.config(now)
	for _, c := range change {
		c(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// entitlement adds an entitlement in state (short form, e.g. "ACTIVE").
func (f *fakeGoogle) entitlement(id, account, state string, extra map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := map[string]any{"name": "providers/" + testProvider + "/entitlements/" + id, "provider": testProvider,
		"account": "providers/" + testProvider + "/accounts/" + account, "productExternalName": testProduct, "plan": "standard",
		"state": "ENTITLEMENT_" + state, "createTime": "2026-01-01T10:00:00Z"}
	for k, v := range extra {
		e[k] = v
	}
	f.entitlements[id] = e
	if _, ok := f.accounts[account]; !ok {
		f.accounts[account] = "PENDING"
	}
}

func (f *fakeGoogle) state(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _ := f.entitlements[id]["state"].(string)
	return s
}

func (f *fakeGoogle) callsMade() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func googleError(w http.ResponseWriter, code int, status, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "status": status, "message": msg}})
}

var statusNames = map[int]string{400: "FAILED_PRECONDITION", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

func (f *fakeGoogle) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/x509", "/jwks":
		f.certsFetches++
		if f.keysDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", f.certsCache)
		if r.URL.Path == "/x509" {
			writeJSON(w, 200, f.certs)
		} else {
			writeJSON(w, 200, jose.JSONWebKeySet{Keys: f.jwks})
		}
		return
	}
	if r.Header.Get("Authorization") != "Bearer test-token" {
		googleError(w, 401, "UNAUTHENTICATED", "no token")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/procurement/v1/")
	if !ok {
		path, ok = strings.CutPrefix(r.URL.Path, "/sc/v1/")
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	call := r.Method + " " + path
	f.calls = append(f.calls, call)
	if codes := f.fail[call]; len(codes) > 0 {
		f.fail[call] = codes[1:]
		if body, ok := f.failBody[codes[0]]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(codes[0])
			io.WriteString(w, body)
			return
		}
		googleError(w, codes[0], statusNames[codes[0]], "scripted failure")
		return
	}
	body, _ := io.ReadAll(r.Body)
	name, verb, _ := strings.Cut(path, ":")
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 3 && parts[2] == "entitlements" && r.Method == http.MethodGet:
		f.list(w, r)
	case len(parts) == 4 && parts[2] == "entitlements":
		f.entitlementCall(w, parts[3], verb, body)
	case len(parts) == 4 && parts[2] == "accounts":
		f.accountCall(w, parts[3], verb)
	case len(parts) == 2 && parts[0] == "services":
		f.serviceControl(w, parts[1], verb, body)
	default:
		googleError(w, 404, "NOT_FOUND", "no such method "+path)
	}
}

func (f *fakeGoogle) list(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("filter")
	var ids []string
	for id, e := range f.entitlements {
		if acc, ok := strings.CutPrefix(filter, "account="); ok && accountID(e["account"].(string)) != strings.Trim(acc, `"`) {
			continue
		}
		ids = append(ids, id)
	}
	// Two per page, in id order, to walk the pages.
	sortStrings(ids)
	start := 0
	if tok := r.URL.Query().Get("pageToken"); tok != "" {
		fmt.Sscan(tok, &start)
	}
	end := min(start+2, len(ids))
	page := map[string]any{}
	var es []any
	for _, id := range ids[start:end] {
		es = append(es, f.entitlements[id])
	}
	page["entitlements"] = es
	if end < len(ids) {
		page["nextPageToken"] = fmt.Sprint(end)
	}
	writeJSON(w, 200, page)
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func (f *fakeGoogle) entitlementCall(w http.ResponseWriter, id, verb string, body []byte) {
	e, ok := f.entitlements[id]
	if !ok {
		googleError(w, 404, "NOT_FOUND", "entitlement not found")
		return
	}
	state := e["state"].(string)
	answer := func() {
		if f.approvedAndLost {
			googleError(w, 503, "UNAVAILABLE", "answer lost")
			return
		}
		writeJSON(w, 200, map[string]any{})
	}
	switch verb {
	case "":
		writeJSON(w, 200, e)
	case "approve":
		if state != stateActivationRequested {
			googleError(w, 400, "FAILED_PRECONDITION", "entitlement is not awaiting approval")
			return
		}
		e["approved"] = true
		// Google activates a little later: the state stays until then, and
		// a second approval is refused for it.
		f.fail["POST providers/"+testProvider+"/entitlements/"+id+":approve"] = []int{400}
		answer()
	case "approvePlanChange", "rejectPlanChange":
		var req struct {
			PendingPlanName string `json:"pendingPlanName"`
		}
		json.Unmarshal(body, &req)
		if state != statePendingPlanChangeApprove || req.PendingPlanName != e["newPendingPlan"] {
			googleError(w, 400, "FAILED_PRECONDITION", "no such pending plan change")
			return
		}
		if verb == "approvePlanChange" {
			e["plan"] = e["newPendingPlan"]
		}
		e["state"], e["newPendingPlan"] = stateActive, ""
		answer()
	default:
		googleError(w, 404, "NOT_FOUND", "no method "+verb)
	}
}

func (f *fakeGoogle) accountCall(w http.ResponseWriter, id, verb string) {
	st, ok := f.accounts[id]
	if !ok {
		googleError(w, 404, "NOT_FOUND", "account not found")
		return
	}
	switch verb {
	case "":
		writeJSON(w, 200, map[string]any{"name": "providers/" + testProvider + "/accounts/" + id, "state": "ACCOUNT_ACTIVE",
			"approvals": []any{map[string]any{"name": "signup", "state": st}}})
	case "approve":
		if st == "APPROVED" {
			googleError(w, 400, "FAILED_PRECONDITION", "already approved")
			return
		}
		f.accounts[id] = "APPROVED"
		writeJSON(w, 200, map[string]any{})
	default:
		googleError(w, 404, "NOT_FOUND", "no method "+verb)
	}
}

func (f *fakeGoogle) serviceControl(w http.ResponseWriter, service, verb string, body []byte) {
	if service != testProduct {
		googleError(w, 404, "NOT_FOUND", "unknown service")
		return
	}
	switch verb {
	case "check":
		var req struct {
			Operation map[string]any `json:"operation"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			googleError(w, 400, "INVALID_ARGUMENT", err.Error())
			return
		}
		consumer, _ := req.Operation["consumerId"].(string)
		errs := f.checkErrors[consumer]
		if end, ok := f.endedAt[consumer]; ok {
			opEnd, _ := time.Parse(time.RFC3339, fmt.Sprint(req.Operation["endTime"]))
			if at, _ := time.Parse(time.RFC3339, end); !opEnd.After(at) {
				errs = nil
			}
		}
		writeJSON(w, 200, map[string]any{"operationId": req.Operation["operationId"], "checkErrors": errs})
	case "report":
		var req struct {
			Operations []map[string]any `json:"operations"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			googleError(w, 400, "INVALID_ARGUMENT", err.Error())
			return
		}
		f.reported = append(f.reported, req.Operations...)
		if f.loseReport > 0 {
			f.loseReport--
			googleError(w, 503, "UNAVAILABLE", "answer lost")
			return
		}
		var errs []any
		for _, op := range req.Operations {
			metric := op["metricValueSets"].([]any)[0].(map[string]any)["metricName"].(string)
			if code, ok := f.reportErrors[metric]; ok {
				errs = append(errs, map[string]any{"operationId": op["operationId"], "status": map[string]any{"code": code, "message": "scripted"}})
			}
		}
		writeJSON(w, 200, map[string]any{"reportErrors": errs})
	default:
		googleError(w, 404, "NOT_FOUND", "no method "+verb)
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
