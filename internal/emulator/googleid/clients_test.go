package googleid

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"
)

// authorizeWith runs Authorize on a request carrying header.
func (e *env) authorizeWith(header string) (string, error) {
	r := httptest.NewRequest(http.MethodPost, "/v1/services/x:report", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return e.s.Authorize(r)
}

// The seller's token client, x/oauth2/google with the issued key file,
// gets an access token from /token that Authorize accepts (contract §2.1).
func TestCredentialsFromJSON(t *testing.T) {
	e := newEnv(t)
	key, err := e.s.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.client)
	creds, err := google.CredentialsFromJSON(ctx, key, cloudAll)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		t.Fatalf("Token(): %v", err)
	}
	if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.AccessToken, "ya29.") || !tok.Expiry.After(time.Now()) {
		t.Fatalf("token %+v: want a ya29. Bearer token with an expiry", tok)
	}
	email, err := e.authorizeWith("Bearer " + tok.AccessToken)
	if err != nil || email != testSA {
		t.Fatalf("Authorize = %q, %v; want %s", email, err, testSA)
	}
	again, err := e.s.ServiceAccountKey(testSA)
	if err != nil || string(again) != string(key) {
		t.Fatalf("asking again gave another key file (%v)", err)
	}
}

// Google's client libraries may send a self-signed JWT instead of an access
// token; x/oauth2/google makes one with JWTAccessTokenSourceWithScope.
func TestSelfSignedJWT(t *testing.T) {
	e := newEnv(t)
	key, err := e.s.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := google.JWTAccessTokenSourceWithScope(key, cloudAll)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if email, err := e.authorizeWith("Bearer " + tok.AccessToken); err != nil || email != testSA {
		t.Fatalf("Authorize(self-signed) = %q, %v", email, err)
	}
	e.clock.Advance(2 * time.Hour)
	var ae *AuthError
	if _, err := e.authorizeWith("Bearer " + tok.AccessToken); !errors.As(err, &ae) || ae.Reason != ReasonTokenExpired {
		t.Fatalf("Authorize(expired self-signed) = %v, want %s", err, ReasonTokenExpired)
	}
}

