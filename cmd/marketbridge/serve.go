package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/web"
)

// serveOptions are the seller service's settings, shared by serve and demo.
type serveOptions struct {
	storage config.Storage
	http    config.HTTP
	log     config.Log
}

func (o *serveOptions) bind(c *config.Command) {
	o.storage.Bind(c.Flags)
	o.http.Bind(c.Flags, "127.0.0.1:8080")
	o.log.Bind(c.Flags)
}

func (o *serveOptions) validate() error {
	return joinErrors(o.storage.Validate(), o.http.Validate(), o.log.Validate())
}

func newServeCommand() *command {
	c := &command{Command: config.NewCommand("serve",
		"Run the seller service: web console, marketplace endpoints, usage API and workers.",
		"Applies pending database migrations first, then serves HTTP until interrupted (SIGINT or SIGTERM),\n"+
			"when it stops taking requests and finishes those in flight.")}
	var o serveOptions
	o.bind(c.Command)
	c.run = func(ctx context.Context, e env) error {
		return runSeller(ctx, e, o, nil)
	}
	return c
}

// seller is the running seller service, handed to whoever started it (demo
// prints its URL) once it listens.
type seller struct {
	url string
}

// runSeller opens and migrates the database, then serves until ctx ends.
// started, when not nil, is called once the listener is bound.
func runSeller(ctx context.Context, e env, o serveOptions, started func(seller)) error {
	if err := o.validate(); err != nil {
		return err
	}
	logger := o.log.Logger(e.stderr)
	// Bind first: a port in use should be the first and only complaint,
	// before any migration runs.
	ln, err := listen(o.http.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, pool := range db.Pools() {
		reg.MustRegister(collectors.NewDBStatsCollector(pool, name))
	}
	srv, err := web.New(web.Config{
		Logger:         logger,
		DB:             db,
		Registry:       reg,
		RequestTimeout: o.http.RequestTimeout,
	})
	if err != nil {
		return err
	}
	s := seller{url: "http://" + ln.Addr().String()}
	logger.Info("seller service listening", "url", s.url, "database", db.Dialect().String())
	if started != nil {
		started(s)
	} else {
		fmt.Fprintf(e.stdout, "marketbridge serving on %s\n", s.url)
	}
	return serveHTTP(ctx, logger, ln, srv, o.http)
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
