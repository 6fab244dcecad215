package azuremp

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for every parser of what Microsoft (or anyone pretending to
// be it) sends the seller (#15). Properties: no panic; what is accepted is
// well formed; amounts are exact. Seeds are the contract's examples in
// testdata/.

func seedFiles(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(sample(f, n))
	}
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
}

// checkSubscription: what is read is trimmed, seats are not negative, and
// dates are UTC.
func checkSubscription(t *testing.T, s Subscription) {
	t.Helper()
	if strings.TrimSpace(string(s.Status)) != string(s.Status) {
		t.Fatalf("status %q not trimmed", s.Status)
	}
	if s.Quantity.Count < 0 || !s.Quantity.Valid && s.Quantity.Count != 0 {
		t.Fatalf("quantity %+v", s.Quantity)
	}
	for _, d := range []Time{s.Created, s.LastModified, s.Term.StartDate, s.Term.EndDate} {
		if !d.IsZero() && (d.Location() != time.UTC || d.Year() <= 1) {
			t.Fatalf("date %v", d)
		}
	}
}

func FuzzSubscription(f *testing.F) {
	seedFiles(f, "subscription.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Subscription
		if json.Unmarshal(b, &s) == nil {
			checkSubscription(t, s)
		}
	})
}

func FuzzResolve(f *testing.F) {
	seedFiles(f, "resolve.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Resolved
		if json.Unmarshal(b, &r) == nil {
			checkSubscription(t, r.Subscription)
		}
	})
}

func FuzzSubscriptionPage(f *testing.F) {
	f.Add([]byte(`{"subscriptions":[` + string(sample(f, "subscription.json")) + `],"@nextLink":"https://marketplaceapi.microsoft.com/api/saas/subscriptions/?continuationToken=x&api-version=2018-08-31"}`))
	seedFiles(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseSubscriptionPage(b)
		if err != nil {
			return
		}
		for _, s := range p.Subscriptions {
			checkSubscription(t, s)
		}
	})
}

func FuzzPlans(f *testing.F) {
	seedFiles(f, "plans.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		plans, err := parsePlans(b)
		if err != nil {
			return
		}
		for _, p := range plans {
			for _, q := range []Seats{p.MinQuantity, p.MaxQuantity} {
				if q.Count < 0 {
					t.Fatalf("seats %+v", q)
				}
			}
		}
	})
}

func FuzzOperations(f *testing.F) {
	seedFiles(f, "operations.json", "operations-bare.json", "operation.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := parseOperations(b)
		if err != nil {
			return
		}
		for _, o := range ops {
			if strings.TrimSpace(string(o.Status)) != string(o.Status) || strings.TrimSpace(string(o.Action)) != string(o.Action) {
				t.Fatalf("untrimmed %q %q", o.Status, o.Action)
			}
		}
		var o Operation
		_ = json.Unmarshal(b, &o)
	})
}

// FuzzBatchResults: whatever the answer, each event sent gets exactly one
// result, its own.
func FuzzBatchResults(f *testing.F) {
	seedFiles(f, "batch-result.json")
	events := []UsageEvent{
		{ResourceID: testSubID, PlanID: "plan1", Dimension: "dim1", Quantity: Int(5), EffectiveStart: time.Date(2020, 1, 12, 8, 0, 0, 0, time.UTC)},
		{ResourceID: "8151a707-467c-4105-df0b-44c3fca5880d", PlanID: "gold", Dimension: "email", Quantity: Int(1), EffectiveStart: time.Date(2020, 1, 12, 11, 0, 0, 0, time.UTC)},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := matchUsage(events, b)
		if err != nil {
			return
		}
		if len(out) != len(events) {
			t.Fatalf("%d results for %d events", len(out), len(events))
		}
		for i, r := range out {
			if r.Event != events[i] || r.Status == "" {
				t.Fatalf("result %d: %+v", i, r)
			}
			if r.SameAsSent() && (r.Original == nil || !r.Original.Quantity.Equal(events[i].Quantity)) {
				t.Fatalf("SameAsSent without the same quantity: %+v", r)
			}
		}
	})
}

func FuzzUsageAggregates(f *testing.F) {
	seedFiles(f, "usage-events.json")
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseUsageAggregates(b) })
}

// FuzzErrorBody: either shape, or text, never more than a short printable
// quote of a body that is not JSON.
func FuzzErrorBody(f *testing.F) {
	seedFiles(f, "error-nested.json", "error-flat.json", "error-emulator.json", "error-resolve.json", "error-metering-400.json", "error-metering-403.json")
	f.Add([]byte("Conflict: request 1234\x00\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg, _, _ := parseErrorBody(b)
		if t := strings.TrimSpace(string(b)); t != "" && t[0] != '{' {
			if code != "" || !utf8.ValidString(msg) || len(msg) > maxTextInError+len("…") || strings.ContainsFunc(msg, func(r rune) bool { return r < ' ' }) {
				panic("unsafe quote of a plain-text body: " + msg)
			}
		}
	})
}

