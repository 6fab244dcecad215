package azuremp

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ErrUnauthorized is returned, wrapped with the reason, for a webhook call
// whose bearer token is not one Microsoft issued for this publisher: reply
// 401. A failure to fetch Entra's keys is ErrUnavailable instead: reply 503
// so that Microsoft retries, since a 4xx would reject a plan change.
var ErrUnauthorized = errors.New("webhook token refused")

// Verification bounds (contract §4.4).
const (
	// clockSkew is the leeway on exp, nbf and iat.
	clockSkew = 5 * time.Minute
	// keysRefetchEvery bounds how often an unknown key id refetches the
	// key set: tokens with made-up kids must not make us hammer Entra.
	keysRefetchEvery = time.Minute
	// maxTokenLen bounds the Authorization header read; Entra's tokens are
	// a few KiB.
	maxTokenLen = 16 << 10
	// maxKeysBody bounds the JWKS read.
	maxKeysBody = 1 << 20
)

// WebhookClaims are the checked claims of a webhook token.
type WebhookClaims struct {
	Issuer, Subject, TenantID, AppID string
	Audience                         []string
	IssuedAt, Expiry                 time.Time
}

// WebhookVerifier checks the Entra ID bearer token Microsoft sends with
// each webhook: an RS256 signature by a key of the publisher tenant's key
// set, aud the publisher's app (client id or App ID URI), tid the
// publisher's tenant, azp or appid the marketplace's own app, a v1 or v2
// issuer of that tenant, and exp/nbf within 5 minutes. Safe for concurrent
// use.
type WebhookVerifier struct {
	keysURL   string
	issuers   []string
	audiences []string
	tenantID  string
	http      *http.Client
	now       func() time.Time
	timeout   time.Duration

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time // of the last attempt, successful or not
	fetchErr  error     // of the last attempt
}

// NewWebhookVerifier builds a verifier from the publisher's tenant, client
// id (and App ID URI, if any) and authority host; the secret is not used.
// Keys are fetched at the first verification.
func NewWebhookVerifier(cfg Config) (*WebhookVerifier, error) {
	if err := errors.Join(cfg.validateIdentity()...); err != nil {
		return nil, fmt.Errorf("azure webhook verifier configuration: %w", err)
	}
	cfg = cfg.withDefaults()
	auds := []string{cfg.ClientID}
	if cfg.AppIDURI != "" {
		auds = append(auds, cfg.AppIDURI)
	}
	return &WebhookVerifier{
		keysURL:   cfg.KeysURL(),
		issuers:   cfg.Issuers(),
		audiences: auds,
		tenantID:  cfg.TenantID,
		http:      guardedClient(cfg.HTTPClient, cfg.AuthorityHost),
		now:       cfg.Now,
		timeout:   cfg.AttemptTimeout,
	}, nil
}

// webhookClaims are the claims read from the token.
type webhookClaims struct {
	jwt.Claims
	TenantID     string `json:"tid"`
	TenantIDLong string `json:"http://schemas.microsoft.com/identity/claims/tenantid"`
	AZP          string `json:"azp"`
	AppID        string `json:"appid"`
}

