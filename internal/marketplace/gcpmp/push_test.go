package gcpmp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

func pushClaimsAt(now time.Time) map[string]any {
	return map[string]any{"iss": "https://accounts.google.com", "aud": testPushAud, "email": testPushSA, "email_verified": true,
		"sub": "111111111111111111111", "azp": "111111111111111111111", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// pushBody wraps a §3.2 payload in a §3.4 envelope.
func pushBody(t testing.TB, payload any) []byte {
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"message": map[string]any{"data": base64.StdEncoding.EncodeToString(p), "messageId": "2070443601311540",
		"message_id": "2070443601311540", "publishTime": "2026-01-01T10:00:05.749Z", "publish_time": "2026-01-01T10:00:05.749Z"},
		"subscription": "projects/example-cloud-provider/subscriptions/marketbridge"})
	return b
}

func TestVerifyPush_R5(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	k := keys(t)
	good := pushClaimsAt(clk.Now())
	for _, tc := range []struct {
		name, auth string
		want       error
	}{
		{"good", "Bearer " + sign(t, k[1], "p1", good), nil},
		{"issuer without scheme", "Bearer " + sign(t, k[1], "p1", with(good, "iss", "accounts.google.com")), nil},
		{"lower-case scheme", "bearer " + sign(t, k[1], "p1", good), nil},
		{"no header", "", marketplace.ErrNoticeNotAuthentic},
		{"basic", "Basic dXNlcjpwYXNz", marketplace.ErrNoticeNotAuthentic},
		{"wrong audience", "Bearer " + sign(t, k[1], "p1", with(good, "aud", "https://elsewhere.example.com/push")), marketplace.ErrNoticeNotAuthentic},
		{"wrong issuer", "Bearer " + sign(t, k[1], "p1", with(good, "iss", DefaultSignupIssuer)), marketplace.ErrNoticeNotAuthentic},
		{"another service account", "Bearer " + sign(t, k[1], "p1", with(good, "email", "someone@example.iam.gserviceaccount.com")), marketplace.ErrNoticeNotAuthentic},
		{"email not verified", "Bearer " + sign(t, k[1], "p1", with(good, "email_verified", false)), marketplace.ErrNoticeNotAuthentic},
		{"email_verified absent", "Bearer " + sign(t, k[1], "p1", with(good, "email_verified", nil)), marketplace.ErrNoticeNotAuthentic},
		{"expired", "Bearer " + sign(t, k[1], "p1", with(good, "exp", clk.Now().Add(-time.Minute).Unix())), marketplace.ErrNoticeNotAuthentic},
		{"no exp", "Bearer " + sign(t, k[1], "p1", with(good, "exp", nil)), marketplace.ErrNoticeNotAuthentic},
		{"foreign key", "Bearer " + sign(t, k[0], "p1", good), marketplace.ErrNoticeNotAuthentic},
		{"the sign-up key", "Bearer " + sign(t, k[0], "k1", good), marketplace.ErrNoticeNotAuthentic},
		{"alg none", "Bearer " + unsignedToken(`{"alg":"none","kid":"p1"}`, `{"iss":"https://accounts.google.com"}`), marketplace.ErrNoticeNotAuthentic},
		{"HS256", "Bearer " + hs256(t, []byte("a secret of at least thirty-two bytes!"), good), marketplace.ErrNoticeNotAuthentic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.client(clk.Now).VerifyPush(context.Background(), tc.auth)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("keys unreadable", func(t *testing.T) {
		f.mu.Lock()
		f.keysDown = true
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.keysDown = false; f.mu.Unlock() }()
		err := f.client(clk.Now).VerifyPush(context.Background(), "Bearer "+sign(t, k[1], "p1", good))
		if !errors.Is(err, marketplace.ErrMarketplaceUnavailable) || errors.Is(err, marketplace.ErrNoticeNotAuthentic) {
			t.Fatalf("err = %v, want unavailable only", err)
		}
	})
}

func TestNotice(t *testing.T) {
	f := newFakeGoogle(t)
	clk := newClock()
	n := NewNotices(f.client(clk.Now))
	auth := "Bearer " + sign(t, keys(t)[1], "p1", pushClaimsAt(clk.Now()))
	sent := time.Date(2026, 1, 1, 10, 0, 5, 749e6, time.UTC)
	for _, tc := range []struct {
		name    string
		payload any
		want    marketplace.Notice
		wantErr bool
	}{
		{"entitlement created", map[string]any{"eventId": "ev-1", "eventType": "ENTITLEMENT_CREATION_REQUESTED", "providerId": testProvider,
			"entitlement": map[string]any{"id": "ent-1", "updateTime": "2026-01-01T10:00:00Z"}},
			marketplace.Notice{ID: "ev-1", SubscriptionKey: "ent-1", Action: "ENTITLEMENT_CREATION_REQUESTED", SentAt: sent}, false},
		{"plan change requested", map[string]any{"eventId": "ev-2", "eventType": "ENTITLEMENT_PLAN_CHANGE_REQUESTED",
			"entitlement": map[string]any{"id": "ent-1", "newPlan": "team"}},
			marketplace.Notice{ID: "ev-2", SubscriptionKey: "ent-1", Action: "ENTITLEMENT_PLAN_CHANGE_REQUESTED", NeedsAck: true, SentAt: sent}, false},
		{"account active", map[string]any{"eventId": "ev-3", "eventType": "ACCOUNT_ACTIVE", "providerId": testProvider,
			"account": map[string]any{"id": "E-1234", "updateTime": "2026-01-01T10:00:00Z"}},
			marketplace.Notice{ID: "ev-3", Action: "ACCOUNT_ACTIVE", SentAt: sent}, false},
		{"unknown event", map[string]any{"eventId": "ev-4", "eventType": "ENTITLEMENT_SOMETHING_NEW", "entitlement": map[string]any{"id": "ent-1"}},
			marketplace.Notice{ID: "ev-4", SubscriptionKey: "ent-1", Action: "ENTITLEMENT_SOMETHING_NEW", SentAt: sent}, false},
		{"no eventId: the message id", map[string]any{"eventType": "ENTITLEMENT_ACTIVE", "entitlement": map[string]any{"id": "ent-1"}},
			marketplace.Notice{ID: "2070443601311540", SubscriptionKey: "ent-1", Action: "ENTITLEMENT_ACTIVE", SentAt: sent}, false},
		{"another provider", map[string]any{"eventId": "ev-5", "eventType": "ENTITLEMENT_ACTIVE", "providerId": "someone-else",
			"entitlement": map[string]any{"id": "ent-1"}}, marketplace.Notice{}, true},
		{"no event type", map[string]any{"eventId": "ev-6", "entitlement": map[string]any{"id": "ent-1"}}, marketplace.Notice{}, true},
		{"entitlement without id", map[string]any{"eventId": "ev-7", "eventType": "ENTITLEMENT_ACTIVE", "entitlement": map[string]any{}}, marketplace.Notice{}, true},
		{"not json", "just a string", marketplace.Notice{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := pushBody(t, tc.payload)
			got, err := n.Notice(context.Background(), auth, body)
			if tc.wantErr {
				if err == nil || errors.Is(err, marketplace.ErrNoticeNotAuthentic) {
					t.Fatalf("err = %v, want a refusal of the body", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Payload = string(body)
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("forged", func(t *testing.T) {
		_, err := n.Notice(context.Background(), "Bearer "+sign(t, keys(t)[0], "p1", pushClaimsAt(clk.Now())), pushBody(t, map[string]any{"eventType": "X"}))
		if !errors.Is(err, marketplace.ErrNoticeNotAuthentic) {
			t.Fatalf("err = %v", err)
		}
	})
}
