package entra

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// payload decodes a token's claims without verifying them.
func payload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAccessToken_Claims(t *testing.T) {
	for _, v := range []TokenVersion{TokenVersion1, TokenVersion2} {
		t.Run(string(v), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.APITokenVersion = v })
			now := e.clock.Now()
			raw, exp, err := e.s.IssueAccessToken(testTenant, testClient, now)
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(now.Add(time.Hour)) {
				t.Errorf("expiry %s, want an hour after %s", exp, now)
			}
			c := payload(t, raw)
			iss := "https://sts.windows.net/" + testTenant + "/"
			if v == TokenVersion2 {
				iss = e.base + testTenant + "/v2.0"
			}
			oid := c["oid"].(string)
			want := map[string]any{
				"aud": MarketplaceAppID, "iss": iss, "tid": testTenant, "appid": testClient, "azp": testClient,
				"appidacr": "1", "azpacr": "1", "idtyp": "app", "ver": string(v), "sub": oid,
				"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix()),
			}
			for k, w := range want {
				if c[k] != w {
					t.Errorf("%s = %#v, want %#v", k, c[k], w)
				}
			}
			if !isGUID(oid) {
				t.Errorf("oid %q is not a GUID", oid)
			}
			if v == TokenVersion1 && c["idp"] != iss {
				t.Errorf("idp = %v, want the v1 issuer", c["idp"])
			}
			tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			h := tok.Headers[0]
			if h.KeyID != e.s.KeyIDs()[0] || h.ExtraHeaders["x5t"] != h.KeyID || h.ExtraHeaders[jose.HeaderType] != "JWT" {
				t.Errorf("header kid %q x5t %v typ %v, want the signing key's kid twice and JWT", h.KeyID, h.ExtraHeaders["x5t"], h.ExtraHeaders[jose.HeaderType])
			}
		})
	}
}

