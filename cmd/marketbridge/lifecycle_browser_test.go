package main

// The subscription lifecycle in the browser: what a buyer does on the AWS
// Marketplace emulator's pages after the link (cancel) or what AWS does to a
// contract (upgrade, renewal) reaches the seller as signed SNS notifications,
// and the organization's billing page follows within seconds. The real demo
// command runs in-process, as in the marketplace browser suite, whose helpers
// these tests share. Rules are those of shared/docs/flows-and-rules.md.

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// notificationWait bounds how long a page may take to show what a
// notification says: the emulator delivers at once and the seller's worker
// applies every few seconds. It turns a notification that never arrives into
// a failure; it measures nothing.
const notificationWait = 30 * time.Second

// pageDate is how the seller's pages print a moment.
var pageDate = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC`)

// Flow A, then the buyer cancels on AWS Marketplace's pages. The billing page
// says the subscription is being cancelled, with the deadline for the final
// usage (R18); once the emulator's final-metering hour is over it says the
// subscription was cancelled and gives 14 days to link another billing method
// (R19). The organization and its data stay (R17), and its admin is told by
// mail at each step.
func TestBrowser_CancelOnAWSMovesBillingToPendingThenGrace_R17_R18_R19(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	alan := person{name: "Alan Turing", email: "alan@example.com", password: "on computable numbers 1936",
		company: "Turing Machines"}

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	agreementID := agreementOnPage(t, b)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	registerFromSetUp(t, b, d.seller, alan)
	orgID := confirmLink(t, b, alan.company)
	expectBilling(t, b, "1234-5678-9012", "Pay as you go", "—")
	billing := orgPage(d.seller, orgID, "billing")

	// The buyer cancels where AWS buyers do: Manage subscriptions, and
	// confirms.
	expectPage(t, b, b.Visit(d.emulator+"/buyer/subscriptions"), http.StatusOK, "Manage subscriptions")
	expectPage(t, b, b.Click(fmt.Sprintf(`main a[href="/buyer/agreements/%s/cancel"]`, agreementID)), http.StatusOK, "Cancel subscription")
	cancelled := time.Now().UTC()
	expectPage(t, b, b.Click(fmt.Sprintf(`main form[action="/buyer/agreements/%s/cancel"] button[type=submit]`, agreementID)),
		http.StatusOK, "Manage subscriptions")
	expectText(t, b, "main .notice", "Your subscription was cancelled")
	expectPage(t, b, b.Visit(d.emulator+"/buyer/agreements/"+agreementID), http.StatusOK, paygTitle)
	expectText(t, b, "main .card .badge", "unsubscribe-pending")

	// R18: cancellation pending, usage still reported until the deadline.
	reloadUntil(t, b, billing, "the cancellation pending message", func() bool {
		return b.Has("main .alert.error") && strings.Contains(b.Text("main .alert.error"), "is being cancelled")
	})
	expectText(t, b, "main .alert.error", "The AWS Marketplace subscription is being cancelled",
		"Usage up to now is reported to AWS by")
	expectText(t, b, "main .panel .badge + .badge", "Cancellation pending")
	if got := billingRows(b)["status"]; got != "unsubscribe-pending" {
		t.Errorf("billing page: Status is %q, want unsubscribe-pending", got)
	}
	// The deadline is the emulator's final-metering hour after the cancel,
	// give or take a day for the page's rounding and the clocks.
	expectDateAbout(t, "the final-metering deadline", b.Text("main .alert.error"), cancelled.Add(time.Hour))

	// The final-metering window closes on the emulator's clock; AWS then
	// says unsubscribe-success.
	d.control(t, http.MethodPost, "/clock/advance", map[string]any{"duration": "1h5m"}, nil)
	reloadUntil(t, b, billing, "the grace period message", func() bool {
		return b.Has("main .alert.error") && strings.Contains(b.Text("main .alert.error"), "was cancelled")
	})
	graceFrom := time.Now().UTC()
	expectText(t, b, "main .alert.error", "The AWS Marketplace subscription was cancelled",
		"Link a new subscription or another billing method by", "its data is kept")
	expectDateAbout(t, "the end of the grace period", b.Text("main .alert.error strong"), graceFrom.AddDate(0, 0, 14))
	expectText(t, b, "main", "Previously billed through AWS Marketplace: "+paygTitle, "AWS account 1234-5678-9012",
		"This organization is not billed through a marketplace")
	expectPage(t, b, b.Visit(d.emulator+"/buyer/agreements/"+agreementID), http.StatusOK, paygTitle)
	expectText(t, b, "main .card .badge", "unsubscribed")

	// R17: the organization and its data are kept.
	expectPage(t, b, b.Visit(orgPage(d.seller, orgID, "")), http.StatusOK, alan.company)
	expectText(t, b, "main .cards", "1 member", "Open billing")
	expectPage(t, b, b.Visit(orgPage(d.seller, orgID, "members")), http.StatusOK, "Members")
	if got := memberRole(b, alan.email); got != "admin" {
		t.Errorf("after the cancellation %s is %q in the organization, want still admin", alan.email, got)
	}

	// The admin was told at each step, with the way back to the billing page.
	for _, subject := range []string{"Your AWS Marketplace subscription is being cancelled", "Your AWS Marketplace subscription was cancelled"} {
		waitForMail(t, b, d.seller, alan.email, subject)
		expectText(t, b, "main pre.mail", alan.company, "14 days", fmt.Sprintf("/orgs/%d/billing", orgID))
	}
}

// Flow B, then AWS changes the contract without a new link (R22): an upgrade
// raises the committed credits, a renewal extends the term, and each shows on
// the billing page once the entitlement-updated notification has made the
// seller read GetEntitlements again. The emulator's buyer pages offer neither
// action, so the test uses its control API, as AWS's own systems would act.
func TestBrowser_ContractUpgradeAndRenewalShowOnBillingPage_R22(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	d := startDemo(t)
	barbara := person{name: "Barbara Liskov", email: "barbara@example.com", password: "data abstraction and hierarchy",
		company: "Liskov Substitutions"}

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	expectPage(t, b, b.Click(`nav.sub a[href="/buyer/offers"]`), http.StatusOK, "Private offers")
	expectPage(t, b, b.Click(`main article.card a[href^="/buyer/offers/"]`), http.StatusOK, "Example Cloud committed spend - 12 months")
	offerID := strings.TrimPrefix(b.URL().Path, "/buyer/offers/")
	expectPage(t, b, b.Click(`main form[action$="/accept"] button[type=submit]`), http.StatusOK, contractTitle)
	accepted := time.Now().UTC()
	agreementID := agreementOnPage(t, b)
	expectPage(t, b, setUpAccount(t, b, d), http.StatusOK, "Welcome from AWS Marketplace")
	registerFromSetUp(t, b, d.seller, barbara)
	orgID := confirmLink(t, b, barbara.company)
	expectBilling(t, b, "1234-5678-9012", "Committed-spend contract", "")
	billing := orgPage(d.seller, orgID, "billing")
	linkedSince := billingRows(b)["linked since"]
	if got := contractRow(t, b, committedCredits); got[0] != "10,000 committed credits ($10,000.00)" {
		t.Fatalf("before the upgrade the contract commits %q, want 10,000 committed credits ($10,000.00)", got[0])
	}

	// An upgrade: more committed credits for the same term.
	d.control(t, http.MethodPost, "/agreements/"+agreementID+"/upgrade",
		map[string]any{"entitlements": map[string]int64{"committed_credits": 15000}}, nil)
	reloadUntil(t, b, billing, "15,000 committed credits", func() bool {
		return contractRow(t, b, committedCredits)[0] == "15,000 committed credits ($15,000.00)"
	})
	expectTermEnd(t, "the upgraded contract's term end", contractRow(t, b, committedCredits)[1], accepted.AddDate(1, 0, 0))

	// A renewal: the same credits for another 12 months.
	d.control(t, http.MethodPost, "/agreements/"+agreementID+"/renew", map[string]any{}, nil)
	reloadUntil(t, b, billing, "the renewed term", func() bool {
		end, err := time.Parse(termEndLayout, contractRow(t, b, committedCredits)[1])
		return err == nil && end.After(accepted.AddDate(1, 6, 0))
	})
	row := contractRow(t, b, committedCredits)
	if row[0] != "15,000 committed credits ($15,000.00)" {
		t.Errorf("after the renewal the contract commits %q, want the upgraded 15,000 committed credits ($15,000.00)", row[0])
	}
	expectTermEnd(t, "the renewed contract's term end", row[1], accepted.AddDate(2, 0, 0))

	// Neither needed a new link: same organization, same link, still active;
	// by now AWS's notifications have named the private offer.
	expectBilling(t, b, "1234-5678-9012", "Committed-spend contract", offerID)
	if got := billingRows(b)["linked since"]; got != linkedSince {
		t.Errorf("billing page: Linked since is %q after the upgrade and renewal, want the original %q", got, linkedSince)
	}
}

// agreementOnPage is the id of the agreement whose emulator page the browser
// is on.
func agreementOnPage(t *testing.T, b *browsertest.Browser) string {
	t.Helper()
	id, ok := strings.CutPrefix(b.URL().Path, "/buyer/agreements/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("the browser is on %s, want an agreement's page, /buyer/agreements/{id}", b.URL())
	}
	return id
}

// reloadUntil loads page again and again until shows reports that it shows
// what is wanted, for up to notificationWait, and stops the test with what
// the page said last when it never does.
func reloadUntil(t *testing.T, b *browsertest.Browser, page, what string, shows func() bool) {
	t.Helper()
	deadline := time.Now().Add(notificationWait)
	for {
		status := b.Visit(page)
		if status == http.StatusOK && shows() {
			return
		}
		if time.Now().After(deadline) {
			text := browsertest.Eval[string](b, "document.body.innerText")
			t.Fatalf("%s did not show %s within %s (last status %d). The page says:\n%.800s", page, what, notificationWait, status, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitForMail opens the mail to the address about subject in the dev
// mailbox, once the outbox has put it there.
func waitForMail(t *testing.T, b *browsertest.Browser, seller, to, subject string) {
	t.Helper()
	reloadUntil(t, b, seller+"/dev/mailbox", fmt.Sprintf("a mail to %s about %q", to, subject), func() bool {
		return browsertest.Eval[bool](b, fmt.Sprintf(`[...document.querySelectorAll("main tbody tr")]
  .some(r => r.cells.length === 3 && r.cells[1].innerText.includes(%q) && r.cells[2].innerText.includes(%q))`, to, subject))
	})
	openMail(t, b, seller, to, subject)
}

// committedCredits is how the demo catalog describes the contract's
// committed dimension, and so how the billing page names it.
const committedCredits = "Committed credits, $1 each, prepaid for the contract term"

// termEndLayout is how the billing page writes the end of a contract's term.
const termEndLayout = "2 Jan 2006"

// contractRow is the committed amount and the term's end in the billing
// page's contract table for the dimension, as a person sees them; empty
// strings when there is no such row.
func contractRow(t *testing.T, b *browsertest.Browser, dimension string) [2]string {
	t.Helper()
	cells := browsertest.Eval[[]string](b, fmt.Sprintf(`[...document.querySelectorAll("main h2 + .scroll table tbody tr")]
  .filter(r => r.cells[0].innerText.trim() === %q)
  .flatMap(r => [...r.cells].slice(1).map(c => c.innerText.trim()))`, dimension))
	var row [2]string
	copy(row[:], cells)
	return row
}

// expectTermEnd checks that text is a contract term's end within a day of
// want.
func expectTermEnd(t *testing.T, what, text string, want time.Time) {
	t.Helper()
	got, err := time.Parse(termEndLayout, text)
	if err != nil || got.Before(want.AddDate(0, 0, -1)) || got.After(want.AddDate(0, 0, 1)) {
		t.Errorf("%s is %q, want about %s", what, text, want.Format(termEndLayout))
	}
}

// expectDateAbout checks that text holds a date as the pages print it within
// a day of want: the test, the seller and the emulator read clocks a moment
// apart, and the page rounds to the minute.
func expectDateAbout(t *testing.T, what, text string, want time.Time) {
	t.Helper()
	got, err := time.Parse("2006-01-02 15:04 UTC", pageDate.FindString(text))
	if err != nil {
		t.Errorf("%s: no date in %q, want about %s", what, text, want.Format(time.DateOnly))
		return
	}
	if got.Before(want.AddDate(0, 0, -1)) || got.After(want.AddDate(0, 0, 1)) {
		t.Errorf("%s is %s, want about %s", what, got.Format(time.DateOnly), want.Format(time.DateOnly))
	}
}
