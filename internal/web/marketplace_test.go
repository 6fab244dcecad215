package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// subscribe makes a new buyer account subscribe to product on the emulator
// and returns the account and the agreement.
func (a *app) subscribe(product string) (account, agreement string) {
	a.t.Helper()
	ctx := context.Background()
	account = fmt.Sprintf("4440%08d", len(a.emu.Market().Accounts()))
	if _, err := a.emu.Market().CreateAccount(ctx, market.AccountInput{ID: account, Name: "buyer", Permissions: []string{"AWSMarketplaceFullAccess"}}); err != nil {
		a.t.Fatal(err)
	}
	res, err := a.emu.Market().Subscribe(ctx, market.SubscribeInput{AccountID: account, ProductCode: product})
	if err != nil {
		a.t.Fatal(err)
	}
	return account, res.Agreement.ID
}

// setUpToken is a click on "Set up your account".
func (a *app) setUpToken(agreement string) string {
	a.t.Helper()
	reg, err := a.emu.Market().SetUpAccount(context.Background(), agreement)
	if err != nil {
		a.t.Fatal(err)
	}
	return reg.Token
}

// fulfill posts a token as AWS's page does: a cross-site form post that
// carries none of the console's SameSite=Lax cookies.
func (b *browser) fulfill(token string, extra ...string) response {
	form := url.Values{"x-amzn-marketplace-token": {token}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+"/marketplace/aws/fulfillment", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://aws.amazon.com")
	// Send it without cookies, as the browser would for a cross-site POST.
	resp, err := (&http.Client{CheckRedirect: b.client.CheckRedirect}).Do(req)
	if err != nil {
		b.a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b.client.Jar.SetCookies(mustURL(b.a.srv.URL), resp.Cookies())
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: body.String(), header: resp.Header}
}

func formatted(account string) string { return account[:4] + "-" + account[4:8] + "-" + account[8:] }

// Flow A for a new user: the purchase survives registration, verification,
// a fresh log-in and onboarding, and the buyer lands on linking (R4).
func TestFlowA_NewUser_R4_PurchaseSurvivesSignUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		account, agreement := a.subscribe(market.DemoPAYGCode)
		b := a.browser()
		r := b.fulfill(a.setUpToken(agreement))
		if r.status != http.StatusSeeOther || r.location != "/marketplace/aws/setup" || b.cookie("mb_purchase") == "" {
			t.Fatalf("fulfillment = %d → %q (cookie %q)", r.status, r.location, b.cookie("mb_purchase"))
		}
		r = b.get("/marketplace/aws/setup")
		if r.status != http.StatusOK || !strings.Contains(r.body, formatted(account)) || !strings.Contains(r.body, "Register") {
			t.Fatalf("landing = %d:\n%s", r.status, r.body)
		}
		next := "/marketplace/aws/setup"
		if r := b.post("/register", url.Values{"email": {"buyer@example.com"}, "name": {"Buyer"}, "password": {password}, "next": {next}}); r.status != http.StatusSeeOther {
			t.Fatalf("register = %d", r.status)
		}
		r = b.get(a.mailLink("buyer@example.com", "/verify-email"))
		if pathOf(r.location) != "/login?next="+url.QueryEscape(next)+"&email=buyer%40example.com" {
			t.Fatalf("verification → %q, want log-in returning to the set-up", r.location)
		}
		r = b.post("/login", url.Values{"email": {"buyer@example.com"}, "password": {password}, "next": {next}})
		if !strings.HasPrefix(r.location, "/onboarding/company?next=") {
			t.Fatalf("first log-in → %q, want onboarding that returns to the set-up", r.location)
		}
		r = b.post("/onboarding/company", url.Values{"company_name": {"Buyer KK"}, "country": {"JP"}, "address": {"Tokyo"}, "next": {next}})
		r = b.post("/onboarding/profile", url.Values{"job_role": {"data"}, "company_size": {"1-10"}, "use_case": {"analytics"}, "next": {next}})
		if pathOf(r.location) != next {
			t.Fatalf("onboarding → %q, want back to the set-up", r.location)
		}
		r = b.get(next)
		if !strings.HasPrefix(r.location, "/marketplace/purchases/") {
			t.Fatalf("set-up after log-in → %q, want the linking page", r.location)
		}
		linkPage := r.location
		r = b.get(linkPage)
		if !strings.Contains(r.body, "all usage of the organization you choose will be billed to AWS account") && !strings.Contains(r.body, "billed to AWS account <strong>"+formatted(account)) {
			t.Fatalf("linking page does not say what will happen:\n%s", r.body)
		}
		if !strings.Contains(r.body, `value="Buyer KK"`) {
			t.Error("the new organization's name is not suggested from the business information")
		}
		r = b.post(linkPage+"/link", url.Values{"org": {"new"}, "name": {"Buyer KK"}})
		if r.status != http.StatusSeeOther || !strings.HasSuffix(pathOf(r.location), "/billing") {
			t.Fatalf("link = %d → %q", r.status, r.location)
		}
		r = b.get(r.location)
		for _, want := range []string{"Billed through AWS Marketplace", formatted(account), "Pay as you go", "calendar-month", "AWS Billing console"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("billing page lacks %q", want)
			}
		}
		msgs, _ := a.outbox.List(context.Background(), 10)
		if !strings.Contains(msgs[0].Subject, "is now billed through AWS Marketplace") {
			t.Errorf("newest mail = %q, want the link confirmation to the admin (R9)", msgs[0].Subject)
		}
	})
}

