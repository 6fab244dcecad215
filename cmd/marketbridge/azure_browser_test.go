package main

// The Microsoft commercial marketplace browser suite (#15): a purchase on
// the emulated marketplace, "Configure account now" to the seller's landing
// page, the seed flows' sign-up, log-in and linking, and the subscription's
// life (suspension, reinstatement, cancellation) on the billing page and in
// the vendor's webhooks, in headless Chromium against the real demo command.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/browsertest"
)

// azureSubscription is the part of the Azure emulator's control API answer
// the tests read.
type azureSubscription struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	PlanID   string `json:"plan_id"`
	Quantity int    `json:"quantity"`
}

// azureControl calls the Microsoft emulator's control API.
func (d demoURLs) azureControl(t *testing.T, method, path string, body, out any) {
	t.Helper()
	azure := demoURLs{seller: d.seller, emulator: d.emulator + "/azure"}
	azure.control(t, method, path, body, out)
}

// buyOnAzurePages is the buyer's way: sign in to the emulated marketplace
// as a tenant, open the offer, choose the plan (seats for a per-user plan),
// name the SaaS subscription, Subscribe, then Configure account now. It
// returns the subscription's id and the status of the seller's landing
// page, where the browser ends.
func buyOnAzurePages(t *testing.T, b *browsertest.Browser, d demoURLs, tenant, email, plan, name string, seats int) (string, int) {
	t.Helper()
	buyer := d.emulator + "/azure/buyer"
	visitOK(t, b, buyer+"/signin")
	b.Fill("#tenant", tenant)
	b.Fill("#email", email)
	b.Click("#sign-in")
	visitOK(t, b, buyer+"/offers/"+demoAzureOffer)
	check(t, b, "#plan-"+plan)
	// The demo's private plan is sold for a year, the others by the month.
	term := "P1M"
	if plan == "enterprise" {
		term = "P1Y"
	}
	b.Select("#term", term)
	if seats > 0 {
		b.Fill("#seats", fmt.Sprint(seats))
	}
	b.Fill("#subscription-name", name)
	if status := b.Click("#subscribe"); status != http.StatusOK {
		t.Fatalf("Subscribe: status %d on %s", status, b.URL())
	}
	var id string
	if _, err := fmt.Sscanf(b.URL().Path, "/azure/buyer/subscriptions/%s", &id); err != nil || id == "" {
		t.Fatalf("after Subscribe the browser is on %s, want the subscription's page", b.URL())
	}
	expectText(t, b, "#status", "PendingFulfillmentStart")
	b.Click("#configure-account")
	return id, waitForPageOn(t, b, d.seller)
}

// azureBuyerAction clicks an emulator-only billing control (suspend,
// reinstate) or cancels, on the subscription's page.
func azureBuyerAction(t *testing.T, b *browsertest.Browser, d demoURLs, id, action string) {
	t.Helper()
	visitOK(t, b, d.emulator+"/azure/buyer/subscriptions/"+id)
	switch action {
	case "cancel":
		b.Click("#cancel")
		b.Click("#confirm-cancel")
	default:
		b.Click("#" + action)
	}
}

// visitOK opens an emulator page and checks that it answered 200.
func visitOK(t *testing.T, b *browsertest.Browser, url string) {
	t.Helper()
	if status := b.Visit(url); status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200. The page says:\n%.600s", url, status, browsertest.Eval[string](b, "document.body.innerText"))
	}
}

// azureStatus is the subscription's status at Microsoft's, as the emulator
// holds it.
func azureStatus(t *testing.T, d demoURLs, id string) azureSubscription {
	t.Helper()
	var s azureSubscription
	d.azureControl(t, http.MethodGet, "/subscriptions/"+id, nil, &s)
	return s
}

// confirmAzureLink is confirmLink in Microsoft's words.
func confirmAzureLink(t *testing.T, b *browsertest.Browser, orgName string) int64 {
	t.Helper()
	expectPage(t, b, b.Click(`main form[action$="/link"] button[type=submit]`), http.StatusOK, "Billing")
	expectFlash(t, b, orgName+" is now billed through Microsoft commercial marketplace")
	var orgID int64
	if _, err := fmt.Sscanf(b.URL().Path, "/orgs/%d/billing", &orgID); err != nil {
		t.Fatalf("after linking the browser is on %s, want /orgs/{id}/billing", b.URL())
	}
	return orgID
}

