package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/config"
)

// newHealthcheckCommand asks a running seller service's /healthz, so that a
// container image with nothing but the binary (no shell, no curl) still has a
// health check (#17).
func newHealthcheckCommand() *command {
	c := &command{Command: config.NewCommand("healthcheck",
		"Exit 0 when the seller service's /healthz answers 200, 1 otherwise: a container health check without curl.",
		"Asks http://ADDR/healthz once, where ADDR is the --addr serve listens on; the same MARKETBRIDGE_ADDR\n"+
			"serves both, so that in a container it needs no flag. An unspecified host (0.0.0.0, [::] or none,\n"+
			"as in :8080) is asked on loopback.")}
	var addr string
	var timeout time.Duration
	c.Flags.StringVar(&addr, "addr", "127.0.0.1:8080", "address of the seller service to check, as given to serve; an unspecified host (0.0.0.0, :8080) is checked on loopback")
	c.Flags.DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for /healthz's answer")
	c.run = func(ctx context.Context, e env) error {
		if timeout <= 0 {
			return errors.New("--timeout: must be positive")
		}
		url, err := healthzURL(addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		// No proxy from the environment and no redirects: the answer must
		// be the service's own.
		client := &http.Client{
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
		}
		fmt.Fprintf(e.stdout, "%s answered %s\n", url, resp.Status)
		return nil
	}
	return c
}

// healthzURL is where the service that listens on addr answers /healthz. A
// listener on every interface is reached on loopback, which a container or
// pod always has.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr: %q is not host:port: %w", addr, err)
	}
	// Go's listener on [::] takes IPv4 too, so IPv4 loopback serves all three.
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
