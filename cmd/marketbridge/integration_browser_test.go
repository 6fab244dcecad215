package main

// The vendor's product plugged into marketbridge end to end (#12's "Done
// when"): buyers sign in through the vendor's OpenID provider, and the
// vendor's product learns what happens to a tenant's billing from signed
// webhooks and from the entitlement endpoint. The product is played by the
// test: a receiver on loopback that verifies every delivery with the
// official Standard Webhooks library, and a client of the vendor API with a
// service token made by "marketbridge token create".

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/oidc/oidctest"
	"github.com/marketbridge/marketbridge/internal/web/openapitest"
)

// Flow A with sign-in at the vendor's OpenID provider, then the buyer
// cancels on AWS Marketplace and nobody links another billing method. The
// vendor's receiver gets, each verified and in increasing sequence with no
// gap: organization.linked for the organization the browser linked, then
// subscription.updated active; cancelling (R18); cancelled and grace once
// the final-metering hour is over (R19); and suspended once the 14 days of
// grace have passed on the marketplace's clock. The entitlement endpoint
// agrees: billable while active and in grace, not once suspended, as the
// billing page says.
func TestBrowser_FlowAWithOIDCThenCancellation_WebhooksTellEveryState_R4_R18_R19(t *testing.T) {
	t.Parallel()
	hooks := startWebhookReceiver(t)
	b := browsertest.New(t, "buyer")
	b.ExtendBudget(5 * time.Minute) // the demo's clock runs 14 days on while the browser waits
	noor := oidctest.User{Subject: "idp-noor", Username: "noor", Password: "correct horse", Email: "noor@example.com",
		EmailVerified: true, GivenName: "Noor", FamilyName: "Haddad"}
	// The vendor's back end gets its service token first, as
	// infrastructure as code would, on the database the demo then uses.
	data := t.TempDir()
	token := createServiceToken(t, data)
	d := startOIDCDemo(t, []oidctest.User{noor}, "--data", data,
		"--webhook-url", hooks.srv.URL+"/hooks/marketbridge", "--webhook-secret", hooks.secret)
	spec := loadServedAPISpec(t, d.seller)

	// Flow A: subscribe, set up the account, sign in at the provider as a
	// first-time user, onboard, link a new organization (R4).
	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	agreementID := agreementOnPage(t, b)
	expectPage(t, b, setUpAccount(t, b, d.demoURLs), http.StatusOK, "Welcome from AWS Marketplace")
	expectPage(t, b, b.Click(`main a[href^="/login/oidc?"]`), http.StatusOK, "Sign in to Example Identity")
	expectPage(t, b, logInAtProvider(t, b, noor), http.StatusOK, "Tell us about your business")
	expectPage(t, b, onboard(t, b, person{company: "Haddad Robotics"}), http.StatusOK, linkHeading)
	orgID := confirmLink(t, b, "Haddad Robotics")
	expectBilling(t, b, "1234-5678-9012", "Pay as you go", "—")

	linked := hooks.waitFor(t, orgID, "organization.linked and subscription.updated active", func(evs []hookEvent) bool {
		return slices.ContainsFunc(evs, isState("active"))
	})
	if first := linked[0]; first.Type != "organization.linked" || first.Data.BillingState != "active" ||
		first.Data.Subscription == nil || first.Data.Subscription.CustomerAccountID != "123456789012" {
		t.Errorf("the organization's first event is %s, want organization.linked, active, for AWS account 123456789012", first)
	}
	if i := slices.IndexFunc(linked, isState("active")); i != 1 {
		t.Errorf("subscription.updated active is event %d of %v, want it right after organization.linked", i+1, linked)
	}
	expectEntitlement(t, spec, d.seller, token, orgID, true, "active")

	// The buyer cancels where AWS buyers do: Manage subscriptions.
	expectPage(t, b, b.Visit(d.emulator+"/buyer/subscriptions"), http.StatusOK, "Manage subscriptions")
	expectPage(t, b, b.Click(fmt.Sprintf(`main a[href="/buyer/agreements/%s/cancel"]`, agreementID)), http.StatusOK, "Cancel subscription")
	expectPage(t, b, b.Click(fmt.Sprintf(`main form[action="/buyer/agreements/%s/cancel"] button[type=submit]`, agreementID)),
		http.StatusOK, "Manage subscriptions")
	expectText(t, b, "main .notice", "Your subscription was cancelled")
	cancelling := hooks.waitFor(t, orgID, "subscription.updated cancelling", func(evs []hookEvent) bool {
		return slices.ContainsFunc(evs, isState("cancelling"))
	})
	if e := cancelling[slices.IndexFunc(cancelling, isState("cancelling"))]; e.Data.FinalMeteringBy == nil {
		t.Errorf("%s has no final_metering_by, want the deadline of the final usage (R18)", e)
	}

	// The final-metering hour closes on the emulator's clock: AWS says
	// unsubscribe-success, and the 14 days of grace start (R19).
	d.control(t, http.MethodPost, "/clock/advance", map[string]any{"duration": "1h5m"}, nil)
	graced := hooks.waitFor(t, orgID, "subscription.updated cancelled and grace", func(evs []hookEvent) bool {
		return slices.ContainsFunc(evs, isState("grace"))
	})
	grace := graced[slices.IndexFunc(graced, isState("grace"))]
	if grace.Data.GraceUntil == nil {
		t.Fatalf("%s has no grace_until, want the end of the 14 days (R19)", grace)
	}
	if st := expectEntitlement(t, spec, d.seller, token, orgID, true, "grace"); st.GraceUntil == nil || !st.GraceUntil.Equal(*grace.Data.GraceUntil) {
		t.Errorf("the entitlement says grace_until %v, the webhook %s", st.GraceUntil, grace.Data.GraceUntil)
	}

	// Nobody links anything for 14 days of the marketplace's clock.
	var clock struct {
		Now time.Time `json:"now"`
	}
	d.control(t, http.MethodGet, "/clock", nil, &clock)
	past := grace.Data.GraceUntil.Sub(clock.Now) + time.Hour
	d.control(t, http.MethodPost, "/clock/advance", map[string]any{"duration": past.Round(time.Minute).String()}, nil)
	all := hooks.waitFor(t, orgID, "subscription.updated suspended", func(evs []hookEvent) bool {
		return slices.ContainsFunc(evs, isState("suspended"))
	})
	st := expectEntitlement(t, spec, d.seller, token, orgID, false, "suspended")
	// The organization's admin sees the same on the billing page (R19).
	expectPage(t, b, b.Visit(orgPage(d.seller, orgID, "billing")), http.StatusOK, "Billing")
	expectText(t, b, "main .alert.error", "This organization is suspended", "Its data is kept")
	if st.SuspendedAt == nil || !st.SuspendedAt.Equal(*grace.Data.GraceUntil) {
		t.Errorf("the entitlement says suspended_at %v, want the end of grace %s", st.SuspendedAt, grace.Data.GraceUntil)
	}

	// Everything the organization went through, as the vendor's product saw
	// it: every event once, in sequence from 1 with no gap, and the states
	// in the order they happened.
	var states []string
	for i, e := range all {
		if e.Data.Sequence != int64(i+1) {
			t.Errorf("event %d of the organization is %s, want sequence %d: %v", i+1, e, i+1, all)
		}
		if e.Type == "subscription.updated" {
			states = append(states, e.Data.State)
		}
	}
	if want := []string{"active", "cancelling", "cancelled", "grace", "suspended"}; !slices.Equal(states, want) {
		t.Errorf("subscription.updated told %v, want %v; events %v", states, want, all)
	}
	if i, j := slices.IndexFunc(all, isState("cancelled")), slices.IndexFunc(all, isState("grace")); j < 0 || i < 0 ||
		!slices.ContainsFunc(all[i:j], func(e hookEvent) bool { return e.Type == "organization.unlinked" && e.Data.Reason == "cancelled" }) {
		t.Errorf("no organization.unlinked (reason cancelled) between cancelled and grace: %v", all)
	}
	if bad := hooks.refused(); len(bad) > 0 {
		t.Errorf("the receiver refused %d deliveries: %v", len(bad), bad)
	}
	// What the product received is what the served document describes.
	for _, e := range all {
		if err := spec.CheckWebhook(e.body); err != nil {
			t.Errorf("the delivery of %s is not as /api/v1/openapi.json describes it: %v\nbody: %.500s", e, err, e.body)
		}
	}
	t.Logf("the receiver got, in sequence: %v", all)
}

