package googleid

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

// PartnerEmail is the robot that signs sign-up JWTs.
const PartnerEmail = "cloud-commerce-partner@system.gserviceaccount.com"

// DefaultSignupIssuer is the iss of Google's sign-up JWTs (contract §1.3):
// the URL of the robot's certificate map, which sellers pin. The emulator
// keeps it by default so that the seller's code path is the production one;
// only the certificate URL the seller fetches from differs.
const DefaultSignupIssuer = "https://www.googleapis.com/robot/v1/metadata/x509/" + PartnerEmail

// DefaultPushIssuer is the iss of the OIDC tokens on Pub/Sub push requests.
const DefaultPushIssuer = "https://accounts.google.com"

// Defaults for the zero values of Config.
const (
	DefaultTokenLifetime = time.Hour
	// DefaultCertsMaxAge is the Cache-Control max-age of the key
	// documents. Google's vary (they count down to the next rotation) and
	// are a few hours; verifiers refetch on an unknown kid, which is how a
	// rotation reaches them before that.
	DefaultCertsMaxAge = 6 * time.Hour
	// DefaultClockSkew is the leeway given to exp and iat of assertions
	// and self-signed JWTs.
	DefaultClockSkew = 5 * time.Minute
)

// DefaultSignupRoles are the google.roles of a sign-up JWT when Config
// names none. Google's values are not documented (contract §1.3); sellers
// must not authorize on them.
var DefaultSignupRoles = []string{"account_admin"}

// Config configures the stand-in. Zero values take the defaults above.
type Config struct {
	// PublicURL is where the emulator serves this handler, prefix included,
	// e.g. http://127.0.0.1:8080/google/id/. The token_uri of issued key
	// files and the URLs of the discovery document are built on it.
	PublicURL string
	// DataDir keeps the keys and issued service-account keys
	// (google-id.json, 0600); empty keeps them in memory (tests).
	DataDir string
	// SignupIssuer is the iss of sign-up JWTs (DefaultSignupIssuer).
	SignupIssuer string
	// SignupRoles are their google.roles (DefaultSignupRoles).
	SignupRoles []string
	// PushIssuer is the iss of push OIDC tokens (DefaultPushIssuer).
	PushIssuer string
	// TokenLifetime is how long access tokens and push tokens live (1 h).
	TokenLifetime time.Duration
	// CertsMaxAge is the Cache-Control max-age of the key documents.
	CertsMaxAge time.Duration
	// ClockSkew is the leeway on exp and iat of what callers sign.
	ClockSkew time.Duration
	// Now is the clock (time.Now when nil); the emulator passes its own.
	Now func() time.Time
	// Rand is the source of keys, ids and token secrets (crypto/rand when
	// nil). Since Go 1.26 RSA key generation ignores it unless
	// GODEBUG=cryptocustomrand=1.
	Rand io.Reader
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.PublicURL == "" {
		errs = append(errs, errors.New("googleid: public URL is required"))
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("googleid: public URL %q: want http(s)://host:port/prefix/ with no query", c.PublicURL))
	}
	for _, f := range []struct{ name, iss string }{{"sign-up issuer", c.SignupIssuer}, {"push issuer", c.PushIssuer}} {
		if strings.TrimSpace(f.iss) != f.iss {
			errs = append(errs, fmt.Errorf("googleid: %s %q has surrounding spaces", f.name, f.iss))
		}
	}
	if c.TokenLifetime < 0 || c.CertsMaxAge < 0 || c.ClockSkew < 0 {
		errs = append(errs, errors.New("googleid: durations must not be negative"))
	}
	if c.TokenLifetime != 0 && c.TokenLifetime < time.Minute {
		errs = append(errs, fmt.Errorf("googleid: token lifetime %s: want at least a minute", c.TokenLifetime))
	}
	return errors.Join(errs...)
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Server is the stand-in: the http.Handler of Google's identity endpoints,
// the key sets, the issued service-account keys, and token minting and
// checking for the rest of the emulator.
//
// The emulator mounts it under the prefix of PublicURL with the prefix
// stripped: mux.Handle("/google/id/", http.StripPrefix("/google/id", s)).
type Server struct {
	base         string // PublicURL, ending in "/"
	signupIssuer string
	signupRoles  []string
	pushIssuer   string
	lifetime     time.Duration
	maxAge       time.Duration
	skew         time.Duration
	now          func() time.Time
	rand         *lockedReader
	log          *slog.Logger
	handler      http.Handler
	state        *state

	forgerOnce sync.Once
	forger     *signingKey // signs tokens meant to fail verification
	forgerErr  error
}

// New loads or makes the keys and returns a Server.
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
		base:         strings.TrimSuffix(cfg.PublicURL, "/") + "/",
		signupIssuer: orString(cfg.SignupIssuer, DefaultSignupIssuer),
		signupRoles:  cfg.SignupRoles,
		pushIssuer:   orString(cfg.PushIssuer, DefaultPushIssuer),
		lifetime:     orDuration(cfg.TokenLifetime, DefaultTokenLifetime),
		maxAge:       orDuration(cfg.CertsMaxAge, DefaultCertsMaxAge),
		skew:         orDuration(cfg.ClockSkew, DefaultClockSkew),
		now:          cfg.Now,
		rand:         newLockedReader(cfg.Rand),
		log:          logger,
	}
	if s.signupRoles == nil {
		s.signupRoles = DefaultSignupRoles
	}
	st, err := loadState(cfg.DataDir, s.rand, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("start google identity stand-in: %w", err)
	}
	s.state = st
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves the identity routes, relative to PublicURL's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// TokenURL is the OAuth2 token endpoint: the token_uri of issued key files.
func (s *Server) TokenURL() string { return s.base + "token" }

// PartnerCertsURL is the sign-up keys' certificate map (kid → PEM), the
// URL the seller is configured to fetch them from.
func (s *Server) PartnerCertsURL() string { return s.base + "robot/v1/metadata/x509/" + PartnerEmail }

// PartnerJWKSURL is the same keys as a JWKS.
func (s *Server) PartnerJWKSURL() string { return s.base + "robot/v1/metadata/jwk/" + PartnerEmail }

// OIDCJWKSURL is the JWKS of the keys that sign push OIDC tokens.
func (s *Server) OIDCJWKSURL() string { return s.base + "oauth2/v3/certs" }

// SignupIssuer is the iss of sign-up JWTs.
func (s *Server) SignupIssuer() string { return s.signupIssuer }

// PushIssuer is the iss of push OIDC tokens.
func (s *Server) PushIssuer() string { return s.pushIssuer }

// Rotate makes a new signing key for sign-up JWTs and one for push tokens.
// The keys they replace stay published, and keep verifying, until the next
// rotation; the ones before are dropped.
func (s *Server) Rotate() error {
	partner, oidc, err := s.state.rotate(s.now())
	if err != nil {
		return fmt.Errorf("rotate google signing keys: %w", err)
	}
	s.log.Info("google signing keys rotated", "partner_kid", partner, "oidc_kid", oidc)
	return nil
}

// PartnerKeyIDs are the kids of the published sign-up keys, the signing one
// first.
func (s *Server) PartnerKeyIDs() []string { return kids(s.state.published(partnerRing)) }

// OIDCKeyIDs are the kids of the published push-token keys, the signing one
// first.
func (s *Server) OIDCKeyIDs() []string { return kids(s.state.published(oidcRing)) }

func kids(keys []*signingKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.kid
	}
	return out
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