// The token endpoint refuses what Google refuses, in Google's OAuth2 error
// shape, as x/oauth2 reports it to the seller.
func TestTokenEndpoint_Errors(t *testing.T) {
	e := newEnv(t)
	raw, err := e.s.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatal(err)
	}
	other := newEnv(t) // another emulator: its key is unknown here
	otherRaw, err := other.s.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, e.client)
	tests := []struct {
		name   string
		edit   func(*google.Credentials) oauth2.TokenSource
		key    []byte
		scopes []string
		status int
		code   string
	}{
		{name: "unknown key", key: otherRaw, scopes: []string{cloudAll}, status: 400, code: "invalid_grant"},
		{name: "no scope", key: raw, scopes: nil, status: 400, code: "invalid_scope"},
		{name: "foreign scope", key: raw, scopes: []string{"https://example.com/scope"}, status: 400, code: "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// other's key file points at other's token URL; send it here.
			cfg, err := google.JWTConfigFromJSON(tt.key, tt.scopes...)
			if err != nil {
				t.Fatal(err)
			}
			cfg.TokenURL = e.s.TokenURL()
			_, err = cfg.TokenSource(ctx).Token()
			if status, code, desc := oauthFailure(err); status != tt.status || code != tt.code || desc == "" {
				t.Fatalf("Token() = %v, want a %d %s", err, tt.status, tt.code)
			}
		})
	}

	t.Run("wrong audience", func(t *testing.T) {
		cfg, _ := google.JWTConfigFromJSON(raw, cloudAll)
		cfg.Audience = "https://oauth2.googleapis.com/token"
		_, err := cfg.TokenSource(ctx).Token()
		if _, code, desc := oauthFailure(err); code != "invalid_grant" || !strings.Contains(desc, "audience") {
			t.Fatalf("Token() = %v", err)
		}
	})
	t.Run("impersonation", func(t *testing.T) {
		cfg, _ := google.JWTConfigFromJSON(raw, cloudAll)
		cfg.Subject = "someone@example.com"
		_, err := cfg.TokenSource(ctx).Token()
		if status, code, _ := oauthFailure(err); status != 401 || code != "unauthorized_client" {
			t.Fatalf("Token() = %v", err)
		}
	})
	t.Run("assertion from the past", func(t *testing.T) {
		// x/oauth2 signs on the real clock; move the emulator's two hours on.
		e.clock.Advance(2 * time.Hour)
		defer e.clock.Advance(-2 * time.Hour)
		cfg, _ := google.JWTConfigFromJSON(raw, cloudAll)
		_, err := cfg.TokenSource(ctx).Token()
		if _, code, desc := oauthFailure(err); code != "invalid_grant" || !strings.Contains(desc, "iat and exp") {
			t.Fatalf("Token() = %v", err)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		if ok, err := e.s.RevokeServiceAccountKey(kf.PrivateKeyID); !ok || err != nil {
			t.Fatalf("revoke = %v, %v", ok, err)
		}
		cfg, _ := google.JWTConfigFromJSON(raw, cloudAll)
		_, err := cfg.TokenSource(ctx).Token()
		if _, code, desc := oauthFailure(err); code != "invalid_grant" || desc != "Invalid JWT Signature." {
			t.Fatalf("Token() = %v", err)
		}
	})
	for _, tt := range []struct{ name, method, ctype, body, code string }{
		{"GET", http.MethodGet, "", "", "invalid_request"},
		{"no grant", http.MethodPost, "application/x-www-form-urlencoded", "assertion=x", "invalid_request"},
		{"other grant", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=client_credentials", "unsupported_grant_type"},
		{"no assertion", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=" + url.QueryEscape(JWTBearerGrant), "invalid_request"},
		{"garbage assertion", http.MethodPost, "application/x-www-form-urlencoded", "grant_type=" + url.QueryEscape(JWTBearerGrant) + "&assertion=a.b.c", "invalid_grant"},
		{"json body", http.MethodPost, "application/json", `{"grant_type":"` + JWTBearerGrant + `"}`, "invalid_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.s.TokenURL(), strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out["error"] != tt.code || out["error_description"] == "" || resp.StatusCode < 400 {
				t.Fatalf("%d %v (%v), want error %s", resp.StatusCode, out, err, tt.code)
			}
		})
	}
}