// Verify checks the value of the request's Authorization header.
func (v *WebhookVerifier) Verify(ctx context.Context, authorization string) (WebhookClaims, error) {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return WebhookClaims{}, fmt.Errorf("%w: no bearer token", ErrUnauthorized)
	}
	raw = strings.TrimSpace(raw)
	if len(raw) > maxTokenLen {
		return WebhookClaims{}, fmt.Errorf("%w: token longer than %d bytes", ErrUnauthorized, maxTokenLen)
	}
	// Only RS256: "none", HS256 (a key set's public key used as an HMAC
	// secret) and every other algorithm are refused here.
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return WebhookClaims{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if len(tok.Headers) != 1 {
		return WebhookClaims{}, fmt.Errorf("%w: want one signature", ErrUnauthorized)
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		// Entra's kid equals its x5t; older tokens carry x5t alone.
		kid, _ = tok.Headers[0].ExtraHeaders["x5t"].(string)
	}
	if kid == "" {
		return WebhookClaims{}, fmt.Errorf("%w: no key id", ErrUnauthorized)
	}
	key, err := v.key(ctx, kid)
	if err != nil {
		return WebhookClaims{}, err
	}
	var c webhookClaims
	if err := tok.Claims(key, &c); err != nil {
		return WebhookClaims{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return v.check(c)
}

// check applies every claim rule of §4.4 to claims whose signature holds.
func (v *WebhookVerifier) check(c webhookClaims) (WebhookClaims, error) {
	var errs []error
	if c.Expiry == nil {
		errs = append(errs, errors.New("no exp"))
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Time: v.now()}, clockSkew); err != nil {
		errs = append(errs, fmt.Errorf("exp, nbf or iat: %w", err))
	}
	// The client id is a GUID, which Entra and Partner Center write in
	// either case; the App ID URI is compared as written.
	if !slices.ContainsFunc(c.Audience, func(a string) bool {
		return strings.EqualFold(a, v.audiences[0]) || slices.Contains(v.audiences[1:], a)
	}) {
		errs = append(errs, fmt.Errorf("aud %v: want %q", []string(c.Audience), v.audiences))
	}
	// The issuers differ only by the tenant, a GUID: its case is not the
	// token's to decide.
	if !slices.ContainsFunc(v.issuers, func(iss string) bool { return strings.EqualFold(iss, c.Issuer) }) {
		errs = append(errs, fmt.Errorf("iss %q: want one of %q", c.Issuer, v.issuers))
	}
	tid := c.TenantID
	if tid == "" {
		tid = c.TenantIDLong
	}
	if !strings.EqualFold(tid, v.tenantID) {
		errs = append(errs, fmt.Errorf("tid %q: not the publisher's tenant", tid))
	}
	app := c.AZP
	if app == "" {
		app = c.AppID
	}
	if !strings.EqualFold(app, MarketplaceAppID) {
		errs = append(errs, fmt.Errorf("azp/appid %q: not the marketplace's app %s", app, MarketplaceAppID))
	}
	if err := errors.Join(errs...); err != nil {
		return WebhookClaims{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	out := WebhookClaims{Issuer: c.Issuer, Subject: c.Subject, TenantID: tid, AppID: app, Audience: c.Audience}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time()
	}
	out.Expiry = c.Expiry.Time()
	return out, nil
}

// key returns the tenant's key kid, fetching the key set when it is not
// known yet, at most once a minute.
func (v *WebhookVerifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	if !v.fetchedAt.IsZero() && v.now().Sub(v.fetchedAt) < keysRefetchEvery {
		if v.fetchErr != nil {
			return nil, fmt.Errorf("%w: webhook signing keys: %w", ErrUnavailable, v.fetchErr)
		}
		return nil, fmt.Errorf("%w: unknown key id %q", ErrUnauthorized, kid)
	}
	v.fetchedAt = v.now()
	keys, err := v.fetchKeys(ctx)
	v.fetchErr = err
	if err != nil {
		return nil, fmt.Errorf("%w: webhook signing keys: %w", ErrUnavailable, err)
	}
	v.keys = keys
	if k, ok := v.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: unknown key id %q", ErrUnauthorized, kid)
}

// fetchKeys reads the JWKS and keeps its RSA signing keys.
func (v *WebhookVerifier) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.keysURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", v.keysURL, res.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxKeysBody))
	if err != nil {
		return nil, err
	}
	return parseKeySet(b)
}

// parseKeySet keeps the RSA public keys of at least 2048 bits meant for
// signatures; a set with none is an error.
func parseKeySet(b []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue // a key type go-jose does not know: not one of ours
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || k.Use != "" && k.Use != "sig" || pub.N.BitLen() < 2048 {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set: no RSA signing key")
	}
	return keys, nil
}
