// Package google assembles Google Cloud Marketplace's house in the emulator
// (#16): the market's state (package market, persisted in SQLite through
// the Microsoft house's generic record store), the Partner Procurement API
// (procurement), Service Control (servicecontrol, fed by the market through
// an adapter), Google's identity (googleid) and the control API (control).
// Its Handler serves paths from "/"; the emulator mounts it under /google/.
package google

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/sqlite"
	"github.com/marketbridge/marketbridge/internal/emulator/google/control"
	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
	"github.com/marketbridge/marketbridge/internal/emulator/google/procurement"
	"github.com/marketbridge/marketbridge/internal/emulator/google/servicecontrol"
	"github.com/marketbridge/marketbridge/internal/emulator/googleid"
)

// Demo values shared with the seller's demo configuration (gcp-shared.md).
const (
	DemoProviderID      = "example-cloud-provider"
	DemoService         = "example-cloud.gcpmarketplace.example.com"
	DemoMetric          = DemoService + "/usage_cents"
	DemoBillingAccount  = "billingAccounts/01A2B3-C4D5E6-F7A8B9"
	DemoPushAccount     = "marketplace-push@example-cloud-provider.iam.gserviceaccount.com"
	DemoSellerAccount   = "marketbridge@example-cloud-provider.iam.gserviceaccount.com"
	DemoPrivateOfferID  = "enterprise-01A2B3"
	ledgerFile          = "google-servicecontrol.db"
	defaultTickInterval = time.Second
)

// Config configures the house.
type Config struct {
	// DataDir keeps the state in DataDir/google (market and Service
	// Control ledger); empty keeps it in memory unless Store is given.
	DataDir string
	// Reset forgets the state kept in DataDir.
	Reset bool
	// Store replaces the SQLite store of DataDir for the market's state.
	Store market.Store
	// ProviderID is the provider (default DemoProviderID).
	ProviderID string
	// Identity is Google's identity stand-in (required): its Authorize
	// guards procurement and Service Control, its handler is /id/.
	Identity *googleid.Server
	// PublicURL is where the house is reachable, prefix included (e.g.
	// http://127.0.0.1:8080/google); informational for now.
	PublicURL string
	// Services are Service Control's known service names besides the
	// catalog's at start (Service Control fixes its list when built, so a
	// product added later must be named here; DemoService always is).
	Services []string
	// ServiceCallers are the service accounts allowed to report usage;
	// empty lets any authenticated caller report.
	ServiceCallers []string
	// Logger receives the house's logs (discarded when nil).
	Logger *slog.Logger
	// Now is the real clock (time.Now when nil); the market adds its
	// settable offset, and Service Control reads the market's clock.
	Now func() time.Time
	// TickInterval is how often due transitions run (default 1s; negative
	// = never in the background, Tick on requests only).
	TickInterval time.Duration
	// Buyer, when set, is served at /buyer/ (package buyer, wired by the
	// emulator).
	Buyer http.Handler
	// Deliver, when set, runs in the background until Close and drains the
	// outbox (package pubsub, wired by the emulator).
	Deliver func(ctx context.Context, outbox market.Outbox)
}

// House is Google's house.
type House struct {
	market   *market.Market
	store    *sqlite.Store
	sc       *servicecontrol.Server
	proc     *procurement.Server
	identity *googleid.Server
	handler  http.Handler
	log      *slog.Logger
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New opens the state and starts the background work; Close stops it.
func New(ctx context.Context, cfg Config) (*House, error) {
	if cfg.Identity == nil {
		return nil, errors.New("start google emulator: Config.Identity (googleid server) is required")
	}
	if cfg.ProviderID == "" {
		cfg.ProviderID = DemoProviderID
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &House{identity: cfg.Identity, log: log}
	mcfg := market.Config{ProviderID: cfg.ProviderID, Store: cfg.Store, Now: cfg.Now}
	ledger := ":memory:"
	if cfg.DataDir != "" {
		dir := filepath.Join(cfg.DataDir, "google")
		if cfg.Reset {
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("start google emulator: reset %s: %w", dir, err)
			}
		}
		if mcfg.Store == nil {
			st, err := sqlite.Open(ctx, dir, false)
			if err != nil {
				return nil, fmt.Errorf("start google emulator: %w", err)
			}
			h.store, mcfg.Store = st, st
		}
		ledger = filepath.Join(dir, ledgerFile)
	}
	m, err := market.Open(ctx, mcfg)
	if err != nil {
		h.closeStore()
		return nil, fmt.Errorf("start google emulator: %w", err)
	}
	h.market = m
	services := map[string]servicecontrol.ServiceConfig{DemoService: {Callers: cfg.ServiceCallers}}
	for _, s := range cfg.Services {
		services[s] = servicecontrol.ServiceConfig{Callers: cfg.ServiceCallers}
	}
	for _, p := range m.Products() {
		services[p.ServiceName] = servicecontrol.ServiceConfig{Callers: cfg.ServiceCallers}
	}
	sc, err := servicecontrol.New(ctx, servicecontrol.Config{Services: services, Authorize: cfg.Identity.Authorize,
		Consumers: Consumers{Market: m}, LedgerPath: ledger, Now: m.Now}, log)
	if err != nil {
		h.closeStore()
		return nil, fmt.Errorf("start google emulator: %w", err)
	}
	h.sc = sc
	mux := http.NewServeMux()
	mux.Handle("/id/", http.StripPrefix("/id", cfg.Identity))
	h.proc = procurement.New(m, cfg.Identity.Authorize, log)
	mux.Handle("/procurement/", http.StripPrefix("/procurement", h.proc))
	mux.Handle("/servicecontrol/", http.StripPrefix("/servicecontrol", sc))
	mux.Handle("/emulator/v1/", control.New(m, log))
	if cfg.Buyer != nil {
		mux.Handle("/buyer/", http.StripPrefix("/buyer", cfg.Buyer))
	}
	h.handler = mux

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	tick := cfg.TickInterval
	if tick == 0 {
		tick = defaultTickInterval
	}
	if tick > 0 {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.tickLoop(runCtx, tick)
		}()
	}
	if cfg.Deliver != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			cfg.Deliver(runCtx, m)
		}()
	}
	return h, nil
}

