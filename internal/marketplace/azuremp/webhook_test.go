package azuremp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// TestParseWebhook: only id, subscriptionId and action are required;
// everything else is read if it can be.
func TestParseWebhook(t *testing.T) {
	changePlan := Webhook{ID: testOpID, SubscriptionID: testSubID, Action: ActionChangePlan, ActivityID: "b0e3e4e5-5a4f-4b3d-9c2a-1f0e9d8c7b6a",
		PublisherID: "contoso", OfferID: "offer1", PlanID: "plan2", Quantity: SeatCount(10), Status: OperationInProgress,
		TimeStamp: Time{time.Date(2023, 2, 10, 18, 48, 58, 444993700, time.UTC)}, RequestSource: SourceAzure}
	yes := true
	changePlan.Subscription = &Subscription{ID: testSubID, PublisherID: "contoso", OfferID: "offer1", Name: "Contoso Cloud Solution",
		Status: SubscriptionSubscribed, PlanID: "plan1", Quantity: SeatCount(10),
		Term:      Term{TermUnit: "P1M", StartDate: Time{time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC)}, EndDate: Time{time.Date(2023, 2, 28, 0, 0, 0, 0, time.UTC)}},
		AutoRenew: &yes, AllowedCustomerOperations: []string{"Read", "Update", "Delete"}, SandboxType: "None", SessionMode: "None",
		Created: Time{time.Date(2023, 1, 10, 10, 0, 0, 0, time.UTC)}}
	for _, tc := range []struct {
		name string
		body []byte
		want Webhook
		bad  string
	}{
		{"the current payload", sample(t, "webhook-changeplan.json"), changePlan, ""},
		{"an old one: Id, a quantity string, no offer, a padded action, a bad subscription", sample(t, "webhook-old.json"),
			Webhook{ID: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", SubscriptionID: testSubID, Action: ActionSuspend, ActivityID: "11111111-2222-4333-8444-555555555555",
				Quantity: SeatCount(20), Status: OperationSucceeded, TimeStamp: Time{time.Date(2019, 4, 15, 20, 17, 31, 735064100, time.UTC)}}, ""},
		{"an unknown action, unreadable extras", []byte(`{"id":"a","subscriptionId":"b","action":"Transfer","quantity":"many","timeStamp":7,"status":3}`),
			Webhook{ID: "a", SubscriptionID: "b", Action: "Transfer"}, ""},
		{"operationType for action", []byte(`{"id":"a","subscriptionId":"b","operationType":"Reinstate"}`),
			Webhook{ID: "a", SubscriptionID: "b", Action: ActionReinstate}, ""},
		{"the legacy Reinstate example has no id", sample(t, "webhook-reinstate-legacy.json"), Webhook{}, "id missing"},
		{"no subscription id", []byte(`{"id":"a","action":"Renew"}`), Webhook{}, "subscriptionId missing"},
		{"no action", []byte(`{"id":"a","subscriptionId":"b","action":null}`), Webhook{}, "action missing"},
		{"an id that is not a string", []byte(`{"id":5,"subscriptionId":"b","action":"Renew"}`), Webhook{}, "id: want a string"},
		{"an id that leaves its path segment", []byte(`{"id":"../x","subscriptionId":"b","action":"Renew"}`), Webhook{}, "not an id"},
		{"not an object", []byte(`[]`), Webhook{}, "cannot unmarshal"},
		{"not JSON", []byte(`id=a`), Webhook{}, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWebhook(tc.body)
			if tc.bad != "" {
				if !errors.Is(err, ErrBadWebhook) || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("%v, want ErrBadWebhook: %s", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// entra plays Entra ID's key set for webhook tokens.
type entra struct {
	srv *httptest.Server

	mu      sync.Mutex
	keys    []*signingKey
	fetches int
	fail    bool
}

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newSigningKey(t testing.TB, kid string) *signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{kid: kid, priv: k}
}

func newEntra(t *testing.T, keys ...*signingKey) *entra {
	e := &entra{keys: keys}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+testTenant+"/discovery/v2.0/keys" {
			http.NotFound(w, r)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.fetches++
		if e.fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var set jose.JSONWebKeySet
		for _, k := range e.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Use: "sig", Algorithm: "RS256"})
		}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *entra) fetchCount() int { e.mu.Lock(); defer e.mu.Unlock(); return e.fetches }

// mint signs claims with k, as Entra would.
func mint(t testing.TB, k *signingKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// webhookClaimsAt are the claims of a v1 webhook token Microsoft sends at now.
func webhookClaimsAt(now time.Time) map[string]any {
	return map[string]any{
		"aud": testClientID, "iss": "https://sts.windows.net/" + testTenant + "/", "tid": testTenant,
		"appid": MarketplaceAppID, "sub": "6b1b1c2e-1f2d-4d3c-9b8a-7c6d5e4f3a2b", "ver": "1.0",
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// TestWebhookVerifier: Microsoft's tokens pass, in v1 and v2 form; any
// other is refused with ErrUnauthorized (§4.4).
func TestWebhookVerifier(t *testing.T) {
	key, other := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	e := newEntra(t, key)
	now := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	v, err := NewWebhookVerifier(Config{AuthorityHost: e.srv.URL + "/", TenantID: testTenant, ClientID: testClientID,
		AppIDURI: "api://marketbridge.example", HTTPClient: e.srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(change func(c map[string]any)) string {
		c := webhookClaimsAt(now)
		change(c)
		return mint(t, key, c)
	}
	v2 := func(c map[string]any) {
		delete(c, "appid")
		c["azp"], c["iss"], c["ver"] = MarketplaceAppID, e.srv.URL+"/"+testTenant+"/v2.0", "2.0"
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&key.priv.PublicKey))})
	for _, tc := range []struct {
		name, token string
		bad         string // "" accepts
	}{
		{"v1", edit(func(map[string]any) {}), ""},
		{"v2", edit(v2), ""},
		{"aud as a list", edit(func(c map[string]any) { c["aud"] = []string{"someone-else", testClientID} }), ""},
		{"aud the App ID URI", edit(func(c map[string]any) { c["aud"] = "api://marketbridge.example" }), ""},
		{"aud and tenant in capitals", edit(func(c map[string]any) {
			c["aud"], c["tid"] = strings.ToUpper(testClientID), strings.ToUpper(testTenant)
			c["iss"] = "https://sts.windows.net/" + strings.ToUpper(testTenant) + "/"
		}), ""},
		{"App ID URI in capitals", edit(func(c map[string]any) { c["aud"] = "API://MARKETBRIDGE.EXAMPLE" }), "aud"},
		{"the long tenant claim", edit(func(c map[string]any) {
			delete(c, "tid")
			c["http://schemas.microsoft.com/identity/claims/tenantid"] = testTenant
		}), ""},
		{"expired within the skew", edit(func(c map[string]any) { c["exp"] = now.Add(-4 * time.Minute).Unix() }), ""},
		{"expired", edit(func(c map[string]any) { c["exp"] = now.Add(-6 * time.Minute).Unix() }), "expired"},
		{"not yet valid", edit(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), "not valid yet"},
		{"no exp", edit(func(c map[string]any) { delete(c, "exp") }), "no exp"},
		{"wrong aud", edit(func(c map[string]any) { c["aud"] = MarketplaceAppID }), "aud"},
		{"no aud", edit(func(c map[string]any) { delete(c, "aud") }), "aud"},
		{"wrong tid", edit(func(c map[string]any) { c["tid"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a" }), "tid"},
		{"wrong azp", edit(func(c map[string]any) { v2(c); c["azp"] = testClientID }), "azp/appid"},
		{"no appid", edit(func(c map[string]any) { delete(c, "appid") }), "azp/appid"},
		{"another tenant's issuer", edit(func(c map[string]any) { c["iss"] = "https://sts.windows.net/f8cdef31-a31e-4b4a-93e4-5f571e91255a/" }), "iss"},
		{"the issuer without its slash", edit(func(c map[string]any) { c["iss"] = "https://sts.windows.net/" + testTenant }), "iss"},
		{"the public cloud's v2 issuer for an emulator", edit(func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/" + testTenant + "/v2.0" }), "iss"},
		{"another key, unknown kid", mint(t, other, webhookClaimsAt(now)), "unknown key id"},
		{"another key posing as k1", mint(t, &signingKey{kid: "k1", priv: other.priv}, webhookClaimsAt(now)), "cryptographic primitive"},
		{"alg none", unsigned(webhookClaimsAt(now)), "unexpected signature algorithm"},
		{"HS256 keyed with the public key", hs256(t, pubPEM, webhookClaimsAt(now)), "unexpected signature algorithm"},
		{"garbage", "abc.def.ghi", "invalid protected header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := v.Verify(ctx, "Bearer "+tc.token)
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.EqualFold(claims.TenantID, testTenant) || claims.AppID != MarketplaceAppID || claims.Expiry.IsZero() {
					t.Errorf("claims %+v", claims)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("%v, want ErrUnauthorized: %s", err, tc.bad)
			}
		})
	}
	for _, h := range []string{"", "Bearer", "Basic dXNlcjpwdw==", "bearer " + strings.Repeat("a", maxTokenLen+1)} {
		if _, err := v.Verify(ctx, h); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Authorization %.20q: %v", h, err)
		}
	}
	if n := e.fetchCount(); n != 1 {
		t.Errorf("%d key fetches, want 1: an unknown kid refetches at most once a minute", n)
	}
}

// TestWebhookVerifier_KeyRotation: a new key is found by refetching, at
// most once a minute; Entra's outage is ErrUnavailable, not a refusal
// (a 4xx would reject a plan change).
func TestWebhookVerifier_KeyRotation(t *testing.T) {
	k1, k2 := newSigningKey(t, "k1"), newSigningKey(t, "k2")
	e := newEntra(t, k1)
	clk := &clock{now: time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)}
	v, err := NewWebhookVerifier(Config{AuthorityHost: e.srv.URL, TenantID: testTenant, ClientID: testClientID, HTTPClient: e.srv.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(k *signingKey) error {
		_, err := v.Verify(ctx, "Bearer "+mint(t, k, webhookClaimsAt(clk.Now())))
		return err
	}
	if err := verify(k1); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.keys = append(e.keys, k2)
	e.mu.Unlock()
	if err := verify(k2); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a kid unknown within the minute: %v", err)
	}
	clk.Advance(time.Minute)
	if err := verify(k2); err != nil {
		t.Fatalf("after a minute the key set is read again: %v", err)
	}
	if err := verify(k1); err != nil || e.fetchCount() != 2 {
		t.Fatalf("known keys need no fetch: %v, %d fetches", err, e.fetchCount())
	}
	e.mu.Lock()
	e.fail = true
	e.mu.Unlock()
	clk.Advance(time.Minute)
	if err := verify(newSigningKey(t, "k3")); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("keys unavailable: %v, want ErrUnavailable", err)
	}
	if err := verify(newSigningKey(t, "k4")); !errors.Is(err, ErrUnavailable) || e.fetchCount() != 3 {
		t.Fatalf("within the minute after a failure: %v, %d fetches; want ErrUnavailable without a fetch", err, e.fetchCount())
	}
	if err := verify(k1); err != nil {
		t.Fatalf("known keys still verify during Entra's outage: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func b64(v any) string {
	return base64.RawURLEncoding.EncodeToString(must(json.Marshal(v)))
}

// unsigned is a token with "alg":"none".
func unsigned(claims map[string]any) string {
	return b64(map[string]string{"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + b64(claims) + "."
}

// hs256 signs with HMAC keyed by the public key's PEM: the classic
// algorithm-confusion attack.
func hs256(t testing.TB, secret []byte, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return must(jwt.Signed(signer).Claims(claims).Serialize())
}
