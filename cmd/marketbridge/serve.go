package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/clock"
	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/oidc"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/quota"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/web"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// serveOptions are the seller service's settings, shared by serve and demo.
type serveOptions struct {
	storage    config.Storage
	http       config.HTTP
	log        config.Log
	mail       config.Mail
	oidc       config.OIDC
	baseURL    string
	trustProxy bool
	operators  string
	// metricsAddr, when set, serves /metrics on a listener of its own (a
	// private network) instead of beside the console.
	metricsAddr string
	market      marketOptions
	azure       azureOptions
	gcp         gcpOptions
	metering    meteringOptions
	// devMailbox shows kept mail at /dev/mailbox, unauthenticated: only
	// the demo sets it, since the mailbox holds log-in and reset links.
	devMailbox bool
	// clock is the marketplace's time; serve leaves it at real time, the
	// demo sets it (see marketClock).
	clock    marketClock
	webhooks webhookOptions
	// devWebhooks adds an endpoint for the dev webhook inbox at
	// /dev/webhooks: only the demo sets it.
	devWebhooks bool
	// productURL and productName make "Open <product>" on a linked
	// organization's pages (#12).
	productURL  string
	productName string
}

// bind declares the flags; devMailbox is --dev-mailbox's default, and
// --webhooks-allow-private's (the demo's inbox is on loopback).
func (o *serveOptions) bind(c *config.Command, devMailbox bool) {
	o.storage.Bind(c.Flags)
	o.http.Bind(c.Flags, "127.0.0.1:8080")
	c.Flags.StringVar(&o.baseURL, "base-url", "", "the console's public URL, used in links in mail (default http://ADDR)")
	c.Flags.BoolVar(&o.devMailbox, "dev-mailbox", devMailbox, "show mail at /dev/mailbox instead of sending it, to anyone who asks: for development only")
	c.Flags.StringVar(&o.operators, "operators", "", "comma-separated e-mail addresses of the vendor's staff who see the operator view at /operator")
	c.Flags.BoolVar(&o.trustProxy, "trust-proxy-headers", false, "take client addresses from X-Forwarded-For (only behind a reverse proxy that sets it)")
	c.Flags.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics on this host:port only, not beside the console (e.g. an address on a private network); empty serves it at the console's /metrics")
	o.mail.Bind(c.Flags)
	o.oidc.Bind(c.Flags)
	c.Flags.StringVar(&o.market.snsCertHost, "sns-cert-host", "", "a host:port besides AWS's whose SNS signing certificates are trusted, over https (an emulator); empty trusts AWS only")
	c.Flags.StringVar(&o.market.snsCertCA, "sns-cert-ca", "", "a PEM file of the CA whose TLS certificates are trusted on --sns-cert-host besides the system's (the emulator prints its emulator-ca.pem)")
	c.Flags.StringVar(&o.market.eventBridgeKey, "eventbridge-api-key", "", "the secret an EventBridge API destination sends to /marketplace/aws/events; empty disables that endpoint")
	c.Flags.StringVar(&o.market.eventBridgeHeader, "eventbridge-header", "x-api-key", "the header that carries --eventbridge-api-key")
	c.Flags.BoolVar(&o.market.agreementAPI, "aws-agreement-api", true, "read each subscription's agreement and accepted terms through AWS's Agreement API, for the billing page (needs aws-marketplace:DescribeAgreement, GetAgreementTerms and SearchAgreements; see docs/aws-setup.md)")
	c.Flags.StringVar(&o.market.sellerAccount, "aws-account-id", "", "the seller's AWS account id: EventBridge events delivered to another account are refused; empty accepts any")
	c.Flags.StringVar(&o.market.notificationRegion, "aws-notification-region", awsmp.MarketplaceRegion, "the region AWS Marketplace's SNS topics and EventBridge events must come from (AWS uses us-east-1 only; change it only for an emulator started with another --region)")
	c.Flags.DurationVar(&o.metering.interval, "metering-interval", time.Minute, "how often closed hours are metered and pending records sent")
	c.Flags.Float64Var(&o.metering.rate, "metering-rate", 10, "BatchMeterUsage calls per second that all processes on this database make together (AWS allows 10 per seller account)")
	c.Flags.Float64Var(&o.metering.entitlementRate, "entitlement-rate", 10, "GetEntitlements calls per second that all processes on this database make together (AWS documents no quota; the emulator allows 10); 0 leaves them unpaced")
	c.Flags.Float64Var(&o.metering.agreementRate, "agreement-rate", 5, "Agreement API calls per second (DescribeAgreement, GetAgreementTerms and SearchAgreements pages) that all processes on this database make together; 0 leaves them unpaced")
	c.Flags.BoolVar(&o.metering.zero, "meter-zero-hours", true, "send a zero record for hours without usage, as AWS recommends")
	c.Flags.StringVar(&o.productURL, "product-url", "", "the vendor's product at an organization's tenant, for \"Open <product>\" once it is linked: an http(s) URL with {external_id} or {org_id}, e.g. https://app.example.com/tenants/{external_id}; empty offers no button")
	c.Flags.StringVar(&o.productName, "product-name", "", "the product's name in \"Open <product>\" (default: the subscription's product name from the catalog)")
	c.Flags.StringVar(&o.market.catalogPath, "catalog", "", "the products sold through AWS Marketplace and Microsoft's commercial marketplace, a JSON file (see docs/aws-setup.md, docs/azure-setup.md)")
	o.azure.bind(c.Flags)
	o.gcp.bind(c.Flags)
	o.webhooks.bind(c.Flags, devMailbox)
	o.log.Bind(c.Flags)
}