func TestWebhookToken_Claims(t *testing.T) {
	for _, v := range []TokenVersion{TokenVersion1, TokenVersion2} {
		t.Run(string(v), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.WebhookTokenVersion = v })
			now := e.clock.Now()
			raw, err := e.s.WebhookToken(strings.ToUpper(testTenant), testClient, now)
			if err != nil {
				t.Fatal(err)
			}
			c := payload(t, raw)
			iss := "https://sts.windows.net/" + testTenant + "/"
			if v == TokenVersion2 {
				iss = e.base + testTenant + "/v2.0"
			}
			want := map[string]any{"aud": testClient, "iss": iss, "tid": testTenant, "appid": MarketplaceAppID,
				"azp": MarketplaceAppID, "idtyp": "app", "ver": string(v), "exp": float64(now.Add(time.Hour).Unix())}
			for k, w := range want {
				if c[k] != w {
					t.Errorf("%s = %#v, want %#v", k, c[k], w)
				}
			}
			// A webhook token is for the publisher, not for the marketplace API.
			if _, err := e.s.VerifyAccessToken(raw, now); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("VerifyAccessToken(webhook token) = %v, want ErrInvalidToken", err)
			}
		})
	}
	e := newEnv(t)
	for _, bad := range [][2]string{{"", testClient}, {"a/b", testClient}, {testTenant, ""}} {
		if _, err := e.s.WebhookToken(bad[0], bad[1], e.clock.Now()); err == nil {
			t.Errorf("WebhookToken(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

// forge signs claims with the stand-in's current key, so that every check
// after the signature's is tested on its own.
func (e *env) forge(t *testing.T, mutate func(*claims)) string {
	t.Helper()
	now := e.clock.Now()
	c, err := e.s.baseClaims(testTenant, TokenVersion1, now)
	if err != nil {
		t.Fatal(err)
	}
	c.Aud, c.AppID, c.Azp, c.Oid, c.Sub = MarketplaceAppID, testClient, testClient, unknownGUID, unknownGUID
	mutate(&c)
	raw, err := e.s.sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// signWith signs claims with a key the stand-in never published, under the
// kid of one it did.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyAccessToken(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	issue := func(tenant, client string) string {
		raw, _, err := e.s.IssueAccessToken(tenant, client, now)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := issue(testTenant, testClient)
	other := issue(otherTenant, otherClient)
	hook, err := e.s.WebhookToken(testTenant, testClient, now)
	if err != nil {
		t.Fatal(err)
	}
	foreignKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid, _ := e.s.baseClaims(testTenant, TokenVersion1, now)
	valid.Aud, valid.AppID, valid.Azp = MarketplaceAppID, testClient, testClient
	kid := e.s.KeyIDs()[0]

	tests := []struct {
		name    string
		raw     string
		at      time.Time
		want    Caller
		wantErr error
	}{
		{"valid", good, now, Caller{testTenant, testClient}, nil},
		{"another publisher's app", other, now, Caller{otherTenant, otherClient}, nil},
		{"v2 issuer on the emulator's host", e.forge(t, func(c *claims) { c.Iss, c.Ver, c.Idp = e.base+testTenant+"/v2.0", "2.0", "" }), now, Caller{testTenant, testClient}, nil},
		{"azp only (a v2 token)", e.forge(t, func(c *claims) { c.AppID = "" }), now, Caller{testTenant, testClient}, nil},
		{"nbf within the skew", e.forge(t, func(c *claims) { c.Nbf = now.Add(4 * time.Minute).Unix() }), now, Caller{testTenant, testClient}, nil},
		{"exp within the skew", good, now.Add(time.Hour + 4*time.Minute), Caller{testTenant, testClient}, nil},
		{"expired", good, now.Add(time.Hour + 5*time.Minute), Caller{}, ErrTokenExpired},
		{"not yet valid", e.forge(t, func(c *claims) { c.Nbf = now.Add(6 * time.Minute).Unix() }), now, Caller{}, ErrInvalidToken},
		{"webhook token (aud is the publisher's app)", hook, now, Caller{}, ErrInvalidToken},
		{"another resource's audience", e.forge(t, func(c *claims) { c.Aud = "https://graph.microsoft.com" }), now, Caller{}, ErrInvalidToken},
		{"app of tenant A in tenant B's token", e.forge(t, func(c *claims) { c.Tid, c.Iss = otherTenant, "https://sts.windows.net/"+otherTenant+"/" }), now, Caller{}, ErrUnknownApp},
		{"issuer of another tenant", e.forge(t, func(c *claims) { c.Iss = "https://sts.windows.net/" + otherTenant + "/" }), now, Caller{}, ErrInvalidToken},
		{"real Entra's v2 issuer", e.forge(t, func(c *claims) { c.Iss = "https://login.microsoftonline.com/" + testTenant + "/v2.0" }), now, Caller{}, ErrInvalidToken},
		{"user token", e.forge(t, func(c *claims) { c.Idtyp = "user" }), now, Caller{}, ErrInvalidToken},
		{"appid and azp disagree", e.forge(t, func(c *claims) { c.Azp = otherClient }), now, Caller{}, ErrInvalidToken},
		{"no appid", e.forge(t, func(c *claims) { c.AppID, c.Azp = "", "" }), now, Caller{}, ErrInvalidToken},
		{"no exp", e.forge(t, func(c *claims) { c.Exp = 0 }), now, Caller{}, ErrInvalidToken},
		{"unregistered app", e.forge(t, func(c *claims) { c.AppID, c.Azp = unknownGUID, unknownGUID }), now, Caller{}, ErrUnknownApp},
		{"foreign key under our kid", signWith(t, jose.RS256, foreignKey, kid, valid), now, Caller{}, ErrInvalidToken},
		{"HS256", signWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), kid, valid), now, Caller{}, ErrInvalidToken},
		{"unsigned", strings.Join(strings.Split(good, ".")[:2], ".") + ".", now, Caller{}, ErrInvalidToken},
		{"tampered payload", tamper(t, good), now, Caller{}, ErrInvalidToken},
		{"empty", "", now, Caller{}, ErrInvalidToken},
		{"garbage", "not a token", now, Caller{}, ErrInvalidToken},
		{"huge", strings.Repeat("a", maxTokenLength+1), now, Caller{}, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.s.VerifyAccessToken(tt.raw, tt.at)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("got %+v, %v; want %v (and ErrInvalidToken)", got, err, tt.wantErr)
			}
		})
	}
}

// tamper swaps the token's tid for another tenant's, keeping the signature.
func tamper(t *testing.T, raw string) string {
	parts := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.ReplaceAll(string(b), testTenant, otherTenant))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// A removed app's tokens stop working at once, as a deleted app
