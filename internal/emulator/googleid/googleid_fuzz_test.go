package googleid

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func fuzzServer(f *testing.F) *Server {
	f.Helper()
	now := time.Now().UTC()
	s, err := New(Config{PublicURL: "http://127.0.0.1:8080/google/id/", Now: func() time.Time { return now }}, nil)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzTokenRequest drives POST /token with arbitrary forms: every answer is
// Google's OAuth2 error JSON with a 4xx, or a 200 with a token Authorize
// accepts.
func FuzzTokenRequest(f *testing.F) {
	s := fuzzServer(f)
	if _, err := s.ServiceAccountKey(testSA); err != nil {
		f.Fatal(err)
	}
	grant := "grant_type=" + url.QueryEscape(JWTBearerGrant)
	f.Add("application/x-www-form-urlencoded", grant+"&assertion=eyJhbGciOiJSUzI1NiJ9.e30.AA")
	f.Add("application/x-www-form-urlencoded", grant)
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=x")
	f.Add("application/json", `{"grant_type":"x"}`)
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "%zz")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d with a body that is not JSON: %q", w.Code, w.Body.String())
		}
		switch {
		case w.Code == http.StatusOK:
			tok, _ := out["access_token"].(string)
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			if _, err := s.Authorize(r); err != nil {
				t.Fatalf("issued a token it refuses: %v", err)
			}
		case w.Code >= 400 && w.Code < 500:
			if out["error"] == "" || out["error_description"] == "" {
				t.Fatalf("error without Google's shape: %v", out)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	})
}

// FuzzAuthorize feeds arbitrary Authorization headers: never a panic, every
// failure an *AuthError, no success for what the stand-in did not issue.
func FuzzAuthorize(f *testing.F) {
	s := fuzzServer(f)
	tok, err := s.IssueAccessToken(testSA)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer " + tok)
	f.Add("Bearer ya29.e30.AA")
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AA")
	f.Add("Basic Og==")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header["Authorization"] = []string{header}
		email, err := s.Authorize(r)
		if err == nil {
			if email != testSA {
				t.Fatalf("accepted %q as %q", header, email)
			}
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) || !errors.Is(err, ErrUnauthenticated) || ae.Reason == "" {
			t.Fatalf("error %v is not an AuthError", err)
		}
	})
}