func (o *serveOptions) validate() error {
	var meterErr error
	if o.metering.interval <= 0 || !(o.metering.rate > 0) || math.IsInf(o.metering.rate, 0) {
		meterErr = errors.New("--metering-interval and --metering-rate must be positive")
	}
	var entitlementErr error
	// A rate below one call a minute would put a quota's slots further
	// ahead than its bucket accepts as sane (package quota).
	for _, r := range []float64{o.metering.rate, o.metering.entitlementRate, o.metering.agreementRate} {
		if r != 0 && r < 1.0/60 {
			entitlementErr = errors.Join(entitlementErr, fmt.Errorf("a rate of %g calls per second is below one a minute", r))
		}
	}
	if !(o.metering.entitlementRate >= 0) || math.IsInf(o.metering.entitlementRate, 0) ||
		!(o.metering.agreementRate >= 0) || math.IsInf(o.metering.agreementRate, 0) {
		entitlementErr = errors.Join(entitlementErr, errors.New("--entitlement-rate and --agreement-rate must be 0 (unpaced) or positive"))
	}
	var baseErr error
	if o.baseURL != "" {
		if u, err := url.Parse(o.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			baseErr = fmt.Errorf("--base-url: %q is not an http(s) URL", o.baseURL)
		}
	}
	var mailboxErr error
	if o.devMailbox && !o.mail.DevMailbox() {
		mailboxErr = errors.New("--dev-mailbox: mail goes out over --smtp-url; the dev mailbox is for running without one")
	}
	var metricsErr error
	if o.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(o.metricsAddr); err != nil {
			metricsErr = fmt.Errorf("--metrics-addr: %q is not host:port: %w", o.metricsAddr, err)
		}
	}
	var originsErr error
	if err := o.market.origins().Validate(); err != nil {
		originsErr = fmt.Errorf("--aws-account-id, --aws-notification-region: %w", err)
	}
	var productErr error
	if _, err := web.ParseProductURL(o.productURL); err != nil {
		productErr = fmt.Errorf("--product-url: %w", err)
	}
	_, snsCAErr := o.market.snsCertHostRoots()
	return joinErrors(o.storage.Validate(), o.http.Validate(), o.log.Validate(), o.mail.Validate(), o.oidc.Validate(), baseErr, mailboxErr, meterErr,
		entitlementErr, metricsErr, originsErr, productErr, snsCAErr, o.webhooks.validate(), o.azure.validate(), o.gcp.validate(o.baseURL))
}

func newServeCommand() *command {
	c := &command{Command: config.NewCommand("serve",
		"Run the seller service: web console, marketplace endpoints and workers.",
		"Applies pending database migrations first, then serves HTTP until interrupted (SIGINT or SIGTERM),\n"+
			"when it stops taking requests and finishes those in flight.")}
	var o serveOptions
	o.bind(c.Command, false)
	c.run = func(ctx context.Context, e env) error {
		return runSeller(ctx, e, o, nil, nil)
	}
	return c
}

