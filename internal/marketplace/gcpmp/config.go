package gcpmp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Google's production values (contract §1.3, §2.1, §3.4, §4.1).
const (
	DefaultProcurementURL    = "https://cloudcommerceprocurement.googleapis.com/"
	DefaultServiceControlURL = "https://servicecontrol.googleapis.com/"
	// DefaultSignupIssuer is the iss of every sign-up JWT, and also where
	// Google publishes its keys; the keys are still read from
	// Signup.CertsURL, never from a token's iss.
	DefaultSignupIssuer   = "https://www.googleapis.com/robot/v1/metadata/x509/cloud-commerce-partner@system.gserviceaccount.com"
	DefaultSignupCertsURL = DefaultSignupIssuer
	// DefaultPushCertsURL is Google's OAuth2 key set, which signs Pub/Sub
	// push tokens.
	DefaultPushCertsURL = "https://www.googleapis.com/oauth2/v3/certs"
	// Scope is the only scope the Procurement API knows; Service Control
	// takes it too.
	Scope = "https://www.googleapis.com/auth/cloud-platform"
)

// What the seller does with a plan change the buyer asked for (Google waits
// for an answer: ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL).
const (
	PlanChangesApprove = "approve"
	PlanChangesReject  = "reject"
)

// Defaults of the optional fields of Config.
const (
	// DefaultAttemptTimeout bounds one HTTP attempt, so that a hung call
	// does not hold a metering worker's lease for good.
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultMaxAttempts is how many times a call is tried when Google
	// answers 429 or 5xx, or not at all (Google's clients do not retry).
	DefaultMaxAttempts = 3
	// DefaultRetryBase is the first back-off; each next one doubles.
	DefaultRetryBase = 500 * time.Millisecond
	// maxRetryAfter is the longest Retry-After waited for inside a call;
	// a longer one ends the call, and the caller's schedule decides.
	maxRetryAfter = 10 * time.Second
)

// SignupConfig says how to verify the JWT of Google's sign-up post (§1.4).
type SignupConfig struct {
	// CertsURL serves the x509 certificate map (kid -> PEM); default
	// DefaultSignupCertsURL.
	CertsURL string
	// Issuer is the iss tokens must carry; default DefaultSignupIssuer.
	Issuer string
	// Audiences are the aud values accepted: the domain registered for the
	// product in Producer Portal (e.g. "app.example.com"). Required.
	Audiences []string
}

// PushConfig says how to verify the OIDC token of a Pub/Sub push (§3.4).
type PushConfig struct {
	// CertsURL serves the JWKS of the token's keys; default
	// DefaultPushCertsURL.
	CertsURL string
	// Issuers accepted; default https://accounts.google.com and
	// accounts.google.com.
	Issuers []string
	// Audience is the subscription's pushConfig.oidcToken.audience (by
	// default Google uses the push endpoint's URL). Required.
	Audience string
	// Email is the push subscription's service account. Required.
	Email string
}

// Config says how to reach Google and as whom. Zero optional fields take
// production values.
type Config struct {
	// ProviderID is the seller's partner id on the Cloud Commerce platform.
	ProviderID string
	// Products are the productExternalNames (service names) this seller
	// sells here; entitlements of other products are left alone.
	Products []string
	// ProcurementURL and ServiceControlURL are the APIs' base URLs;
	// default Google's. An emulator's is e.g.
	// http://127.0.0.1:8080/google/procurement/.
	ProcurementURL    string
	ServiceControlURL string
	// CredentialsJSON is the linked service account's JSON key file; its
	// token_uri is reached too. TokenSource, when set, is used instead
	// (tests).
	CredentialsJSON []byte
	TokenSource     oauth2.TokenSource
	// HTTPClient makes every request (e.g. one trusting an emulator's CA);
	// nil takes http.DefaultTransport's settings. A copy gets a host
	// guard and no redirects.
	HTTPClient *http.Client
	Signup     SignupConfig
	Push       PushConfig
	// PlanChanges is PlanChangesApprove (default) or PlanChangesReject.
	PlanChanges string
	// MetricPrefixes maps a product to the prefix of its metric names, as
	// Producer Portal shows them; default the product's service name, so
	// that a record's dimension "usage_cents" is reported as
	// "<service>/usage_cents".
	MetricPrefixes map[string]string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// AttemptTimeout, MaxAttempts and RetryBase shape retries of 429, 5xx
	// and lost answers; 0 takes the defaults.
	AttemptTimeout time.Duration
	MaxAttempts    int
	RetryBase      time.Duration
}

