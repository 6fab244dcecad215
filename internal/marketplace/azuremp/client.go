package azuremp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// Client calls the Fulfillment and Metering APIs as the publisher. It is
// safe for concurrent use.
type Client struct {
	cfg     Config
	http    *http.Client
	tokens  *tokenCache
	sleep   func(ctx context.Context, d time.Duration) error
	newUUID func() string
}

// New checks cfg and builds a client. No request is made until a call.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("azure marketplace configuration: %w", err)
	}
	cfg = cfg.withDefaults()
	hc := guardedClient(cfg.HTTPClient, cfg.BaseURL, cfg.AuthorityHost)
	c := &Client{cfg: cfg, http: hc, sleep: sleepCtx, newUUID: newUUID}
	c.tokens = &tokenCache{
		now: cfg.Now,
		cc: clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.TokenURL(),
			Scopes:       []string{tokenScope},
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		http:    hc,
		timeout: cfg.AttemptTimeout,
	}
	return c, nil
}

// tokenCache holds the publisher's access token and fetches a new one
// before it expires: five minutes early, or at half its life if it is
// short.
type tokenCache struct {
	now     func() time.Time
	cc      clientcredentials.Config
	http    *http.Client
	timeout time.Duration

	mu        sync.Mutex
	token     string
	refreshAt time.Time
}

func (t *tokenCache) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && t.now().Before(t.refreshAt) {
		return t.token, nil
	}
	start := t.now()
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	tok, err := t.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, t.http))
	if err != nil {
		return "", tokenError(err)
	}
	// expires_in is measured on our clock; Expiry, computed by oauth2 on
	// the wall clock, is the fallback.
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 && !tok.Expiry.IsZero() {
		life = time.Until(tok.Expiry)
	}
	if life <= 0 {
		life = 5 * time.Minute // Entra always says; be modest if not
	}
	t.token, t.refreshAt = tok.AccessToken, start.Add(life-min(5*time.Minute, life/2))
	return t.token, nil
}

// drop forgets a token Microsoft refused, so that the next call fetches a
// new one.
func (t *tokenCache) drop(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == token {
		t.token = ""
	}
}

// tokenError maps Entra's refusals: a bad secret or app is ErrForbidden,
// and anything else (its outage, the network) ErrUnavailable.
func tokenError(err error) error {
	e := &APIError{Kind: ErrUnavailable, Op: "get a token from Entra ID", Err: err}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			e.Status = re.Response.StatusCode
			e.CorrelationID = re.Response.Header.Get("client-request-id")
			e.RequestID = re.Response.Header.Get("x-ms-request-id")
		}
		e.Code, e.Message = re.ErrorCode, re.ErrorDescription
		switch {
		case e.Status == http.StatusTooManyRequests:
			e.Kind = ErrThrottled
		case e.Status >= 400 && e.Status < 500:
			e.Kind = ErrForbidden
		}
		e.Err = nil // its text repeats the code and description
	}
	return e
}

// request is one logical call: its attempts share a correlation id.
type request struct {
	op     string
	method string
	url    string // absolute, with api-version
	body   []byte
	header http.Header
	// idempotent calls are repeated after a 5xx or a network failure. A
	// 429 is repeated for every call: Microsoft did not act on it.
	idempotent bool
}

type response struct {
	status int
	header http.Header
	body   []byte
	// requestID and correlationID as echoed, else as sent.
	requestID, correlationID string
}

// maxBody bounds what is read of an answer: a page of 100 subscriptions is
// well under 1 MiB.
const maxBody = 8 << 20

type correlationKey struct{}

