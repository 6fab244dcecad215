package gcpmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	procurement "google.golang.org/api/cloudcommerceprocurement/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	servicecontrol "google.golang.org/api/servicecontrol/v1"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// Client reaches Google Cloud Marketplace through Google's generated
// clients and verifies what Google sends. Safe for concurrent use.
type Client struct {
	cfg        Config
	proc       *procurement.Service
	sc         *servicecontrol.Service
	signupKeys *keySet
	pushKeys   *keySet
	products   map[string]bool
}

// New validates cfg and builds a Client. ctx carries what the token
// source needs for its whole life (its cancellation is ignored: the
// source refreshes tokens long after New returns).
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gcp marketplace configuration: %w", err)
	}
	cfg = cfg.withDefaults()
	allowed := []string{cfg.ProcurementURL, cfg.ServiceControlURL, cfg.Signup.CertsURL, cfg.Push.CertsURL}
	ts := cfg.TokenSource
	if ts == nil {
		tokenURI, err := tokenURIOf(cfg.CredentialsJSON)
		if err != nil {
			return nil, err
		}
		allowed = append(allowed, tokenURI)
		// The token source posts to token_uri through the client in its
		// context: the guarded one, so that it too reaches only the
		// configured hosts.
		tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, guardedClient(cfg.HTTPClient, allowed...))
		// The typed reader (CredentialsFromJSON is deprecated) takes a
		// service account key and nothing else: an external-account file
		// would make the library call URLs the file names.
		creds, err := google.CredentialsFromJSONWithType(tctx, cfg.CredentialsJSON, google.ServiceAccount, Scope)
		if err != nil {
			return nil, fmt.Errorf("gcp credentials: %w", err)
		}
		ts = creds.TokenSource
	}
	plain := guardedClient(cfg.HTTPClient, allowed...)
	// option.WithTokenSource would make Google's library build its own
	// transport, without the host guard and the caller's HTTPClient (an
	// emulator's CA): the bearer token is added here instead.
	authed := &http.Client{Transport: &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, ts), Base: plain.Transport},
		CheckRedirect: plain.CheckRedirect, Jar: plain.Jar}
	proc, err := procurement.NewService(ctx, option.WithEndpoint(cfg.ProcurementURL), option.WithHTTPClient(authed))
	if err != nil {
		return nil, fmt.Errorf("gcp procurement client: %w", err)
	}
	sc, err := servicecontrol.NewService(ctx, option.WithEndpoint(cfg.ServiceControlURL), option.WithHTTPClient(authed))
	if err != nil {
		return nil, fmt.Errorf("gcp service control client: %w", err)
	}
	c := &Client{cfg: cfg, proc: proc, sc: sc, products: map[string]bool{}}
	c.signupKeys = &keySet{url: cfg.Signup.CertsURL, parse: parseCertMap, http: plain, now: cfg.Now, timeout: cfg.AttemptTimeout}
	c.pushKeys = &keySet{url: cfg.Push.CertsURL, parse: parseJWKS, http: plain, now: cfg.Now, timeout: cfg.AttemptTimeout}
	for _, p := range cfg.Products {
		c.products[p] = true
	}
	return c, nil
}

// tokenURIOf reads the token_uri of a service account key, which the
// token source posts to.
func tokenURIOf(keyJSON []byte) (string, error) {
	var k struct {
		Type     string `json:"type"`
		TokenURI string `json:"token_uri"`
	}
	if err := json.Unmarshal(keyJSON, &k); err != nil {
		return "", fmt.Errorf("gcp credentials: not a JSON key file: %w", err)
	}
	if k.Type != "service_account" {
		return "", fmt.Errorf("gcp credentials: type %q: want a service account key (type service_account)", k.Type)
	}
	if k.TokenURI == "" {
		k.TokenURI = google.JWTTokenURL
	}
	if err := checkEndpoint("gcp credentials' token_uri", k.TokenURI); err != nil {
		return "", err
	}
	return k.TokenURI, nil
}

func (c *Client) entitlementName(id string) string {
	return "providers/" + c.cfg.ProviderID + "/entitlements/" + url.PathEscape(lastSegment(id))
}

func (c *Client) accountName(id string) string {
	return "providers/" + c.cfg.ProviderID + "/accounts/" + url.PathEscape(accountID(id))
}