// expectAzureBilling checks the billing page's marketplace panel (R9).
func expectAzureBilling(t *testing.T, b *browsertest.Browser, plan, status string) {
	t.Helper()
	expectText(t, b, "main .panel .badge", "Billed through Microsoft commercial marketplace")
	got := billingRows(b)
	want := map[string]string{"marketplace": "Microsoft commercial marketplace", "status": status}
	for row, w := range want {
		if got[row] != w {
			t.Errorf("billing page: %s is %q, want %q", row, got[row], w)
		}
	}
	if p := got["plan"]; len(p) < len(plan) || p[:len(plan)] != plan {
		t.Errorf("billing page: plan is %q, want %q", p, plan)
	}
}

// Flow A on Microsoft's marketplace for a newcomer: "Configure account
// now" opens the landing page with the token; register, verify, log in,
// onboard, and the default new organization is linked (R4, R9). Linking
// activates the subscription at Microsoft's, once (R6): the billing page
// says active, and so does the marketplace.
func TestBrowser_AzureFlowA_NewUserRegistersLinksAndActivates_R4_R6_R9(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	ada := person{name: "Ada Lovelace", email: "ada@example.com", password: "notes on the analytical engine", company: "Lovelace Analytics"}

	subID, status := buyOnAzurePages(t, b, d, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", ada.email, "payg", "Lovelace cloud", 0)
	expectPage(t, b, status, http.StatusOK, "Welcome from Microsoft commercial marketplace")
	expectText(t, b, "main .panel", "Example Cloud", "Lovelace cloud", "payg")

	registerFromSetUp(t, b, d.seller, ada)
	expectText(t, b, "main .alert.info", "billed through this Microsoft commercial marketplace subscription")
	orgID := confirmAzureLink(t, b, ada.company)
	expectAzureBilling(t, b, "payg", "active")
	if got := azureStatus(t, d, subID); got.Status != "Subscribed" {
		t.Errorf("at Microsoft's the subscription is %q after linking, want Subscribed (activated)", got.Status)
	}
	openMail(t, b, d.seller, ada.email, ada.company+" is now billed through Microsoft commercial marketplace")
	expectText(t, b, "main pre.mail", "Lovelace cloud", "payg", fmt.Sprintf("/orgs/%d/billing", orgID))

	// "Manage account" later: a fresh token lands on the same subscription,
	// shown where it is linked (R7); nothing is activated twice.
	visitOK(t, b, d.emulator+"/azure/buyer/subscriptions/"+subID)
	expectText(t, b, "#status", "Subscribed")
	b.Click("#manage-account")
	expectPage(t, b, waitForPageOn(t, b, d.seller), http.StatusOK, linkHeading)
	expectText(t, b, "main", "This subscription is already linked", ada.company)
}

// Flow A for an existing user and organization, with Microsoft's private
// plan: the buyer's tenant is in the plan's audience; the user logs in from
// the landing page and picks the organization where they are Admin (R2).
func TestBrowser_AzurePrivatePlan_ExistingUserLinksExistingOrg_R2(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	charles := person{name: "Charles Babbage", email: "charles@example.com", password: "the difference engine no 2", company: "Babbage Engines"}
	signUp(t, b, d.seller, charles)
	orgID := createOrg(t, b, "Babbage Engines")
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")

	subID, status := buyOnAzurePages(t, b, d, demoAzureBuyerTenant, charles.email, "enterprise", "Babbage enterprise", 0)
	expectPage(t, b, status, http.StatusOK, "Welcome from Microsoft commercial marketplace")
	expectText(t, b, "main .panel", "Babbage enterprise", "enterprise")
	expectPage(t, b, b.Click(`main a[href^="/login?"]`), http.StatusOK, "Log in")
	expectPage(t, b, login(t, b, charles), http.StatusOK, linkHeading)
	existing := fmt.Sprintf(`main input[name=org][value="%d"]`, orgID)
	check(t, b, existing)
	if linked := confirmAzureLink(t, b, charles.company); linked != orgID {
		t.Errorf("linked organization %d, want the existing one, %d", linked, orgID)
	}
	expectAzureBilling(t, b, "enterprise", "active")
	if got := azureStatus(t, d, subID); got.Status != "Subscribed" || got.PlanID != "enterprise" {
		t.Errorf("at Microsoft's: %+v, want Subscribed on the private plan", got)
	}
}

// A token that does not resolve gets a page that says what to do in
// Microsoft's words, with a client-error status (R5).
func TestBrowser_AzureInvalidLandingTokenSaysWhatToDo_R5(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	status := b.Visit(d.seller + "/marketplace/azure/landing?token=not-a-token")
	if status < 400 || status > 499 {
		t.Errorf("an invalid token's page has status %d, want a client error", status)
	}
	expectText(t, b, "main .panel", "Configure account now", "you do not need to buy again", "Nothing was linked")
}

// The subscription's life after the link, as Microsoft tells it by webhook:
// suspended for non-payment, reinstated, cancelled; each shows on the
// billing page and reaches the vendor's product as subscription.updated
// (payment-suspended, reinstated, cancelled, grace), in order (R17, R19).
func TestBrowser_AzureSuspendReinstateCancel_BillingPageAndWebhooks_R17_R19(t *testing.T) {
	t.Parallel()
	hooks := startWebhookReceiver(t)
	b := browsertest.New(t, "buyer")
	b.ExtendBudget(2 * time.Minute)
	grace := person{name: "Grace Hopper", email: "grace@example.com", password: "a ship in port is safe", company: "Hopper Systems"}
	d := startDemo(t, "--webhook-url", hooks.srv.URL+"/hooks/marketbridge", "--webhook-secret", hooks.secret, "--operators", grace.email)

	subID, status := buyOnAzurePages(t, b, d, "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a", grace.email, "payg", "Hopper cloud", 0)
	expectPage(t, b, status, http.StatusOK, "Welcome from Microsoft commercial marketplace")
	registerFromSetUp(t, b, d.seller, grace)
	orgID := confirmAzureLink(t, b, grace.company)
	hooks.waitFor(t, orgID, "subscription.updated active", func(evs []hookEvent) bool { return slices.ContainsFunc(evs, isState("active")) })

	billing := fmt.Sprintf("%s/orgs/%d/billing", d.seller, orgID)
	step := func(action, state, billingText string) {
		t.Helper()
		azureBuyerAction(t, b, d, subID, action)
		hooks.waitFor(t, orgID, "subscription.updated "+state, func(evs []hookEvent) bool { return slices.ContainsFunc(evs, isState(state)) })
		expectPage(t, b, b.Visit(billing), http.StatusOK, "Billing")
		expectText(t, b, "main", billingText)
	}
	step("suspend", "payment-suspended", "suspended the subscription: it could not collect the payment")
	step("reinstate", "reinstated", "Billed through Microsoft commercial marketplace")
	step("cancel", "grace", "The Microsoft commercial marketplace subscription was cancelled")

	evs := hooks.of(orgID)
	var states []string
	for _, e := range evs {
		if e.Type == "subscription.updated" {
			states = append(states, e.Data.State)
		}
	}
	want := []string{"active", "payment-suspended", "reinstated", "cancelled", "grace"}
	if !slices.Equal(states, want) {
		t.Errorf("subscription.updated states %v, want %v", states, want)
	}
	if i := slices.IndexFunc(evs, func(e hookEvent) bool { return e.Type == "organization.unlinked" }); i < 0 {
		t.Errorf("no organization.unlinked after the cancellation: %v", evs)
	}

	// The operator sees Microsoft's calls, each applied, and the
	// subscription named with its marketplace.
	expectPage(t, b, b.Visit(d.seller+"/operator"), http.StatusOK, "Operator view")
	expectText(t, b, "main", "Marketplace webhook calls", "Microsoft commercial marketplace webhook", "Suspend", "Reinstate", "Unsubscribe")
	expectText(t, b, "main", "Microsoft commercial marketplace", subID, "plan payg")
}

// Microsoft's webhook believes nothing unverified: a call without a bearer
// token, with a forged or foreign one, or with a token of the right shape
// signed by another key, is refused with 401 (it is refused before it is
// stored: web.handleAzureWebhook verifies first).
func TestAzureWebhook_RefusesUnverifiedCalls(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	body := `{"id":"7a1c5e9f-3b2d-4c6e-8f0a-1b2c3d4e5f6a","subscriptionId":"00000000-0000-4000-8000-000000000001","action":"Unsubscribe",` +
		`"status":"Succeeded","timeStamp":"2026-12-02T10:00:00Z"}`
	// A well-formed RS256 token from a key the tenant never published.
	forged := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCIsInR5cCI6IkpXVCJ9." +
		"eyJhdWQiOiI3ZDllMWYzYS01YjdjLTRkOWUtOGYxYS0zYjVjN2Q5ZTFmM2EiLCJ0aWQiOiIwYjZmM2MyZS01YTFkLTRlOGYtOWM3Yi0yZDRlNmY4YTBiMWMifQ." +
		"c2lnbmF0dXJl"
	for _, tc := range []struct{ name, auth string }{
		{"no token", ""},
		{"not a bearer", "Basic dXNlcjpwYXNz"},
		{"garbage", "Bearer not-a-jwt"},
		{"unsigned", "Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0."},
		{"another key", "Bearer " + forged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.seller+"/marketplace/azure/webhook", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
}

// Usage of an organization billed through Microsoft's marketplace reaches
// Microsoft's ledger through serve's own wiring (its metering sender, its
// quota, the Microsoft client), once the hour closes on the demo's clock:
// one event of the rated cents on usage_cents, and the billing page says
// so (R10, R11). Over HTTP, without a browser.
func TestDemo_AzureUsageReachesMicrosoftsLedger_R10_R11(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "--clock-speed", demoTestSpeed)
	now := d.clock(t)
	d.control(t, http.MethodPut, "/clock", map[string]any{"now": time.Date(now.Year(), now.Month()+1, 10, 0, 0, 0, 0, time.UTC)}, nil)

	c := newConsole(t, d.seller)
	c.signUp("mary@example.com")
	var bought struct {
		Subscription azureSubscription `json:"subscription"`
		LandingURL   string            `json:"landing_url"`
	}
	d.azureControl(t, http.MethodPost, "/subscriptions", map[string]any{"offer_id": demoAzureOffer, "plan_id": "payg", "name": "Jackson cloud",
		"beneficiary": map[string]string{"tenantId": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", "emailId": "mary@example.com"}}, &bought)
	landing, err := url.Parse(bought.LandingURL)
	if err != nil {
		t.Fatal(err)
	}
	c.expect(c.get(landing.RequestURI()), http.StatusSeeOther, "/marketplace/azure/setup")
	purchase := c.expect(c.get("/marketplace/azure/setup"), http.StatusSeeOther, "/marketplace/purchases/")
	billing := withoutOutcome(c.expect(c.post(purchase+"/link", url.Values{"org": {"new"}, "name": {"Jackson Aeronautics"}}), http.StatusSeeOther, "/orgs/"))
	key := c.createKey(strings.TrimSuffix(billing, "billing"))

	at := d.clock(t)
	event := fmt.Sprintf(`{"specversion":"1.0","id":"evt-az-1","source":"my-service","type":"compute","subject":"db-1",
		"time":%q,"data":{"quantity":2.5}}`, at.Format(time.RFC3339Nano))
	if status, body := postUsage(t, d.seller, key, event); status != http.StatusOK || !strings.Contains(body, `"accepted":1`) {
		t.Fatalf("POST /api/v1/events = %d %s", status, body)
	}
	catalog, err := demoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	compute, _ := catalog.Meter("compute")
	wantCents := compute.PriceMicros * 5 / 2 / 10_000

	type ledgerEvent struct {
		ResourceID string          `json:"resource_id"`
		Dimension  string          `json:"dimension"`
		Quantity   json.RawMessage `json:"quantity"`
		Hour       time.Time       `json:"hour"`
	}
	var ledger struct {
		Events []ledgerEvent `json:"events"`
	}
	for deadline := time.Now().Add(ledgerWait); ; time.Sleep(50 * time.Millisecond) {
		d.azureControl(t, http.MethodGet, "/ledger?subscription="+bought.Subscription.ID, nil, &ledger)
		if len(ledger.Events) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage event in Microsoft's ledger within %s", ledgerWait)
		}
	}
	e := ledger.Events[0]
	if len(ledger.Events) != 1 || e.Dimension != "usage_cents" || string(e.Quantity) != strconv.FormatInt(wantCents, 10) {
		t.Errorf("Microsoft's ledger: %+v (quantity %s); want one event of %d on usage_cents", ledger.Events, e.Quantity, wantCents)
	}
	if hour := at.UTC().Truncate(time.Hour); e.Hour.Before(hour) || e.Hour.After(hour.Add(time.Hour)) {
		t.Errorf("metered for the hour of %s, want the event's hour, %s, or the next", e.Hour, hour)
	}
	wantDollars := fmt.Sprintf("$%d.%02d", wantCents/100, wantCents%100)
	if page := c.get(billing).body; !strings.Contains(page, wantDollars+" reported to Microsoft commercial marketplace") {
		t.Errorf("the billing page does not say %s was reported to Microsoft commercial marketplace:\n%.2000s", wantDollars, pageText(page))
	}
}