// WithCorrelationID makes the calls made with ctx send id as their
// x-ms-correlationid, e.g. to tie them to the webhook being handled; without
// it each call gets a fresh one.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// do runs r, repeating it as its kind allows, and returns a 2xx answer or
// an *APIError.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	correlation, _ := ctx.Value(correlationKey{}).(string)
	if correlation == "" {
		correlation = c.newUUID()
	}
	var last, arrived *APIError // arrived: the first attempt that may have reached Microsoft
	for attempt := 1; ; attempt++ {
		resp, err := c.attempt(ctx, r, correlation)
		if err == nil {
			return resp, nil
		}
		last = err
		if arrived == nil && err.mayHaveArrived() {
			arrived = err
		}
		retry := last.Kind == ErrThrottled || last.Kind == ErrUnavailable && r.idempotent && ctx.Err() == nil
		if !retry || attempt >= c.cfg.MaxAttempts {
			return nil, settled(last, arrived)
		}
		wait := backoff(attempt)
		if last.RetryAfter > 0 {
			if last.RetryAfter > c.cfg.MaxRetryAfter {
				return nil, settled(last, arrived) // the caller's own schedule decides
			}
			wait = last.RetryAfter
		}
		if err := c.sleep(ctx, wait); err != nil {
			last.Err = errors.Join(last.Err, err)
			return nil, settled(last, arrived)
		}
	}
}

// settled is the error a call ends with: its last attempt's, which
// remembers an earlier attempt that may have reached Microsoft. Usage such
// a call carried may be recorded, whatever the last attempt got (throttled,
// refused, no connection); the metering adapter reads it so (R10).
func settled(last, arrived *APIError) *APIError {
	if arrived != nil && arrived != last {
		last.earlier = arrived
	}
	return last
}

// mayHaveArrived says whether Microsoft may have acted on the attempt that
// failed with e: an answer of 5xx, or a failure after the request left. A
// token that could not be had or a connection never made mean it did not.
func (e *APIError) mayHaveArrived() bool {
	return e.Kind == ErrUnavailable && !e.unsent && !metering.NeverSent(e.Err)
}

// backoff is the wait before attempt n+1 when Microsoft did not say: 1 s,
// 2 s, 4 s, ...
func backoff(n int) time.Duration { return time.Second << min(n-1, 5) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, r request, correlation string) (*response, *APIError) {
	requestID := c.newUUID()
	fail := func(kind error, err error) *APIError {
		return &APIError{Kind: kind, Op: r.op, RequestID: requestID, CorrelationID: correlation, Err: err}
	}
	token, err := c.tokens.get(ctx)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			ae = fail(ErrUnavailable, err)
		} else {
			ae.Op = r.op + ": " + ae.Op
		}
		ae.unsent = true // the request itself never left
		return nil, ae
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, r.url, body)
	if err != nil {
		return nil, fail(ErrInvalidInput, err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-ms-requestid", requestID)
	req.Header.Set("x-ms-correlationid", correlation)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fail(ErrUnavailable, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, fail(ErrUnavailable, fmt.Errorf("read the answer: %w", err))
	}
	out := &response{status: res.StatusCode, header: res.Header, body: b,
		requestID: echoed(res.Header, "x-ms-requestid", requestID), correlationID: echoed(res.Header, "x-ms-correlationid", correlation)}
	if len(b) > maxBody {
		return nil, fail(ErrBadResponse, fmt.Errorf("answer longer than %d bytes", maxBody))
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return out, nil
	}
	e := &APIError{Kind: kindOf(res.StatusCode), Op: r.op, Status: res.StatusCode,
		RequestID: out.requestID, CorrelationID: out.correlationID}
	e.Code, e.Message, e.Target, e.Details = parseErrorBody(b)
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(res.Header.Get("Retry-After"), c.cfg.Now())
	}
	if e.Kind == ErrForbidden {
		c.tokens.drop(token)
	}
	return nil, e
}

func echoed(h http.Header, name, sent string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	return sent
}

// kindOf maps an HTTP status to the error kinds; callers refine 400 for
// Resolve.
func kindOf(status int) error {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrThrottled
	case status >= 500:
		return ErrUnavailable
	}
	return ErrBadRequest
}

// retryAfter reads Retry-After in seconds or as an HTTP date; 0 if absent
// or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(s, 0), 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// endpoint is BaseURL + path + query, with api-version added.
func (c *Client) endpoint(path string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	q.Set("api-version", APIVersion)
	return c.cfg.BaseURL + path + "?" + q.Encode()
}

// newUUID is a random (version 4) UUID, the form of Microsoft's ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