// providerRE keeps '/', '?' and '#' out of the resource names built from
// the provider id.
var providerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate reports every missing or invalid field at once.
func (c Config) Validate() error {
	var errs []error
	c = c.withDefaults()
	switch {
	case c.ProviderID == "":
		errs = append(errs, errors.New("gcp provider id: required (the partner id Producer Portal shows, the name of the Pub/Sub topic)"))
	case !providerRE.MatchString(c.ProviderID):
		errs = append(errs, fmt.Errorf("gcp provider id %q: want letters, digits, '.', '_' or '-'", c.ProviderID))
	}
	if len(c.Products) == 0 {
		errs = append(errs, errors.New("gcp products: at least one product's service name is required (e.g. example.gcpmarketplace.example.com)"))
	}
	for _, p := range c.Products {
		if p == "" || strings.ContainsAny(p, "/?#: \t") {
			errs = append(errs, fmt.Errorf("gcp product %q: want a service name such as example.gcpmarketplace.example.com", p))
		}
	}
	for _, e := range []struct{ name, url string }{
		{"gcp procurement URL", c.ProcurementURL}, {"gcp service control URL", c.ServiceControlURL},
		{"gcp sign-up certificates URL", c.Signup.CertsURL}, {"gcp push certificates URL", c.Push.CertsURL},
	} {
		if err := checkEndpoint(e.name, e.url); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.CredentialsJSON) == 0 && c.TokenSource == nil {
		errs = append(errs, errors.New("gcp credentials: required (the JSON key of the service account linked in Producer Portal)"))
	}
	if len(c.Signup.Audiences) == 0 || c.Signup.Audiences[0] == "" {
		errs = append(errs, errors.New("gcp sign-up audience: required (the domain registered for the product, e.g. app.example.com)"))
	}
	if c.Signup.Issuer == "" {
		errs = append(errs, errors.New("gcp sign-up issuer: must not be empty"))
	}
	if c.Push.Audience == "" {
		errs = append(errs, errors.New("gcp push audience: required (the push subscription's OIDC audience; Google's default is the push URL)"))
	}
	if c.Push.Email == "" {
		errs = append(errs, errors.New("gcp push service account: required (the e-mail of the push subscription's service account)"))
	}
	if c.PlanChanges != PlanChangesApprove && c.PlanChanges != PlanChangesReject {
		errs = append(errs, fmt.Errorf("gcp plan changes %q: want %q or %q", c.PlanChanges, PlanChangesApprove, PlanChangesReject))
	}
	if c.AttemptTimeout < 0 || c.MaxAttempts < 0 || c.RetryBase < 0 {
		errs = append(errs, errors.New("gcp attempt timeout, max attempts and retry base: must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.ProcurementURL, DefaultProcurementURL)
	def(&c.ServiceControlURL, DefaultServiceControlURL)
	def(&c.Signup.CertsURL, DefaultSignupCertsURL)
	def(&c.Signup.Issuer, DefaultSignupIssuer)
	def(&c.Push.CertsURL, DefaultPushCertsURL)
	def(&c.PlanChanges, PlanChangesApprove)
	if len(c.Push.Issuers) == 0 {
		c.Push.Issuers = []string{"https://accounts.google.com", "accounts.google.com"}
	}
	// Google's clients join paths to the endpoint: it must end in '/'.
	for _, s := range []*string{&c.ProcurementURL, &c.ServiceControlURL} {
		if !strings.HasSuffix(*s, "/") {
			*s += "/"
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBase == 0 {
		c.RetryBase = DefaultRetryBase
	}
	return c
}

// checkEndpoint requires an absolute URL without credentials or fragment,
// over https unless its host is a loopback address: tokens cross it.
func checkEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q: %w", name, raw, err)
	}
	switch {
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%s %q: want an absolute http(s) URL", name, raw)
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%s %q: must not carry credentials or a fragment", name, raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%s %q: plain http only to a loopback address (an emulator); use https", name, raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guardedClient copies base (nil: a default client) with a transport that
// refuses any request to an origin not in allowed, and no redirects: the
// seller talks to the configured hosts only, whatever an answer points at.
func guardedClient(base *http.Client, allowed ...string) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hosts := map[string]bool{}
	for _, a := range allowed {
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			hosts[origin(u)] = true
		}
	}
	c.Transport = hostGuard{allowed: hosts, next: next}
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("refused redirect to %s: Google's APIs and key URLs do not redirect", req.URL.Redacted())
	}
	return &c
}

type hostGuard struct {
	allowed map[string]bool
	next    http.RoundTripper
}

func (g hostGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if !g.allowed[origin(r.URL)] {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("refused request to %s: only the configured Google hosts are reached", origin(r.URL))
	}
	return g.next.RoundTrip(r)
}

// origin is scheme://host:port with the default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}
