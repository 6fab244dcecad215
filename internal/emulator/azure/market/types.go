package market

import (
	"strings"
	"time"
)

// Micros is an amount of US dollars in millionths. Prices per unit need finer
// steps than cents, and money is never a float: floats exist only on the wire
// (listAvailablePlans), converted there.
type Micros int64

// Subscription statuses (saasSubscriptionStatus).
const (
	StatusPending      = "PendingFulfillmentStart"
	StatusSubscribed   = "Subscribed"
	StatusSuspended    = "Suspended"
	StatusUnsubscribed = "Unsubscribed"
)

// Operation actions.
const (
	ActionChangePlan     = "ChangePlan"
	ActionChangeQuantity = "ChangeQuantity"
	ActionReinstate      = "Reinstate"
	ActionRenew          = "Renew"
	ActionSuspend        = "Suspend"
	ActionUnsubscribe    = "Unsubscribe"
)

// Operation statuses.
const (
	OpNotStarted = "NotStarted"
	OpInProgress = "InProgress"
	OpSucceeded  = "Succeeded"
	OpFailed     = "Failed"
	OpConflict   = "Conflict"
)

// Who asked for an operation (operationRequestSource).
const (
	SourceAzure   = "Azure"   // the buyer or Microsoft
	SourcePartner = "Partner" // the seller, through the Fulfillment API
)

// Customer operations (allowedCustomerOperations).
const (
	CustomerRead   = "Read"
	CustomerUpdate = "Update"
	CustomerDelete = "Delete"
)

// TermUnits are the billing terms of the spec, shortest first.
var TermUnits = []string{"P1M", "P1Y", "P2Y", "P3Y", "P4Y", "P5Y"}

// termMonths is the length of a term unit, or 0 for an unknown one.
func termMonths(unit string) int {
	switch unit {
	case "P1M":
		return 1
	case "P1Y":
		return 12
	case "P2Y":
		return 24
	case "P3Y":
		return 36
	case "P4Y":
		return 48
	case "P5Y":
		return 60
	}
	return 0
}

