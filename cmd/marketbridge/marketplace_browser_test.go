package main

// The marketplace browser suite: buyers start on the AWS Marketplace
// emulator's pages, subscribe, click "Set up your account" and finish on the
// seller's billing page, in headless Chromium. The real demo command runs
// in-process, the seller service and the emulator each on a port of its own,
// as a newcomer runs `marketbridge demo`. Flows and rules are those of
// shared/docs/flows-and-rules.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

const (
	paygTitle     = "Example Cloud - Pay As You Go"
	contractTitle = "Example Cloud - Committed Contract"
	linkHeading   = "Choose the organization to bill"
)

// Flow A for a newcomer: the demo buyer subscribes to the PAYG listing, sets
// up an account, registers, verifies the address through the mailbox, logs
// in and onboards, and is taken to the linking page without a second "Set up
// your account" (R4). The default, a new organization, is linked; the billing
// page and the admins' mail say so (R9).
func TestBrowser_MarketplaceFlowA_NewUserRegistersAndLinksNewOrg_R4_R9(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	ada := person{name: "Ada Lovelace", email: "ada@example.com", password: "notes on the analytical engine",
		company: "Lovelace Analytics"}

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	expectText(t, b, "main .panel", paygTitle, "1234-5678-9012")

	registerFromSetUp(t, b, d.seller, ada)
	expectText(t, b, "main .panel", paygTitle, "1234-5678-9012", "Pay as you go")
	expectText(t, b, "main .alert.info", "billed to AWS account 1234-5678-9012")
	if !isChecked(b, `main input[name=org][value=new]`) {
		t.Error(`"Create a new organization" is not the default choice`)
	}
	if got := b.Value("#f-name"); got != ada.company {
		t.Errorf("the new organization's name is %q, want the company from onboarding, %q", got, ada.company)
	}

	orgID := confirmLink(t, b, ada.company)
	expectBilling(t, b, "1234-5678-9012", "Pay as you go", "—")

	// R9: the organization's admin is told by mail.
	openMail(t, b, d.seller, ada.email, ada.company+" is now billed through AWS Marketplace")
	expectText(t, b, "main pre.mail", "1234-5678-9012", "Pay as you go", paygTitle, fmt.Sprintf("/orgs/%d/billing", orgID))
}

// Flow A for someone who already has an account and an organization: a
// second AWS account subscribes, the buyer logs in from the set-up page,
// picks the existing organization (where they are Admin, R2) instead of the
// default, and it is billed through AWS Marketplace.
func TestBrowser_MarketplaceFlowA_ExistingUserLinksExistingOrg_R2(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	charles := person{name: "Charles Babbage", email: "charles@example.com", password: "the difference engine no 2",
		company: "Babbage Engines"}

	signUp(t, b, d.seller, charles)
	orgID := createOrg(t, b, "Babbage Engines")
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")

	// A buyer account of its own, not the demo buyer: the set-up and
	// billing pages must name the account that subscribed.
	d.control(t, http.MethodPost, "/accounts", map[string]any{"id": "444455556666", "name": "Babbage Engines AWS",
		"permissions": []string{"AWSMarketplaceFullAccess"}}, nil)
	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, "444455556666")
	subscribePAYG(t, b)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	expectText(t, b, "main .panel", "4444-5555-6666")

	expectPage(t, b, b.Click(`main a[href^="/login?"]`), http.StatusOK, "Log in")
	expectPage(t, b, login(t, b, charles), http.StatusOK, linkHeading)
	existing := fmt.Sprintf(`main input[name=org][value="%d"]`, orgID)
	if !b.Has(existing) || isDisabled(b, existing) {
		t.Fatalf("the linking page does not offer %q, where the user is Admin", charles.company)
	}
	check(t, b, existing)
	linked := confirmLink(t, b, charles.company)
	if linked != orgID {
		t.Errorf("linked organization %d, want the existing one, %d", linked, orgID)
	}
	expectBilling(t, b, "4444-5555-6666", "Pay as you go", "—")
	openMail(t, b, d.seller, charles.email, charles.company+" is now billed through AWS Marketplace")
}

