package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
)

// providerProducts are the catalog entries of the Providers' marketplaces
// the web tests sell through.
var providerProducts = []marketplace.Product{{Marketplace: marketplace.GCP, Code: "example-cloud.gcpmarketplace.example.com",
	Name: "Example Cloud on Google Cloud", OfferType: marketplace.OfferPAYG, MeteredDimension: "usage_cents",
	Dimensions: []marketplace.Dimension{{Name: "usage_cents"}}}}

// fakeGoogle is Google's Procurement API as the core's Provider sees it,
// for the web layer's tests: a token names one entitlement; approving it
// makes it active. The adapter's own tests and the browser tests cover
// the real wire.
type fakeGoogle struct {
	mu        sync.Mutex
	ents      map[string]marketplace.Remote
	approvals int
}

func (f *fakeGoogle) Resolve(_ context.Context, token string) (marketplace.Remote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.ents[strings.TrimPrefix(token, "jwt-")]
	if !ok || !strings.HasPrefix(token, "jwt-") {
		return r, fmt.Errorf("signature does not verify: %w", marketplace.ErrTokenInvalid)
	}
	return r, nil
}

func (f *fakeGoogle) Read(_ context.Context, key string) (marketplace.Remote, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.ents[key]
	if !ok {
		return r, errors.New("404")
	}
	return r, nil
}

func (f *fakeGoogle) Activate(_ context.Context, r marketplace.Remote) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.approvals++
	r.Status = marketplace.StatusActive
	f.ents[r.Key] = r
	return nil
}

func (f *fakeGoogle) List(context.Context, func(marketplace.Remote) error) error { return nil }
func (f *fakeGoogle) Acknowledge(context.Context, string, string) error          { return nil }

// fakePush reads a push as gcpmp would: "Bearer good" is authentic,
// "Bearer keys-down" cannot be checked now, the body is the notice's id
// and entitlement.
type fakePush struct{}

func (fakePush) Notice(_ context.Context, authorization string, body []byte) (marketplace.Notice, error) {
	switch authorization {
	case "Bearer good":
	case "Bearer keys-down":
		return marketplace.Notice{}, fmt.Errorf("read Google's keys: %w", marketplace.ErrMarketplaceUnavailable)
	default:
		return marketplace.Notice{}, fmt.Errorf("push token: %w", marketplace.ErrNoticeNotAuthentic)
	}
	id, key, ok := strings.Cut(string(body), " ")
	if !ok {
		return marketplace.Notice{}, errors.New("not a push envelope")
	}
	return marketplace.Notice{ID: id, SubscriptionKey: key, Action: "ENTITLEMENT_ACTIVE", Payload: string(body)}, nil
}

func newGoogleApp(t *testing.T, db *store.DB) (*app, *fakeGoogle) {
	g := &fakeGoogle{ents: map[string]marketplace.Remote{"ent-1": {Key: "ent-1", ProductCode: providerProducts[0].Code,
		Account: "E-1234-5678-ABCD-EFGH", Plan: "standard", Status: marketplace.StatusPending}}}
	a := newAppWith(t, db, map[string]marketplace.Provider{marketplace.GCP: g}, func(c *web.Config) { c.GCPNotices = fakePush{} })
	return a, g
}

// crossSitePost is Google's sign-up: a form posted from Google's origin.
func (b *browser) crossSitePost(path string, form url.Values) response {
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://console.cloud.google.com")
	return b.do(req)
}

