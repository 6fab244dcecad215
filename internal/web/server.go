package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/ratelimit"
	"github.com/marketbridge/marketbridge/internal/usage"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// Reconciler is what the operator view shows of metering.
type Reconciler interface {
	Reconcile(ctx context.Context, month time.Time) ([]metering.Reconciliation, error)
}

// Pinger is the database check behind /healthz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Mailbox is what the dev mailbox page reads.
type Mailbox interface {
	List(ctx context.Context, limit int) ([]mail.Stored, error)
	Get(ctx context.Context, id int64) (mail.Stored, error)
}

// Config holds what the server needs from main.
type Config struct {
	Logger   *slog.Logger
	DB       Pinger
	Registry *prometheus.Registry // where request metrics are registered and /metrics reads
	// MetricsElsewhere leaves /metrics out of the console, because main
	// serves it on a listener of its own (--metrics-addr).
	MetricsElsewhere bool
	RequestTimeout   time.Duration
	BaseURL          string // the console's public URL; https makes cookies Secure
	Accounts         *account.Service
	Orgs             *org.Service
	Market           *marketplace.Service
	Reports          *metering.Reporter
	// Coverage splits usage into what a marketplace bills and what it does
	// not, for GET /api/v1/organizations/{org}/usage; nil leaves it out.
	Coverage *metering.Coverage
	// Reconciler compares rated usage with metering for the operator view.
	Reconciler Reconciler
	Usage      *usage.Ingester
	SNS        *awsmp.SNSVerifier
	// AzureNotices verifies Microsoft's webhook calls; nil when the seller
	// does not sell through Microsoft's marketplace (the webhook is 404).
	AzureNotices NoticeReader
	// GCPNotices verifies Google's Pub/Sub push calls; nil when the seller
	// does not sell through Google Cloud Marketplace (the endpoint is 404).
	GCPNotices NoticeReader
	// EventBridgeKey is the secret an EventBridge API destination sends in
	// the EventBridgeHeader header; empty disables the events endpoint.
	EventBridgeKey    string
	EventBridgeHeader string
	// EventOrigins are the regions and seller accounts EventBridge events
	// may name; zero takes AWS's region and any account.
	EventOrigins awsmp.Origins
	// TrustProxy takes the client address from the last X-Forwarded-For
	// entry, the one the reverse proxy in front adds, for rate limits. Leave
	// it off when clients connect directly, or they could forge their
	// address.
	TrustProxy bool
	// BuyerConsoleURL is where error pages send buyers to find their
	// subscriptions: AWS's console, or the emulator's pages in the demo.
	BuyerConsoleURL string
	// Operators are the e-mail addresses of the vendor's staff who may see
	// the operator view: every purchase, subscription and notification.
	Operators []string
	// ProductURL is where "Open <product>" leads from a linked
	// organization's billing page and link confirmation; zero offers none.
	ProductURL ProductURL
	// ProductName labels that button; empty takes the subscription's
	// product name from the catalog.
	ProductName string
	// Mailbox, when set, is shown at /dev/mailbox: the demo's stand-in for
	// an inbox. Leave it nil when real mail goes out.
	Mailbox Mailbox
	// OIDC, when set, signs people in through the vendor's OpenID Connect
	// provider, named OIDCName on the log-in button (#12).
	OIDC     SignInProvider
	OIDCName string
	// LocalAccountsOff turns registration, password log-in and reset off,
	// leaving sign-in through OIDC only.
	LocalAccountsOff bool
	// Webhooks, when set, are the vendor's webhook endpoints in the
	// operator view.
	Webhooks *webhook.Endpoints
	// WebhookInbox, when set, receives deliveries at /dev/webhooks/inbox
	// and shows them at /dev/webhooks: the demo's stand-in for the
	// vendor's receiver.
	WebhookInbox *webhook.Inbox
}

// Validate reports every missing dependency at once.
func (c Config) Validate() error {
	var errs []error
	if c.Logger == nil {
		errs = append(errs, errors.New("web: Logger is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("web: DB is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("web: Registry is required"))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("web: RequestTimeout must be positive"))
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		errs = append(errs, errors.New("web: BaseURL must be an http(s) URL"))
	}
	if c.Accounts == nil {
		errs = append(errs, errors.New("web: Accounts is required"))
	}
	if c.Orgs == nil {
		errs = append(errs, errors.New("web: Orgs is required"))
	}
	if c.Market == nil {
		errs = append(errs, errors.New("web: Market is required"))
	}
	if c.Reports == nil {
		errs = append(errs, errors.New("web: Reports is required"))
	}
	if c.Usage == nil {
		errs = append(errs, errors.New("web: Usage is required"))
	}
	if c.SNS == nil {
		errs = append(errs, errors.New("web: SNS is required"))
	}
	if c.LocalAccountsOff && c.OIDC == nil {
		errs = append(errs, errors.New("web: LocalAccountsOff needs OIDC, or nobody can log in"))
	}
	return errors.Join(errs...)
}

// Server is the seller service's HTTP handler.
type Server struct {
	cfg          Config
	logger       *slog.Logger
	metrics      *httpMetrics
	pages        map[string]*template.Template
	secureCookie bool
	// fulfillments limits set-ups per client address: each costs a call to
	// AWS against the seller's quota, and the route needs no log-in.
	fulfillments *ratelimit.Limiter
	// signIns limits sign-ins started per client address: each keeps a
	// row until it is finished or expires, and needs no log-in.
	signIns *ratelimit.Limiter
	// freshKeys holds new API keys' secrets for the page after the redirect.
	freshKeys *freshKeys
	handler   http.Handler
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.OIDCName == "" {
		cfg.OIDCName = "single sign-on"
	}
	if cfg.BuyerConsoleURL == "" {
		cfg.BuyerConsoleURL = "https://console.aws.amazon.com/marketplace/home#/subscriptions"
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, metrics: m, pages: pages,
		secureCookie: strings.HasPrefix(cfg.BaseURL, "https://"), fulfillments: ratelimit.New(20, 3*time.Second, time.Now),
		signIns:   ratelimit.New(30, 2*time.Second, time.Now),
		freshKeys: newFreshKeys(time.Now)}
	mux := http.NewServeMux()
	s.routes(mux)
	// Cross-origin protection refuses state-changing browser requests sent
	// from other sites (by Sec-Fetch-Site or Origin), which is what CSRF is;
	// requests without those headers, such as API clients, pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	// AWS Marketplace's "Set up your account" is a cross-site form post by
	// design; the registration token it carries, checked with AWS at once,
	// is the proof that the request is genuine.
	csrf.AddInsecureBypassPattern("POST " + fulfillmentPath)
	// Google's "Register with <vendor>" likewise, with its signed token.
	csrf.AddInsecureBypassPattern("POST " + gcpSignupPath)
	s.handler = s.withRequestID(s.withTimeout(s.withSecurityHeaders(csrf.Handler(mux))))
	return s, nil
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