// Flow B: the demo buyer reviews the private offer from the inbox, accepts
// the committed-spend contract, sets up an account and links it; the billing
// page shows the contract and the committed credits with the term's end
// (R9).
func TestBrowser_MarketplaceFlowB_PrivateOfferToContractBilling_R9(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	grace := person{name: "Grace Hopper", email: "grace@example.com", password: "a ship in port is safe",
		company: "Hopper Systems"}

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	expectPage(t, b, b.Click(`nav.sub a[href="/buyer/offers"]`), http.StatusOK, "Private offers")
	expectText(t, b, "main article.card", "10,000 credits for 12 months")
	expectPage(t, b, b.Click(`main article.card a[href^="/buyer/offers/"]`), http.StatusOK, "Example Cloud committed spend - 12 months")
	offerID := strings.TrimPrefix(b.URL().Path, "/buyer/offers/")
	expectText(t, b, "main table", "Committed credits", "10000", "$10,000.00", "Additional usage")
	expectText(t, b, "main dl.kv", "12 months", "starting on acceptance")
	expectPage(t, b, b.Click(`main form[action$="/accept"] button[type=submit]`), http.StatusOK, contractTitle)
	expectText(t, b, "main .notice", "You accepted the private offer")
	accepted := time.Now().UTC()

	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	expectText(t, b, "main .panel", contractTitle, "1234-5678-9012")
	registerFromSetUp(t, b, d.seller, grace)
	expectText(t, b, "main .panel", contractTitle, "Committed-spend contract", "Contract: 10,000 committed credits ($10,000.00) until ")

	confirmLink(t, b, grace.company)
	// The private offer's id reaches the seller in AWS's SNS notification
	// (offer-identifier), which the demo delivers to the seller (R9).
	expectBilling(t, b, "1234-5678-9012", "Committed-spend contract", offerID)
	expectText(t, b, "main h2", "Contract")
	row := contractRow(t, b, committedCredits)
	if row[0] != "10,000 committed credits ($10,000.00)" {
		t.Fatalf("the contract table's committed credits row is %q, want 10,000 committed credits ($10,000.00) and the term's end", row)
	}
	// The term is the offer's 12 months from acceptance; the emulator and
	// the test read the same clock, give or take a day at either end.
	expectTermEnd(t, "the contract's term end", row[1], accepted.AddDate(1, 0, 0))
	openMail(t, b, d.seller, grace.email, grace.company+" is now billed through AWS Marketplace")
	expectText(t, b, "main pre.mail", "1234-5678-9012", "Committed-spend contract", contractTitle)
}

// R5: a set-up form left open for longer than the token's 4 hours is
// refused with a page that says what to do, with a client-error status, and
// doing what it says works.
func TestBrowser_MarketplaceExpiredSetUpLinkSaysWhatToDo_R5(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	subscription := b.URL().Path

	// Without scripts the emulator's set-up page waits for a click on its
	// fallback button: the form, with its token, stays on screen.
	setScripts(t, b, false)
	expectPage(t, b, b.Click(`main form[action$="/setup"] button[type=submit]`), http.StatusOK, "Set up your account")
	d.control(t, http.MethodPost, "/clock/advance", map[string]any{"duration": "4h1m"}, nil)
	status := b.Click(`#setup-form button[type=submit]`)
	setScripts(t, b, true)

	if got := b.URL(); got.Scheme+"://"+got.Host != d.seller {
		t.Fatalf("the stale set-up form went to %s, want the seller at %s", got, d.seller)
	}
	if status < 400 || status > 499 {
		t.Errorf("the expired token's page has status %d, want a client error (4xx), never a 2xx or a 500", status)
	}
	if h := b.Text("main h1"); h != "Your set-up link has expired" {
		t.Fatalf("heading %q, want %q", h, "Your set-up link has expired")
	}
	expectText(t, b, "main .panel", "Go back to AWS Marketplace", "“Set up your account” again", "Nothing was linked")

	// Doing as told: a fresh click on "Set up your account" mints a new
	// token, and the set-up goes on.
	expectPage(t, b, b.Visit(d.emulator+subscription), http.StatusOK, paygTitle)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
}

// demoURLs are where the demo command's two servers listen, without a
// trailing slash.
type demoURLs struct {
	seller   string
	emulator string
}

var (
	demoEmulatorLine = regexp.MustCompile(`AWS Marketplace \(emulated\)\s+(http://\S+)/buyer/`)
	demoSellerLine   = regexp.MustCompile(`seller console\s+(http://\S+?)/?\s`)
)