func (h *House) tickLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.market.Tick(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("google emulator tick", "err", err)
			}
		}
	}
}

// Handler serves /id/, /procurement/, /servicecontrol/, /emulator/v1/ (and
// /buyer/ when configured). Mount it with http.StripPrefix("/google", ...).
func (h *House) Handler() http.Handler { return h.handler }

// Market is the house's state, for the buyer pages and the pubsub sender.
func (h *House) Market() *market.Market { return h.market }

// Procurement is the Partner Procurement API server (fault injection).
func (h *House) Procurement() *procurement.Server { return h.proc }

// ServiceControl is the Service Control server (faults, ledger).
func (h *House) ServiceControl() *servicecontrol.Server { return h.sc }

// Close stops the background work, waits for it, and closes the stores.
func (h *House) Close() error {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	var errs []error
	if h.sc != nil {
		errs = append(errs, h.sc.Close())
	}
	errs = append(errs, h.closeStore())
	return errors.Join(errs...)
}

func (h *House) closeStore() error {
	if h.store == nil {
		return nil
	}
	err := h.store.Close()
	h.store = nil
	return err
}

// Consumers adapts the market to servicecontrol.Consumers: a consumerId is
// an entitlement's usageReportingId.
type Consumers struct{ Market *market.Market }

// Consumer implements servicecontrol.Consumers.
func (c Consumers) Consumer(ctx context.Context, service, consumerID string) (servicecontrol.Consumer, bool, error) {
	mc, ok := c.Market.ConsumerOf(service, consumerID)
	if !ok {
		return servicecontrol.Consumer{}, false, nil
	}
	return servicecontrol.Consumer{Entitlement: mc.Entitlement, Account: mc.Account, Product: mc.Product,
		Plan: mc.Plan, Metrics: mc.Metrics, Active: mc.Active, EndedAt: mc.EndedAt}, true, nil
}

// DemoInput is what the demo seeds besides the catalog. The URLs are kept
// for the buyer pages and the push sender (which the emulator wires).
type DemoInput struct {
	Company        string // shown by the buyer pages (default "Example Cloud")
	SignupURL      string // the seller's sign-up URL (buyer pages POST the JWT there)
	LoginURL       string // the seller's login URL ("Manage on provider")
	PushURL        string // the seller's Pub/Sub push endpoint
	PushAudience   string // aud of push tokens (default PushURL)
	SellerAccount  string // service account whose key the seller uses (default DemoSellerAccount)
	BillingAccount string // billing account offered the private enterprise plan (default DemoBillingAccount)
}

// DemoResult is what the seller needs from the seed.
type DemoResult struct {
	Input DemoInput
	// ServiceAccountKey is the seller's key file (JSON, token_uri the
	// emulator's /google/id/token).
	ServiceAccountKey []byte
}

// DemoSeed puts the demo catalog of gcp-shared.md in place (idempotent:
// the product is replaced) and issues the seller's service-account key.
func (h *House) DemoSeed(ctx context.Context, in DemoInput) (DemoResult, error) {
	if in.PushAudience == "" {
		in.PushAudience = in.PushURL
	}
	if in.Company == "" {
		in.Company = "Example Cloud"
	}
	if in.SellerAccount == "" {
		in.SellerAccount = DemoSellerAccount
	}
	if in.BillingAccount == "" {
		in.BillingAccount = DemoBillingAccount
	}
	cent := map[string]int64{DemoMetric: 10_000} // 1 cent = 10,000 micro-dollars
	p := market.Product{ServiceName: DemoService, DisplayName: "Example Cloud", Description: "The demo SaaS product sold through Google Cloud Marketplace.", Plans: []market.Plan{
		{Name: "standard", DisplayName: "Standard", Description: "Pay per use", Metrics: cent},
		{Name: "team", DisplayName: "Team", Description: "For teams, pay per use", Metrics: cent},
		{Name: "enterprise", DisplayName: "Enterprise", Description: "Private offer", Metrics: cent, Private: true},
	}, PrivateOffers: []market.PrivateOffer{{ID: DemoPrivateOfferID, BillingAccount: in.BillingAccount, Plan: "enterprise", Duration: "P1Y"}}}
	if err := h.market.PutProduct(ctx, p); err != nil {
		return DemoResult{}, fmt.Errorf("google demo seed: %w", err)
	}
	if err := h.market.SetFrontend(ctx, market.Frontend{Company: in.Company, SignupURL: in.SignupURL, LoginURL: in.LoginURL}); err != nil {
		return DemoResult{}, fmt.Errorf("google demo seed: %w", err)
	}
	key, err := h.identity.ServiceAccountKey(in.SellerAccount)
	if err != nil {
		return DemoResult{}, fmt.Errorf("google demo seed: service account key: %w", err)
	}
	return DemoResult{Input: in, ServiceAccountKey: key}, nil
}
