package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Customer identifies a buyer on the marketplace. Products created since
// 2026 get no CustomerIdentifier from AWS, only the account and license.
type Customer struct {
	// AccountID is the buyer's account on the marketplace: the AWS account id,
	// or the beneficiary's Microsoft Entra tenant id.
	AccountID  string
	Identifier string // legacy products only
	LicenseArn string // current products
}

// agreementKey names the agreement: the license when there is one.
func (c Customer) agreementKey() string {
	if c.LicenseArn != "" {
		return c.LicenseArn
	}
	return c.Identifier
}

// Resolved is what resolving a registration token tells.
type Resolved struct {
	ProductCode string
	Customer
}

// Entitlement is one contract dimension the buyer is entitled to.
type Entitlement struct {
	Dimension string
	Kind      string // integer, double, boolean or string
	Integer   int64
	Text      string
	ExpiresAt time.Time // zero when AWS gave none
	// TermStart is where the current term of committed credits started:
	// zero for the first term, which runs from the link (terms.go).
	TermStart time.Time
}

// Resolver is what this package needs of the marketplace (package awsmp
// implements it with the AWS SDK). Its errors are ErrTokenInvalid,
// ErrTokenExpired and ErrMarketplaceUnavailable, or wrap them.
type Resolver interface {
	ResolveCustomer(ctx context.Context, token string) (Resolved, error)
	Entitlements(ctx context.Context, productCode string, c Customer) ([]Entitlement, error)
}

// What a buyer arriving from the marketplace can meet (R5).
var (
	ErrTokenInvalid = fault.New(fault.KindInvalid, "The marketplace registration token is not valid. "+
		"Go back to AWS Marketplace, open your subscription and click \u201cSet up your account\u201d again.")
	ErrTokenExpired = fault.New(fault.KindInvalid, "The marketplace registration token has expired (they last 4 hours). "+
		"Go back to AWS Marketplace, open your subscription and click \u201cSet up your account\u201d again; you do not need to subscribe again.")
	ErrMarketplaceUnavailable = fault.New(fault.KindUnavailable, "AWS Marketplace did not answer. Nothing was changed: "+
		"reload this page in a minute, or click \u201cSet up your account\u201d on AWS Marketplace again.")
	ErrProductNotConfigured = fault.New(fault.KindInvalid, "This marketplace product is not set up on our side yet. "+
		"Please contact support and quote the product code shown below; your AWS subscription is safe.")
)

// Orgs is what linking needs of organizations, inside its transaction.
type Orgs interface {
	CreateTx(ctx context.Context, tx *sql.Tx, actor int64, name string) (org.Org, error)
	AuthorizeTx(ctx context.Context, tx *sql.Tx, actor, orgID int64, roles ...org.Role) (org.Org, error)
	AuditTx(ctx context.Context, tx *sql.Tx, orgID, actor int64, action, detail string) error
	AdminsTx(ctx context.Context, tx *sql.Tx, orgID int64) ([]string, error)
	BillingContactsTx(ctx context.Context, tx *sql.Tx, orgID int64) ([]string, error)
	ListForUser(ctx context.Context, user int64) ([]org.Org, error)
}

// Mailer queues a message in the caller's transaction.
type Mailer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, m mailbox.Message) (int64, error)
}

// PurchaseTTL is how long a buyer has, after "Set up your account", to
// register, verify and link without going back to the marketplace.
const PurchaseTTL = 7 * 24 * time.Hour

// Config holds a Service's dependencies.
type Config struct {
	DB          *store.DB
	Catalog     *Catalog
	Resolver    Resolver
	Orgs        Orgs
	Mailer      Mailer
	Logger      *slog.Logger
	Now         func() time.Time
	BaseURL     string
	Marketplace string // "aws"
	// Events, when set, records the webhook events of every change of
	// billing in the change's transaction (issue 12); nil records none.
	Events EventRecorder
	// Agreements, when set, reads each subscription's agreement and its
	// terms (AWS's Agreement API, #13); nil reads none.
	Agreements AgreementReader
	// Providers are the marketplaces reached through an adapter besides
	// AWS (#15), by name (Azure): landing, activation, notices and
	// reconciliation. AWS is reached through Resolver.
	Providers map[string]Provider
}

// Validate reports every missing dependency.
func (c Config) Validate() error {
	var errs []error
	for name, missing := range map[string]bool{"DB": c.DB == nil, "Catalog": c.Catalog == nil, "Resolver": c.Resolver == nil,
		"Orgs": c.Orgs == nil, "Mailer": c.Mailer == nil, "Logger": c.Logger == nil, "Now": c.Now == nil, "BaseURL": c.BaseURL == ""} {
		if missing {
			errs = append(errs, errors.New("marketplace: "+name+" is required"))
		}
	}
	return errors.Join(errs...)
}

// Service is the marketplace operations.
type Service struct {
	cfg Config
	db  *store.DB
	// waiting is where ApplyPending goes on looking at waiting
	// notifications, in turn (see ApplyPending).
	waiting waitingCursor
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Marketplace == "" {
		cfg.Marketplace = "aws"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Service{cfg: cfg, db: cfg.DB}, nil
}

func (s *Service) now() time.Time { return store.Now(s.cfg.Now()) }

// Catalog is the configured products.
func (s *Service) Catalog() *Catalog { return s.cfg.Catalog }

func isUniqueViolation(err error) bool { return store.IsUniqueViolation(err) }