// Flow A for an existing user who links an existing organization.
func TestFlowA_ExistingUser_LinksExistingOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.signUp("old@example.com")
		orgPath := b.createOrg("Old Org")
		b.post("/logout", nil)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		b.fulfill(a.setUpToken(agreement))
		// Log-in with no next: the set-up waiting in this browser comes first.
		r := b.login("old@example.com", password)
		if r.location != "/marketplace/aws/setup" {
			t.Fatalf("log-in with a set-up waiting → %q", r.location)
		}
		r = b.get(r.location)
		if !strings.HasPrefix(r.location, "/marketplace/purchases/") {
			t.Fatalf("set-up → %q, want the linking page", r.location)
		}
		link := r.location
		// The claimed purchase follows the user to another browser too.
		other := a.browser()
		if r := other.login("old@example.com", password); r.location != link {
			t.Fatalf("log-in in another browser → %q, want %q", r.location, link)
		}
		orgID := strings.Trim(strings.TrimPrefix(orgPath, "/orgs/"), "/")
		r = b.post(link+"/link", url.Values{"org": {orgID}})
		if pathOf(r.location) != orgPath+"billing" {
			t.Fatalf("link existing = %d → %q, want %sbilling", r.status, r.location, orgPath)
		}
		// Running set-up again shows where it is linked (R7).
		b.fulfill(a.setUpToken(agreement))
		r = b.get(b.get("/marketplace/aws/setup").location)
		if !strings.Contains(r.body, "already linked") || !strings.Contains(r.body, "Old Org") {
			t.Fatalf("re-run set-up does not show the existing link:\n%s", r.body)
		}
	})
}