// Authorize accepts only what the token endpoint issued, unexpired.
func TestAuthorize(t *testing.T) {
	e := newEnv(t)
	good, err := e.s.IssueAccessToken(testSA)
	if err != nil {
		t.Fatal(err)
	}
	other := newEnv(t)
	foreign, _ := other.s.IssueAccessToken(testSA)
	push, _ := e.s.PushToken("https://seller.example/push", pushSA)
	tests := []struct {
		name, header, reason string
	}{
		{"ok", "Bearer " + good, ""},
		{"lower-case scheme", "bearer " + good, ""},
		{"missing", "", ReasonCredentialsMissing},
		{"basic", "Basic dXNlcjpwYXNz", ReasonTokenUnsupported},
		{"another emulator's", "Bearer " + foreign, ReasonTokenUnsupported},
		{"tampered", "Bearer " + good[:len(good)-2] + "AA", ReasonTokenUnsupported},
		{"an ID token", "Bearer " + push, ReasonTokenUnsupported},
		{"garbage", "Bearer fake", ReasonTokenUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email, err := e.authorizeWith(tt.header)
			if tt.reason == "" {
				if err != nil || email != testSA {
					t.Fatalf("Authorize = %q, %v", email, err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.reason || !errors.Is(err, ErrUnauthenticated) || ae.Message == "" {
				t.Fatalf("Authorize = %q, %v; want reason %s", email, err, tt.reason)
			}
		})
	}
	e.clock.Advance(time.Hour)
	var ae *AuthError
	if _, err := e.authorizeWith("Bearer " + good); !errors.As(err, &ae) || ae.Reason != ReasonTokenExpired {
		t.Fatalf("after an hour: %v, want %s", err, ReasonTokenExpired)
	}
}

// A seller verifies push tokens with go-oidc against the JWKS URL and the
// push issuer (contract §3.4); the spoiled ones fail, rotation keeps the
// previous key until the next rotation.
func TestPushToken_GoOIDC(t *testing.T) {
	e := newEnv(t)
	const aud = "https://seller.example/gcp/pubsub/push"
	ctx := oidc.ClientContext(t.Context(), e.client)
	verifier := oidc.NewVerifier(DefaultPushIssuer, oidc.NewRemoteKeySet(ctx, e.s.OIDCJWKSURL()),
		&oidc.Config{ClientID: aud, Now: e.clock.Now, SupportedSigningAlgs: []string{oidc.RS256}})
	verify := func(raw string) (PushClaims, error) {
		var c PushClaims
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			return c, err
		}
		return c, idt.Claims(&c)
	}
	raw, err := e.s.PushToken(aud, pushSA)
	if err != nil {
		t.Fatal(err)
	}
	c, err := verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != pushSA || !c.EmailVerified || c.Sub != c.Azp || len(c.Sub) != 21 || strings.Trim(c.Sub, "0123456789") != "" {
		t.Fatalf("claims %+v", c)
	}
	expectRefused(t, func(opt TokenOption) (string, error) { return e.s.PushToken(aud, pushSA, opt) },
		func(raw string) error { _, err := verify(raw); return err },
		map[string]TokenOption{
			"wrong key": WithWrongKey(), "wrong issuer": WithIssuer("https://evil.example"),
			"wrong audience": WithAudience("https://other.example/push"), "expired": WithExpired(),
		})

	if err := e.s.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh, _ := e.s.PushToken(aud, pushSA)
	for _, tok := range []string{raw, fresh} {
		if _, err := verify(tok); err != nil {
			t.Fatalf("after one rotation: %v", err)
		}
	}
	if err := e.s.Rotate(); err != nil {
		t.Fatal(err)
	}
	// go-oidc keeps the keys it fetched while they match a kid; a verifier
	// started now sees the published set.
	verifier = oidc.NewVerifier(DefaultPushIssuer, oidc.NewRemoteKeySet(ctx, e.s.OIDCJWKSURL()),
		&oidc.Config{ClientID: aud, Now: e.clock.Now, SupportedSigningAlgs: []string{oidc.RS256}})
	if _, err := verify(raw); err == nil {
		t.Fatal("a key two rotations old still verifies")
	}

	resp, err := e.client.Get(e.base + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc openIDConfiguration
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Issuer != DefaultPushIssuer || doc.JWKSURI != e.s.OIDCJWKSURL() || doc.TokenEndpoint != e.s.TokenURL() {
		t.Fatalf("discovery %+v, %v", doc, err)
	}
}

// google.golang.org/api/idtoken is hard-coded to Google's certificate URL
// and the real clock, so sellers cannot point it at the emulator. It still
// proves the tokens' shape: here its HTTP client is sent to the stand-in.
func TestPushToken_IDTokenPackage(t *testing.T) {
	e := newEnv(t)
	target, _ := url.Parse(e.srv.URL)
	rewrite := roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "www.googleapis.com" || r.URL.Path != "/oauth2/v3/certs" {
			return nil, errors.New("unexpected request to " + r.URL.String())
		}
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.URL.Path, r.Host = target.Scheme, target.Host, mountPrefix+"/oauth2/v3/certs", ""
		return http.DefaultTransport.RoundTrip(r)
	})
	v, err := idtoken.NewValidator(t.Context(), option.WithHTTPClient(&http.Client{Transport: rewrite}))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := e.s.PushToken("https://seller.example/push", pushSA)
	p, err := v.Validate(t.Context(), raw, "https://seller.example/push")
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer != DefaultPushIssuer || p.Claims["email"] != pushSA || p.Claims["email_verified"] != true {
		t.Fatalf("payload %+v", p)
	}
}

