package gcpmp

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// TestCredentialsJSON: with a service account key, the seller gets its
// bearer token by a JWT-bearer grant posted to the key's token_uri, and
// calls the API with it.
func TestCredentialsJSON(t *testing.T) {
	f := newFakeGoogle(t)
	k := keys(t)[2]
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	var grants atomic.Int32
	var revoked atomic.Bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if revoked.Load() {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			http.Error(w, "bad grant", http.StatusBadRequest)
			return
		}
		tok, err := jwt.ParseSigned(r.PostForm.Get("assertion"), []jose.SignatureAlgorithm{jose.RS256})
		var cl jwt.Claims
		if err != nil || tok.Claims(&k.PublicKey, &cl) != nil || cl.Issuer != "seller@example-cloud-provider.iam.gserviceaccount.com" {
			http.Error(w, "bad assertion", http.StatusUnauthorized)
			return
		}
		grants.Add(1)
		writeJSON(w, 200, map[string]any{"access_token": "test-token", "token_type": "Bearer", "expires_in": 3600})
	}))
	defer tokens.Close()
	key, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "example-cloud-provider", "private_key_id": "sa-key-1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": "seller@example-cloud-provider.iam.gserviceaccount.com",
		"client_id": "1234", "token_uri": tokens.URL + "/token"})
	f.entitlement("ent-1", "E-1", "ACTIVE", nil)
	c := f.client(newClock().Now, func(c *Config) { c.TokenSource, c.CredentialsJSON = nil, key })
	p := NewProvider(c)
	for range 2 {
		if _, err := p.Read(context.Background(), "ent-1"); err != nil {
			t.Fatal(err)
		}
	}
	if grants.Load() != 1 {
		t.Fatalf("grants %d, want 1 (the token is reused)", grants.Load())
	}

	// A key Google no longer honours is the operator's to fix: not retried,
	// not "unavailable".
	revoked.Store(true)
	c = f.client(newClock().Now, func(c *Config) { c.TokenSource, c.CredentialsJSON = nil, key })
	_, err = NewProvider(c).Read(context.Background(), "ent-1")
	if err == nil || errors.Is(err, marketplace.ErrMarketplaceUnavailable) || !strings.Contains(err.Error(), "token endpoint refused") {
		t.Fatalf("revoked key: %v", err)
	}

	for _, bad := range []string{`{"type":"authorized_user"}`, `not json`,
		`{"type":"service_account","token_uri":"http://tokens.example.com/token"}`} {
		cfg := f.config(newClock().Now)
		cfg.TokenSource, cfg.CredentialsJSON = nil, []byte(bad)
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New accepted credentials %s", bad)
		}
	}
}

// TestHostGuard: the seller reaches only the configured origins, and
// follows no redirect.
func TestHostGuard(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusFound)
	}))
	defer redirect.Close()
	c := guardedClient(nil, redirect.URL+"/procurement/")
	if _, err := c.Get(other.URL); err == nil || !strings.Contains(err.Error(), "only the configured Google hosts") {
		t.Fatalf("request elsewhere: %v", err)
	}
	if _, err := c.Get(redirect.URL + "/x"); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("redirect: %v", err)
	}
}