// startDemo runs "demo" in-process, both servers on free ports and its data
// in a fresh folder, and reads both URLs from what it prints. At the end it
// checks that the demo stops cleanly, and shows its log if the test failed.
func startDemo(t *testing.T, args ...string) demoURLs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, printed := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	argv := append([]string{"demo", "--addr", "127.0.0.1:0", "--emulator-addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json"}, args...)
	go func() {
		err := run(ctx, argv, func(string) string { return "" }, printed, logs)
		printed.CloseWithError(errors.New("run ended"))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo ended with %v, want a clean stop", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30s of cancellation")
		}
		if t.Failed() {
			t.Logf("the demo's log:\n%s", logs.tail(16<<10))
		}
	})

	var d demoURLs
	lines := bufio.NewScanner(stdout)
	for (d.seller == "" || d.emulator == "") && lines.Scan() {
		if m := demoEmulatorLine.FindStringSubmatch(lines.Text()); m != nil {
			d.emulator = m[1]
		}
		if m := demoSellerLine.FindStringSubmatch(lines.Text() + " "); m != nil {
			d.seller = m[1]
		}
	}
	if d.seller == "" || d.emulator == "" {
		t.Fatalf("demo did not print both URLs (seller %q, emulator %q): %v", d.seller, d.emulator, lines.Err())
	}
	go io.Copy(io.Discard, stdout)
	return d
}

// control calls the emulator's control API (docs/emulator.md) and decodes
// its answer into out, unless out is nil.
func (d demoURLs) control(t *testing.T, method, path string, body, out any) {
	t.Helper()
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, d.emulator+"/emulator/v1"+path, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("emulator control %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("emulator control %s %s: %d %s (%v)", method, path, resp.StatusCode, answer, err)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("emulator control %s %s: %v in %s", method, path, err, answer)
		}
	}
}

// actAs picks the buyer account with the emulator's "Acting as" switcher,
// from any of its pages.
func actAs(t *testing.T, b *browsertest.Browser, accountID string) {
	t.Helper()
	b.Select("#account_id", accountID)
	status := b.Click(`header form.acct button[type=submit]`)
	if got := b.Value("#account_id"); status != http.StatusOK || got != accountID {
		t.Fatalf("switching to buyer account %s: status %d, acting as %q", accountID, status, got)
	}
}

// subscribePAYG finds the PAYG listing by searching, as in the seed guide,
// and subscribes to its public offer; it ends on the subscription's page.
func subscribePAYG(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	b.Fill("#q", "Example Cloud")
	expectPage(t, b, b.Click(`header form.search button[type=submit]`), http.StatusOK, "Results for “Example Cloud”")
	expectPage(t, b, b.Click(fmt.Sprintf(`main a[href="/buyer/products/%s"]`, market.DemoPAYGCode)), http.StatusOK, paygTitle)
	expectPage(t, b, b.Click(`main a[href$="/purchase"]`), http.StatusOK, "Purchase options")
	expectPage(t, b, b.Click(`main form[action$="/subscribe"] button[type=submit]`), http.StatusOK, paygTitle)
	expectText(t, b, "main .notice", "Thank you for subscribing")
}

// setUpAccount clicks "Set up your account" on the emulator's subscription
// page. The emulator answers with a form that posts the registration token
// to the seller and submits itself; setUpAccount waits for the seller's
// page and returns its status.
func setUpAccount(t *testing.T, b *browsertest.Browser, d demoURLs) int {
	t.Helper()
	b.Click(`main form[action$="/setup"] button[type=submit]`)
	return waitForPageOn(t, b, d.seller)
}

// registerFromSetUp takes a newcomer from the seller's set-up landing page
// through registration, e-mail verification, a fresh log-in and both
// onboarding steps, to the linking page, without a second "Set up your
// account" on AWS Marketplace (R4).
func registerFromSetUp(t *testing.T, b *browsertest.Browser, seller string, p person) {
	t.Helper()
	expectPage(t, b, b.Click(`main a[href^="/register?"]`), http.StatusOK, "Create your account")
	register(t, b, p)
	verifyFromMailbox(t, b, seller, p)
	expectPage(t, b, login(t, b, p), http.StatusOK, "Tell us about your business")
	expectPage(t, b, onboard(t, b, p), http.StatusOK, linkHeading)
}

