package entra

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzServer is a stand-in with one registered app, served without a
// listener.
func fuzzServer(f *testing.F) (*Server, time.Time) {
	f.Helper()
	now, _ := time.Parse(time.RFC3339, testStartUTC)
	s, err := New(Config{PublicURL: "https://127.0.0.1:8081/entra/", Now: func() time.Time { return now }}, nil)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.RegisterApp(App{TenantID: testTenant, ClientID: testClient, SecretHash: HashSecret(testSecret)}); err != nil {
		f.Fatal(err)
	}
	return s, now
}

// FuzzTokenRequest drives the token endpoints with arbitrary forms and
// headers: every answer is Entra-shaped JSON with a 200, 400 or 401, and a
// 200 carries a token the stand-in itself accepts.
func FuzzTokenRequest(f *testing.F) {
	s, now := fuzzServer(f)
	good := values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope)
	f.Add("/"+testTenant+"/oauth2/v2.0/token", form, "", good)
	f.Add("/"+testTenant+"/oauth2/token", form, "", values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "resource", MarketplaceAppID))
	f.Add("/"+testTenant+"/oauth2/v2.0/token", form, basic(testClient, testSecret).Get("Authorization"), "grant_type=client_credentials&scope="+MarketplaceScope+"+openid")
	f.Add("/"+testTenant+"/oauth2/v2.0/token", form, "Basic Og==", "grant_type=client_credentials&client_id=&scope=%")
	f.Add("/common/oauth2/token", "application/json", "", `{"grant_type":"client_credentials"}`)
	f.Add("/"+testTenant+"/oauth2/v2.0/token", form+"; charset=utf-8", "Basic "+strings.Repeat("A", 100), good+"&"+good)
	f.Fuzz(func(t *testing.T, path, contentType, authorization, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t?#") {
			return // not a request line a server would receive
		}
		r, err := http.NewRequest(http.MethodPost, "https://127.0.0.1:8081"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", contentType)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed || w.Code == http.StatusMovedPermanently || w.Code == http.StatusTemporaryRedirect {
			return // not a token endpoint path: the mux's own answers
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: %d with a body that is not JSON: %q", path, w.Code, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
			tok, _ := out["access_token"].(string)
			if _, err := s.VerifyAccessToken(tok, now); err != nil {
				t.Fatalf("issued a token it refuses: %v", err)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
			codes, _ := out["error_codes"].([]any)
			if out["error"] == "" || len(codes) != 1 {
				t.Fatalf("error without Entra's shape: %v", out)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	})
}

// FuzzVerifyAccessToken feeds arbitrary bearer tokens: never a panic, every
// failure an ErrInvalidToken, and a success only for the registered app.
func FuzzVerifyAccessToken(f *testing.F) {
	s, now := fuzzServer(f)
	tok, _, err := s.IssueAccessToken(testTenant, testClient, now)
	if err != nil {
		f.Fatal(err)
	}
	hook, err := s.WebhookToken(testTenant, testClient, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(hook)
	f.Add(tok[:len(tok)-4])
	f.Add(strings.SplitN(tok, ".", 2)[0] + ".e30.")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiIyMGU5NDBiMy00Yzc3LTRiMGItOWE1My05ZTE2YTFiMDEwYTcifQ.")
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		caller, err := s.VerifyAccessToken(raw, now)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		if caller != (Caller{TenantID: testTenant, AppID: testClient}) {
			t.Fatalf("verified a token for %+v", caller)
		}
	})
}
