package main

// The Google Cloud Marketplace browser suite (#16): an order on the
// emulated marketplace, "Register with Example Cloud" posting the sign-up
// JWT to the seller, the seed flows' sign-up, log-in and linking, the
// approvals, and the entitlement's life (plan change with approval,
// pending cancellation and its revert, cancellation) on the billing page
// and in the vendor's webhooks, in headless Chromium against the real demo
// command.

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/google"
)

// googleEntitlement is the part of the Google emulator's control API answer
// the tests read.
type googleEntitlement struct {
	ID             string `json:"id"`
	Account        string `json:"account"`
	State          string `json:"state"`
	Plan           string `json:"plan"`
	NewPendingPlan string `json:"new_pending_plan"`
	Offer          string `json:"offer"`
}

// googleControl calls the Google emulator's control API.
func (d demoURLs) googleControl(t *testing.T, method, path string, body, out any) {
	t.Helper()
	g := demoURLs{seller: d.seller, emulator: d.emulator + "/google"}
	g.control(t, method, path, body, out)
}

// googleEntitlementOf is the entitlement as Google holds it.
func googleEntitlementOf(t *testing.T, d demoURLs, id string) googleEntitlement {
	t.Helper()
	var list struct {
		Entitlements []googleEntitlement `json:"entitlements"`
	}
	d.googleControl(t, http.MethodGet, "/entitlements", nil, &list)
	for _, e := range list.Entitlements {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("the Google emulator holds no entitlement %s", id)
	return googleEntitlement{}
}

// orderOnGooglePages is the buyer's way: sign in to the emulated
// marketplace with a billing account, open the product's order page,
// choose a plan (or the private offer), accept the terms, Subscribe, then
// "Register with Example Cloud". It returns the entitlement's id and the
// status of the seller's page, where the browser ends.
func orderOnGooglePages(t *testing.T, b *browsertest.Browser, d demoURLs, billingAccount, email, choice string) (string, int) {
	t.Helper()
	buyer := d.emulator + "/google/buyer"
	visitOK(t, b, buyer+"/signin")
	b.Fill("#billing-account", billingAccount)
	b.Fill("#email", email)
	b.Click("#sign-in")
	visitOK(t, b, buyer+"/products/"+google.DemoService+"/order")
	check(t, b, choice)
	check(t, b, "#terms")
	if status := b.Click("#subscribe"); status != http.StatusOK {
		t.Fatalf("Subscribe: status %d on %s", status, b.URL())
	}
	id := browsertest.Eval[string](b, `(document.querySelector('main [id^="register-"]:not([id^="register-help-"])') || {id: ""}).id.replace("register-", "")`)
	if id == "" {
		t.Fatalf("after Subscribe %s shows no \"Register with\" button:\n%.800s", b.URL(), browsertest.Eval[string](b, "document.body.innerText"))
	}
	b.Click("#register-" + id)
	return id, waitForPageOn(t, b, d.seller)
}

// confirmGoogleLink is confirmLink in Google's words.
func confirmGoogleLink(t *testing.T, b *browsertest.Browser, orgName string) int64 {
	t.Helper()
	expectPage(t, b, b.Click(`main form[action$="/link"] button[type=submit]`), http.StatusOK, "Billing")
	expectFlash(t, b, orgName+" is now billed through Google Cloud Marketplace")
	var orgID int64
	if _, err := fmt.Sscanf(b.URL().Path, "/orgs/%d/billing", &orgID); err != nil {
		t.Fatalf("after linking the browser is on %s, want /orgs/{id}/billing", b.URL())
	}
	return orgID
}

// waitForGoogleBilling reloads the billing page until its marketplace
// panel shows status (the approval reaches the seller through Google's
// Pub/Sub push), then checks the plan (R9).
func waitForGoogleBilling(t *testing.T, b *browsertest.Browser, billing, plan, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		expectPage(t, b, b.Visit(billing), http.StatusOK, "Billing")
		got := billingRows(b)
		if got["status"] == status && strings.HasPrefix(got["plan"], plan) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("billing page: status %q plan %q, want %q on %q within 20s", got["status"], got["plan"], status, plan)
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectText(t, b, "main .panel .badge", "Billed through Google Cloud Marketplace")
	if got := billingRows(b)["marketplace"]; got != "Google Cloud Marketplace" {
		t.Errorf("billing page: marketplace is %q", got)
	}
}

// Flow A on Google's marketplace for a newcomer: "Register with Example
// Cloud" posts the JWT to the seller's sign-up URL; register, verify, log
// in, onboard, and the default new organization is linked (R4, R9). The
// link approves the account and the entitlement at Google's, once (R6):
// Google makes it active, and the billing page says so.
func TestBrowser_GCPFlowA_NewUserRegistersLinksAndApproves_R4_R6_R9(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	ada := person{name: "Ada Lovelace", email: "ada@example.com", password: "notes on the analytical engine", company: "Lovelace Analytics"}

	entID, status := orderOnGooglePages(t, b, d, "billingAccounts/0A1B2C-3D4E5F-6A7B8C", ada.email, "#plan-0")
	expectPage(t, b, status, http.StatusOK, "Welcome from Google Cloud Marketplace")
	expectText(t, b, "main .panel", "Example Cloud", "standard")

	registerFromSetUp(t, b, d.seller, ada)
	orgID := confirmGoogleLink(t, b, ada.company)
	waitForGoogleBilling(t, b, fmt.Sprintf("%s/orgs/%d/billing", d.seller, orgID), "standard", "active")
	if got := googleEntitlementOf(t, d, entID); got.State != "ENTITLEMENT_ACTIVE" {
		t.Errorf("at Google's the entitlement is %q after linking, want ENTITLEMENT_ACTIVE (approved)", got.State)
	}
	openMail(t, b, d.seller, ada.email, ada.company+" is now billed through Google Cloud Marketplace")
}

// Flow A for an existing user and organization, with Google's private
// offer for the demo billing account: the user logs in from the set-up
// page and picks the organization where they are Admin (R2); the billing
// page names the private offer.
func TestBrowser_GCPPrivateOffer_ExistingUserLinksExistingOrg_R2(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	charles := person{name: "Charles Babbage", email: "charles@example.com", password: "the difference engine no 2", company: "Babbage Engines"}
	signUp(t, b, d.seller, charles)
	orgID := createOrg(t, b, "Babbage Engines")
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")

	entID, status := orderOnGooglePages(t, b, d, google.DemoBillingAccount, charles.email, "#offer-0")
	expectPage(t, b, status, http.StatusOK, "Welcome from Google Cloud Marketplace")
	expectPage(t, b, b.Click(`main a[href^="/login?"]`), http.StatusOK, "Log in")
	expectPage(t, b, login(t, b, charles), http.StatusOK, linkHeading)
	check(t, b, fmt.Sprintf(`main input[name=org][value="%d"]`, orgID))
	if linked := confirmGoogleLink(t, b, charles.company); linked != orgID {
		t.Errorf("linked organization %d, want the existing one, %d", linked, orgID)
	}
	waitForGoogleBilling(t, b, fmt.Sprintf("%s/orgs/%d/billing", d.seller, orgID), "enterprise", "active")
	if got := billingRows(b)["private offer"]; !strings.Contains(got, "privateOffers/"+google.DemoPrivateOfferID) {
		t.Errorf("billing page: private offer %q, want the demo's", got)
	}
	if got := googleEntitlementOf(t, d, entID); got.State != "ENTITLEMENT_ACTIVE" || got.Plan != "enterprise" {
		t.Errorf("at Google's: %+v, want active on the private offer's plan", got)
	}
}

// The entitlement's life after the link, as Google tells it through
// Pub/Sub: a plan change the seller approves, a pending cancellation that
// runs to the term's end and is withdrawn, then a cancellation; each shows
// on the billing page and reaches the vendor's product as
// subscription.updated (cancelling, reinstated, cancelling, cancelled,
// grace), in order (R17, R19, R22).
func TestBrowser_GCPPlanChangeCancellationRevert_BillingPageAndWebhooks_R17_R22(t *testing.T) {
	t.Parallel()
	hooks := startWebhookReceiver(t)
	b := browsertest.New(t, "buyer")
	b.ExtendBudget(2 * time.Minute)
	grace := person{name: "Grace Hopper", email: "grace@example.com", password: "a ship in port is safe", company: "Hopper Systems"}
	d := startDemo(t, "--webhook-url", hooks.srv.URL+"/hooks/marketbridge", "--webhook-secret", hooks.secret)

	entID, status := orderOnGooglePages(t, b, d, "billingAccounts/1B2C3D-4E5F6A-7B8C9D", grace.email, "#plan-0")
	expectPage(t, b, status, http.StatusOK, "Welcome from Google Cloud Marketplace")
	registerFromSetUp(t, b, d.seller, grace)
	orgID := confirmGoogleLink(t, b, grace.company)
	billing := fmt.Sprintf("%s/orgs/%d/billing", d.seller, orgID)
	waitForGoogleBilling(t, b, billing, "standard", "active")
	hooks.waitFor(t, orgID, "subscription.updated active", func(evs []hookEvent) bool { return slices.ContainsFunc(evs, isState("active")) })

	orders := d.emulator + "/google/buyer/orders"
	// The buyer asks for the team plan; the seller's policy approves it,
	// and the billing page shows it once Google says it is in effect.
	visitOK(t, b, orders)
	b.Select("#plan-"+entID, "team")
	b.Click("#change-plan-" + entID)
	waitForGoogleBilling(t, b, billing, "team", "active")
	if got := googleEntitlementOf(t, d, entID); got.Plan != "team" || got.State != "ENTITLEMENT_ACTIVE" {
		t.Errorf("at Google's after the approval: %+v", got)
	}

	// step acts, then waits for the times-th subscription.updated of state.
	step := func(state string, times int, billingText string, act func()) {
		t.Helper()
		act()
		hooks.waitFor(t, orgID, fmt.Sprintf("subscription.updated %s (×%d)", state, times), func(evs []hookEvent) bool {
			n := 0
			for _, e := range evs {
				if isState(state)(e) {
					n++
				}
			}
			return n >= times
		})
		expectPage(t, b, b.Visit(billing), http.StatusOK, "Billing")
		expectText(t, b, "main", billingText)
	}
	step("cancelling", 1, "is being cancelled: it is not renewed", func() {
		visitOK(t, b, orders)
		b.Click("#cancel-" + entID)
		b.Click("#confirm-cancel")
	})
	step("reinstated", 1, "Billed through Google Cloud Marketplace", func() {
		visitOK(t, b, orders)
		b.Click("#revert-" + entID)
	})
	if b.Has("#cancellation-pending") {
		t.Error("the billing page still says the subscription is being cancelled after the revert")
	}
	step("cancelling", 2, "is being cancelled: it is not renewed", func() {
		d.googleControl(t, http.MethodPost, "/entitlements/"+entID+"/cancel", map[string]any{}, nil)
	})
	// The term ends (the emulator's control API stands for time passing).
	step("grace", 1, "The Google Cloud Marketplace subscription was cancelled", func() {
		d.googleControl(t, http.MethodPost, "/entitlements/"+entID+"/end-term", map[string]any{}, nil)
	})

	var states []string
	for _, e := range hooks.of(orgID) {
		if e.Type == "subscription.updated" {
			states = append(states, e.Data.State)
		}
	}
	want := []string{"active", "cancelling", "reinstated", "cancelling", "cancelled", "grace"}
	if !slices.Equal(states, want) {
		t.Errorf("subscription.updated states %v, want %v", states, want)
	}
}

// Google's sign-up and push endpoints believe nothing unverified: a forged
// sign-up token gets a page in Google's words with a client-error status
// and nothing set up (R5); a push without a Google-signed OIDC token is
// refused with 401 before it is stored.
func TestGCPSignupAndPush_RefuseUnverified_R5(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	forged := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZvcmdlZCJ9.eyJzdWIiOiJFLTEyMzQiLCJhdWQiOiIxMjcuMC4wLjEifQ.c2lnbmF0dXJl"
	resp, err := http.PostForm(d.seller+"/marketplace/gcp/signup", url.Values{"x-gcp-marketplace-token": {forged}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	if resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.Contains(page, "you do not need to order again") {
		t.Errorf("a forged sign-up token: status %d, page:\n%.1500s", resp.StatusCode, pageText(page))
	}
	body := `{"message":{"data":"eyJldmVudElkIjoiZXYtMSIsImV2ZW50VHlwZSI6IkVOVElUTEVNRU5UX0NBTkNFTExFRCJ9","messageId":"1"},"subscription":"s"}`
	for _, auth := range []string{"", "Bearer not-a-jwt", "Bearer " + forged} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, d.seller+"/marketplace/gcp/pubsub", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("push with %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

var (
	csrfField   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	firstPlan   = regexp.MustCompile(`id="plan-0" value="([^"]+)"`)
	registerFor = regexp.MustCompile(`action="/google/buyer/orders/([^/"]+)/register"`)
	signupToken = regexp.MustCompile(`name="x-gcp-marketplace-token" value="([^"]+)"`)
)

// googleSignupToken orders the demo product's first plan on the emulated
// marketplace's buyer pages over HTTP, as a browser would, and returns the
// entitlement and the sign-up JWT that "Register with" would post.
func googleSignupToken(t *testing.T, d demoURLs, billingAccount, email string) (string, string) {
	t.Helper()
	buyer := newConsole(t, d.emulator+"/google/buyer")
	csrf := func(r reply) string {
		t.Helper()
		m := csrfField.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no CSRF token on the buyer page (%d):\n%.800s", r.status, pageText(r.body))
		}
		return html.UnescapeString(m[1])
	}
	page := buyer.get("/signin")
	buyer.expect(buyer.post("/signin", url.Values{"csrf": {csrf(page)}, "billing_account": {billingAccount}, "email": {email}}), http.StatusSeeOther, "")
	page = buyer.get("/products/" + google.DemoService + "/order")
	plan := firstPlan.FindStringSubmatch(page.body)
	if plan == nil {
		t.Fatalf("no plan on the order page:\n%.800s", pageText(page.body))
	}
	r := buyer.post("/products/"+google.DemoService+"/order", url.Values{"csrf": {csrf(page)}, "choice": {html.UnescapeString(plan[1])}, "terms": {"accepted"}})
	page = buyer.get(withoutOutcome(strings.TrimPrefix(r.location, "/google/buyer")))
	ent := registerFor.FindStringSubmatch(page.body)
	if ent == nil {
		t.Fatalf("no Register button after ordering (%d → %q):\n%.800s", r.status, r.location, pageText(page.body))
	}
	handoff := buyer.post("/orders/"+ent[1]+"/register", url.Values{"csrf": {csrf(page)}})
	tok := signupToken.FindStringSubmatch(handoff.body)
	if tok == nil {
		t.Fatalf("no sign-up token on the hand-off page (%d):\n%.800s", handoff.status, pageText(handoff.body))
	}
	return ent[1], html.UnescapeString(tok[1])
}

// Usage of an organization billed through Google Cloud Marketplace reaches
// Service Control's ledger through serve's own wiring (its sender for
// Google's products, its quota, the Google clients), once the hour closes
// on the demo's clock: the rated cents on usage_cents for the entitlement,
// and the billing page says so (R10, R11). Over HTTP, without a browser.
func TestDemo_GCPUsageReachesGooglesLedger_R10_R11(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "--clock-speed", demoTestSpeed)
	now := d.clock(t)
	d.control(t, http.MethodPut, "/clock", map[string]any{"now": time.Date(now.Year(), now.Month()+1, 10, 0, 0, 0, 0, time.UTC)}, nil)

	c := newConsole(t, d.seller)
	c.signUp("mary@example.com")
	entID, token := googleSignupToken(t, d, "billingAccounts/5E6F7A-8B9C0D-1E2F3A", "mary@example.com")
	c.expect(c.post("/marketplace/gcp/signup", url.Values{"x-gcp-marketplace-token": {token}}), http.StatusSeeOther, "/marketplace/gcp/setup")
	purchase := c.expect(c.get("/marketplace/gcp/setup"), http.StatusSeeOther, "/marketplace/purchases/")
	billing := withoutOutcome(c.expect(c.post(purchase+"/link", url.Values{"org": {"new"}, "name": {"Jackson Aeronautics"}}), http.StatusSeeOther, "/orgs/"))
	key := c.createKey(strings.TrimSuffix(billing, "billing"))
	// Usage is billed once Google has made the entitlement active and its
	// usageReportingId is known.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(c.get(billing).body, `id="subscription-status">active<`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the entitlement is not active on the billing page within 30s:\n%.1500s", pageText(c.get(billing).body))
		}
	}

	at := d.clock(t)
	event := fmt.Sprintf(`{"specversion":"1.0","id":"evt-gcp-1","source":"my-service","type":"compute","subject":"db-1",
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

	type entry struct {
		Entitlement string `json:"entitlement"`
		Metric      string `json:"metric"`
		Quantity    int64  `json:"quantity"`
	}
	var ledger struct {
		Entries []entry `json:"entries"`
	}
	var got []entry
	for deadline := time.Now().Add(ledgerWait); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(d.emulator + "/google/servicecontrol/v1/emulator/ledger")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&ledger)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("Service Control's ledger: %v", err)
		}
		got = got[:0]
		for _, e := range ledger.Entries {
			if e.Entitlement == entID {
				got = append(got, e)
			}
		}
		if len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage of entitlement %s in Service Control's ledger within %s: %+v", entID, ledgerWait, ledger.Entries)
		}
	}
	if len(got) != 1 || got[0].Metric != google.DemoMetric || got[0].Quantity != wantCents {
		t.Errorf("Service Control's ledger for %s: %+v; want one report of %d on %s", entID, got, wantCents, google.DemoMetric)
	}
	wantDollars := fmt.Sprintf("$%d.%02d", wantCents/100, wantCents%100)
	if page := c.get(billing).body; !strings.Contains(page, wantDollars+" reported to Google Cloud Marketplace") {
		t.Errorf("the billing page does not say %s was reported to Google Cloud Marketplace:\n%.2000s", wantDollars, pageText(page))
	}
}
