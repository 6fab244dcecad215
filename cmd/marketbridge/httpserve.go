package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
)

// listen binds addr, turning the common failure into a line a person can
// act on.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err // "listen tcp ADDR:" again adds nothing to our own prefix
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on ln until ctx ends, then stops taking connections and
// waits up to the shutdown timeout for requests in flight.
func serveHTTP(ctx context.Context, logger *slog.Logger, ln net.Listener, h http.Handler, o config.HTTP) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       o.RequestTimeout,
		// The request timeout answers slow handlers; the write timeout only
		// catches clients that stop reading.
		WriteTimeout: o.RequestTimeout + 10*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:  func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests in flight", "addr", ln.Addr().String(), "timeout", o.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	logger.Info("stopped", "addr", ln.Addr().String())
	return nil
}

// joinErrors is errors.Join for validation results.
func joinErrors(errs ...error) error { return errors.Join(errs...) }