// seller is the running seller service, handed to whoever started it (demo
// prints its URL) once it listens.
type seller struct {
	url        string
	metricsURL string // where /metrics is served
}

// runSeller opens and migrates the database, then serves until ctx ends.
// ln, when not nil, is the listener to serve on (demo binds it early);
// started, when not nil, is called once the service is ready.
func runSeller(ctx context.Context, e env, o serveOptions, ln net.Listener, started func(seller)) error {
	if err := o.validate(); err != nil {
		return err
	}
	logger := o.log.Logger(e.stderr)
	if ln == nil {
		// Bind first: a port in use should be the first and only
		// complaint, before any migration runs.
		var err error
		if ln, err = listen(o.http.Addr); err != nil {
			return err
		}
	}
	defer ln.Close()
	var metricsLn net.Listener
	if o.metricsAddr != "" {
		var err error
		if metricsLn, err = listen(o.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer metricsLn.Close()
	}
	if o.storage.DatabaseURL == "" {
		if err := o.storage.PrepareDataDir(); err != nil {
			return err
		}
	}
	db, err := openDatabase(ctx, o.storage, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	s := seller{url: "http://" + ln.Addr().String()}
	s.metricsURL = s.url + "/metrics"
	if metricsLn != nil {
		s.metricsURL = "http://" + metricsLn.Addr().String() + "/metrics"
	}
	baseURL := o.baseURL
	if baseURL == "" {
		baseURL = s.url
	}
	outbox := mail.NewOutbox(db, time.Now)
	var sender mail.Sender // stays a nil interface for the dev mailbox
	if !o.mail.DevMailbox() {
		smtp, err := mail.NewSMTPSender(o.mail)
		if err != nil {
			return err
		}
		sender = smtp
		logger.Info("mail goes out over SMTP", "server", smtp.Addr())
	}
	mailer, err := mail.NewWorker(outbox, mail.WorkerConfig{Logger: logger.With("component", "mail"), Now: time.Now,
		Sender: sender, From: o.mail.From, PollInterval: 2 * time.Second})
	if err != nil {
		return err
	}
	accounts, err := account.New(account.Config{DB: db, Mailer: outbox, Logger: logger, Now: time.Now, BaseURL: baseURL})
	if err != nil {
		return err
	}
	orgs, err := org.New(org.Config{DB: db, Mailer: outbox, Logger: logger, Now: time.Now, BaseURL: baseURL})
	if err != nil {
		return err
	}
	catalog, aws, err := marketplaceDeps(ctx, o.market, logger)
	if err != nil {
		return err
	}
	quotas, err := awsQuotas(db, o.metering, aws, logger.With("component", "quota"))
	if err != nil {
		return err
	}
	// What must agree with AWS Marketplace reads its clock from here on;
	// accounts, organizations and mail above keep real time.
	now := o.clock.Now
	// Webhook events are stamped with real time, whatever the marketplace's
	// clock: receivers refuse timestamps minutes off their own (issue 12).
	mcfg := marketplace.Config{DB: db, Catalog: catalog, Resolver: aws, Orgs: orgs, Mailer: outbox,
		Logger: logger, Now: now, BaseURL: baseURL, Events: webhook.NewRecorder(time.Now)}
	if o.market.agreementAPI {
		mcfg.Agreements = aws
	}
	az, err := o.azure.build(now)
	if err != nil {
		return err
	}
	gc, err := o.gcp.build(ctx, catalog, baseURL, now)
	if err != nil {
		return err
	}
	mcfg.Providers = map[string]marketplace.Provider{}
	if az.provider != nil {
		mcfg.Providers[marketplace.Azure] = az.provider
	}
	if gc.provider != nil {
		mcfg.Providers[marketplace.GCP] = gc.provider
	}
	market, err := marketplace.New(mcfg)
	if err != nil {
		return err
	}
	ingester, err := usage.New(usage.Config{DB: db, Meters: catalogMeters{catalog}, Logger: logger.With("component", "usage"), Now: now})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, pool := range db.Pools() {
		reg.MustRegister(collectors.NewDBStatsCollector(pool, name))
	}
	registerQuotas(reg, quotas)
	// Events are stamped with real time, even when the marketplace's clock
	// runs fast: receivers refuse timestamps far from their own.
	coverage, err := metering.NewCoverage(metering.CoverageConfig{DB: db, Links: market, Prices: catalog,
		Logger: logger.With("component", "metering"), Now: now, Events: webhook.NewRecorder(time.Now)})
	if err != nil {
		return err
	}
	maker, err := metering.NewMaker(metering.MakerConfig{DB: db, Subscriptions: market, Usage: usage.NewTotals(db), Prices: catalog,
		Logger: logger.With("component", "metering"), Now: now, ZeroRecords: o.metering.zero, Registry: reg, Unbilled: coverage})
	if err != nil {
		return err
	}
	// The lease bounds how long a BatchMeterUsage call may take, which real
	// time measures.
	senderCfg := metering.SenderConfig{DB: db, Meterer: aws, Pacer: quotas[0], Logger: logger.With("component", "metering"),
		Now: now, Window: meteringWindow, Lease: o.clock.fromReal(2 * time.Minute), Workers: 4}
	// Each marketplace's records go to it alone, at its own pace (#15).
	var senders []*metering.Sender
	if awsCodes := productsOf(catalog, marketplace.AWS); len(awsCodes) > 0 || len(catalog.Products()) == 0 {
		cfg := senderCfg
		cfg.Products = awsCodes
		s, err := metering.NewSender(cfg)
		if err != nil {
			return err
		}
		senders = append(senders, s)
	}
	if az.meter != nil {
		pacer, err := quota.New(quota.Config{DB: db, Name: "azure:batchUsageEvent", Rate: o.azure.meteringRate, Logger: logger.With("component", "quota")})
		if err != nil {
			return err
		}
		s, err := marketplaceSender(marketplace.Azure, az.meter, azureMeteringWindow, catalog, pacer, senderCfg)
		if err != nil {
			return err
		}
		if s != nil {
			senders = append(senders, s)
		}
	}
	if gc.meter != nil {
		pacer, err := quota.New(quota.Config{DB: db, Name: "gcp:services.report", Rate: o.gcp.meteringRate, Logger: logger.With("component", "quota")})
		if err != nil {
			return err
		}
		s, err := marketplaceSender(marketplace.GCP, gc.meter, gcpMeteringWindow, catalog, pacer, senderCfg)
		if err != nil {
			return err
		}
		if s != nil {
			senders = append(senders, s)
		}
	}
	hooks, inbox, deliverer, err := webhookDeps(ctx, o, db, s.url, baseURL, outbox, logger, reg)
	if err != nil {
		return err
	}
	var mailbox web.Mailbox
	switch {
	case o.devMailbox:
		mailbox = outbox
	case o.mail.DevMailbox():
		logger.Warn("no --smtp-url: mail is kept in the database and not sent; set --smtp-url to send it")
	}

	productURL, err := web.ParseProductURL(o.productURL)
	if err != nil {
		return err
	}
	var signIn web.SignInProvider // stays a nil interface without --oidc-issuer
	if o.oidc.Enabled() {
		rp, err := oidc.New(oidc.Config{Issuer: o.oidc.Issuer, ClientID: o.oidc.ClientID, ClientSecret: o.oidc.ClientSecret,
			Scopes: oidc.SplitScopes(o.oidc.Scopes), RedirectURL: strings.TrimRight(baseURL, "/") + oidc.CallbackPath, Now: time.Now,
			TrustEmail: o.oidc.TrustEmail})
		if err != nil {
			return err
		}
		signIn = rp
		logger.Info("sign-in through the vendor's OpenID provider", "issuer", o.oidc.Issuer, "local_accounts", o.oidc.LocalAccounts)
	}

	snsRoots, err := o.market.snsCertHostRoots()
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{
		Logger:            logger,
		DB:                db,
		Registry:          reg,
		MetricsElsewhere:  metricsLn != nil,
		RequestTimeout:    o.http.RequestTimeout,
		BaseURL:           baseURL,
		Accounts:          accounts,
		Orgs:              orgs,
		Market:            market,
		Reports:           metering.NewReporter(db, catalog, now),
		Coverage:          coverage,
		Reconciler:        maker,
		Usage:             ingester,
		SNS:               awsmp.NewSNSVerifier(awsmp.SNSVerifierConfig{ExtraCertHosts: o.market.trustedSNSHosts(), ExtraHostRootCAs: snsRoots, Origins: o.market.origins(), Now: now}),
		EventBridgeKey:    o.market.eventBridgeKey,
		EventBridgeHeader: o.market.eventBridgeHeader,
		EventOrigins:      o.market.origins(),
		TrustProxy:        o.trustProxy,
		BuyerConsoleURL:   o.market.buyerConsoleURL,
		Operators:         splitList(o.operators),
		Mailbox:           mailbox,
		ProductURL:        productURL,
		ProductName:       strings.TrimSpace(o.productName),
		OIDC:              signIn,
		OIDCName:          o.oidc.Name,
		LocalAccountsOff:  !o.oidc.LocalAccounts,
		Webhooks:          hooks,
		WebhookInbox:      inbox,
		AzureNotices:      azureNotices(az),
		GCPNotices:        gcpNotices(gc),
	})
	if err != nil {
		return err
	}
	logger.Info("seller service listening", "url", s.url, "metrics", s.metricsURL, "database", db.Dialect().String())
	if started != nil {
		started(s)
	} else {
		fmt.Fprintf(e.stdout, "marketbridge serving on %s\n", s.url)
		if metricsLn != nil {
			fmt.Fprintf(e.stdout, "metrics on %s\n", s.metricsURL)
		}
	}
	// Workers stop after the HTTP server has finished its requests, so that
	// mail queued by the last requests is still picked up.
	workerCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Go(func() {
		if err := mailer.Run(workerCtx); err != nil {
			logger.Error("mail worker stopped", "err", err)
		}
	})
	workers.Go(func() { market.RunNotifications(workerCtx, 2*time.Second) })
	workers.Go(func() { market.RunAgreements(workerCtx, 5*time.Second) })
	workers.Go(func() {
		market.RunProviders(workerCtx, 2*time.Second,
			map[string]time.Duration{marketplace.Azure: o.azure.reconcileInterval, marketplace.GCP: o.gcp.reconcileInterval})
	})
	workers.Go(func() { deliverer.Run(workerCtx, webhookInterval) })
	workers.Go(func() {
		metering.Run(workerCtx, logger.With("component", "metering"), maker, o.clock.toReal(o.metering.interval), senders...)
	})
	// Usage ingestion's writer stops last among these: requests still
	// waiting on it were answered before the HTTP server finished.
	workers.Go(func() {
		if err := ingester.Run(workerCtx); err != nil {
			logger.Error("usage writer stopped", "err", err)
		}
	})
	// The metrics listener stops with the console's, whatever ends it.
	metricsCtx, stopMetrics := context.WithCancel(ctx)
	var metricsErr error
	var metricsDone sync.WaitGroup
	if metricsLn != nil {
		metricsDone.Go(func() {
			metricsErr = serveHTTP(metricsCtx, logger, metricsLn, metricsHandler(reg), o.http)
		})
	}
	err = serveHTTP(ctx, logger, ln, srv, o.http)
	stopMetrics()
	metricsDone.Wait()
	err = joinErrors(err, metricsErr)
	stopWorkers()
	workers.Wait()
	return err
}

// metricsHandler serves the registry at /metrics and nothing else, for
// --metrics-addr's listener.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// openDatabase opens the configured database and applies pending migrations.
func openDatabase(ctx context.Context, s config.Storage, logger *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, s.URL(), logger)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return db, nil
}

