package oidc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// RP-initiated log-out sends the ID token (id_token_hint) through the
// browser to the end_session_endpoint the discovery document names. It
// goes only to the provider that was configured, over https (or plain http
// on loopback, as for the issuer): a discovery document that names
// another host or an insecure URL gets a local log-out only.
func TestLogoutURL_OnlyToTheProvider(t *testing.T) {
	for _, tc := range []struct {
		name       string
		endSession string // "{issuer}" is replaced by the test provider's URL
		ok         bool
	}{
		{"the issuer's own endpoint", "{issuer}/logout", true},
		{"none published", "", false},
		{"another host", "https://evil.example/logout", false},
		{"another loopback port", "http://127.0.0.1:1/logout", false},
		{"plain http elsewhere", "http://idp.example/logout", false},
		{"not http", "javascript:alert(1)", false},
		{"relative", "/logout", false},
		{"with credentials", "https://user:pw@evil.example/logout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var issuer string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				doc := map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
					"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}}
				if tc.endSession != "" {
					doc["end_session_endpoint"] = strings.ReplaceAll(tc.endSession, "{issuer}", issuer)
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(doc)
			}))
			defer srv.Close()
			issuer = srv.URL
			rp, err := New(Config{Issuer: issuer, ClientID: "mb", RedirectURL: "https://mb.example" + CallbackPath})
			if err != nil {
				t.Fatal(err)
			}
			to, ok := rp.LogoutURL(context.Background(), "the-id-token", "https://mb.example/login")
			if ok != tc.ok {
				t.Fatalf("LogoutURL = %q, %v; want ok %v", to, ok, tc.ok)
			}
			if ok && !strings.HasPrefix(to, issuer+"/logout?") {
				t.Errorf("LogoutURL = %q, want the issuer's end_session endpoint", to)
			}
		})
	}
}
