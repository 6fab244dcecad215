package entra

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The stand-in works with the token client sellers use: x/oauth2's
// clientcredentials, on both endpoints, with the secret in the body, in
// Basic, or wherever auto-detection puts it (contract §2.3); mounted under a
// prefix or at the root of its host.
func TestClientCredentials(t *testing.T) {
	for _, prefix := range []string{mountPrefix, ""} {
		t.Run("mounted at "+prefix+"/", func(t *testing.T) { testClientCredentials(t, newEnvAt(t, prefix)) })
	}
}

func testClientCredentials(t *testing.T, e *env) {
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.client)
	v1Params := url.Values{"resource": {MarketplaceAppID}}
	tests := []struct {
		name   string
		cfg    clientcredentials.Config
		status int    // of a failure; 0 for success
		code   string // its error
	}{
		{"v2 in params", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.s.TokenURL(testTenant), Scopes: []string{MarketplaceScope}, AuthStyle: oauth2.AuthStyleInParams}, 0, ""},
		{"v2 in header", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.s.TokenURL(testTenant), Scopes: []string{MarketplaceScope}, AuthStyle: oauth2.AuthStyleInHeader}, 0, ""},
		{"v2 auto-detect", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.s.TokenURL(testTenant), Scopes: []string{MarketplaceScope}}, 0, ""},
		{"v1 resource", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.base + testTenant + "/oauth2/token", EndpointParams: v1Params, AuthStyle: oauth2.AuthStyleInParams}, 0, ""},
		{"v1 in header", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.base + testTenant + "/oauth2/token", EndpointParams: v1Params, AuthStyle: oauth2.AuthStyleInHeader}, 0, ""},
		{"v2 bad secret", clientcredentials.Config{ClientID: testClient, ClientSecret: "wrong", TokenURL: e.s.TokenURL(testTenant), Scopes: []string{MarketplaceScope}, AuthStyle: oauth2.AuthStyleInParams}, 401, "invalid_client"},
		{"v1 unknown app", clientcredentials.Config{ClientID: unknownGUID, ClientSecret: testSecret, TokenURL: e.base + testTenant + "/oauth2/token", EndpointParams: v1Params, AuthStyle: oauth2.AuthStyleInParams}, 400, "unauthorized_client"},
		{"v2 wrong scope", clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.s.TokenURL(testTenant), Scopes: []string{"https://graph.microsoft.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}, 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.cfg.Token(ctx)
			if tt.status != 0 {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.Response.StatusCode != tt.status || re.ErrorCode != tt.code || !strings.HasPrefix(re.ErrorDescription, "AADSTS") {
					t.Fatalf("Token() = %v, want a %d %s RetrieveError", err, tt.status, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Token(): %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v: want Bearer and an expiry read from expires_in", tok.TokenType, tok.Expiry)
			}
			if _, err := e.s.VerifyAccessToken(tok.AccessToken, e.clock.Now()); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}
		})
	}
}

// End to end as the marketplace API will use it: the seller's
// clientcredentials HTTP client calls an API that authenticates with
// VerifyAccessToken and answers 403 otherwise (contract §3.1).
func TestClientCredentials_CallsAnAPI(t *testing.T) {
	e := newEnv(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		caller, err := e.s.VerifyAccessToken(raw, e.clock.Now())
		if !ok || err != nil {
			http.Error(w, "The authorization token is invalid, expired, missing", http.StatusForbidden)
			return
		}
		w.Write([]byte(caller.TenantID + "/" + caller.AppID))
	}))
	defer api.Close()
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.client)
	cc := clientcredentials.Config{ClientID: testClient, ClientSecret: testSecret, TokenURL: e.s.TokenURL(testTenant), Scopes: []string{MarketplaceScope}}
	resp, err := cc.Client(ctx).Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != testTenant+"/"+testClient {
		t.Fatalf("API answered %d %q", resp.StatusCode, body)
	}
}

