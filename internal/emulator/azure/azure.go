// Package azure is the Microsoft commercial marketplace emulator as one
// http.Handler, a house beside the AWS emulator: the SaaS Fulfillment API v2
// and the Metering API under /api/ (package api), the control API under
// /emulator/v1/ (package control), and the background work: the clock's
// tick (renewals, the end of suspensions, operations that complete by
// themselves) and the webhook sender (package webhook). State is in memory,
// or in azure-emulator.db in the data folder (package sqlite).
//
// It imports nothing of the seller side nor of the AWS emulator; the Entra
// stand-in is plugged in through two interfaces: api.Authenticator checks
// the seller's access tokens, webhook.TokenSource signs the webhooks' (#15).
package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/api"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/control"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/sqlite"
	"github.com/marketbridge/marketbridge/internal/emulator/azure/webhook"
)

// Config configures the emulator. Zero durations take Microsoft's values.
type Config struct {
	// DataDir holds azure-emulator.db; empty keeps the state in memory.
	DataDir string
	// Reset deletes the persisted state before starting.
	Reset bool
	// PublicURL is where the seller reaches this house, e.g.
	// https://127.0.0.1:8081/azure: the API base the seller configures is
	// PublicURL + "/api", and @nextLink and Operation-Location point there.
	PublicURL string

	Settings market.Settings

	// Auth checks the seller's bearer tokens (the Entra stand-in).
	Auth api.Authenticator
	// Tokens signs webhook calls (the Entra stand-in).
	Tokens webhook.TokenSource

	// Now is real time (time.Now when nil); the emulator's clock adds an offset to it.
	Now func() time.Time
	// Rand is the source of ids and tokens (crypto/rand when nil).
	Rand io.Reader
	// HTTPClient sends webhooks (10-second timeout when nil).
	HTTPClient *http.Client
	// TickInterval is how often due lifecycle changes are applied (1s when zero).
	TickInterval time.Duration
	// DeliveryPoll bounds the webhook sender's sleep (1s when zero).
	DeliveryPoll time.Duration
	Logger       *slog.Logger
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("azure emulator: public URL %q: want http(s)://host:port[/prefix]", c.PublicURL))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("azure emulator: an access-token authenticator (the Entra stand-in) is required"))
	}
	if c.Tokens == nil {
		errs = append(errs, errors.New("azure emulator: a webhook token source (the Entra stand-in) is required"))
	}
	if c.TickInterval < 0 || c.DeliveryPoll < 0 {
		errs = append(errs, errors.New("azure emulator: intervals must not be negative"))
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("azure emulator: %w", err))
	}
	return errors.Join(errs...)
}

// Emulator is a running emulator: its state, its handler and its background work.
type Emulator struct {
	market  *market.Market
	store   *sqlite.Store
	handler http.Handler
	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New opens the state and starts the background work; Close stops it.
func New(ctx context.Context, cfg Config) (*Emulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{log: log}
	mcfg := market.Config{Settings: cfg.Settings, Now: cfg.Now, Rand: cfg.Rand, Logger: log}
	if cfg.DataDir != "" {
		st, err := sqlite.Open(ctx, cfg.DataDir, cfg.Reset)
		if err != nil {
			return nil, fmt.Errorf("start azure emulator: %w", err)
		}
		e.store, mcfg.Store = st, st
	}
	m, err := market.Open(ctx, mcfg)
	if err != nil {
		e.closeStore()
		return nil, fmt.Errorf("start azure emulator: %w", err)
	}
	e.market = m
	apiHandler, err := api.New(api.Config{Market: m, Auth: cfg.Auth, BaseURL: strings.TrimRight(cfg.PublicURL, "/") + "/api",
		Now: cfg.Now, Logger: log})
	if err != nil {
		e.closeStore()
		return nil, fmt.Errorf("start azure emulator: %w", err)
	}
	e.handler = routes(apiHandler, control.New(m, log))

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	sender := webhook.New(m, cfg.Tokens, cfg.HTTPClient, cfg.Now, log)
	if cfg.DeliveryPoll > 0 {
		sender.Poll = cfg.DeliveryPoll
	}
	tick := cfg.TickInterval
	if tick == 0 {
		tick = time.Second
	}
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		sender.Run(runCtx)
	}()
	go func() {
		defer e.wg.Done()
		e.tickLoop(runCtx, tick)
	}()
	return e, nil
}

// routes is the house's surface: the wire APIs and the control API.
func routes(apiHandler, controlHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", apiHandler)
	mux.Handle("/emulator/v1/", controlHandler)
	return mux
}

func (e *Emulator) tickLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.market.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("azure emulator tick", "err", err)
			}
		}
	}
}

// Handler serves /api/ and /emulator/v1/. Mount it under a prefix with
// http.StripPrefix (e.g. /azure) and give that prefix in PublicURL.
func (e *Emulator) Handler() http.Handler { return e.handler }

// Market gives in-process callers (the buyer pages, the demo, tests) the
// buyer's and the operator's operations without HTTP.
func (e *Emulator) Market() *market.Market { return e.market }

// Close stops the background work, waits for it, and closes the store.
func (e *Emulator) Close() error {
	e.cancel()
	e.wg.Wait()
	return e.closeStore()
}

func (e *Emulator) closeStore() error {
	if e.store == nil {
		return nil
	}
	if err := e.store.Close(); err != nil {
		return fmt.Errorf("close azure emulator store: %w", err)
	}
	return nil
}