// registration's do once Entra's caches catch up.
func TestVerifyAccessToken_AppRemoved(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	raw, _, err := e.s.IssueAccessToken(testTenant, testClient, now)
	if err != nil {
		t.Fatal(err)
	}
	if !e.s.RemoveApp(strings.ToUpper(testTenant), testClient) {
		t.Fatal("RemoveApp found nothing")
	}
	if _, err := e.s.VerifyAccessToken(raw, now); !errors.Is(err, ErrUnknownApp) {
		t.Fatalf("VerifyAccessToken after RemoveApp = %v, want ErrUnknownApp", err)
	}
	if e.s.RemoveApp(testTenant, testClient) {
		t.Error("RemoveApp twice reported a removal")
	}
	if _, _, err := e.s.IssueAccessToken(testTenant, testClient, now); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("IssueAccessToken for a removed app = %v, want ErrUnknownApp", err)
	}
}

// Rotation keeps tokens in flight valid: the previous key verifies, and
// stays published, for PreviousKeyLifetime; a second rotation drops the
// first key at once, so its tokens fail even before they expire.
func TestVerifyAccessToken_Rotation(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	before, _, err := e.s.IssueAccessToken(testTenant, testClient, now)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := e.s.KeyIDs()[0]
	newKid, err := e.s.RotateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if ids := e.s.KeyIDs(); len(ids) != 2 || ids[0] != newKid || ids[1] != oldKid {
		t.Fatalf("KeyIDs after rotation = %v, want [%s %s]", ids, newKid, oldKid)
	}
	after, _, err := e.s.IssueAccessToken(testTenant, testClient, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{0, 30 * time.Minute, 59 * time.Minute} {
		for name, raw := range map[string]string{"before": before, "after": after} {
			if _, err := e.s.VerifyAccessToken(raw, now.Add(at)); err != nil {
				t.Errorf("token issued %s rotation, checked %s later: %v", name, at, err)
			}
		}
	}
	e.clock.Advance(24*time.Hour - time.Second)
	if ids := e.s.KeyIDs(); len(ids) != 2 {
		t.Errorf("KeyIDs 1 s before the previous key's end = %v, want both", ids)
	}
	e.clock.Advance(time.Second)
	if ids := e.s.KeyIDs(); len(ids) != 1 || ids[0] != newKid {
		t.Errorf("KeyIDs after PreviousKeyLifetime = %v, want [%s]", ids, newKid)
	}

	thirdKid, err := e.s.RotateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	if ids := e.s.KeyIDs(); len(ids) != 2 || ids[1] != thirdKid {
		t.Errorf("KeyIDs after two more rotations = %v, want the last two", ids)
	}
	// A token whose key was rotated out twice fails although it has not expired.
	e2 := newEnv(t)
	raw, _, err := e2.s.IssueAccessToken(testTenant, testClient, e2.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e2.s.RotateKeys(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e2.s.VerifyAccessToken(raw, e2.clock.Now()); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "retired") {
		t.Errorf("token of a key rotated out twice: %v, want a retired-key error", err)
	}
}

// Token requests, verification and rotation run concurrently (run with -race).
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	body := values("grant_type", "client_credentials", "client_id", testClient, "client_secret", testSecret, "scope", MarketplaceScope)
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			if i%10 == 0 {
				_, err := e.s.RotateKeys()
				errs <- err
				return
			}
			resp, err := e.client.Post(e.base+testTenant+"/oauth2/v2.0/token", form, strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var out struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				errs <- err
				return
			}
			_, err = e.s.VerifyAccessToken(out.AccessToken, e.clock.Now())
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			// Four rotations may retire a key between issue and check; that is the only allowed failure.
			if !strings.Contains(err.Error(), "retired") {
				t.Error(err)
			}
		}
	}
}

func BenchmarkIssueAccessToken(b *testing.B) {
	s, now := benchServer(b)
	for b.Loop() {
		if _, _, err := s.IssueAccessToken(testTenant, testClient, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	s, now := benchServer(b)
	raw, _, err := s.IssueAccessToken(testTenant, testClient, now)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.VerifyAccessToken(raw, now); err != nil {
			b.Fatal(err)
		}
	}
}

func benchServer(b *testing.B) (*Server, time.Time) {
	now, _ := time.Parse(time.RFC3339, testStartUTC)
	s, err := New(Config{PublicURL: "https://127.0.0.1:8081/entra/", Now: func() time.Time { return now }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.RegisterApp(App{TenantID: testTenant, ClientID: testClient, SecretHash: HashSecret(testSecret)}); err != nil {
		b.Fatal(err)
	}
	return s, now
}