// TestGCPSignup_CrossSitePostLinksAndApproves_R4 is Flow A from Google's
// "Register with <vendor>": the cross-site post is let through (its signed
// token is the proof), the token is verified at once and never kept, and
// the set-up pages link an organization; the link approves the account
// and the entitlement once (R4, R6).
func TestGCPSignup_CrossSitePostLinksAndApproves_R4(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, g := newGoogleApp(t, db)
		b := a.signUp("ada@example.com")
		r := b.crossSitePost("/marketplace/gcp/signup", url.Values{"x-gcp-marketplace-token": {"jwt-ent-1"}})
		if r.status != http.StatusSeeOther || pathOf(r.location) != "/marketplace/gcp/setup" {
			t.Fatalf("sign-up post = %d → %q\n%s", r.status, r.location, r.body)
		}
		r = b.get("/marketplace/gcp/setup")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/marketplace/purchases/") {
			t.Fatalf("setup = %d → %q", r.status, r.location)
		}
		purchase := pathOf(r.location)
		page := b.get(purchase)
		if !strings.Contains(page.body, "Google Cloud Marketplace") {
			t.Fatalf("the purchase page does not name Google Cloud Marketplace:\n%s", page.body)
		}
		r = b.post(purchase+"/link", url.Values{"org": {"new"}, "name": {"Ada's team"}})
		if r.status != http.StatusSeeOther {
			t.Fatalf("link = %d %s", r.status, r.body)
		}
		var tokens int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM purchases p JOIN subscriptions s ON s.id = p.subscription_id
			WHERE s.marketplace = 'gcp' AND s.agreement_key = 'ent-1'`).Scan(&tokens); err != nil || tokens != 1 {
			t.Fatalf("purchases of the entitlement = %d, %v", tokens, err)
		}
		g.mu.Lock()
		approvals := g.approvals
		g.mu.Unlock()
		if approvals != 1 {
			t.Fatalf("approvals = %d, want 1", approvals)
		}
		var status string
		if err := db.Read().QueryRow(`SELECT status FROM subscriptions WHERE agreement_key = 'ent-1'`).Scan(&status); err != nil || status != "active" {
			t.Fatalf("status after the link = %q, %v", status, err)
		}
	})
}

func TestGCPSignup_Refusals_R5(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := newGoogleApp(t, db)
		b := a.browser()
		for _, tc := range []struct {
			name   string
			resp   func() response
			status int
			says   string
		}{
			{"forged token", func() response {
				return b.crossSitePost("/marketplace/gcp/signup", url.Values{"x-gcp-marketplace-token": {"forged"}})
			}, http.StatusUnprocessableEntity, "lasts five minutes"},
			{"no token", func() response { return b.crossSitePost("/marketplace/gcp/signup", url.Values{}) }, http.StatusUnprocessableEntity, "Register"},
			{"opened directly", func() response { return b.get("/marketplace/gcp/signup") }, http.StatusMethodNotAllowed, "click \u201cRegister\u201d"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.resp()
				if r.status != tc.status || !strings.Contains(r.body, tc.says) || !strings.Contains(r.body, "console.cloud.google.com/marketplace/orders") {
					t.Fatalf("%d, want %d saying %q and linking the orders:\n%s", r.status, tc.status, tc.says, r.body)
				}
				if b.cookie("mb_purchase") != "" {
					t.Fatal("a refused sign-up set a purchase cookie")
				}
			})
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM subscriptions WHERE marketplace = 'gcp'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("refused sign-ups recorded %d subscriptions, %v", n, err)
		}
	})
}

// TestGCPPubSub_VerifiedStoredOnce checks the push endpoint's answers:
// Pub/Sub delivers again after anything but a 2xx, so a push is answered
// 204 only once stored, 401 when its OIDC token fails, 503 when Google's
// keys cannot be read, and a duplicate is stored once.
func TestGCPPubSub_VerifiedStoredOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a, _ := newGoogleApp(t, db)
		push := func(auth, body string) int {
			req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/marketplace/gcp/pubsub", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, tc := range []struct {
			name, auth, body string
			want             int
		}{
			{"no token", "", "ev-1 ent-1", http.StatusUnauthorized},
			{"forged token", "Bearer forged", "ev-1 ent-1", http.StatusUnauthorized},
			{"keys unreadable", "Bearer keys-down", "ev-1 ent-1", http.StatusServiceUnavailable},
			{"not an envelope", "Bearer good", "garbage", http.StatusBadRequest},
			{"authentic", "Bearer good", "ev-1 ent-1", http.StatusNoContent},
			{"again", "Bearer good", "ev-1 ent-1", http.StatusNoContent},
			{"account event", "Bearer good", "ev-2 ", http.StatusNoContent},
		} {
			if got := push(tc.auth, tc.body); got != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
			}
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM marketplace_notices WHERE marketplace = 'gcp'`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("stored notices = %d, %v; want 2", n, err)
		}
	})
}

func TestGCPPubSub_NotConfiguredIs404(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		resp, err := http.Post(a.srv.URL+"/marketplace/gcp/pubsub", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%d, want 404", resp.StatusCode)
		}
	})
}