// Flow B: a private offer accepted on AWS, then linked.
func TestFlowB_PrivateOffer_ContractOnBillingPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.signUp("contract@example.com")
		b.fulfill(a.setUpToken(a.acceptDemoOffer()))
		link := b.get("/marketplace/aws/setup").location
		// The contract reads as a person would say it, with its unit and in
		// dollars, not as AWS's dimension key and a bare number (#11).
		ends := a.emu.Market().Now().AddDate(1, 0, 0).UTC()
		page := b.get(link).body
		if want := "Contract: 10,000 committed credits ($10,000.00) until "; !strings.Contains(page, want) ||
			!strings.Contains(page, want+ends.Format("2 Jan 2006")) && !strings.Contains(page, want+ends.AddDate(0, 0, -1).Format("2 Jan 2006")) {
			t.Errorf("the link page does not say %q and the term's end (about %s):\n%s", want, ends.Format(time.DateOnly), page)
		}
		r := b.post(link+"/link", url.Values{"org": {"new"}, "name": {"Contract Co"}})
		billingPath := pathOf(r.location)
		r = b.get(r.location)
		for _, want := range []string{"Committed-spend contract", "Committed credits, $1 each, prepaid for the contract term",
			"<td>10,000 committed credits ($10,000.00)</td>", formatted(a.demo.Buyer.ID)} {
			if !strings.Contains(r.body, want) {
				t.Errorf("billing page lacks %q", want)
			}
		}
		for _, raw := range []string{"committed_credits", "10000"} {
			if strings.Contains(r.body, raw) || strings.Contains(page, raw) {
				t.Errorf("the link or billing page shows the raw %q", raw)
			}
		}
		// What the buyer accepted, as the Agreement API says it (#13).
		agreement := a.emu.Market().Agreements(a.demo.Buyer.ID, a.demo.Contract.Code)[0]
		for _, want := range []string{"<h2>Agreement</h2>", "<code>" + agreement.ID + "</code>", ">ACTIVE<",
			"<tr><th scope=\"row\">Committed amount</th><td>$10,000.00</td></tr>",
			"<td>Committed credits, $1 each, prepaid for the contract term</td><td>10,000</td><td>$1.00</td><td>$10,000.00</td>",
			"<td>Ends at the end of the term unless renewed</td>"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("billing page lacks the agreement's %q", want)
			}
		}
		// The billing API says the same, with exact decimal amounts.
		orgPath := strings.TrimSuffix(billingPath, "billing")
		key := b.createKey(orgPath)
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/api/v1/organizations/"+strings.Split(orgPath, "/")[2]+"/billing", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Subscription struct {
				Agreement struct {
					ID, Status, Currency string
					CommittedAmount      string `json:"committed_amount"`
					Commitments          []struct {
						Dimension, Amount string
						UnitPrice         string `json:"unit_price"`
						Quantity          int64
					}
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		ag := got.Subscription.Agreement
		if ag.ID != agreement.ID || ag.Status != "ACTIVE" || len(ag.Commitments) != 1 || ag.Commitments[0].Quantity != 10_000 ||
			ag.Commitments[0].UnitPrice != "1.00" || ag.Commitments[0].Amount != "10000.00" ||
			ag.CommittedAmount != "10000.00" || ag.Currency != "USD" {
			t.Errorf("billing API agreement = %+v", ag)
		}
	})
}