// webhookReceiver plays the vendor's product: it verifies each delivery
// with the Standard Webhooks library and the secret it was configured
// with, answers 204, and keeps each event once by webhook-id, as a
// receiver that drops what it has already seen.
type webhookReceiver struct {
	srv    *httptest.Server
	secret string
	wh     *standardwebhooks.Webhook

	mu     sync.Mutex
	events map[string]hookEvent // by webhook-id
	bad    []string             // why deliveries were refused
}

// hookEvent is a delivered event, as a receiver reads it.
type hookEvent struct {
	ID   string `json:"-"`
	body []byte // as delivered
	Type string `json:"type"`
	Data struct {
		Organization struct {
			ID         int64  `json:"id"`
			ExternalID string `json:"external_id"`
		} `json:"organization"`
		Sequence        int64      `json:"sequence"`
		State           string     `json:"state"`
		BillingState    string     `json:"billing_state"`
		Reason          string     `json:"reason"`
		FinalMeteringBy *time.Time `json:"final_metering_by"`
		GraceUntil      *time.Time `json:"grace_until"`
		Subscription    *struct {
			CustomerAccountID string `json:"customer_account_id"`
			Status            string `json:"status"`
		} `json:"subscription"`
	} `json:"data"`
}

func (e hookEvent) String() string {
	s := fmt.Sprintf("#%d %s", e.Data.Sequence, e.Type)
	if e.Data.State != "" {
		s += " " + e.Data.State
	}
	return s
}

func isState(state string) func(hookEvent) bool {
	return func(e hookEvent) bool { return e.Type == "subscription.updated" && e.Data.State == state }
}

