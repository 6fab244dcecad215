package entra

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// MarketplaceAppID is the application (client) id of the marketplace API,
// the same for every publisher: the resource of the access tokens publishers
// ask for, and the azp/appid of the tokens the marketplace sends to their
// webhooks.
const MarketplaceAppID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"

// MarketplaceScope is the v2 endpoint's scope for the marketplace API.
const MarketplaceScope = MarketplaceAppID + "/.default"

// TokenVersion is the version of the tokens Entra issues for a resource,
// which the resource app's accessTokenAcceptedVersion decides, not the
// endpoint the client used: it sets iss and ver.
type TokenVersion string

const (
	// TokenVersion1: iss https://sts.windows.net/{tid}/, ver 1.0. What the
	// marketplace API accepts (contract §2.2), and the default.
	TokenVersion1 TokenVersion = "1.0"
	// TokenVersion2: iss {PublicURL}{tid}/v2.0, on the emulator's host as
	// the v2 discovery document says (real Entra:
	// https://login.microsoftonline.com/{tid}/v2.0), ver 2.0.
	TokenVersion2 TokenVersion = "2.0"
)

// Defaults for the zero values of Config.
const (
	DefaultTokenLifetime       = time.Hour
	DefaultClockSkew           = 5 * time.Minute
	DefaultPreviousKeyLifetime = 24 * time.Hour
)

// Config configures the stand-in. Zero values take the defaults above.
type Config struct {
	// PublicURL is the authority host sellers are configured with, prefix
	// included, e.g. https://127.0.0.1:8081/entra/. Every URL in the
	// discovery documents, and the v2 issuer, is built on it. azidentity
	// wants https; x/oauth2 does not care.
	PublicURL string
	// DataDir keeps the signing keys (entra-signing-key*.pem, 0600) so that
	// JWKS a seller cached stay valid across restarts; empty keeps them in
	// memory (tests).
	DataDir string
	// APITokenVersion is the version of the access tokens for the
	// marketplace API (TokenVersion1 when empty).
	APITokenVersion TokenVersion
	// WebhookTokenVersion is the version of the tokens on webhook calls,
	// which the publisher app's accessTokenAcceptedVersion decides in real
	// Entra (TokenVersion1 when empty).
	WebhookTokenVersion TokenVersion
	// TokenLifetime is how long issued tokens live (1 h, Entra's default).
	TokenLifetime time.Duration
	// ClockSkew is the leeway VerifyAccessToken gives exp and nbf (5 min).
	ClockSkew time.Duration
	// PreviousKeyLifetime is how long a rotated-out signing key stays in
	// the JWKS and keeps verifying (24 h). It must cover a token's lifetime,
	// or rotation would cut tokens still in flight.
	PreviousKeyLifetime time.Duration
	// Now is the clock (time.Now when nil). The emulator passes its own,
	// which tests advance.
	Now func() time.Time
	// Rand is the source of trace ids, token ids and keys (crypto/rand
	// when nil). Since Go 1.26 key generation ignores it unless
	// GODEBUG=cryptocustomrand=1.
	Rand io.Reader
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.PublicURL == "" {
		errs = append(errs, errors.New("entra: public URL is required"))
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("entra: public URL %q: want http(s)://host:port/prefix/ with no query", c.PublicURL))
	}
	for _, f := range []struct {
		name string
		v    TokenVersion
	}{{"API token version", c.APITokenVersion}, {"webhook token version", c.WebhookTokenVersion}} {
		if f.v != "" && f.v != TokenVersion1 && f.v != TokenVersion2 {
			errs = append(errs, fmt.Errorf("entra: %s %q: want %q or %q", f.name, f.v, TokenVersion1, TokenVersion2))
		}
	}
	if c.TokenLifetime < 0 || c.ClockSkew < 0 || c.PreviousKeyLifetime < 0 {
		errs = append(errs, errors.New("entra: durations must not be negative"))
	}
	if c.TokenLifetime != 0 && c.TokenLifetime < time.Minute {
		errs = append(errs, fmt.Errorf("entra: token lifetime %s: want at least a minute", c.TokenLifetime))
	}
	if lifetime, keep := or(c.TokenLifetime, DefaultTokenLifetime), or(c.PreviousKeyLifetime, DefaultPreviousKeyLifetime); keep < lifetime {
		errs = append(errs, fmt.Errorf("entra: previous key lifetime %s is shorter than the token lifetime %s: rotating keys would cut tokens still in flight", keep, lifetime))
	}
	return errors.Join(errs...)
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Server is the stand-in: an http.Handler for the authority's routes, the
// registry of publisher apps, the signing keys, and token verification and
// minting for the rest of the emulator.
//
// The emulator mounts it under the prefix of PublicURL with the prefix
// stripped: mux.Handle("/entra/", http.StripPrefix("/entra", s)).
type Server struct {
	base          string // PublicURL, ending in "/"
	apiVersion    TokenVersion
	hookVersion   TokenVersion
	lifetime      time.Duration
	skew          time.Duration
	keepPrevious  time.Duration
	now           func() time.Time
	rand          *lockedReader
	log           *slog.Logger
	handler       http.Handler
	keys          *keyring
	appsMu        sync.RWMutex
	apps          map[appKey]App
	clientTenants map[string]string // client id → tenant id: client ids are unique across Entra
}

// New loads or makes the signing keys and returns a Server with no apps.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		base:          strings.TrimSuffix(cfg.PublicURL, "/") + "/",
		apiVersion:    TokenVersion1,
		hookVersion:   TokenVersion1,
		lifetime:      or(cfg.TokenLifetime, DefaultTokenLifetime),
		skew:          or(cfg.ClockSkew, DefaultClockSkew),
		keepPrevious:  or(cfg.PreviousKeyLifetime, DefaultPreviousKeyLifetime),
		now:           cfg.Now,
		rand:          newLockedReader(cfg.Rand),
		log:           logger,
		apps:          map[appKey]App{},
		clientTenants: map[string]string{},
	}
	if cfg.APITokenVersion != "" {
		s.apiVersion = cfg.APITokenVersion
	}
	if cfg.WebhookTokenVersion != "" {
		s.hookVersion = cfg.WebhookTokenVersion
	}
	keys, err := loadKeyring(cfg.DataDir, s.rand, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("start entra stand-in: %w", err)
	}
	s.keys = keys
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves the authority's routes, relative to PublicURL's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// AuthorityHost is PublicURL ending in "/": what sellers set as azidentity's
// ActiveDirectoryAuthorityHost (or AZURE_AUTHORITY_HOST).
func (s *Server) AuthorityHost() string { return s.base }

// TokenURL is the v2 token endpoint of tenant, for x/oauth2's clientcredentials.
func (s *Server) TokenURL(tenantID string) string {
	return s.base + url.PathEscape(tenantID) + "/oauth2/v2.0/token"
}

// JWKSURL is the key set of tenant, which sellers verify webhook tokens with.
func (s *Server) JWKSURL(tenantID string) string {
	return s.base + url.PathEscape(tenantID) + "/discovery/v2.0/keys"
}

// Issuer is the iss of tenant's tokens of version v.
func (s *Server) Issuer(tenantID string, v TokenVersion) string {
	if v == TokenVersion2 {
		return s.base + tenantID + "/v2.0"
	}
	return "https://sts.windows.net/" + tenantID + "/"
}

// lockedReader serialises a caller's random source: handlers run
// concurrently and test readers are rarely safe for that.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func newLockedReader(r io.Reader) *lockedReader {
	if r == nil {
		r = rand.Reader
	}
	return &lockedReader{r: r}
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return io.ReadFull(l.r, p)
}
