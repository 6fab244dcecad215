package main

// The demo's faster clock, end to end over HTTP and without a browser (issue
// 7): usage a product sends with an organization's API key shows on the
// billing page at once and, once its hour has closed on the demo's clock, in
// the emulator's ledger and invoice, to the cent.

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// ledgerWait bounds how long the test waits for the ledger: at the test's
// clock speed an hour closes every six real seconds. It turns metering that
// never happens into a failure; it measures nothing.
const ledgerWait = 90 * time.Second

// demoTestSpeed is fast enough that hours close while the test waits, and
// slow enough that AWS's six-hour metering window lasts 36 real seconds: at
// 3600x it lasted six, and on a loaded CI machine the event's hour could
// leave the window before its record was sent, so the usage was carried
// into a later hour (exact, but not the hour the test asks for).
const demoTestSpeed = "600"

func TestDemo_UsageReachesBillingPageThenLedgerWhenItsHourCloses_R10_R11(t *testing.T) {
	t.Parallel()
	d := startDemo(t, "--clock-speed", demoTestSpeed)

	// The demo's world starts mid-month, so that the month the billing page
	// totals cannot end during the test, however fast the clock runs.
	now := d.clock(t)
	d.control(t, http.MethodPut, "/clock", map[string]any{"now": time.Date(now.Year(), now.Month()+1, 10, 0, 0, 0, 0, time.UTC)}, nil)

	// Flow A without a browser: the demo buyer subscribes to the PAYG
	// listing, a new user signs up, clicks "Set up your account" and links a
	// new organization.
	var sub struct {
		Agreement struct {
			ID string `json:"id"`
		} `json:"agreement"`
	}
	d.control(t, http.MethodPost, "/agreements", map[string]any{"account_id": market.DemoBuyerAccountID, "product_code": market.DemoPAYGCode}, &sub)
	c := newConsole(t, d.seller)
	c.signUp("katherine@example.com")
	// The token lasts 4 hours of the demo's clock, 24 s at this speed: mint it
	// only now, so that a slow sign-up cannot outlast it.
	var reg struct {
		Token string `json:"token"`
	}
	d.control(t, http.MethodPost, "/agreements/"+sub.Agreement.ID+"/registration-token", nil, &reg)
	c.expect(c.post("/marketplace/aws/fulfillment", url.Values{"x-amzn-marketplace-token": {reg.Token}}), http.StatusSeeOther, "/marketplace/aws/setup")
	purchase := c.expect(c.get("/marketplace/aws/setup"), http.StatusSeeOther, "/marketplace/purchases/")
	billing := withoutOutcome(c.expect(c.post(purchase+"/link", url.Values{"org": {"new"}, "name": {"Johnson Orbits"}}), http.StatusSeeOther, "/orgs/"))
	orgPath := strings.TrimSuffix(billing, "billing")
	key := c.createKey(orgPath)

	// The product sends 2.5 vCPU-hours of compute, stamped with the demo's
	// time as the README's curl does.
	at := d.clock(t)
	event := fmt.Sprintf(`{"specversion":"1.0","id":"evt-1","source":"my-service","type":"compute","subject":"db-1",
		"time":%q,"data":{"quantity":2.5}}`, at.Format(time.RFC3339Nano))
	if status, body := postUsage(t, d.seller, key, event); status != http.StatusOK || !strings.Contains(body, `"accepted":1`) {
		t.Fatalf("POST /api/v1/events = %d %s, want 200 and the event accepted", status, body)
	}
	catalog, err := demoCatalog()
	if err != nil {
		t.Fatal(err)
	}
	compute, _ := catalog.Meter("compute")
	wantMicros := compute.PriceMicros * 5 / 2
	wantCents := wantMicros / 10_000
	wantDollars := fmt.Sprintf("$%d.%02d", wantCents/100, wantCents%100)

	// The billing page shows the usage at once, before any hour closes.
	if page := c.get(billing).body; !strings.Contains(page, wantDollars+" of usage") {
		t.Errorf("the billing page does not show %s of usage right after the event:\n%.2000s", wantDollars, pageText(page))
	}

	// Once the event's hour has closed, the seller meters it and the
	// emulator's ledger holds it: one record with the rated usage, in cents
	// (R11), for that hour or, had the hour closed while the event was being
	// stored, the next (R10).
	var records []ledgerRecord
	deadline := time.Now().Add(ledgerWait)
	for records = d.paidRecords(t); len(records) == 0; records = d.paidRecords(t) {
		if time.Now().After(deadline) {
			t.Fatalf("no metering record with usage in the emulator's ledger within %s", ledgerWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := records[0]
	if len(records) != 1 || r.Quantity != wantCents || r.AmountMicros != wantMicros || r.Dimension != "credits" {
		t.Errorf("ledger records with usage: %+v; want one of %d credits ($0.01 each), %d micro-dollars", records, wantCents, wantMicros)
	}
	if hour := at.UTC().Truncate(time.Hour); r.Hour.Before(hour) || r.Hour.After(hour.Add(time.Hour)) {
		t.Errorf("the usage was metered for the hour of %s, want the event's hour, %s, or the next", r.Hour, hour)
	}
	var inv struct {
		Invoices []struct {
			TotalCents int64 `json:"total_cents"`
		} `json:"invoices"`
	}
	d.control(t, http.MethodGet, "/ledger/invoices?account_id="+market.DemoBuyerAccountID, nil, &inv)
	var total int64
	for _, i := range inv.Invoices {
		total += i.TotalCents
	}
	if total != wantCents {
		t.Errorf("the emulator invoices the demo buyer %d cents in all, want the usage's %d", total, wantCents)
	}
	if page := c.get(billing).body; !strings.Contains(page, wantDollars+" reported to AWS Marketplace") {
		t.Errorf("the billing page does not say %s was reported to AWS Marketplace:\n%.2000s", wantDollars, pageText(page))
	}
}

func TestDemo_ClockSpeedOutOfRangeIsRefused(t *testing.T) {
	for _, speed := range []string{"0.5", "3601"} {
		t.Run(speed, func(t *testing.T) {
			args := []string{"demo", "--addr", "127.0.0.1:0", "--emulator-addr", "127.0.0.1:0", "--data", t.TempDir(), "--clock-speed", speed}
			err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "--clock-speed: "+speed+" is not between 1") {
				t.Fatalf("demo --clock-speed %s = %v, want it refused", speed, err)
			}
		})
	}
}

// ledgerRecord is a metering record as the emulator's ledger lists it.
type ledgerRecord struct {
	Hour         time.Time `json:"hour"`
	Dimension    string    `json:"dimension"`
	Quantity     int64     `json:"quantity"`
	AmountMicros int64     `json:"amount_micros"`
}

// paidRecords are the demo buyer's PAYG records in the emulator's ledger
// that carry usage; the hours without any are metered as zero records.
func (d demoURLs) paidRecords(t *testing.T) []ledgerRecord {
	t.Helper()
	var ledger struct {
		Records []ledgerRecord `json:"records"`
	}
	d.control(t, http.MethodGet, "/ledger/records?account_id="+market.DemoBuyerAccountID+"&product_code="+market.DemoPAYGCode, nil, &ledger)
	var out []ledgerRecord
	for _, r := range ledger.Records {
		if r.Quantity > 0 {
			out = append(out, r)
		}
	}
	return out
}

// clock is the time on the demo's marketplace clock, which the seller and
// the emulator share.
func (d demoURLs) clock(t *testing.T) time.Time {
	t.Helper()
	var c struct {
		Now time.Time `json:"now"`
	}
	d.control(t, http.MethodGet, "/clock", nil, &c)
	return c.Now
}

func postUsage(t *testing.T, seller, key, event string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, seller+"/api/v1/events", strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// console is one person on the seller's pages without a browser: a cookie
// jar that does not follow redirects, so that each step's 303 and where it
// leads are checked.
type console struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newConsole(t *testing.T, base string) *console {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &console{t: t, base: base, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// reply is a page's status, where it redirects to, and its body.
type reply struct {
	status   int
	location string
	body     string
}

func (c *console) do(req *http.Request) reply {
	c.t.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func (c *console) get(path string) reply {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// post sends a form as the console's own pages do.
func (c *console) post(path string, form url.Values) reply {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// expect checks that a step redirected to a path starting with prefix, and
// returns that path.
func (c *console) expect(r reply, wantStatus int, prefix string) string {
	c.t.Helper()
	if r.status != wantStatus || !strings.HasPrefix(r.location, prefix) {
		c.t.Fatalf("got %d to %q, want %d to %s…; the page says:\n%.1000s", r.status, r.location, wantStatus, prefix, pageText(r.body))
	}
	return r.location
}

// withoutOutcome is a redirect's address without the id of the outcome
// ("X is now billed…") it carries to its page.
func withoutOutcome(location string) string { return outcomeParam.ReplaceAllString(location, "") }

var (
	outcomeParam   = regexp.MustCompile(`[?&]outcome=[0-9a-f]{16}$`)
	verifyMailLink = regexp.MustCompile(`href="(/dev/mailbox/\d+)">Verify your e-mail address`)
	verifyLink     = regexp.MustCompile(`/verify-email\?[^"<\s]+`)
	apiKey         = regexp.MustCompile(`mbk_[A-Za-z0-9_-]+`)
)

const consolePassword = "hidden figures at langley"

// signUp registers, verifies the address from the dev mailbox, logs in and
// onboards a new user.
func (c *console) signUp(email string) {
	c.t.Helper()
	c.expect(c.post("/register", url.Values{"email": {email}, "name": {"Katherine Johnson"}, "password": {consolePassword}}), http.StatusSeeOther, "/")
	mailbox := c.get("/dev/mailbox").body
	m := verifyMailLink.FindStringSubmatch(mailbox)
	if m == nil {
		c.t.Fatalf("no verification mail in the dev mailbox:\n%.1000s", pageText(mailbox))
	}
	mail := c.get(m[1]).body
	link := verifyLink.FindString(mail)
	if link == "" {
		c.t.Fatalf("the verification mail has no link:\n%.1000s", pageText(mail))
	}
	c.expect(c.get(html.UnescapeString(link)), http.StatusSeeOther, "/login")
	c.expect(c.post("/login", url.Values{"email": {email}, "password": {consolePassword}}), http.StatusSeeOther, "/")
	c.expect(c.post("/onboarding/company", url.Values{"company_name": {"Johnson Orbits"}, "country": {"US"}, "address": {"1 Main Street\nHampton"}}),
		http.StatusSeeOther, "/")
	c.expect(c.post("/onboarding/profile", url.Values{"job_role": {"engineering"}, "company_size": {"11-50"}, "use_case": {"analytics"}}),
		http.StatusSeeOther, "/")
}

// createKey makes an API key on the organization's page (orgPath ends in
// "/") and reads it from the page the creation redirects to, the one page
// that shows it.
func (c *console) createKey(orgPath string) string {
	c.t.Helper()
	r := c.get(c.expect(c.post(orgPath+"api-keys", url.Values{"name": {"product"}}), http.StatusSeeOther, orgPath+"api-keys?created="))
	key := apiKey.FindString(r.body)
	if r.status != http.StatusOK || key == "" {
		c.t.Fatalf("creating an API key: %d, and no key on the page:\n%.1000s", r.status, pageText(r.body))
	}
	return key
}

var tags = regexp.MustCompile(`<[^>]*>|\s+`)

// pageText is a page's HTML without its tags, for failure messages.
func pageText(page string) string {
	if i := strings.Index(page, "<main"); i >= 0 {
		page = page[i:]
	}
	return strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(page, " ")))
}