// startWebhookReceiver starts the receiver on loopback with a secret of
// its own. Start it before the demo: cleanups run in reverse, so the demo
// stops sending before the receiver closes.
func startWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	rc := &webhookReceiver{secret: "whsec_" + base64.StdEncoding.EncodeToString(key), events: map[string]hookEvent{}}
	var err error
	if rc.wh, err = standardwebhooks.NewWebhook(rc.secret); err != nil {
		t.Fatal(err)
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *webhookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := r.Header.Get("webhook-id")
	var e hookEvent
	if err = rc.check(r, body, &e); err != nil {
		rc.mu.Lock()
		rc.bad = append(rc.bad, fmt.Sprintf("%s %s: %v", r.URL.Path, id, err))
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.ID, e.body = id, body
	rc.mu.Lock()
	if _, seen := rc.events[id]; !seen {
		rc.events[id] = e
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// check verifies a delivery as the vendor's product must, before it reads
// anything of it: the signature with the library, whose own window is five
// minutes; then a real-time webhook-timestamp within a minute, whatever
// the demo's marketplace clock says.
func (rc *webhookReceiver) check(r *http.Request, body []byte, e *hookEvent) error {
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/marketbridge" {
		return fmt.Errorf("%s %s, want POST /hooks/marketbridge", r.Method, r.URL.Path)
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	sent, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", r.Header.Get("webhook-timestamp"), err)
	}
	if off := time.Since(time.Unix(sent, 0)); off < -time.Minute || off > time.Minute {
		return fmt.Errorf("webhook-timestamp %d is %s off real time", sent, off.Round(time.Second))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(body, e); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// of is the organization's events received so far, in sequence order.
func (rc *webhookReceiver) of(orgID int64) []hookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var evs []hookEvent
	for _, e := range rc.events {
		if e.Data.Organization.ID == orgID {
			evs = append(evs, e)
		}
	}
	slices.SortFunc(evs, func(a, b hookEvent) int { return int(a.Data.Sequence - b.Data.Sequence) })
	return evs
}

func (rc *webhookReceiver) refused() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bad)
}

// webhookWait bounds how long an event may take to reach the receiver: the
// emulator notifies at once, the seller applies notifications and records
// elapsed states every two seconds, and delivers every second. It turns an
// event that never comes into a failure; it measures nothing.
const webhookWait = 45 * time.Second

// waitFor polls until the organization's events satisfy done, and returns
// them in sequence order; it stops the test with what came when they never
// do.
func (rc *webhookReceiver) waitFor(t *testing.T, orgID int64, what string, done func([]hookEvent) bool) []hookEvent {
	t.Helper()
	deadline := time.Now().Add(webhookWait)
	for {
		evs := rc.of(orgID)
		if done(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver did not get %s for organization %d within %s; it has %v (refused: %v)",
				what, orgID, webhookWait, evs, rc.refused())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// createServiceToken runs "marketbridge token create" on the data folder
// and returns the token it prints.
func createServiceToken(t *testing.T, data string) string {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), []string{"token", "create", "--data", data, "--name", "vendor product", "--scope", "read",
		"--log-level", "error"}, func(string) string { return "" }, &out, io.Discard)
	token := strings.TrimSpace(out.String())
	if err != nil || !strings.HasPrefix(token, "mbt_") {
		t.Fatalf("token create = %q, %v; want a service token", token, err)
	}
	return token
}

// entitlement is the part of GET /api/v1/organizations/{id}/entitlement
// the vendor's product gates features on.
type entitlement struct {
	OrganizationID int64      `json:"organization_id"`
	Billable       bool       `json:"billable"`
	State          string     `json:"state"`
	GraceUntil     *time.Time `json:"grace_until"`
	SuspendedAt    *time.Time `json:"suspended_at"`
}

// expectEntitlement reads the organization's entitlement with the service
// token and checks whether it is billable and its state.
func expectEntitlement(t *testing.T, spec *openapitest.Spec, seller, token string, orgID int64, billable bool, state string) entitlement {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("%s/api/v1/organizations/%d/entitlement", seller, orgID), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s (%v), want 200", req.URL, resp.StatusCode, body, err)
	}
	if err := spec.CheckResponse(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Errorf("GET %s answered what /api/v1/openapi.json does not describe: %v\nbody: %.500s", req.URL, err, body)
	}
	var got entitlement
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET %s: %v in %s", req.URL, err, body)
	}
	if got.OrganizationID != orgID || got.Billable != billable || got.State != state {
		t.Errorf("the entitlement of organization %d says %s; want billable %t, state %s", orgID, body, billable, state)
	}
	return got
}

// loadServedAPISpec reads the OpenAPI document the seller serves, which
// the vendor's developers read: what the product gets must be as it says.
func loadServedAPISpec(t *testing.T, seller string) *openapitest.Spec {
	t.Helper()
	resp, err := http.Get(seller + "/api/v1/openapi.json")
	if err != nil {
		t.Fatalf("GET /api/v1/openapi.json: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d (%v)", resp.StatusCode, err)
	}
	spec, err := openapitest.Load(raw)
	if err != nil {
		t.Fatalf("/api/v1/openapi.json: %v", err)
	}
	return spec
}