// splitList reads a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// meteringOptions tune the hourly metering worker.
type meteringOptions struct {
	interval time.Duration
	rate     float64
	zero     bool
	// entitlementRate paces GetEntitlements, agreementRate the Agreement
	// API; 0 leaves them unpaced.
	entitlementRate, agreementRate float64
}

// awsQuotas makes one limiter per AWS quota the seller meets, each shared
// through the database by every process on it, because AWS counts calls per
// seller account however many processes make them (#13). It paces the
// client's GetEntitlements and Agreement API calls, and returns every
// limiter, BatchMeterUsage's first, for the sender and the metrics.
//
// BatchMeterUsage's slots are 1/rate apart, with no burst: between a slot
// and its call the sender writes the batch's take-off, whose time varies
// under load, so calls reach AWS less evenly than their slots; AWS's bucket
// (10 a second, a burst of 10) absorbs up to 0.9 s of that, and a burst of
// ours would spend it. GetEntitlements is called from requests, where a
// burst of half the rate serves callers arriving together without delay.
func awsQuotas(db *store.DB, o meteringOptions, aws *awsmp.Client, logger *slog.Logger) ([]*quota.Limiter, error) {
	meter, err := quota.New(quota.Config{DB: db, Name: "aws:BatchMeterUsage", Rate: o.rate, Logger: logger})
	if err != nil {
		return nil, err
	}
	limiters := []*quota.Limiter{meter}
	if o.entitlementRate > 0 {
		ent, err := quota.New(quota.Config{DB: db, Name: "aws:GetEntitlements", Rate: o.entitlementRate,
			Burst: max(1, int(o.entitlementRate/2)), Logger: logger})
		if err != nil {
			return nil, err
		}
		aws.PaceEntitlements(ent)
		limiters = append(limiters, ent)
	}
	if o.agreementRate > 0 {
		// AWS documents no quota for the Agreement API; its reads come
		// from the notifications loop and set-ups, a few at a time.
		ag, err := quota.New(quota.Config{DB: db, Name: "aws:AgreementAPI", Rate: o.agreementRate,
			Burst: max(1, int(o.agreementRate/2)), Logger: logger})
		if err != nil {
			return nil, err
		}
		aws.PaceAgreements(ag)
		limiters = append(limiters, ag)
	}
	return limiters, nil
}

