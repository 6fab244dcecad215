package web_test

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/web"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// app is the console served by httptest, on a real database.
type app struct {
	t      testing.TB // a fuzz target's *testing.F too
	srv    *httptest.Server
	db     *store.DB
	outbox *mail.Outbox
	orgs   *org.Service
	emu    *emulator.Emulator
	emuURL string
	demo   market.DemoCatalog
	market *marketplace.Service
	sns    *testSigner
	mu     sync.Mutex
	now    time.Time
}

func (a *app) Now() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.now }

type appOption func(*web.Config)

func newApp(t testing.TB, db *store.DB, opts ...appOption) *app {
	t.Helper()
	return newAppWith(t, db, nil, opts...)
}

// newAppWith is newApp selling through the given Providers' marketplaces
// too, with their products in the catalog.
func newAppWith(t testing.TB, db *store.DB, providers map[string]marketplace.Provider, opts ...appOption) *app {
	t.Helper()
	a := &app{t: t, db: db, now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	a.srv = httptest.NewUnstartedServer(nil)
	base := "http://" + a.srv.Listener.Addr().String()
	logger := slog.New(slog.DiscardHandler)
	a.outbox = mail.NewOutbox(db, a.Now)
	accounts, err := account.New(account.Config{DB: db, Mailer: a.outbox, Logger: logger, Now: a.Now, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	a.orgs, err = org.New(org.Config{DB: db, Mailer: a.outbox, Logger: logger, Now: a.Now, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	a.startEmulator(base)
	products := demoProducts
	if providers != nil {
		products = append(append([]marketplace.Product{}, demoProducts...), providerProducts...)
	}
	catalog, err := marketplace.NewCatalog(products, marketplace.Meter{Name: "compute", PriceMicros: 220_000})
	if err != nil {
		t.Fatal(err)
	}
	sdk := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	client := awsmp.New(sdk, awsmp.Endpoints{Metering: a.emuURL, Entitlement: a.emuURL, Agreement: a.emuURL})
	a.market, err = marketplace.New(marketplace.Config{DB: db, Catalog: catalog, Orgs: a.orgs, Mailer: a.outbox, Logger: logger, Now: a.Now,
		BaseURL: base, Resolver: client, Agreements: client, Events: webhook.NewRecorder(time.Now), Providers: providers})
	if err != nil {
		t.Fatal(err)
	}
	a.sns = newTestSigner(t)
	maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: a.market, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger, Now: a.Now})
	if err != nil {
		t.Fatal(err)
	}
	coverage, err := metering.NewCoverage(metering.CoverageConfig{DB: db, Links: a.market, Prices: catalog, Logger: logger, Now: a.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Logger: logger, DB: db, Coverage: coverage, Registry: prometheus.NewRegistry(), RequestTimeout: 10 * time.Second,
		BaseURL: base, Accounts: accounts, Orgs: a.orgs, Market: a.market, Mailbox: a.outbox, Reports: metering.NewReporter(db, catalog, a.Now), Reconciler: maker,
		Usage: a.startIngester(db, catalog, logger),
		SNS: awsmp.NewSNSVerifier(awsmp.SNSVerifierConfig{ExtraCertHosts: []string{strings.TrimPrefix(a.emuURL, "http://"), a.sns.host},
			HTTPClient: loopbackOnly(a.snsRoots())}),
		EventBridgeKey: "eb-secret", EventBridgeHeader: "x-api-key", Operators: []string{"ops@example.com"}}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.Config.Handler = checkedAgainstOpenAPI(t, h)
	if tt, ok := t.(*testing.T); ok {
		t.Cleanup(func() { checkEventsAgainstOpenAPI(tt, db) })
	}
	a.srv.Start()
	t.Cleanup(a.srv.Close)
	return a
}

// browser is one person's cookie jar; it does not follow redirects, so
// tests see each 303 and where it goes.
type browser struct {
	a      *app
	client *http.Client
}

func (a *app) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{a: a, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) response {
	b.a.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(path string) response {
	req, _ := http.NewRequest(http.MethodGet, b.a.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form as a same-origin browser would.
func (b *browser) post(path string, form url.Values) response {
	req, _ := http.NewRequest(http.MethodPost, b.a.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.a.srv.URL)
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.a.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var linkRE = regexp.MustCompile(`https?://[^/\s]+(/[a-z/-]+)\?(\S+)`)

// mailLink returns the path and query of the newest link to path in mail
// to addr.
func (a *app) mailLink(addr, path string) string {
	a.t.Helper()
	msgs, err := a.outbox.List(context.Background(), 100)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.To[0] != addr {
			continue
		}
		for _, match := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			if match[1] == path {
				return match[1] + "?" + match[2]
			}
		}
	}
	a.t.Fatalf("no mail to %s links to %s", addr, path)
	return ""
}

const password = "a long enough passphrase"

// signUp registers, verifies, logs in and onboards a person, returning
// their browser.
func (a *app) signUp(email string) *browser {
	a.t.Helper()
	b := a.browser()
	if r := b.post("/register", url.Values{"email": {email}, "name": {"Person " + email}, "password": {password}}); r.status != http.StatusSeeOther {
		a.t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	if r := b.get(a.mailLink(email, "/verify-email")); r.status != http.StatusSeeOther {
		a.t.Fatalf("verify %s: %d", email, r.status)
	}
	b.login(email, password)
	if r := b.post("/onboarding/company", url.Values{"company_name": {"Co"}, "country": {"JP"}, "address": {"Tokyo"}}); r.status != http.StatusSeeOther {
		a.t.Fatalf("onboarding 1: %d %s", r.status, r.body)
	}
	if r := b.post("/onboarding/profile", url.Values{"job_role": {"data"}, "company_size": {"1-10"}, "use_case": {"analytics"}}); r.status != http.StatusSeeOther {
		a.t.Fatalf("onboarding 2: %d %s", r.status, r.body)
	}
	return b
}

func (b *browser) login(email, pw string) response {
	b.a.t.Helper()
	r := b.post("/login", url.Values{"email": {email}, "password": {pw}})
	if r.status != http.StatusSeeOther {
		b.a.t.Fatalf("log in %s: %d %s", email, r.status, r.body)
	}
	return r
}

var orgPathRE = regexp.MustCompile(`^/orgs/(\d+)/$`)

// createOrg makes an organization through the form and returns its path.
func (b *browser) createOrg(name string) string {
	b.a.t.Helper()
	r := b.post("/orgs", url.Values{"name": {name}})
	path := pathOf(r.location)
	if r.status != http.StatusSeeOther || !orgPathRE.MatchString(path) {
		b.a.t.Fatalf("create org: %d → %q", r.status, r.location)
	}
	return path
}

var outcomeRE = regexp.MustCompile(`[?&]outcome=[0-9a-f]{16}$`)

// pathOf is a redirect's address without the id of the outcome it carries
// to the next page (?outcome=, which seeOther appends; see setFlash).
func pathOf(location string) string { return outcomeRE.ReplaceAllString(location, "") }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var demoProducts = []marketplace.Product{
	{Code: market.DemoPAYGCode, Name: "Example Cloud - Pay As You Go", OfferType: marketplace.OfferPAYG,
		MeteredDimension: "credits", Dimensions: []marketplace.Dimension{{Name: "credits"}}},
	{Code: market.DemoContractCode, Name: "Example Cloud - Committed Contract", OfferType: marketplace.OfferContract,
		CommittedDimension: "committed_credits", MeteredDimension: "additional_usage",
		Dimensions: []marketplace.Dimension{{Name: "committed_credits", Description: "Committed credits, $1 each, prepaid for the contract term"},
			{Name: "additional_usage"}}},
}

// startEmulator runs an in-memory AWS Marketplace emulator whose demo
// products post to this console's fulfillment URL.
func (a *app) startEmulator(base string) {
	a.t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	a.emuURL = "http://" + srv.Listener.Addr().String()
	emu, err := emulator.New(context.Background(), emulator.Config{PublicURL: a.emuURL, Settings: market.Settings{ThrottleRate: 10000},
		DeliveryPoll: 20 * time.Millisecond, TickInterval: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		a.t.Fatal(err)
	}
	srv.Config.Handler = emu.Handler()
	srv.Listener = emu.Listener(srv.Listener) // https too, for SNS's URLs
	srv.Start()
	a.t.Cleanup(func() { srv.Close(); emu.Close() })
	a.emu = emu
	if a.demo, err = emu.SeedDemo(context.Background(), market.DemoInput{FulfillmentURL: base + "/marketplace/aws/fulfillment",
		SNSEndpoint: base + "/marketplace/aws/sns"}); err != nil {
		a.t.Fatal(err)
	}
}

// snsRoots are the CAs of the hosts SNS certificates come from in tests:
// the emulator's and the test signer's.
func (a *app) snsRoots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.emu.CACertificatePEM())
	roots.AddCert(a.sns.tlsCert)
	return roots
}

type catalogMeters struct{ c *marketplace.Catalog }

func (m catalogMeters) Meter(name string) (usage.Meter, bool) {
	meter, ok := m.c.Meter(name)
	return usage.Meter{Name: name, PriceMicros: meter.PriceMicros}, ok
}

// startIngester runs usage ingestion's writer until the test ends.
func (a *app) startIngester(db *store.DB, catalog *marketplace.Catalog, logger *slog.Logger) *usage.Ingester {
	a.t.Helper()
	ing, err := usage.New(usage.Config{DB: db, Meters: catalogMeters{catalog}, Logger: logger, Now: a.Now})
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ing.Run(ctx) }()
	a.t.Cleanup(func() { cancel(); <-done })
	return ing
}
