package entra

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestControl_RegisterListRotate(t *testing.T) {
	s, err := New(Config{PublicURL: "https://127.0.0.1:8443/entra/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const tenant, client = "0b6f3c2e-5a1d-4e8f-9c7b-2d4e6f8a0b1c", "7d9e1f3a-5b7c-4d9e-8f1a-3b5c7d9e1f3a"
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		says                     string
	}{
		{"register", http.MethodPut, "/emulator/v1/apps/" + tenant + "/" + client, `{"secret":"s3cret","name":"Billing"}`, 200, client},
		{"no secret", http.MethodPut, "/emulator/v1/apps/" + tenant + "/" + client, `{"name":"Billing"}`, 400, "secret is required"},
		{"unknown field", http.MethodPut, "/emulator/v1/apps/" + tenant + "/" + client, `{"secret":"x","hash":"y"}`, 400, "unknown field"},
		{"trailing data", http.MethodPut, "/emulator/v1/apps/" + tenant + "/" + client, `{"secret":"x"} {}`, 400, "follows"},
		{"bad tenant", http.MethodPut, "/emulator/v1/apps/not-a-tenant/" + client, `{"secret":"x"}`, 400, "tenant"},
		{"list hides secrets", http.MethodGet, "/emulator/v1/apps", "", 200, "Billing"},
		{"rotate", http.MethodPost, "/emulator/v1/keys/rotate", "", 200, "published"},
		{"remove an unknown app", http.MethodDelete, "/emulator/v1/apps/" + tenant + "/0b6f3c2e-0000-4e8f-9c7b-2d4e6f8a0b1c", "", 404, "no such app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			body := rec.Body.String()
			if rec.Code != tc.want || !strings.Contains(body, tc.says) {
				t.Fatalf("%s %s = %d %s, want %d saying %q", tc.method, tc.path, rec.Code, body, tc.want, tc.says)
			}
			if strings.Contains(body, "sha256") || strings.Contains(body, "s3cret") {
				t.Fatalf("the control API shows a secret: %s", body)
			}
		})
	}
	// The registered app gets tokens with its secret.
	tok, _, err := s.IssueAccessToken(tenant, client, time.Now())
	if err != nil || tok == "" {
		t.Fatalf("IssueAccessToken after registration: %v", err)
	}
	var apps struct {
		Apps []map[string]string `json:"apps"`
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/emulator/v1/apps", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &apps); err != nil || len(apps.Apps) != 1 {
		t.Fatalf("apps = %s, %v", rec.Body, err)
	}
	// Removed, the app gets no token and its tenant is unknown again.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/emulator/v1/apps/"+tenant+"/"+client, nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE app = %d %s", rec.Code, rec.Body)
	}
	if _, _, err := s.IssueAccessToken(tenant, client, time.Now()); err == nil {
		t.Fatal("a removed app still gets tokens")
	}
	if s.knownTenant(tenant) {
		t.Fatal("the tenant of the removed app, its only one, is still known")
	}
}

func FuzzAppRequest(f *testing.F) {
	for _, s := range []string{`{"secret":"x","name":"y"}`, `{}`, `{"secret":""}`, `[]`, `{"secret":"x"} trailing`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		in, err := parseAppRequest(strings.NewReader(body))
		if err == nil && strings.TrimSpace(in.Secret) == "" {
			t.Fatalf("accepted %q without a secret", body)
		}
	})
}