// registerQuotas exposes each shared quota's work in this process: slots
// reserved, the database round trips that reserved them, and slots found
// too late to use (a sign that calls bunch up behind slow work).
func registerQuotas(reg *prometheus.Registry, limiters []*quota.Limiter) {
	for _, l := range limiters {
		labels := prometheus.Labels{"quota": l.Name()}
		for _, m := range []struct {
			name, help string
			value      func(quota.Stats) int64
		}{
			{"marketbridge_aws_quota_slots_reserved_total", "Call slots this process reserved from an AWS quota shared by every process.",
				func(s quota.Stats) int64 { return s.Reserved }},
			{"marketbridge_aws_quota_reservations_total", "Database round trips that reserved slots of an AWS quota.",
				func(s quota.Stats) int64 { return s.Reservations }},
			{"marketbridge_aws_quota_slots_dropped_total", "Reserved slots of an AWS quota found too late to use.",
				func(s quota.Stats) int64 { return s.Dropped }},
		} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help, ConstLabels: labels},
				func() float64 { return float64(m.value(l.Stats())) }))
		}
	}
}

// meteringWindow is how old a record may be and still be sent: AWS accepts
// six hours at least; an hour's margin keeps a slow retry from being refused.
const meteringWindow = 5 * time.Hour

// marketClock is the time of everything that must agree with AWS
// Marketplace's clock: subscriptions and their links, usage events' times,
// which hours are closed, metering records and AWS's timestamp window, the
// billing page's days and months, and the age of SNS messages. serve keeps
// it on real time. The demo runs it on the emulator's clock, which it moves
// faster than real time (--clock-speed) so that hours close in minutes.
// Whatever it says, people's time stays real: sessions, links in mail, rate
// limits and mail retries.
type marketClock struct {
	now  func() time.Time // nil is time.Now
	pace *clock.Scaled    // how fast now runs; nil is as fast as real time
}

// Now is the marketplace's time.
func (c marketClock) Now() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// minWorkerInterval keeps a very fast clock from making a worker spin.
const minWorkerInterval = 50 * time.Millisecond

// toReal is how long, in real time, a worker waits for d to pass on the
// clock: an hour closes every real minute at 60x, and should be metered
// within seconds of it, not a minute later.
func (c marketClock) toReal(d time.Duration) time.Duration {
	if c.pace == nil {
		return d
	}
	return max(c.pace.ToReal(d), minWorkerInterval)
}

// fromReal is how much of the clock passes in d of real time.
func (c marketClock) fromReal(d time.Duration) time.Duration {
	if c.pace == nil {
		return d
	}
	return c.pace.FromReal(d)
}