// FuzzParseWebhook: an accepted notice names an operation, a subscription
// and an action usable in the API's paths.
func FuzzParseWebhook(f *testing.F) {
	seedFiles(f, "webhook-changeplan.json", "webhook-old.json", "webhook-reinstate-legacy.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWebhook(b)
		if err != nil {
			if !errors.Is(err, ErrBadWebhook) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if checkID("", w.ID) != nil || checkID("", w.SubscriptionID) != nil || checkID("", string(w.Action)) != nil {
			t.Fatalf("accepted %+v", w)
		}
		if w.Subscription != nil {
			checkSubscription(t, *w.Subscription)
		}
	})
}

// FuzzParseDecimal: what is read is exactly the number written, and
// writes back to the same number.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"5", "5.0", "-0.25", "1e3", "1.5E-2", "100.0", "0.01", "1.5E-5", "17.0", "9223372036854775807", "0.30000000000000004"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("accepted %q, which is no number", s)
		}
		got, _ := new(big.Rat).SetString(d.String())
		if got.Cmp(want) != 0 {
			t.Fatalf("%q read as %s", s, d)
		}
		if back, err := ParseDecimal(d.String()); err != nil || back != d {
			t.Fatalf("%s reads back as %v %v", d, back, err)
		}
		if m, err := d.Micros(); err == nil {
			if new(big.Rat).SetFrac(big.NewInt(int64(m)), big.NewInt(1_000_000)).Cmp(want) != 0 {
				t.Fatalf("%q as %d micros", s, m)
			}
		}
	})
}

// fuzzVerifier is a verifier whose key set is loaded, so that fuzzing
// makes no request.
func fuzzVerifier(f *testing.F) (*WebhookVerifier, *signingKey, time.Time) {
	key := newSigningKey(f, "k1")
	now := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	v, err := NewWebhookVerifier(Config{AuthorityHost: "https://127.0.0.1:1/", TenantID: testTenant, ClientID: testClientID, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	v.keys, v.fetchedAt = map[string]*rsa.PublicKey{"k1": &key.priv.PublicKey}, now
	return v, key, now
}

// checkAccepted: an accepted token holds every claim rule.
func checkAccepted(t *testing.T, v *WebhookVerifier, c WebhookClaims) {
	t.Helper()
	if !strings.EqualFold(c.TenantID, testTenant) || !strings.EqualFold(c.AppID, MarketplaceAppID) ||
		!slices.Contains(v.issuers, c.Issuer) || !slices.Contains(c.Audience, testClientID) || c.Expiry.IsZero() {
		t.Fatalf("accepted %+v", c)
	}
}

// FuzzWebhookClaims fuzzes the claims of a token that carries a good
// signature: only Microsoft's claims pass.
func FuzzWebhookClaims(f *testing.F) {
	v, key, now := fuzzVerifier(f)
	f.Add(must(json.Marshal(webhookClaimsAt(now))))
	c := webhookClaimsAt(now)
	c["aud"], c["exp"] = []string{testClientID, "x"}, float64(now.Unix())+0.5
	f.Add(must(json.Marshal(c)))
	f.Add([]byte(`{"exp":1e400}`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		tok := signRaw(t, key, b64(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"}), claims)
		if got, err := v.Verify(ctx, "Bearer "+tok); err == nil {
			checkAccepted(t, v, got)
		}
	})
}

// FuzzWebhookHeader fuzzes the JOSE header, signed with the good key: only
// RS256 by a known key passes.
func FuzzWebhookHeader(f *testing.F) {
	v, key, now := fuzzVerifier(f)
	f.Add([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`))
	f.Add([]byte(`{"alg":"RS256","x5t":"k1"}`))
	f.Add([]byte(`{"alg":"none","kid":"k1"}`))
	f.Add([]byte(`{"alg":"HS256","kid":"k1"}`))
	f.Add([]byte(`{"alg":"RS256","kid":"k1","crit":["b64"],"b64":false}`))
	claims := must(json.Marshal(webhookClaimsAt(now)))
	f.Fuzz(func(t *testing.T, header []byte) {
		tok := signRaw(t, key, base64.RawURLEncoding.EncodeToString(header), claims)
		got, err := v.Verify(ctx, "Bearer "+tok)
		if err != nil {
			return
		}
		checkAccepted(t, v, got)
		var h struct{ Alg string }
		if json.Unmarshal(header, &h) != nil || h.Alg != "RS256" {
			t.Fatalf("accepted header %s", header)
		}
	})
}

// FuzzWebhookToken fuzzes the whole Authorization value.
func FuzzWebhookToken(f *testing.F) {
	v, key, now := fuzzVerifier(f)
	f.Add("Bearer " + mint(f, key, webhookClaimsAt(now)))
	f.Add("Bearer " + unsigned(webhookClaimsAt(now)))
	f.Add("Bearer a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, authorization string) {
		if got, err := v.Verify(ctx, authorization); err == nil {
			checkAccepted(t, v, got)
		}
	})
}

// signRaw signs header.payload with RS256 as given, byte for byte.
func signRaw(t *testing.T, k *signingKey, header string, payload []byte) string {
	input := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
