package marketplace

import (
	"context"
	"time"
)

// Marketplaces the core knows, by the name each subscription records.
const (
	AWS   = "aws"
	Azure = "azure"
	GCP   = "gcp"
)

// Label names a marketplace as pages, mail and the vendor API do; "" for a
// name the core does not know.
func Label(marketplace string) string {
	switch marketplace {
	case AWS:
		return "AWS Marketplace"
	case Azure:
		return "Microsoft commercial marketplace"
	case GCP:
		return "Google Cloud Marketplace"
	}
	return ""
}

// Subscription statuses of marketplaces that sell plans (#15), besides
// those of notifications.go: bought but not yet billable until the seller
// makes it so (Microsoft's PendingFulfillmentStart, before Activate), and
// suspended by the marketplace for non-payment, which it may reinstate.
const (
	StatusPending   = "pending"
	StatusSuspended = "suspended"
)

// Remote is a subscription as its marketplace holds it now. The core reads
// it again before acting on any notice, since a notice only says that
// something changed (Microsoft's webhook documentation requires as much).
type Remote struct {
	// Key is the marketplace's id of the subscription (Microsoft: the
	// SaaS subscription id; Google: the entitlement id), unique across its
	// buyers.
	Key string
	// ProductCode is the catalog's code of what was bought (Microsoft: the
	// offer id; Google: the product's service name).
	ProductCode string
	// Account is the buyer's account (Microsoft: the beneficiary's tenant;
	// Google: the procurement account, one per billing account).
	Account string
	Name    string // the name the buyer gave it
	Email   string // the beneficiary's e-mail
	Plan    string
	// Quantity is the seats of a per-user plan; 0 for a flat-rate plan,
	// the only kind that is metered.
	Quantity  int64
	Status    string // StatusPending, StatusActive, StatusSuspended or StatusCancelled
	FreeTrial bool
	TermStart time.Time // zero until billable
	TermEnd   time.Time
	// UsageID is what the marketplace names the subscription by in usage
	// reports, when that is not Key (Google: the entitlement's
	// usageReportingId, which may arrive after the entitlement is active).
	UsageID string
	// OfferID names the private offer bought, "" for a public plan.
	OfferID string
}

// Provider is what the core needs of a marketplace that sells plans and
// subscriptions it must be told to bill (Microsoft's: package azuremp;
// Google's: package gcpmp).
// Its errors are those of Resolver: ErrTokenInvalid, ErrTokenExpired,
// ErrMarketplaceUnavailable, or wrap them.
type Provider interface {
	// Resolve turns the token the buyer's browser brought into the
	// subscription it stands for.
	Resolve(ctx context.Context, token string) (Remote, error)
	// Read returns the subscription as the marketplace holds it now.
	Read(ctx context.Context, key string) (Remote, error)
	// Activate tells the marketplace to start billing a subscription that
	// is StatusPending, for its plan and quantity. It is not idempotent on
	// Microsoft's: the core calls it only after Read says pending. On
	// Google's it approves the buyer's account, then the entitlement.
	Activate(ctx context.Context, r Remote) error
	// List calls fn with every subscription the marketplace holds for the
	// seller, for reconciliation.
	List(ctx context.Context, fn func(Remote) error) error
	// Acknowledge accepts a change the marketplace waits on the seller for
	// (Microsoft: a plan or quantity change, a reinstatement; Google: a
	// plan change, approved or rejected by the seller's policy).
	Acknowledge(ctx context.Context, key, noticeID string) error
}