// A seller verifies webhook tokens with go-oidc against the stand-in's
// JWKS, as it would against Entra's (contract §4.4): with the key set
// alone, with the v2 discovery document, and with the v1 one, whose issuer
// is sts.windows.net's.
func TestWebhookToken_GoOIDC(t *testing.T) {
	for _, v := range []TokenVersion{TokenVersion1, TokenVersion2} {
		t.Run(string(v), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.WebhookTokenVersion = v })
			ctx := oidc.ClientContext(t.Context(), e.client)
			raw, err := e.s.WebhookToken(testTenant, testClient, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			cfg := &oidc.Config{ClientID: testClient, Now: e.clock.Now, SupportedSigningAlgs: []string{oidc.RS256}}
			issuer := e.s.Issuer(testTenant, v)

			for _, jwksURL := range []string{e.s.JWKSURL(testTenant), e.base + testTenant + "/discovery/keys", e.base + "common/discovery/keys"} {
				ks := oidc.NewRemoteKeySet(ctx, jwksURL)
				idt, err := oidc.NewVerifier(issuer, ks, cfg).Verify(ctx, raw)
				if err != nil {
					t.Fatalf("%s: %v", jwksURL, err)
				}
				var all map[string]any
				if err := idt.Claims(&all); err != nil {
					t.Fatal(err)
				}
				if all["tid"] != testTenant || all["azp"] != MarketplaceAppID || all["appid"] != MarketplaceAppID {
					t.Errorf("%s: tid %v azp %v appid %v, want the publisher tenant and the marketplace app", jwksURL, all["tid"], all["azp"], all["appid"])
				}
			}

			// Discovery: v2 as go-oidc wants it (issuer = the URL asked); v1
			// needs the sts.windows.net issuer allowed, as with real Entra.
			p2, err := oidc.NewProvider(ctx, e.base+testTenant+"/v2.0")
			if err != nil {
				t.Fatalf("v2 discovery: %v", err)
			}
			p1, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(ctx, e.s.Issuer(testTenant, TokenVersion1)), e.base+testTenant)
			if err != nil {
				t.Fatalf("v1 discovery: %v", err)
			}
			for name, p := range map[string]*oidc.Provider{"v2": p2, "v1": p1} {
				wantOK := (name == "v2") == (v == TokenVersion2)
				_, err := p.Verifier(cfg).Verify(ctx, raw)
				if (err == nil) != wantOK {
					t.Errorf("%s provider's verifier: %v, want success %v (the token's issuer is %s)", name, err, wantOK, issuer)
				}
				if p.Endpoint().TokenURL != e.base+testTenant+map[string]string{"v2": "/oauth2/v2.0/token", "v1": "/oauth2/token"}[name] {
					t.Errorf("%s token endpoint %s", name, p.Endpoint().TokenURL)
				}
			}

			// A wrong audience, another tenant's issuer: refused.
			other, err := e.s.WebhookToken(otherTenant, otherClient, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, e.s.JWKSURL(testTenant)), cfg).Verify(ctx, other); err == nil {
				t.Error("another publisher's webhook token verified")
			}
		})
	}
}

// Key rotation as a seller's verifier sees it: a cached key set picks up the
// new key by itself; a token of the previous key verifies while it is
// published; one of a key rotated out twice does not.
func TestWebhookToken_RotationWithGoOIDC(t *testing.T) {
	e := newEnv(t)
	ctx := oidc.ClientContext(t.Context(), e.client)
	cfg := &oidc.Config{ClientID: testClient, Now: e.clock.Now}
	issuer := e.s.Issuer(testTenant, TokenVersion1)
	cached := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, e.s.JWKSURL(testTenant)), cfg)
	mint := func() string {
		raw, err := e.s.WebhookToken(testTenant, testClient, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	first := mint()
	if _, err := cached.Verify(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	second := mint()
	fresh := func() *oidc.IDTokenVerifier {
		return oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, e.s.JWKSURL(testTenant)), cfg)
	}
	for name, v := range map[string]*oidc.IDTokenVerifier{"cached": cached, "fresh": fresh()} {
		for tok, raw := range map[string]string{"first": first, "second": second} {
			if _, err := v.Verify(ctx, raw); err != nil {
				t.Errorf("%s key set, %s token after one rotation: %v", name, tok, err)
			}
		}
	}
	if _, err := e.s.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh().Verify(ctx, first); err == nil {
		t.Error("a token of a key rotated out twice verified against the published key set")
	}
	if _, err := fresh().Verify(ctx, second); err != nil {
		t.Errorf("a token of the previous key: %v", err)
	}
}