// Every error a buyer can meet at the fulfillment URL gets a page that says
// what to do, and leaves nothing behind (R5).
func TestFulfillment_R5_ErrorPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		_, agreement := a.subscribe(market.DemoPAYGCode)
		stale := a.setUpToken(agreement)
		if _, err := a.emu.Market().AdvanceClock(context.Background(), 4*time.Hour+time.Minute); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, token string
			status      int
			heading     string
		}{
			{"missing token", "", http.StatusUnprocessableEntity, "This set-up link is not valid"},
			{"invalid token", "garbage", http.StatusUnprocessableEntity, "This set-up link is not valid"},
			{"expired token", stale, http.StatusUnprocessableEntity, "Your set-up link has expired"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := a.browser().fulfill(tt.token)
				if r.status != tt.status || !strings.Contains(r.body, tt.heading) || !strings.Contains(r.body, "Set up your account") {
					t.Fatalf("= %d, want %d with %q and the way back:\n%s", r.status, tt.status, tt.heading, r.body)
				}
			})
		}
		// Opening the fulfillment URL in the browser (a bookmark, a reload)
		// gets the missing token's page too, not a bare 405 (#11).
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			req, _ := http.NewRequest(method, a.srv.URL+"/marketplace/aws/fulfillment", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(string(body), "This set-up link is not valid") || !strings.Contains(string(body), "Set up your account") {
				t.Errorf("%s of the fulfillment URL = %d (Allow %q, %s), want 405 with the way back:\n%s", method, resp.StatusCode,
					resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), body)
			}
		}
		if _, err := a.emu.Market().AddFault(context.Background(), market.FaultInput{Kind: market.FaultInternalError, Operation: "ResolveCustomer", Count: 10}); err != nil {
			t.Fatal(err)
		}
		r := a.browser().fulfill(a.setUpToken(agreement))
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "AWS Marketplace is not answering") {
			t.Fatalf("AWS outage = %d:\n%s", r.status, r.body)
		}
		var n int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM purchases`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d purchases left by failed set-ups", n)
		}
		if r := a.browser().get("/marketplace/aws/setup"); r.status != http.StatusNotFound {
			t.Fatalf("set-up page without a purchase = %d, want 404 with the way back", r.status)
		}
	})
}

func TestLinking_R2_NoAdminOrganizationAndForeignPurchases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		owner := a.signUp("owner@example.com")
		orgPath := owner.createOrg("Owned")
		owner.post(orgPath+"members/invite", url.Values{"email": {"dev@example.com"}, "role": {"developer"}})
		dev := a.signUp("dev@example.com")
		tok := mustURL(a.mailLink("dev@example.com", "/invitations/accept")).Query().Get("token")
		dev.post("/invitations/accept", url.Values{"token": {tok}})
		_, agreement := a.subscribe(market.DemoPAYGCode)
		dev.fulfill(a.setUpToken(agreement))
		link := dev.get("/marketplace/aws/setup").location
		page := dev.get(link)
		if !strings.Contains(page.body, "You are not an admin of this organization.") {
			t.Fatalf("linking page does not explain why the organization is disabled:\n%s", page.body)
		}
		orgID := strings.Trim(strings.TrimPrefix(orgPath, "/orgs/"), "/")
		if r := dev.post(link+"/link", url.Values{"org": {orgID}}); r.status != http.StatusForbidden || !strings.Contains(r.body, "Only an admin") {
			t.Fatalf("developer forcing the link = %d", r.status)
		}
		// Another user cannot open or link this purchase.
		if r := owner.get(link); r.status != http.StatusNotFound {
			t.Fatalf("someone else's purchase = %d, want 404", r.status)
		}
		if r := owner.post(link+"/link", url.Values{"org": {orgID}}); r.status != http.StatusNotFound {
			t.Fatalf("linking someone else's purchase = %d, want 404", r.status)
		}
		// Billing page: admins and billing members; developers 403.
		if r := dev.get(orgPath + "billing"); r.status != http.StatusForbidden {
			t.Fatalf("developer on billing = %d, want 403", r.status)
		}
	})
}

// linkNewOrg is Flow A for a new user: sign up, "Set up your account" for
// the agreement, and link a new organization; it returns the user's browser
// and the organization's billing page.
func (a *app) linkNewOrg(email, agreement, orgName string) (*browser, string) {
	a.t.Helper()
	b := a.signUp(email)
	b.fulfill(a.setUpToken(agreement))
	r := b.post(b.get("/marketplace/aws/setup").location+"/link", url.Values{"org": {"new"}, "name": {orgName}})
	if r.status != http.StatusSeeOther {
		a.t.Fatalf("link %s: %d %s", orgName, r.status, r.body)
	}
	return b, pathOf(r.location)
}

// acceptDemoOffer accepts the demo buyer's private offer, as "Accept" on the
// offer page does, and returns the agreement.
func (a *app) acceptDemoOffer() string {
	a.t.Helper()
	res, err := a.emu.Market().AcceptOffer(context.Background(), a.demo.Buyer.ID, a.demo.PrivateOffer.ID, "")
	if err != nil {
		a.t.Fatal(err)
	}
	return res.Agreement.ID
}

// createKey makes an API key on an organization's page (orgPath ends in
// "/") and returns it, read from the page the creation redirects to, which
// shows it once.
func (b *browser) createKey(orgPath string) string {
	b.a.t.Helper()
	r := b.post(orgPath+"api-keys", url.Values{"name": {"product"}})
	if r.status != http.StatusSeeOther {
		b.a.t.Fatalf("create key: %d, want a redirect to the page that shows it", r.status)
	}
	r = b.get(r.location)
	i := strings.Index(r.body, "mbk_")
	if r.status != http.StatusOK || i < 0 {
		b.a.t.Fatalf("create key: %d, no key on the page", r.status)
	}
	return r.body[i : i+strings.IndexAny(r.body[i:], "<\n ")]
}

// Two tabs of one browser confirm the same purchase at once, each with its
// own choice: each lands on the billing page with its own outcome, the
// loser told that what it chose was not done. The outcomes travel with each
// tab's redirect, not in one cookie the other tab overwrites or takes
// (R6, #11).
func TestLink_R6_EachTabOfARaceIsToldItsOwnOutcome(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		b := a.signUp("tabs@example.com")
		ids, names := map[string]string{}, map[string]string{}
		for _, name := range []string{"Alpha", "Beta", "Gamma"} {
			id := orgPathRE.FindStringSubmatch(b.createOrg(name))[1]
			ids[name], names[id] = id, name
		}
		for i, tc := range []struct {
			name   string
			choice [2]url.Values
		}{
			{"two organizations", [2]url.Values{{"org": {ids["Alpha"]}}, {"org": {ids["Beta"]}}}},
			{"an organization and a new one", [2]url.Values{{"org": {ids["Gamma"]}}, {"org": {"new"}, "name": {"Delta"}}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, agreement := a.subscribe(market.DemoPAYGCode)
				b.fulfill(a.setUpToken(agreement))
				link := b.get("/marketplace/aws/setup").location
				if link == "" {
					t.Fatal("set-up did not lead to the link page")
				}
				// Both confirmations leave before either redirect is followed.
				var redirects [2]string
				var errs [2]error
				var wg sync.WaitGroup
				for tab := range 2 {
					wg.Go(func() {
						req, _ := http.NewRequest(http.MethodPost, a.srv.URL+link+"/link", strings.NewReader(tc.choice[tab].Encode()))
						req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						req.Header.Set("Sec-Fetch-Site", "same-origin")
						req.Header.Set("Origin", a.srv.URL)
						resp, err := b.client.Do(req)
						if err != nil {
							errs[tab] = err
							return
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusSeeOther {
							errs[tab] = fmt.Errorf("confirmation answered %d, want 303", resp.StatusCode)
						}
						redirects[tab] = resp.Header.Get("Location")
					})
				}
				wg.Wait()
				if err := errors.Join(errs[:]...); err != nil {
					t.Fatal(err)
				}
				var flashes [2]string
				for tab := range 2 {
					flashes[tab] = flashOf(b.get(redirects[tab]).body)
				}
				winner := 0
				if strings.HasSuffix(flashes[1], "is now billed through AWS Marketplace.") {
					winner = 1
				}
				loser := 1 - winner
				chosen := func(tab int) string {
					if c := tc.choice[tab]; c.Get("org") == "new" {
						return c.Get("name")
					}
					return names[tc.choice[tab].Get("org")]
				}
				if want := chosen(winner) + " is now billed through AWS Marketplace."; flashes[winner] != want {
					t.Errorf("case %d: the winning tab says %q, want %q", i, flashes[winner], want)
				}
				want := chosen(winner) + " was already billed through this AWS subscription, so " + chosen(loser) +
					", the organization you chose, was not linked. Nothing changed."
				if tc.choice[loser].Get("org") == "new" {
					want = chosen(winner) + " was already billed through this AWS subscription, so no new organization was created. Nothing changed."
				}
				if flashes[loser] != want {
					t.Errorf("case %d: the losing tab says %q, want %q", i, flashes[loser], want)
				}
				if redirects[loser] == redirects[winner] {
					t.Errorf("both tabs were sent to %s: one address, so one outcome for both", redirects[0])
				}
			})
		}
	})
}

var flashRE = regexp.MustCompile(`<div class="alert ok" role="status">([^<]*)</div>`)

// flashOf is the outcome a page shows at its top, unescaped.
func flashOf(page string) string {
	m := flashRE.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
