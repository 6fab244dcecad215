package azuremp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Production endpoints and the marketplace's own identity (contract §2).
const (
	// DefaultBaseURL is where both the Fulfillment and the Metering API live.
	DefaultBaseURL = "https://marketplaceapi.microsoft.com/api"
	// DefaultAuthorityHost is Entra ID's public cloud.
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	// MarketplaceAppID is the application id of the marketplace API: the
	// resource of the publisher's tokens, and the caller (azp or appid) of
	// the webhook tokens Microsoft sends.
	MarketplaceAppID = "20e940b3-4c77-4b0b-9a53-9e16a1b010a7"
	// APIVersion is the only version of both APIs.
	APIVersion = "2018-08-31"

	tokenScope = MarketplaceAppID + "/.default"
)

// Defaults of the optional fields of Config.
const (
	// DefaultAttemptTimeout bounds one HTTP attempt: a hung call would
	// otherwise hold a metering worker and its records' lease for good.
	// Three attempts end within about 95 s, inside a 2-minute lease, as on
	// the AWS side.
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultMaxAttempts is how many times a call that may be repeated
	// is tried.
	DefaultMaxAttempts = 3
	// DefaultMaxRetryAfter is the longest Retry-After the client waits
	// for; a longer one ends the call with ErrThrottled at once, so that
	// the caller's own schedule decides.
	DefaultMaxRetryAfter = 30 * time.Second
)

// Config says how to reach Microsoft and as whom. Zero optional fields take
// production values.
type Config struct {
	// BaseURL of the Fulfillment and Metering APIs; default DefaultBaseURL.
	// An emulator's is e.g. https://127.0.0.1:8081/azure/api.
	BaseURL string
	// AuthorityHost of Entra ID, ending in '/'; default
	// DefaultAuthorityHost. Tokens come from
	// {AuthorityHost}{TenantID}/oauth2/v2.0/token and webhook keys from
	// {AuthorityHost}{TenantID}/discovery/v2.0/keys.
	AuthorityHost string
	// TenantID is the publisher's Entra tenant (a GUID, or a domain name
	// such as contoso.onmicrosoft.com).
	TenantID string
	// ClientID is the publisher's single-tenant Entra app, the one named
	// in Partner Center's technical configuration.
	ClientID string
	// ClientSecret is that app's secret. NewWebhookVerifier does not
	// need it.
	ClientSecret string
	// AppIDURI, if the publisher's app defines one, is accepted as the
	// audience of webhook tokens besides ClientID (contract §4.4).
	AppIDURI string
	// HTTPClient makes every request, e.g. one whose transport trusts an
	// emulator's CA; nil takes http.DefaultTransport's settings. The
	// client adds its own host check and per-attempt timeout to a copy.
	HTTPClient *http.Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// AttemptTimeout bounds one HTTP attempt; 0 is DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts of a call that may be repeated;
	// 0 is DefaultMaxAttempts.
	MaxAttempts int
	// MaxRetryAfter is the longest Retry-After waited for; 0 is
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
}

// tenantRE is what Entra accepts in a path: a GUID or a domain name. It
// keeps '/', '?' and '#' out of the URLs built from it.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$`)

// Validate reports every missing or invalid field at once.
func (c Config) Validate() error {
	errs := c.validateIdentity()
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("azure client secret: required (the Entra app's secret)"))
	}
	return errors.Join(errs...)
}

// validateIdentity checks everything but the secret: what the webhook
// verifier needs too.
func (c Config) validateIdentity() []error {
	var errs []error
	c = c.withDefaults()
	if err := checkEndpoint("azure API URL", c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if err := checkEndpoint("azure authority host", c.AuthorityHost); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.TenantID == "":
		errs = append(errs, errors.New("azure tenant id: required (the publisher's Entra tenant, as in Partner Center)"))
	case !tenantRE.MatchString(c.TenantID):
		errs = append(errs, fmt.Errorf("azure tenant id %q: want a GUID or a domain name", c.TenantID))
	}
	switch {
	case c.ClientID == "":
		errs = append(errs, errors.New("azure client id: required (the Entra app id, as in Partner Center)"))
	case strings.ContainsFunc(c.ClientID, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		errs = append(errs, fmt.Errorf("azure client id %q: contains spaces or control characters", c.ClientID))
	}
	if c.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("azure attempt timeout %v: must not be negative", c.AttemptTimeout))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("azure max attempts %d: must not be negative", c.MaxAttempts))
	}
	if c.MaxRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("azure max Retry-After %v: must not be negative", c.MaxRetryAfter))
	}
	return errs
}

// checkEndpoint requires an absolute URL without credentials, query or
// fragment, over https unless its host is a loopback address: tokens and
// secrets cross it.
func checkEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q: %w", name, raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return fmt.Errorf("%s %q: want an absolute https URL", name, raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") || strings.Contains(raw, "#"):
		return fmt.Errorf("%s %q: want no user, query or fragment", name, raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Errorf("%s %q: https is required for a host other than a loopback address", name, raw)
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

// withDefaults fills the optional fields and normalises the URLs: no '/'
// after the base URL, one after the authority host.
func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.AuthorityHost == "" {
		c.AuthorityHost = DefaultAuthorityHost
	}
	if !strings.HasSuffix(c.AuthorityHost, "/") {
		c.AuthorityHost += "/"
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
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return c
}

// TokenURL is where client-credentials tokens come from.
func (c Config) TokenURL() string {
	c = c.withDefaults()
	return c.AuthorityHost + c.TenantID + "/oauth2/v2.0/token"
}

// KeysURL is the tenant's JWKS, whose keys sign webhook tokens.
func (c Config) KeysURL() string {
	c = c.withDefaults()
	return c.AuthorityHost + c.TenantID + "/discovery/v2.0/keys"
}

// Issuers are the two issuers a webhook token may name, v1 and v2 (§4.4).
func (c Config) Issuers() []string {
	c = c.withDefaults()
	return []string{"https://sts.windows.net/" + c.TenantID + "/", c.AuthorityHost + c.TenantID + "/v2.0"}
}

// guardedClient copies base (nil: a default client) with a transport that
// refuses any request to a host not in allowed (scheme://host[:port]), and
// no redirects: the client talks to Microsoft's two hosts only, whatever an
// answer points at.
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
		if u, err := url.Parse(a); err == nil {
			hosts[origin(u)] = true
		}
	}
	c.Transport = hostGuard{allowed: hosts, next: next}
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("refused redirect to %s: the marketplace APIs do not redirect", req.URL.Redacted())
	}
	// Per-attempt deadlines come from contexts; a Timeout of the caller's
	// would cut a slow page of subscriptions as well, so it is kept.
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
		return nil, fmt.Errorf("refused request to %s: only the configured API and authority hosts are reached", origin(r.URL))
	}
	return g.next.RoundTrip(r)
}

// origin is scheme://host:port with the default port made explicit, so
// that https://h and https://h:443 are one origin.
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
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
