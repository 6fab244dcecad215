package azurespec

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestTransport sends requests through the checking transport to a loopback
// server and looks at what reaches each side and what is reported.
func TestTransport(t *testing.T) {
	c := loadChecker(t)
	var mu sync.Mutex
	received := map[string]string{} // path -> request body the server saw
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received[r.URL.Path] = string(body)
		mu.Unlock()
		switch r.URL.Path {
		case "/azure/api/usageEvent":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, acceptedEvent)
		case "/azure/api/batchUsageEvent":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/azure/api/saas/subscriptions/" + sid:
			// A body cut short, as the emulator's lost-answer fault does.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, `{"id":"`)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "not here")
		}
	}))
	defer srv.Close()

	badEvent := strings.Replace(usageEvent, `5.0`, `"5"`, 1)
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string // what the client reads
		wantReports              []string
		wantReadErr              bool
	}{
		{name: "conforming exchange", method: "POST", path: "/azure/api/usageEvent" + query, body: usageEvent,
			wantStatus: 200, wantBody: acceptedEvent},
		{name: "bad request still goes through", method: "POST", path: "/azure/api/usageEvent" + query, body: badEvent,
			wantStatus: 200, wantBody: acceptedEvent, wantReports: []string{"request: body: doesn't match schema #/components/schemas/UsageEvent: at /quantity"}},
		{name: "undeclared status", method: "POST", path: "/azure/api/batchUsageEvent" + query, body: `{"request":[` + usageEvent + `]}`,
			wantStatus: 429, wantReports: []string{"response 429: status 429 is not declared"}},
		{name: "unknown path, reported once", method: "GET", path: "/azure/api/saas/offers" + query,
			wantStatus: 404, wantBody: "not here", wantReports: []string{"GET /saas/offers (no operation): route"}},
		{name: "not for these APIs", method: "GET", path: "/emulator/v1/clock",
			wantStatus: 404, wantBody: "not here"},
		{name: "answer cut short is passed on, not reported", method: "GET", path: "/azure/api/saas/subscriptions/" + sid + query,
			wantStatus: 200, wantBody: `{"id":"`, wantReadErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reports []string
			client := &http.Client{Transport: c.Transport(srv.Client().Transport, func(err error) {
				var m *Mismatch
				if !errors.As(err, &m) {
					t.Errorf("report got %T, want *Mismatch: %v", err, err)
				}
				reports = append(reports, err.Error())
			})}
			r := newRequest(t, tt.method, srv.URL+tt.path, tt.body)
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("client got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if (readErr != nil) != tt.wantReadErr {
				t.Errorf("reading the body: %v, want an error: %v", readErr, tt.wantReadErr)
			}
			mu.Lock()
			got := received[strings.SplitN(tt.path, "?", 2)[0]]
			mu.Unlock()
			if got != tt.body {
				t.Errorf("server got body %q, want %q", got, tt.body)
			}
			if len(reports) != len(tt.wantReports) {
				t.Fatalf("reports %q, want %d like %q", reports, len(tt.wantReports), tt.wantReports)
			}
			for i, want := range tt.wantReports {
				if !strings.Contains(reports[i], want) {
					t.Errorf("report %q, want it to hold %q", reports[i], want)
				}
			}
		})
	}
}

func TestAPIPath(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/api/usageEvent", "/usageEvent", true},
		{"/azure/api/saas/subscriptions/x", "/saas/subscriptions/x", true},
		{"/azure/api", "/", true},
		{"/apis/api/batchUsageEvent", "/batchUsageEvent", true},
		{"/emulator/v1/clock", "", false},
		{"/apikeys", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := apiPath(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("apiPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLocate(t *testing.T) {
	root := t.TempDir()
	shared := root + "/" + SharedDir
	writeFile(t, shared+"/"+SaaSDocument, "{}")
	t.Run("beside the checkout", func(t *testing.T) {
		t.Setenv(DirEnv, "")
		work := root + "/checkout/internal/azurespec"
		writeFile(t, work+"/x", "")
		t.Chdir(work)
		got, err := Locate()
		if err != nil || got != shared {
			t.Fatalf("Locate() = %q, %v; want %q", got, err, shared)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv(DirEnv, "/somewhere")
		if got, err := Locate(); err != nil || got != "/somewhere" {
			t.Fatalf("Locate() = %q, %v; want /somewhere", got, err)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		t.Setenv(DirEnv, "")
		t.Chdir(t.TempDir())
		if _, err := Locate(); err == nil || !strings.Contains(err.Error(), DirEnv) {
			t.Fatalf("Locate() error %v, want one naming %s", err, DirEnv)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		docs [][]byte
		want string
	}{
		{"nothing", nil, "no OpenAPI documents"},
		{"not JSON", [][]byte{[]byte("{")}, "load OpenAPI document 1"},
		{"not a valid document", [][]byte{[]byte(`{"openapi":"3.0.2","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{}}}}`)}, "OpenAPI document 1 (t)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.docs...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error %v, want one with %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