// waitForPageOn waits until the browser has loaded a page from origin, and
// returns that page's HTTP status. It polls from Go: the pages navigate on
// their own meanwhile, which ends any script waiting inside one of them.
func waitForPageOn(t *testing.T, b *browsertest.Browser, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), browsertest.StepTimeout)
	defer cancel()
	// The status of the document comes from Navigation Timing.
	js := fmt.Sprintf(`location.origin === %q && document.readyState === "complete"
  ? performance.getEntriesByType("navigation")[0].responseStatus : 0`, origin)
	for {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err == nil && status != 0 {
			return status
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no page from %s within %s; the browser is on %s (%v)", origin, browsertest.StepTimeout, b.URL(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// confirmLink sends the linking form with the choice made, checks that it
// lands on the billing page of the organization named, and returns its id.
func confirmLink(t *testing.T, b *browsertest.Browser, orgName string) int64 {
	t.Helper()
	expectPage(t, b, b.Click(`main form[action$="/link"] button[type=submit]`), http.StatusOK, "Billing")
	expectFlash(t, b, orgName+" is now billed through AWS Marketplace")
	var orgID int64
	if _, err := fmt.Sscanf(b.URL().Path, "/orgs/%d/billing", &orgID); err != nil {
		t.Fatalf("after linking the browser is on %s, want /orgs/{id}/billing", b.URL())
	}
	if got := b.Value("#org-switch"); got != id(orgID) {
		t.Errorf("the switcher shows organization %s on the billing page of %d", got, orgID)
	}
	return orgID
}

// expectBilling checks the billing page's marketplace panel (R9);
// privateOffer "" leaves that row unchecked.
func expectBilling(t *testing.T, b *browsertest.Browser, account, offerType, privateOffer string) {
	t.Helper()
	expectText(t, b, "main .panel .badge", "Billed through AWS Marketplace")
	want := map[string]string{"marketplace": "AWS Marketplace", "aws account": account, "offer type": offerType,
		"private offer": privateOffer, "status": "active"}
	got := billingRows(b)
	for row, w := range want {
		if w != "" && got[row] != w {
			t.Errorf("billing page: %s is %q, want %q", row, got[row], w)
		}
	}
}

// billingRows are the rows of the billing page's marketplace panel as a
// person sees them, by their heading in lower case (the page shows headings
// in capitals).
func billingRows(b *browsertest.Browser) map[string]string {
	return browsertest.Eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("main .panel table tr")]
  .map(r => [r.querySelector("th").innerText.trim().toLowerCase(), r.querySelector("td").innerText.trim()]))`)
}

// expectText checks that the first element matching css contains each of
// the texts.
func expectText(t *testing.T, b *browsertest.Browser, css string, texts ...string) {
	t.Helper()
	if !b.Has(css) {
		t.Errorf("on %s: nothing matches %s, want it to say %q", b.URL(), css, texts)
		return
	}
	got := b.Text(css)
	for _, want := range texts {
		if !strings.Contains(got, want) {
			t.Errorf("on %s: %s says %q, want it to contain %q", b.URL(), css, got, want)
		}
	}
}

// check ticks a radio button or checkbox as a click does.
func check(t *testing.T, b *browsertest.Browser, css string) {
	t.Helper()
	if !browsertest.Eval[bool](b, fmt.Sprintf(`(e => { e.click(); return e.checked; })(document.querySelector(%q))`, css)) {
		t.Fatalf("on %s: %s does not stay checked after a click", b.URL(), css)
	}
}

func isChecked(b *browsertest.Browser, css string) bool {
	return browsertest.Eval[bool](b, fmt.Sprintf(`document.querySelector(%q)?.checked === true`, css))
}

// isDisabled reports whether the form field matching css is disabled.
func isDisabled(b *browsertest.Browser, css string) bool {
	return browsertest.Eval[bool](b, fmt.Sprintf(`document.querySelector(%q)?.disabled === true`, css))
}

// setScripts turns the pages' JavaScript on or off in the browser's tab.
func setScripts(t *testing.T, b *browsertest.Browser, on bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), browsertest.StepTimeout)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	}))
	if err != nil {
		t.Fatalf("turn scripts on=%t: %v", on, err)
	}
}

// syncBuffer collects the log lines the demo writes from its goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// tail is the last n bytes written.
func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf.Bytes()
	return string(b[max(0, len(b)-n):])
}