// Publisher is a Partner Center account: the Entra tenant and app that call
// the APIs, and where Microsoft sends buyers and webhooks.
type Publisher struct {
	ID         string    `json:"id"` // publisherId, e.g. contoso
	TenantID   string    `json:"tenant_id"`
	AppID      string    `json:"app_id"`
	LandingURL string    `json:"landing_url,omitempty"`
	WebhookURL string    `json:"webhook_url,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Dimension is a custom metering dimension of an offer: id, name and unit are
// shared by every plan; prices and included quantities are per plan.
type Dimension struct {
	ID            string `json:"id"`
	DisplayName   string `json:"display_name"`
	UnitOfMeasure string `json:"unit_of_measure"`
}

// PlanMeter enables a dimension on a flat-rate plan.
type PlanMeter struct {
	DimensionID string `json:"dimension_id"`
	PriceMicros Micros `json:"price_micros"` // per unit above the included quantity
	// Included units per monthly term and per annual (or longer) term's year.
	IncludedMonthly int64 `json:"included_monthly,omitempty"`
	IncludedAnnual  int64 `json:"included_annual,omitempty"`
	// Unlimited dimensions are never metered: usage for them is InvalidDimension.
	Unlimited bool `json:"unlimited,omitempty"`
}

// TermPrice is the recurring price of a plan for one term unit: per term for
// flat rate, per seat and term for per-user plans.
type TermPrice struct {
	Unit        string `json:"unit"` // P1M, P1Y...
	PriceMicros Micros `json:"price_micros"`
}

// Plan is one plan of an offer.
type Plan struct {
	ID           string      `json:"id"`
	DisplayName  string      `json:"display_name"`
	Description  string      `json:"description,omitempty"`
	PricePerSeat bool        `json:"price_per_seat"` // per user; otherwise flat rate
	MinQuantity  int         `json:"min_quantity,omitempty"`
	MaxQuantity  int         `json:"max_quantity,omitempty"`
	Terms        []TermPrice `json:"terms"`
	Meters       []PlanMeter `json:"meters,omitempty"` // flat rate only
	FreeTrial    bool        `json:"free_trial,omitempty"`
	Private      bool        `json:"private,omitempty"`
	Audience     []string    `json:"audience,omitempty"` // tenant ids that see a private plan
	SourceOffers []string    `json:"source_offers,omitempty"`
	StopSell     bool        `json:"stop_sell,omitempty"`
}

func (p *Plan) meter(dim string) (PlanMeter, bool) {
	for _, m := range p.Meters {
		if m.DimensionID == dim {
			return m, true
		}
	}
	return PlanMeter{}, false
}

func (p *Plan) term(unit string) (TermPrice, bool) {
	for _, t := range p.Terms {
		if t.Unit == unit {
			return t, true
		}
	}
	return TermPrice{}, false
}

// visibleTo reports whether tenant may buy or switch to the plan.
func (p *Plan) visibleTo(tenant string) bool {
	if !p.Private {
		return true
	}
	// Tenant ids are GUIDs, which Partner Center and Entra write in
	// either case.
	for _, t := range p.Audience {
		if strings.EqualFold(t, tenant) {
			return true
		}
	}
	return false
}

// quantityRange is the seat range of a per-user plan (no limit: 1..1,000,000,
// Microsoft's live maximum).
func (p *Plan) quantityRange() (int, int) {
	lo, hi := p.MinQuantity, p.MaxQuantity
	if lo <= 0 {
		lo = 1
	}
	if hi <= 0 {
		hi = 1000000
	}
	return lo, hi
}

// Offer is a transactable SaaS offer.
type Offer struct {
	ID          string      `json:"id"`
	PublisherID string      `json:"publisher_id"`
	DisplayName string      `json:"display_name"`
	Dimensions  []Dimension `json:"dimensions,omitempty"`
	Plans       []Plan      `json:"plans"`
	CreatedAt   time.Time   `json:"created_at"`
}

func (o *Offer) plan(id string) *Plan {
	for i := range o.Plans {
		if o.Plans[i].ID == id {
			return &o.Plans[i]
		}
	}
	return nil
}

func (o *Offer) dimension(id string) (Dimension, bool) {
	for _, d := range o.Dimensions {
		if d.ID == id {
			return d, true
		}
	}
	return Dimension{}, false
}

// Identity is an AadIdentifier: who bought, and for whom.
type Identity struct {
	EmailID  string `json:"emailId"`
	ObjectID string `json:"objectId"`
	TenantID string `json:"tenantId"`
	PUID     string `json:"puid,omitempty"`
}

// Term is the current billing term of a subscription. End is the last valid
// day (midnight UTC); the renewal happens the day after.
type Term struct {
	Unit  string    `json:"unit"`
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// PlanPeriod records which plan a subscription had from when, so usage sent
// late for an hour before a plan change is checked against the plan of that
// hour.
type PlanPeriod struct {
	PlanID string    `json:"plan_id"`
	From   time.Time `json:"from"`
}

// Subscription is a SaaS subscription.
type Subscription struct {
	ID                        string       `json:"id"`
	PublisherID               string       `json:"publisher_id"`
	OfferID                   string       `json:"offer_id"`
	Name                      string       `json:"name"`
	Status                    string       `json:"status"`
	Beneficiary               Identity     `json:"beneficiary"`
	Purchaser                 Identity     `json:"purchaser"`
	PlanID                    string       `json:"plan_id"`
	Quantity                  int          `json:"quantity,omitempty"` // seats of a per-user plan; 0 for flat rate
	Term                      Term         `json:"term"`
	AutoRenew                 bool         `json:"auto_renew"`
	IsTest                    bool         `json:"is_test,omitempty"`
	IsFreeTrial               bool         `json:"is_free_trial,omitempty"`
	AllowedCustomerOperations []string     `json:"allowed_customer_operations"`
	SandboxType               string       `json:"sandbox_type"` // None or Csp
	SessionMode               string       `json:"session_mode"` // None or DryRun
	Created                   time.Time    `json:"created"`
	LastModified              time.Time    `json:"last_modified"`
	ActivatedAt               time.Time    `json:"activated_at,omitzero"`
	SuspendedAt               time.Time    `json:"suspended_at,omitzero"`
	UnsubscribedAt            time.Time    `json:"unsubscribed_at,omitzero"`
	Plans                     []PlanPeriod `json:"plans"`
	Seq                       int64        `json:"seq"` // creation order, for stable listing
}

func (s *Subscription) allows(op string) bool {
	for _, o := range s.AllowedCustomerOperations {
		if o == op {
			return true
		}
	}
	return false
}

// planAt is the plan the subscription had at t.
func (s *Subscription) planAt(t time.Time) string {
	plan := s.PlanID
	for i := len(s.Plans) - 1; i >= 0; i-- {
		plan = s.Plans[i].PlanID
		if !s.Plans[i].From.After(t) {
			break
		}
	}
	return plan
}

// Token is a purchase (landing) token: opaque, resolvable repeatedly until
// it expires.
type Token struct {
	Token          string    `json:"token"`
	SubscriptionID string    `json:"subscription_id"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// Operation is a SaaSOperation.
type Operation struct {
	ID             string    `json:"id"`
	ActivityID     string    `json:"activity_id"`
	SubscriptionID string    `json:"subscription_id"`
	OfferID        string    `json:"offer_id"`
	PublisherID    string    `json:"publisher_id"`
	PlanID         string    `json:"plan_id"`
	Quantity       int       `json:"quantity,omitempty"`
	Action         string    `json:"action"`
	TimeStamp      time.Time `json:"time_stamp"`
	Status         string    `json:"status"`
	Source         string    `json:"source"`
	ErrorCode      string    `json:"error_code,omitempty"`
	ErrorMessage   string    `json:"error_message,omitempty"`
	// NeedsAck: the change waits for the seller (ChangePlan, ChangeQuantity
	// and, by setting, Reinstate from the Azure side).
	NeedsAck bool `json:"needs_ack,omitempty"`
	// DueAt is when an InProgress operation completes by itself: a Partner
	// operation after OperationDelay, an unacknowledged one after AckWindow
	// (counted from the webhook's delivery). Zero: not yet scheduled.
	DueAt time.Time `json:"due_at,omitzero"`
	Seq   int64     `json:"seq"`
}

// UsageEvent is an accepted usage event: a line of the ledger.
type UsageEvent struct {
	ID                 string    `json:"id"` // usageEventId
	PublisherID        string    `json:"publisher_id"`
	OfferID            string    `json:"offer_id"`
	ResourceID         string    `json:"resource_id"`
	PlanID             string    `json:"plan_id"`
	Dimension          string    `json:"dimension"`
	Quantity           Quantity  `json:"quantity"`
	EffectiveStartTime time.Time `json:"effective_start_time"`
	Hour               time.Time `json:"hour"` // effectiveStartTime truncated to the UTC hour: the dedupe key
	MessageTime        time.Time `json:"message_time"`
	DryRun             bool      `json:"dry_run,omitempty"`
}

// Charge is a recurring fee Microsoft bills: at activation and at each
// renewal (no proration of plan or seat changes; see docs/emulator.md).
type Charge struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscription_id"`
	PlanID         string    `json:"plan_id"`
	TermUnit       string    `json:"term_unit"`
	Quantity       int       `json:"quantity"` // seats, 1 for flat rate
	UnitMicros     Micros    `json:"unit_micros"`
	AmountMicros   Micros    `json:"amount_micros"`
	Reason         string    `json:"reason"` // activation or renewal
	At             time.Time `json:"at"`
}
