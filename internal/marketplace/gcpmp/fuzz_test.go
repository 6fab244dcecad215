package gcpmp

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzParseSigned: the sign-up and push tokens' parser never panics, and
// accepts nothing but a one-signature RS256 JWS with a kid.
func FuzzParseSigned(f *testing.F) {
	k := keys(f)
	now := time.Unix(1767261600, 0)
	f.Add(sign(f, k[0], "k1", signupClaimsAt(now)))
	f.Add(unsignedToken(`{"alg":"none","kid":"k1"}`, `{}`))
	f.Add(unsignedToken(`{"alg":"RS256"}`, `{"sub":1}`))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, kid, err := parseSigned(raw)
		if err != nil {
			return
		}
		if kid == "" || len(tok.Headers) != 1 || tok.Headers[0].Algorithm != "RS256" {
			t.Fatalf("accepted %q: kid %q headers %+v", raw, kid, tok.Headers)
		}
		var cl signupClaims
		if tok.UnsafeClaimsWithoutVerification(&cl) == nil {
			_, _ = checkSignup(cl, SignupConfig{Issuer: testIssuer, Audiences: []string{testAudience}}, now)
		}
	})
}

// FuzzSignupClaims: any claims JSON is checked without a panic.
func FuzzSignupClaims(f *testing.F) {
	b, _ := json.Marshal(signupClaimsAt(time.Unix(1767261600, 0)))
	f.Add(b)
	f.Add([]byte(`{"google":{"orders":["o-1",{"orderId":"o-2"},null,3]}}`))
	f.Add([]byte(`{"aud":["a","b"],"exp":1e300,"iat":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var cl signupClaims
		if json.Unmarshal(b, &cl) != nil {
			return
		}
		s, err := checkSignup(cl, SignupConfig{Issuer: testIssuer, Audiences: []string{testAudience}}, time.Unix(1767261600, 0))
		if err == nil && s.Account == "" {
			t.Fatalf("accepted claims without an account: %s", b)
		}
	})
}

// FuzzParsePush: the push envelope and its payload are read without a
// panic; a parsed event always has an id and a type.
func FuzzParsePush(f *testing.F) {
	f.Add(pushBody(f, map[string]any{"eventId": "ev-1", "eventType": "ENTITLEMENT_ACTIVE", "entitlement": map[string]any{"id": "e-1"}}))
	f.Add(pushBody(f, map[string]any{"eventType": "ACCOUNT_ACTIVE", "account": map[string]any{"id": "providers/p/accounts/a"}}))
	f.Add([]byte(`{"message":{"data":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"eventId":"x","eventType":"Y"}`)) + `","publish_time":"bad"}}`))
	f.Add([]byte(`{"message":{}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParsePush(body)
		if err == nil && (ev.ID == "" || ev.Type == "") {
			t.Fatalf("event without id or type from %q: %+v", body, ev)
		}
	})
}

// FuzzParseCertMap and FuzzParseJWKS: key documents never panic the
// reader, and keep only RSA keys of 2048 bits or more.
func FuzzParseCertMap(f *testing.F) {
	b, _ := json.Marshal(map[string]string{"k1": certPEM(f, keys(f)[0]), "k2": "not a pem"})
	f.Add(b)
	f.Add([]byte(`{"k":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseCertMap(b)
		for kid, k := range keys {
			if err != nil || kid == "" || k.N.BitLen() < minRSABits {
				t.Fatalf("kept key %q", kid)
			}
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &keys(f)[1].PublicKey, KeyID: "p1", Algorithm: "RS256", Use: "sig"}}})
	f.Add(b)
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseJWKS(b)
		for kid, k := range keys {
			if err != nil || kid == "" || k.N.BitLen() < minRSABits {
				t.Fatalf("kept key %q", kid)
			}
		}
	})
}

// FuzzParseStatus: error bodies of any shape are read without a panic.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(`{"error":{"code":400,"status":"FAILED_PRECONDITION","message":"x"}}`))
	f.Add([]byte(`{"error":{"code":400,"errors":[{"reason":"failedPrecondition"}]}}`))
	f.Add([]byte(`<html>502</html>`))
	f.Fuzz(func(t *testing.T, b []byte) { _ = parseStatus(b) })
}

// FuzzCacheTTL: any Cache-Control and Age give a TTL that is not negative.
func FuzzCacheTTL(f *testing.F) {
	f.Add("public, max-age=19302, must-revalidate, no-transform", "12")
	f.Add("max-age=-1", "-5")
	f.Add("s-maxage=\"10\", max-age=5", "")
	f.Fuzz(func(t *testing.T, cc, age string) {
		if d := cacheTTL(http.Header{"Cache-Control": {cc}, "Age": {age}}); d < 0 {
			t.Fatalf("ttl %v", d)
		}
	})
}
