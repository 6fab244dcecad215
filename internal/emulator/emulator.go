package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/deliver"
	"github.com/marketbridge/marketbridge/internal/emulator/localca"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/emulator/sqlite"
)

// Config configures an emulator. Zero durations and rates take AWS's values.
type Config struct {
	// DataDir holds emulator.db and the local CA; empty keeps both in
	// memory (tests).
	DataDir string
	// Reset deletes the persisted state before starting.
	Reset bool
	// PublicURL is the base URL buyers' browsers and SNS endpoints reach the
	// emulator at, e.g. http://127.0.0.1:8081.
	PublicURL string

	AccessKeyID     string // default test
	SecretAccessKey string // default test

	Settings market.Settings

	// Now is real time (time.Now when nil); the emulator's clock adds an offset to it.
	Now func() time.Time
	// Rand is the source of ids and tokens (crypto/rand when nil).
	Rand io.Reader
	// HTTPClient sends notifications (10-second timeout when nil).
	HTTPClient *http.Client
	// TickInterval is how often due lifecycle changes are applied (1s when zero).
	TickInterval time.Duration
	// DeliveryPoll bounds the outbox sender's sleep (1s when zero).
	DeliveryPoll time.Duration
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.PublicURL == "" {
		errs = append(errs, errors.New("emulator: public URL is required"))
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("emulator: public URL %q: want http(s)://host:port", c.PublicURL))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, errors.New("emulator: give both the access key id and the secret access key, or neither"))
	}
	if c.TickInterval < 0 || c.DeliveryPoll < 0 {
		errs = append(errs, errors.New("emulator: intervals must not be negative"))
	}
	s := c.Settings
	s.PublicURL = c.PublicURL
	if err := s.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("emulator: %w", err))
	}
	return errors.Join(errs...)
}

// Emulator is a running emulator: its state, its handler and its background work.
type Emulator struct {
	ca      *localca.CA
	tls     *tls.Config
	market  *market.Market
	store   *sqlite.Store
	handler http.Handler
	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New opens the state and starts the background work; Close stops it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Emulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = "test", "test"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The CA outlives --reset, which forgets the marketplace's state: users
	// have installed it in their verifiers' trust.
	ca, err := localca.Load(cfg.DataDir, cfg.Rand, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	u, _ := url.Parse(cfg.PublicURL) // checked by Validate
	serverCert, err := ca.ServerCertificate([]string{u.Hostname()}, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	var store *sqlite.Store
	if cfg.DataDir == "" {
		store, err = sqlite.OpenMemory(ctx)
	} else {
		store, err = sqlite.Open(ctx, cfg.DataDir, cfg.Reset)
	}
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	settings := cfg.Settings
	settings.PublicURL = cfg.PublicURL
	m, err := market.Open(ctx, market.Config{
		Settings: settings, Store: store, Now: cfg.Now, Rand: cfg.Rand, Logger: logger,
		DefaultAccessKeyID: cfg.AccessKeyID, DefaultSecretAccessKey: cfg.SecretAccessKey,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	e := &Emulator{market: m, store: store, log: logger, ca: ca,
		tls: &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}}
	e.handler = e.routes(cfg.Now)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	sender := deliver.New(m, cfg.HTTPClient, cfg.Now, logger)
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

func (e *Emulator) tickLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := e.market.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("emulator tick", "err", err)
			}
		}
	}
}

// Handler serves everything: AWS API, buyer pages, control API, SNS URLs.
func (e *Emulator) Handler() http.Handler { return e.handler }

// CAFile is the file of the CA certificate that HTTPS clients of the
// emulator trust: the one to give SNS verifiers. It is empty for an
// emulator without a data folder; CACertificatePEM has it then.
func (e *Emulator) CAFile() string { return e.ca.Path() }

// CACertificatePEM is the CA certificate of the emulator's HTTPS.
func (e *Emulator) CACertificatePEM() []byte { return e.ca.CertificatePEM() }

// Market gives in-process callers (the demo, tests) the control operations
// without HTTP.
func (e *Emulator) Market() *market.Market { return e.market }

// SeedDemo creates the demo catalog; see market.SeedDemo.
func (e *Emulator) SeedDemo(ctx context.Context, in market.DemoInput) (market.DemoCatalog, error) {
	return e.market.SeedDemo(ctx, in)
}

// Close stops the background work, waits for it, and closes the store.
func (e *Emulator) Close() error {
	e.cancel()
	e.wg.Wait()
	if err := e.store.Close(); err != nil {
		return fmt.Errorf("close emulator store: %w", err)
	}
	return nil
}
