package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
	"github.com/marketbridge/marketbridge/internal/web"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

func withWebhooks(t testing.TB, db *store.DB, inbox *webhook.Inbox) (appOption, *webhook.Endpoints) {
	eps, err := webhook.NewEndpoints(webhook.EndpointsConfig{DB: db, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return func(c *web.Config) { c.Webhooks, c.WebhookInbox = eps, inbox }, eps
}

// secretRE finds a secret in a page, where html/template writes "+" as
// "&#43;".
var secretRE = regexp.MustCompile(`whsec_(?:[A-Za-z0-9+/=]|&#43;){40,}`)

func findSecret(body string) string { return html.UnescapeString(secretRE.FindString(body)) }

func endpointCount(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(`SELECT COUNT(*) FROM webhook_endpoints`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The operator view's webhook pages: only operators see them, forms are
// refused cross-site, the secret is shown once, and rotate, disable,
// enable, send again and delete work; configured endpoints are read only.
func TestOperatorWebhooks_12_ManageEndpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		opt, eps := withWebhooks(t, db, nil)
		a := newApp(t, db, opt)
		ops := a.signUp("ops@example.com")
		buyer := a.signUp("buyer@example.com")
		anon := a.browser()
		form := url.Values{"url": {"https://hooks.example.com/in"}, "types": {"subscription.updated", "organization.linked"}, "enabled": {"on"}}

		// Not an operator: the pages do not exist, and nothing is made.
		for _, b := range []*browser{buyer, anon} {
			if r := b.get("/operator/webhooks"); r.status == http.StatusOK || strings.Contains(r.body, "Webhook endpoints") {
				t.Errorf("a non-operator got the webhook page: %d", r.status)
			}
			if r := b.post("/operator/webhooks", form); r.status == http.StatusSeeOther && strings.HasPrefix(pathOf(r.location), "/operator/webhooks/") {
				t.Errorf("a non-operator created an endpoint: %d %s", r.status, r.location)
			}
		}
		if r := buyer.get("/operator/webhooks"); r.status != http.StatusNotFound {
			t.Errorf("a logged-in non-operator got %d, want 404", r.status)
		}
		// Cross-site: refused (CSRF).
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/operator/webhooks", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if r := ops.do(req); r.status != http.StatusForbidden {
			t.Errorf("cross-site creation = %d, want 403", r.status)
		}
		if n := endpointCount(t, db); n != 0 {
			t.Fatalf("%d endpoints after refused requests", n)
		}

		// Invalid: the form comes back with the error at its field.
		if r := ops.post("/operator/webhooks", url.Values{"url": {"ftp://x.example.com"}}); r.status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.body, "https://") {
			t.Errorf("bad URL = %d", r.status)
		}
		if r := ops.post("/operator/webhooks", url.Values{"url": {"http://10.0.0.1/in"}}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("private address = %d, want 422", r.status)
		}

		r := ops.post("/operator/webhooks", form)
		page := pathOf(r.location)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(page, "/operator/webhooks/") {
			t.Fatalf("create = %d → %s: %s", r.status, r.location, r.body)
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(strings.Split(page, "?")[0], "/operator/webhooks/"), 10, 64)
		first := ops.get(page)
		secret := findSecret(first.body)
		if first.status != http.StatusOK || secret == "" || webhook.ValidSecret(secret) != nil {
			t.Fatalf("the endpoint's page does not show its secret: %d", first.status)
		}
		if again := ops.get(page); secretRE.MatchString(again.body) || !strings.Contains(again.body, "shown only once") {
			t.Error("the secret was shown twice")
		}
		if buyer.get("/operator/webhooks/"+strconv.FormatInt(id, 10)).status != http.StatusNotFound {
			t.Error("a non-operator saw an endpoint's page")
		}
		ep, err := eps.Get(context.Background(), id)
		if err != nil || ep.URL != "https://hooks.example.com/in" || !ep.Enabled || ep.TypesLabel() != "organization.linked, subscription.updated" &&
			ep.TypesLabel() != "subscription.updated, organization.linked" {
			t.Fatalf("endpoint = %+v, %v", ep, err)
		}
		base := "/operator/webhooks/" + strconv.FormatInt(id, 10)

		// A non-operator cannot act on it either.
		for _, action := range []string{"/rotate", "/disable", "/delete"} {
			if r := buyer.post(base+action, nil); r.status != http.StatusNotFound {
				t.Errorf("non-operator %s = %d, want 404", action, r.status)
			}
		}
		if r := ops.post(base+"/rotate", nil); r.status != http.StatusSeeOther {
			t.Fatalf("rotate = %d", r.status)
		} else if fresh := findSecret(ops.get(pathOf(r.location)).body); fresh == "" || fresh == secret {
			t.Errorf("rotation showed %q, want a new secret", fresh)
		}
		if r := ops.post(base+"/disable", nil); r.status != http.StatusSeeOther {
			t.Fatalf("disable = %d", r.status)
		}
		if ep, _ := eps.Get(context.Background(), id); ep.Enabled {
			t.Error("still enabled after disable")
		}
		if r := ops.get("/operator"); !strings.Contains(r.body, "Webhooks are not being sent to 1 endpoint(s)") {
			t.Error("the operator view does not warn of the disabled endpoint")
		}
		if r := ops.post(base+"/enable", nil); r.status != http.StatusSeeOther {
			t.Fatalf("enable = %d", r.status)
		}
		if r := ops.post(base+"/deliveries/999/resend", nil); r.status != http.StatusNotFound {
			t.Errorf("resending a delivery that does not exist = %d, want 404", r.status)
		}
		list := ops.get("/operator/webhooks")
		if !strings.Contains(list.body, "https://hooks.example.com/in") || !strings.Contains(list.body, "enabled") {
			t.Errorf("the list lacks the endpoint")
		}

		// A configured endpoint is shown, read only.
		if err := eps.SyncConfig(context.Background(), []webhook.ConfigEndpoint{{URL: "https://iac.example.com/in", Secret: webhook.NewSecret()}}); err != nil {
			t.Fatal(err)
		}
		all, _ := eps.List(context.Background())
		cfgPage := "/operator/webhooks/" + strconv.FormatInt(all[0].ID, 10)
		if r := ops.get(cfgPage); !strings.Contains(r.body, "read only") || strings.Contains(r.body, "/rotate") {
			t.Error("a configured endpoint's page offers changes")
		}
		if r := ops.post(cfgPage+"/rotate", nil); r.status != http.StatusConflict {
			t.Errorf("rotating a configured endpoint = %d, want 409", r.status)
		}
		if r := ops.post(base+"/delete", nil); r.status != http.StatusSeeOther {
			t.Fatalf("delete = %d", r.status)
		}
		if n := endpointCount(t, db); n != 1 {
			t.Errorf("%d endpoints after deleting one of two", n)
		}
	})
}

// The demo's inbox answers like a receiver: 204 for a good signature, 400
// for a bad one, and lists both at /dev/webhooks.
func TestDevWebhookInbox_12_VerifiesLikeAReceiver(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	inbox := webhook.NewInbox(webhook.NewSecret(), time.Now)
	opt, _ := withWebhooks(t, db, inbox)
	a := newApp(t, db, opt)
	body := []byte(`{"type":"subscription.updated","timestamp":"2026-12-02T09:00:00Z","data":{"organization":{"id":4,"external_id":"t-4"},"sequence":9}}`)
	post := func(secret string) int {
		now := time.Now()
		sig, err := webhook.Signature("msg_inbox", now, body, secret)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/dev/webhooks/inbox", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", "msg_inbox")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(inbox.Secret()); s != http.StatusNoContent {
		t.Errorf("good delivery = %d, want 204", s)
	}
	if s := post(webhook.NewSecret()); s != http.StatusBadRequest {
		t.Errorf("badly signed delivery = %d, want 400", s)
	}
	r := a.browser().get("/dev/webhooks")
	for _, want := range []string{"subscription.updated", "t-4", "valid", "refused", "msg_inbox"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/dev/webhooks lacks %q", want)
		}
	}
}
