package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// APIVersion is the only version of both APIs.
const APIVersion = "2018-08-31"

// Authenticator checks a bearer access token and says which Entra tenant and
// app it was issued to (tid and appid/azp). The Entra stand-in implements it.
type Authenticator interface {
	VerifyAccessToken(raw string, now time.Time) (tenantID, appID string, err error)
}

// Config is what New needs.
type Config struct {
	Market *market.Market
	Auth   Authenticator
	// BaseURL is the APIs' public base as the seller configures it, e.g.
	// https://127.0.0.1:8081/azure/api: @nextLink and Operation-Location
	// are absolute URLs under it.
	BaseURL string
	// Now is real time, against which tokens are checked (time.Now when
	// nil): the seller's token cache runs on real time, so moving the
	// emulator's clock does not expire its tokens.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate reports every missing field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Market == nil {
		errs = append(errs, errors.New("azure api: market is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("azure api: authenticator is required"))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("azure api: base URL %q: want http(s)://host[:port]/path", c.BaseURL))
	}
	return errors.Join(errs...)
}

// API holds the handlers' dependencies.
type API struct {
	m    *market.Market
	auth Authenticator
	base string
	now  func() time.Time
	log  *slog.Logger
}

// New returns the handler of both APIs; it serves full /api/ paths.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{m: cfg.Market, auth: cfg.Auth, base: strings.TrimRight(cfg.BaseURL, "/"), now: cfg.Now, log: cfg.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	// Fulfillment API v2 (saasapi.v2.json operationIds).
	mux.Handle("POST /api/saas/subscriptions/resolve", a.wrap("resolve", a.resolve))
	mux.Handle("GET /api/saas/subscriptions", a.wrap("listSubscriptions", a.listSubscriptions))
	mux.Handle("GET /api/saas/subscriptions/{$}", a.wrap("listSubscriptions", a.listSubscriptions))
	mux.Handle("GET /api/saas/subscriptions/{id}", a.wrap("getSubscription", a.getSubscription))
	mux.Handle("PATCH /api/saas/subscriptions/{id}", a.wrap("updateSubscription", a.updateSubscription))
	mux.Handle("DELETE /api/saas/subscriptions/{id}", a.wrap("deleteSubscription", a.deleteSubscription))
	mux.Handle("POST /api/saas/subscriptions/{id}/activate", a.wrap("activate", a.activate))
	mux.Handle("GET /api/saas/subscriptions/{id}/listAvailablePlans", a.wrap("listAvailablePlans", a.listAvailablePlans))
	mux.Handle("GET /api/saas/subscriptions/{id}/operations", a.wrap("listOperations", a.listOperations))
	mux.Handle("GET /api/saas/subscriptions/{id}/operations/{op}", a.wrap("getOperation", a.getOperation))
	mux.Handle("PATCH /api/saas/subscriptions/{id}/operations/{op}", a.wrap("updateOperation", a.updateOperation))
	// Metering API (meteringapi.v1.json).
	mux.Handle("POST /api/usageEvent", a.wrap("usageEvent", a.usageEvent))
	mux.Handle("POST /api/batchUsageEvent", a.wrap("batchUsageEvent", a.batchUsageEvent))
	mux.Handle("GET /api/usageEvents", a.wrap("getUsageEvents", a.getUsageEvents))
	return mux, nil
}