// expectRefused mints a token with each spoiling option and checks that
// the seller's verification refuses it.
func expectRefused(t *testing.T, mint func(TokenOption) (string, error), verify func(string) error, spoilers map[string]TokenOption) {
	t.Helper()
	for name, opt := range spoilers {
		bad, err := mint(opt)
		if err != nil {
			t.Fatal(err)
		}
		if verify(bad) == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// oauthFailure reads a token error as x/oauth2's jwt flow returns it: a
// RetrieveError whose body is Google's JSON (that flow does not parse it).
func oauthFailure(err error) (status int, code, description string) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return 0, "", ""
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(re.Body, &body)
	return re.Response.StatusCode, body.Error, body.Description
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A seller verifies the sign-up JWT as contract §1.4 says: keys from the
// configured x509 map URL (never from iss), RS256, the kid's certificate,
// pinned iss, aud, exp and iat; here with go-jose.
func TestSignupToken_X509Map(t *testing.T) {
	e := newEnv(t)
	const aud = "127.0.0.1:8080"
	verify := func(raw string) (SignupClaims, error) {
		var c SignupClaims
		resp, err := e.client.Get(e.s.PartnerCertsURL())
		if err != nil {
			return c, err
		}
		defer resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=21600") {
			t.Errorf("Cache-Control %q", cc)
		}
		var certs map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&certs); err != nil {
			return c, err
		}
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			return c, err
		}
		block, _ := pem.Decode([]byte(certs[tok.Headers[0].KeyID]))
		if block == nil {
			return c, errors.New("unknown kid")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return c, err
		}
		if err := tok.Claims(cert.PublicKey, &c); err != nil {
			return c, err
		}
		var std jwt.Claims
		_ = tok.Claims(cert.PublicKey, &std)
		if err := std.ValidateWithLeeway(jwt.Expected{Issuer: DefaultSignupIssuer, AnyAudience: jwt.Audience{aud}, Time: e.clock.Now()}, 30*time.Second); err != nil {
			return c, err
		}
		return c, nil
	}
	raw, err := e.s.SignupToken("E-B8D8-0415-157D-E362", aud, []string{"order-1"}, "gaia-123")
	if err != nil {
		t.Fatal(err)
	}
	c, err := verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != "E-B8D8-0415-157D-E362" || c.Exp-c.Iat != 300 || c.Iat != e.clock.Now().Unix() || c.Google.UserIdentity != "gaia-123" ||
		len(c.Google.Orders) != 1 || len(c.Google.Roles) == 0 {
		t.Fatalf("claims %+v", c)
	}
	expectRefused(t, func(opt TokenOption) (string, error) { return e.s.SignupToken("E-1", aud, nil, "", opt) },
		func(raw string) error { _, err := verify(raw); return err },
		map[string]TokenOption{
			"wrong key": WithWrongKey(), "wrong issuer": WithIssuer(e.s.PartnerCertsURL()),
			"wrong audience": WithAudience("evil.example"), "expired": WithExpired(),
			"issued in the future": WithIssuedAt(e.clock.Now().Add(time.Hour)),
		})
	// After a rotation the previous kid stays in the map and the JWKS.
	if err := e.s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(raw); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	resp, err := e.client.Get(e.s.PartnerJWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 2 || set.Keys[0].KeyID != e.s.PartnerKeyIDs()[0] {
		t.Fatalf("JWKS %+v, %v", set, err)
	}
}

// With target_audience instead of a scope the token endpoint answers an ID
// token, as Google's does; idtoken.NewTokenSource (cloud.google.com/go/auth
// underneath) asks for one with the issued key file.
func TestTokenEndpoint_IDToken(t *testing.T) {
	e := newEnv(t)
	key, err := e.s.ServiceAccountKey(testSA)
	if err != nil {
		t.Fatal(err)
	}
	const aud = "https://seller.example/gcp/pubsub/push"
	ts, err := idtoken.NewTokenSource(t.Context(), aud, option.WithAuthCredentialsJSON(option.ServiceAccount, key), option.WithHTTPClient(e.client))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(t.Context(), e.client)
	idt, err := oidc.NewVerifier(DefaultPushIssuer, oidc.NewRemoteKeySet(ctx, e.s.OIDCJWKSURL()),
		&oidc.Config{ClientID: aud, Now: e.clock.Now}).Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var c PushClaims
	if err := idt.Claims(&c); err != nil || c.Email != testSA || !c.EmailVerified {
		t.Fatalf("claims %+v, %v", c, err)
	}
}