// entitlement reads one entitlement; a 404 is errNotFound.
func (c *Client) entitlement(ctx context.Context, id string) (*procurement.Entitlement, error) {
	var e *procurement.Entitlement
	err := c.retry(ctx, func(ctx context.Context) (err error) {
		e, err = c.proc.Providers.Entitlements.Get(c.entitlementName(id)).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, apiError("read entitlement "+id, err)
	}
	return e, nil
}

// entitlements calls fn with every entitlement matching filter ("" for
// all), page by page.
func (c *Client) entitlements(ctx context.Context, filter string, fn func(*procurement.Entitlement) error) error {
	token := ""
	for {
		var page *procurement.ListEntitlementsResponse
		err := c.retry(ctx, func(ctx context.Context) (err error) {
			call := c.proc.Providers.Entitlements.List("providers/" + c.cfg.ProviderID).PageSize(200).Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			if filter != "" {
				call = call.Filter(filter)
			}
			page, err = call.Do()
			return err
		})
		if err != nil {
			return apiError("list entitlements", err)
		}
		for _, e := range page.Entitlements {
			if e == nil {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.NextPageToken == "" || page.NextPageToken == token {
			return nil
		}
		token = page.NextPageToken
	}
}

// retry runs call until it succeeds, fails for good, or MaxAttempts are
// spent: 429, 5xx and answers lost in transit are tried again after a
// doubling back-off (or Google's Retry-After, up to 10 s). Every call made
// through it is safe to repeat: reads; approvals, whose repeat is taken
// as done (see Provider.Activate); and Service Control operations, which
// Google deduplicates on operationId.
//
// A call that fails after an attempt that may have reached Google (a 5xx,
// an answer lost in transit) says so with errMayHaveArrived, whatever its
// last attempt got: a report that ends throttled may still have been
// recorded by the first attempt, and is not surely unbilled (R10).
func (c *Client) retry(ctx context.Context, call func(context.Context) error) error {
	var arrived error // the first attempt that may have reached Google
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		if arrived != nil {
			err = fmt.Errorf("%w (%v): %w", errMayHaveArrived, arrived, err)
		} else if mayHaveArrived(err) {
			arrived = err
		}
		if attempt >= c.cfg.MaxAttempts || ctx.Err() != nil || !retryable(err) {
			return err
		}
		wait := c.cfg.RetryBase << (attempt - 1)
		if ra := retryAfter(err); ra > 0 && ra <= maxRetryAfter {
			wait = ra
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// errMayHaveArrived marks a call's failure that came after an earlier
// attempt which may have reached Google.
var errMayHaveArrived = errors.New("after an earlier attempt that may have reached Google")

// mayHaveArrived says whether a failed attempt may have been acted on by
// Google: a 5xx, or a failure in transit after the request left. A token
// that could not be had, a connection never made and a 4xx answer mean
// Google did nothing.
func mayHaveArrived(err error) bool {
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code >= 500
	}
	var grant *oauth2.RetrieveError
	if errors.As(err, &grant) || metering.NeverSent(err) || errors.Is(err, context.Canceled) {
		return false
	}
	return true
}

func retryable(err error) bool {
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code == http.StatusTooManyRequests || g.Code >= 500
	}
	var grant *oauth2.RetrieveError
	if errors.As(err, &grant) {
		return grant.Response == nil || grant.Response.StatusCode == http.StatusTooManyRequests || grant.Response.StatusCode >= 500
	}
	return !errors.Is(err, context.Canceled) // transport failures and attempt timeouts
}

func retryAfter(err error) time.Duration {
	var g *googleapi.Error
	if !errors.As(err, &g) || g.Header == nil {
		return 0
	}
	if n, err := strconv.Atoi(g.Header.Get("Retry-After")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return 0
}

// errNotFound: Google answered 404 (a deleted entitlement or account).
var errNotFound = errors.New("not found")

// apiError says a failed call in the core's words: 429, 5xx and no answer
// are marketplace.ErrMarketplaceUnavailable, 404 errNotFound, 401 and 403 a
// configuration problem for the operator; Google's own error is kept.
func apiError(doing string, err error) error {
	if err == nil {
		return nil
	}
	var g *googleapi.Error
	var grant *oauth2.RetrieveError
	switch {
	case errors.As(err, &grant) && grant.Response != nil && grant.Response.StatusCode < 500 && grant.Response.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%s: the token endpoint refused the seller's service account key (revoked or deleted?): %w", doing, err)
	case !errors.As(err, &g):
		return fmt.Errorf("%w: %s: %w", marketplace.ErrMarketplaceUnavailable, doing, err)
	}
	st := statusOf(g)
	switch {
	case g.Code == http.StatusNotFound:
		return fmt.Errorf("%s: %w: %w", doing, errNotFound, err)
	case g.Code == http.StatusTooManyRequests || g.Code >= 500:
		return fmt.Errorf("%w: %s: %w", marketplace.ErrMarketplaceUnavailable, doing, err)
	case g.Code == http.StatusUnauthorized || g.Code == http.StatusForbidden:
		return fmt.Errorf("%s: Google refused the seller's service account (%s): check that it is linked in Producer Portal and holds the roles the contract lists: %w", doing, st, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// googleStatus is the google.rpc.Status name of an error body, which the
// generated client does not keep apart (§2.6).
type googleStatus struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
	} `json:"error"`
}

// parseStatus reads the status name of an error body: "FAILED_PRECONDITION",
// or "" when the body has none. A v1 body that names only errors[].reason
// ("failedPrecondition") is read too.
func parseStatus(body []byte) string {
	var s googleStatus
	if json.Unmarshal(body, &s) != nil {
		return ""
	}
	if s.Error.Status != "" {
		return s.Error.Status
	}
	for _, e := range s.Error.Errors {
		switch e.Reason {
		case "failedPrecondition":
			return "FAILED_PRECONDITION"
		case "invalidArgument", "badRequest":
			return "INVALID_ARGUMENT"
		}
	}
	return ""
}

func statusOf(g *googleapi.Error) string {
	if s := parseStatus([]byte(g.Body)); s != "" {
		return s
	}
	return "HTTP " + strconv.Itoa(g.Code)
}

// isPrecondition says Google refused a call for the resource's state: 400
// FAILED_PRECONDITION, or 409 (ABORTED, ALREADY_EXISTS).
func isPrecondition(err error) bool {
	var g *googleapi.Error
	if !errors.As(err, &g) {
		return false
	}
	return g.Code == http.StatusConflict || (g.Code == http.StatusBadRequest && parseStatus([]byte(g.Body)) == "FAILED_PRECONDITION")
}

func httpCode(err error) int {
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code
	}
	return 0
}
