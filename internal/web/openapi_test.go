package web_test

import (
	"bytes"
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

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web/openapitest"
)

var loadAPISpec = sync.OnceValues(func() (*openapitest.Spec, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	return openapitest.Load(raw)
})

// mustAPISpec is the repository's OpenAPI document, loaded and validated
// once per test binary.
func mustAPISpec(t testing.TB) *openapitest.Spec {
	t.Helper()
	spec, err := loadAPISpec()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return spec
}

// eventBody is the body of a webhook event's deliveries.
func eventBody(typ string, timestamp time.Time, data []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "timestamp": timestamp.Format(time.RFC3339Nano), "data": json.RawMessage(data)})
	return b
}

// checkedAgainstOpenAPI serves h, and fails t for every /api/v1 response
// the document does not describe. Every test of package web goes through
// it (newApp), so that whatever the suite sees of the API, the document
// says. A fuzz target's *testing.F may not fail from inside the fuzz
// function, so fuzzing checks nothing here; its seed corpus runs as tests.
func checkedAgainstOpenAPI(t testing.TB, h http.Handler) http.Handler {
	tt, ok := t.(*testing.T)
	if !ok {
		return h
	}
	spec := mustAPISpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/") || r.URL.Path == "/api/v1/openapi.json" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if err := spec.CheckResponse(r, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			tt.Errorf("%s %s answered %d, which openapi.json does not describe: %v\nbody: %.500s", r.Method, r.URL.Path, rec.Code, err, rec.Body.Bytes())
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// checkEventsAgainstOpenAPI fails t for every webhook event recorded in db
// that the document does not describe. newApp runs it when a test ends, so
// that every event the suite's changes record is checked.
func checkEventsAgainstOpenAPI(t *testing.T, db *store.DB) {
	spec := mustAPISpec(t)
	rows, err := db.Read().Query(`SELECT type, data, occurred_at FROM webhook_events ORDER BY id`)
	if err != nil {
		t.Errorf("read webhook events: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var typ, data string
		var at time.Time
		if err := rows.Scan(&typ, &data, &at); err != nil {
			t.Errorf("read webhook events: %v", err)
			return
		}
		if err := spec.CheckWebhook(eventBody(typ, at, []byte(data))); err != nil {
			t.Errorf("webhook event %s, which openapi.json does not describe: %v\ndata: %.500s", typ, err, data)
		}
	}
	if err := rows.Err(); err != nil {
		t.Errorf("read webhook events: %v", err)
	}
}

var apiRouteRE = regexp.MustCompile(`"(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^"]*)"`)

// Every /api/v1 route of routes.go is in the document, with its method,
// and the document has no path the server does not serve (#12).
func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	spec := mustAPISpec(t)
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, m := range apiRouteRE.FindAllStringSubmatch(string(src), -1) {
		method, path := m[1], strings.TrimSuffix(m[2], "{$}")
		if path == "/api/v1/openapi.json" {
			continue
		}
		served[method+" "+path] = true
		if !spec.HasOperation(method, path) {
			t.Errorf("routes.go serves %s %s; openapi.json does not describe it", method, path)
		}
	}
	if len(served) == 0 {
		t.Fatal("found no /api/v1 route in routes.go")
	}
	for _, op := range spec.Operations() {
		if !served[op] {
			t.Errorf("openapi.json describes %s; routes.go does not serve it", op)
		}
	}
}

// The document is served as it is in the repository, to anyone, and is
// valid OpenAPI 3.1 with every webhook's payload described.
func TestOpenAPI_Served(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		resp, err := http.Get(a.srv.URL + "/api/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		want, _ := os.ReadFile("openapi.json")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /api/v1/openapi.json = %d %q, %d bytes; want the repository's document", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		var doc struct {
			OpenAPI string `json:"openapi"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
			t.Fatalf("openapi = %q (%v), want 3.1", doc.OpenAPI, err)
		}
	})
}

// The check itself fails for what the document does not say, so that a
// passing suite means something.
func TestOpenAPI_CheckRefusesWhatIsNotDescribed(t *testing.T) {
	spec := mustAPISpec(t)
	get := func(path string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Host = "127.0.0.1:8080"
		return r
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		body   string
		ok     bool
	}{
		{"a documented answer", get("/api/v1/organizations/7/billing"), 200, `{"organization_id": 7, "state": "none"}`, true},
		{"a state the document does not list", get("/api/v1/organizations/7/billing"), 200, `{"organization_id": 7, "state": "on-fire"}`, false},
		{"a required field missing", get("/api/v1/organizations/7/billing"), 200, `{"state": "none"}`, false},
		{"an undocumented status", get("/api/v1/organizations/7/billing"), 418, `{"error": "teapot"}`, false},
		{"an undocumented path", get("/api/v1/organizations/7/secrets"), 200, `{}`, false},
		{"an undocumented method", httptest.NewRequest(http.MethodDelete, "/api/v1/organizations/7/billing", nil), 200, `{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := spec.CheckResponse(tc.r, tc.status, jsonHeader, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	org := `"organization": {"id": 7, "external_id": "t-7"}, "sequence": 3`
	sub := `"subscription": {"marketplace": "aws", "product_code": "p", "customer_account_id": "123456789012", "offer_type": "payg", "free_trial": false, "status": "active"}`
	for _, tc := range []struct {
		name, typ, data string
		ok              bool
	}{
		{"a documented event", "subscription.updated", `{` + org + `, "state": "grace", "billing_state": "grace", ` + sub + `, "grace_until": "2026-12-16T09:00:00Z"}`, true},
		{"a state the document does not list", "subscription.updated", `{` + org + `, "state": "on-fire", "billing_state": "grace", ` + sub + `}`, false},
		{"no sequence", "subscription.updated", `{"organization": {"id": 7, "external_id": ""}, "state": "grace", "billing_state": "grace", ` + sub + `}`, false},
		{"an undocumented type", "organization.deleted", `{` + org + `}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := spec.CheckWebhook(eventBody(tc.typ, at, []byte(tc.data)))
			if (err == nil) != tc.ok {
				t.Errorf("check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
