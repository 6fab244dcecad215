package gcpmp

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

func signupClaimsAt(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "E-1234-5678-ABCD-EFGH",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"google": map[string]any{"roles": []string{"account_admin"}, "user_identity": "1234567890"}}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func unsignedToken(header string, claims string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(claims)) + "."
}

func hs256(t *testing.T, secret []byte, claims any) string {
	return signAlg(t, jose.HS256, secret, "k1", claims)
}

// TestVerifySignup_R4 walks §1.4's rules: only a token signed RS256 by a
// key of the configured map, for this audience and issuer, fresh, is
// believed; a token naming another issuer (its own key URL) is refused
// without that URL being read.
func TestVerifySignup_R4(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	now := clk.Now()
	k := keys(t)
	good := signupClaimsAt(now)
	for _, tc := range []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"good", sign(t, k[0], "k1", good), nil},
		{"orders as strings", sign(t, k[0], "k1", with(good, "google", map[string]any{"orders": []any{"o-1", "o-2"}})), nil},
		{"orders as objects", sign(t, k[0], "k1", with(good, "google", map[string]any{"orders": []any{map[string]any{"orderId": "o-1"}}})), nil},
		{"sub as resource name", sign(t, k[0], "k1", with(good, "sub", "providers/p/accounts/E-1")), nil},
		{"aud as list", sign(t, k[0], "k1", with(good, "aud", []string{"other", testAudience})), nil},
		{"exp within skew", sign(t, k[0], "k1", with(good, "exp", now.Add(-20*time.Second).Unix())), nil},
		{"expired", sign(t, k[0], "k1", with(good, "exp", now.Add(-time.Minute).Unix())), marketplace.ErrTokenExpired},
		{"no exp", sign(t, k[0], "k1", with(good, "exp", nil)), marketplace.ErrTokenInvalid},
		{"iat in the future", sign(t, k[0], "k1", with(good, "iat", now.Add(time.Minute).Unix())), marketplace.ErrTokenInvalid},
		{"wrong aud", sign(t, k[0], "k1", with(good, "aud", "evil.example.com")), marketplace.ErrTokenInvalid},
		{"wrong iss", sign(t, k[0], "k1", with(good, "iss", "https://accounts.google.com")), marketplace.ErrTokenInvalid},
		{"forged iss pointing elsewhere", sign(t, k[2], "k1", with(good, "iss", "http://127.0.0.1:1/evil-certs")), marketplace.ErrTokenInvalid},
		{"signed by another key", sign(t, k[2], "k1", good), marketplace.ErrTokenInvalid},
		{"empty sub", sign(t, k[0], "k1", with(good, "sub", "")), marketplace.ErrTokenInvalid},
		{"orders of another type", sign(t, k[0], "k1", with(good, "google", map[string]any{"orders": []any{42}})), marketplace.ErrTokenInvalid},
		{"no kid", sign(t, k[0], "", good), marketplace.ErrTokenInvalid},
		{"alg none", unsignedToken(`{"alg":"none","kid":"k1"}`, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","sub":"E-1","exp":9999999999}`), marketplace.ErrTokenInvalid},
		{"HS256 with the certificate as secret", hs256(t, []byte(f.certs["k1"]), good), marketplace.ErrTokenInvalid},
		{"garbage", "not.a.jwt", marketplace.ErrTokenInvalid},
		{"empty", "", marketplace.ErrTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.client(clk.Now)
			s, err := c.VerifySignup(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if s.Account == "" || s.Expiry.IsZero() {
					t.Fatalf("verified %+v", s)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == marketplace.ErrTokenInvalid && errors.Is(err, marketplace.ErrTokenExpired) {
				t.Fatalf("err %v is also 'expired'", err)
			}
		})
	}
}

func TestVerifySignup_Orders(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	c := f.client(clk.Now)
	tok := sign(t, keys(t)[0], "k1", with(signupClaimsAt(clk.Now()), "sub", "providers/p/accounts/E-9",
		"google", map[string]any{"orders": []any{"o-1", map[string]any{"orderId": "providers/p/entitlements/o-2"}, ""}}))
	s, err := c.VerifySignup(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if s.Account != "E-9" || !slices.Equal(s.Orders, []string{"o-1", "o-2"}) {
		t.Fatalf("got %+v", s)
	}
}

// TestVerifySignup_KeyRotation: keys are cached as Cache-Control says; a
// token with a kid not in the cache makes one refetch (no more often than
// keysRefetchEvery), which finds a rotated key; keys unreadable make the
// sign-up "try again", never "forged".
func TestVerifySignup_KeyRotation(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	c := f.client(clk.Now)
	k := keys(t)
	ctx := context.Background()
	verify := func(key int, kid string) error {
		_, err := c.VerifySignup(ctx, sign(t, k[key], kid, signupClaimsAt(clk.Now())))
		return err
	}
	fetches := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.certsFetches }
	if err := verify(0, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := verify(0, "k1"); err != nil || fetches() != 1 {
		t.Fatalf("second token: %v, fetches %d, want 1 (cached)", err, fetches())
	}
	// Google rotates: k2 published, k1 withdrawn.
	f.mu.Lock()
	f.certs = map[string]string{"k2": certPEM(t, k[2])}
	f.mu.Unlock()
	clk.Add(time.Minute) // past keysRefetchEvery since the first fetch
	if err := verify(2, "k2"); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if fetches() != 2 {
		t.Fatalf("fetches %d, want 2", fetches())
	}
	// Unknown kids do not refetch again at once.
	for range 3 {
		if err := verify(2, "made-up"); !errors.Is(err, marketplace.ErrTokenInvalid) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if fetches() != 2 {
		t.Fatalf("fetches %d after made-up kids, want 2", fetches())
	}
	// The withdrawn key is gone from the cache.
	if err := verify(0, "k1"); !errors.Is(err, marketplace.ErrTokenInvalid) {
		t.Fatalf("withdrawn key: %v", err)
	}
	// Past max-age the keys are read again; if that fails the stale keys
	// still serve, and a kid never seen is "try again".
	f.mu.Lock()
	f.keysDown = true
	f.mu.Unlock()
	clk.Add(2 * time.Hour)
	if err := verify(2, "k2"); err != nil {
		t.Fatalf("stale key while the map is down: %v", err)
	}
	clk.Add(time.Minute)
	if err := verify(2, "k3"); !errors.Is(err, marketplace.ErrMarketplaceUnavailable) {
		t.Fatalf("unknown kid while the map is down: %v", err)
	}
}

func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		cc, age string
		want    time.Duration
	}{
		{"public, max-age=19302, must-revalidate, no-transform", "", 19302 * time.Second},
		{"max-age=600", "100", 500 * time.Second},
		{"max-age=60", "100", 0},
		{"no-store", "", 0},
		{"", "", defaultKeysTTL},
		{"max-age=bad", "", defaultKeysTTL},
		{"max-age=99999999999999", "", maxKeysTTL},
	} {
		h := map[string][]string{"Cache-Control": {tc.cc}, "Age": {tc.age}}
		if got := cacheTTL(h); got != tc.want {
			t.Errorf("cacheTTL(%q, age %q) = %v, want %v", tc.cc, tc.age, got, tc.want)
		}
	}
}
