package buyer

import (
	"context"
	"net/http"
	"time"
)

// Market is what the pages need of the emulator's state. Every method
// acts for one Cloud Billing account ("billingAccounts/01A2B3-C4D5E6-F7A8B9"),
// the pages never see another's orders. An error the buyer can act on is an
// *Error; anything else is logged and shown as an internal failure.
type Market interface {
	// Products lists the products on sale: their public plans and the
	// private offers made to billingAccount.
	Products(ctx context.Context, billingAccount string) ([]Product, error)
	// Order places an order: the procurement account of the billing
	// account (created when new) and an entitlement in
	// ENTITLEMENT_ACTIVATION_REQUESTED.
	Order(ctx context.Context, o OrderRequest) (Order, error)
	// Entitlements lists the billing account's entitlements, every product.
	Entitlements(ctx context.Context, billingAccount string) ([]Entitlement, error)
	// RequestPlanChange asks the vendor to move an entitlement to plan
	// (ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL).
	RequestPlanChange(ctx context.Context, billingAccount, entitlement, plan string) error
	// Cancel ends an entitlement at its term end
	// (ENTITLEMENT_PENDING_CANCELLATION), or at once if it never started.
	Cancel(ctx context.Context, billingAccount, entitlement string) error
	// RevertCancellation withdraws a pending cancellation.
	RevertCancellation(ctx context.Context, billingAccount, entitlement string) error
	// SignupToken mints the JWT of §1.3 for the procurement account id
	// (its sub), with google.orders and google.user_identity.
	SignupToken(ctx context.Context, account string, orders []string, userIdentity string) (string, error)
	// BillingAccounts lists the billing accounts the emulator knows (they
	// hold orders or are offered a private offer), for the sign-in page.
	BillingAccounts(ctx context.Context) ([]BillingAccount, error)
	// Settings is the vendor's frontend integration.
	Settings(ctx context.Context) (BuyerSettings, error)
}

// Micros is an amount of US dollars in millionths.
type Micros int64

// Product is a listing as the buyer sees it.
type Product struct {
	Name        string // the service name (productExternalName), e.g. example-cloud.gcpmarketplace.example.com
	DisplayName string
	Description string
	Plans       []Plan // public plans first, then this billing account's private offers
}

// Plan is a public plan, or a private offer (Offer set) on one of the
// product's plans.
type Plan struct {
	ID          string // plan id, e.g. "standard"
	DisplayName string
	Description string
	Prices      []Price
	// Offer is a private offer's resource name
	// ("projects/…/services/…/privateOffers/…"); empty for a public plan.
	Offer string
	// Term is the offer's duration ("P1Y"); empty: month to month.
	Term string
	// TermEnd is a fixed end of the offer's term; zero when none.
	TermEnd time.Time
	// Start is a private offer's scheduled start; zero: when approved.
	Start time.Time
}

// Price is one line of a plan's pricing: Amount per Per ("month",
// "usage_cents").
type Price struct {
	Amount Micros
	Per    string
}

// OrderRequest is the buyer's Subscribe.
type OrderRequest struct {
	BillingAccount string // billingAccounts/…
	User           string // the buyer's e-mail, who placed the order
	Product        string // Product.Name
	Plan           string // Plan.ID
	Offer          string // Plan.Offer for a private offer; empty for a public plan
}

// Order is what the market made of an OrderRequest.
type Order struct {
	Account     string // procurement account id (bare), the sign-up JWT's sub
	Entitlement string // entitlement id (bare), also the order id
}

// Entitlement states, as the Procurement API names them (§2.5).
const (
	StateActivationRequested       = "ENTITLEMENT_ACTIVATION_REQUESTED"
	StateActive                    = "ENTITLEMENT_ACTIVE"
	StatePendingPlanChangeApproval = "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL"
	StatePendingPlanChange         = "ENTITLEMENT_PENDING_PLAN_CHANGE"
	StatePendingCancellation       = "ENTITLEMENT_PENDING_CANCELLATION"
	StateCancelled                 = "ENTITLEMENT_CANCELLED"
	StateSuspended                 = "ENTITLEMENT_SUSPENDED"
)

// Entitlement is one of the billing account's orders.
type Entitlement struct {
	ID               string // entitlement id (bare)
	Account          string // procurement account id (bare)
	AccountApproved  bool   // the vendor approved the account's signup
	Product          string // Product.Name
	Plan             string
	NewPendingPlan   string
	State            string // one of the State constants
	Offer            string // resource name of the current (or upcoming) offer
	TermEnd          time.Time
	UsageReportingID string
	MessageToUser    string // the vendor's note to the buyer (entitlements.patch)
	CreateTime       time.Time
}

// BillingAccount is one the sign-in page offers to act as.
type BillingAccount struct {
	Name string // billingAccounts/01A2B3-C4D5E6-F7A8B9
	Why  string // "holds 2 orders", "private offer Enterprise (Example Cloud)"
}

// BuyerSettings is the vendor's frontend integration in Producer Portal.
type BuyerSettings struct {
	Company   string // "Example Cloud", in "Register with Example Cloud"
	SignupURL string // where "Register with" posts the token; absolute http(s)
	SSOURL    string // where "Manage on" posts a fresh token; empty: no SSO
	LoginURL  string // where "Manage on" links without SSO
}

// ErrorKind says what the buyer can do about an Error.
type ErrorKind int

// Error kinds.
const (
	KindInvalid     ErrorKind = iota + 1 // the request is wrong: correct it
	KindNotFound                         // no such product, plan or order for this billing account
	KindConflict                         // not in this state: wait, or change the state first
	KindUnavailable                      // try again later
)

// httpStatus is the page's status for a kind.
func (k ErrorKind) httpStatus() int {
	switch k {
	case KindInvalid:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Error is an outcome the buyer can act on: Message is shown as it is, so
// it says what happened and what to do; Err, when set, is only logged.
type Error struct {
	Kind    ErrorKind
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }
