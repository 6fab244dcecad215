package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// tokenForger is an OpenID provider whose ID tokens the test writes: the
// discovery document and key set are served as a provider serves them, and
// the token endpoint answers with whatever token the test mints. It exists
// to send what a real provider never sends (a wrong audience, an expired
// token, a signature by a key it does not publish), so that the tests can
// show the console's callback refuses each.
type tokenForger struct {
	srv       *httptest.Server
	published *rsa.PrivateKey // in the key set
	unknown   *rsa.PrivateKey // signs forgeries under the published key's id
	mu        sync.Mutex
	nonce     string // of the last authorization request
	deny      string // when set, the error the authorization endpoint answers with
	mint      func(f *tokenForger, nonce string) string
}

const forgerClient = "marketbridge-forged"

func startForger(t testing.TB) *tokenForger {
	t.Helper()
	f := &tokenForger{}
	var err error
	if f.published, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if f.unknown, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := f.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/keys", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.published.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		f.nonce = q.Get("nonce")
		deny := f.deny
		f.mu.Unlock()
		if deny != "" {
			http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"error": {deny}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
			return
		}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {"the-code"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		tok := f.mint(f, f.nonce)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": tok})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// sign makes a compact JWS of claims with key, under the published key id.
func (f *tokenForger) sign(key *rsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// claims are those of a good ID token for nonce, which each case spoils.
func (f *tokenForger) claims(nonce string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": f.srv.URL, "sub": "forged-sub", "aud": forgerClient, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": nonce, "email": "forged@example.com", "email_verified": true, "name": "Forged Person"}
}

// The callback verifies the ID token (#12): a good one logs in, and one
// with a wrong audience, expired, signed by a key the provider does not
// publish, for another nonce or from another issuer is refused, opening no
// session and creating no user.
func TestOIDC_CallbackRefusesBadIDTokens(t *testing.T) {
	cases := []struct {
		name string
		mint func(f *tokenForger, nonce string) string
		ok   bool
	}{
		{"good token", func(f *tokenForger, n string) string { return f.sign(f.published, f.claims(n)) }, true},
		{"wrong aud", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["aud"] = "another-client"
			return f.sign(f.published, c)
		}, false},
		{"expired", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			return f.sign(f.published, c)
		}, false},
		{"bad signature", func(f *tokenForger, n string) string { return f.sign(f.unknown, f.claims(n)) }, false},
		{"tampered payload", func(f *tokenForger, n string) string {
			good := f.sign(f.published, f.claims(n))
			other := f.sign(f.published, map[string]any{"iss": f.srv.URL, "sub": "admin", "aud": forgerClient, "exp": time.Now().Add(time.Hour).Unix(), "nonce": n})
			g, o := strings.Split(good, "."), strings.Split(other, ".")
			return g[0] + "." + o[1] + "." + g[2]
		}, false},
		{"wrong nonce", func(f *tokenForger, n string) string { return f.sign(f.published, f.claims("not-"+n)) }, false},
		{"no nonce", func(f *tokenForger, n string) string {
			c := f.claims(n)
			delete(c, "nonce")
			return f.sign(f.published, c)
		}, false},
		// Several audiences: the token is for the client its azp names
		// (OpenID Connect Core 3.1.3.7), which must be this one.
		{"several audiences, azp this client", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["aud"], c["azp"] = []string{forgerClient, "another-client"}, forgerClient
			return f.sign(f.published, c)
		}, true},
		{"several audiences, no azp", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["aud"] = []string{"another-client", forgerClient}
			return f.sign(f.published, c)
		}, false},
		{"several audiences, azp another client", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["aud"], c["azp"] = []string{"another-client", forgerClient}, "another-client"
			return f.sign(f.published, c)
		}, false},
		{"azp another client", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["azp"] = "another-client"
			return f.sign(f.published, c)
		}, false},
		{"wrong issuer", func(f *tokenForger, n string) string {
			c := f.claims(n)
			c["iss"] = "https://evil.example"
			return f.sign(f.published, c)
		}, false},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startForger(t)
		a := newApp(t, db, withOIDC(t, f.srv.URL, forgerClient, "secret"))
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.mu.Lock()
				f.mint = tc.mint
				f.mu.Unlock()
				b := a.browser()
				r := b.oidcSignIn("")
				if tc.ok {
					if r.status != http.StatusSeeOther || b.cookie("mb_session") == "" {
						t.Fatalf("good token: %d → %q %s", r.status, r.location, problemOf(r.body))
					}
					return
				}
				if r.status != http.StatusUnauthorized || b.cookie("mb_session") != "" || problemOf(r.body) != "The sign-in could not be completed. Please try again." {
					t.Errorf("%s: %d, session %q, page says %q; want 401 and no session", tc.name, r.status, b.cookie("mb_session"), problemOf(r.body))
				}
			})
		}
		if n := a.people(); n != 1 {
			t.Errorf("%d users, want only the good token's", n)
		}
	})
}

// How the callback reads the provider's word on the address: a string
// "true" (Cognito, older Entra ID) is verified; false, absent or anything
// else is not, and a first sign-in with it is refused. A refusal at the
// provider (the person cancelled) says so and logs nobody in.
func TestOIDC_EmailVerifiedClaimAndProviderRefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := startForger(t)
		a := newApp(t, db, withOIDC(t, f.srv.URL, forgerClient, "secret"))
		for i, tc := range []struct {
			verified any // nil: absent
			status   int
		}{
			{nil, http.StatusForbidden},
			{false, http.StatusForbidden},
			{"false", http.StatusForbidden},
			{"yes", http.StatusForbidden},
			{"true", http.StatusSeeOther},
			{true, http.StatusSeeOther},
		} {
			f.mu.Lock()
			f.mint = func(f *tokenForger, n string) string {
				c := f.claims(n)
				c["sub"], c["email"] = fmt.Sprintf("sub-%d", i), fmt.Sprintf("p%d@example.com", i)
				delete(c, "email_verified")
				if tc.verified != nil {
					c["email_verified"] = tc.verified
				}
				return f.sign(f.published, c)
			}
			f.mu.Unlock()
			b := a.browser()
			if r := b.oidcSignIn(""); r.status != tc.status {
				t.Errorf("email_verified %#v: %d %s, want %d", tc.verified, r.status, problemOf(r.body), tc.status)
			}
		}
		f.mu.Lock()
		f.deny = "access_denied"
		f.mu.Unlock()
		b := a.browser()
		r := b.oidcSignIn("/orgs/new")
		if r.status != http.StatusUnauthorized || !strings.Contains(problemOf(r.body), "cancelled or refused") ||
			!strings.Contains(r.body, `href="/login?next=%2Forgs%2Fnew"`) || b.cookie("mb_session") != "" {
			t.Errorf("refused at the provider: %d %s", r.status, problemOf(r.body))
		}
	})
}
