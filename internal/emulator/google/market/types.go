package market

import (
	"time"
)

// Entitlement states of §2.5.
const (
	StateActivationRequested     = "ENTITLEMENT_ACTIVATION_REQUESTED"
	StateActive                  = "ENTITLEMENT_ACTIVE"
	StatePendingPlanChangeApprov = "ENTITLEMENT_PENDING_PLAN_CHANGE_APPROVAL"
	StatePendingPlanChange       = "ENTITLEMENT_PENDING_PLAN_CHANGE"
	StatePendingCancellation     = "ENTITLEMENT_PENDING_CANCELLATION"
	StateCancelled               = "ENTITLEMENT_CANCELLED"
)

// Approval states of an account's approvals[] (§2.4).
const (
	ApprovalPending  = "PENDING"
	ApprovalApproved = "APPROVED"
	ApprovalRejected = "REJECTED"
)

// Plan is one plan of a product: public, or private when an offer names it.
type Plan struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
	// MonthlyMicros is a flat fee per month in micro-dollars (0 = none).
	MonthlyMicros int64 `json:"monthly_micros,omitempty"`
	// Metrics maps each metric name the plan allows to its price in
	// micro-dollars per unit.
	Metrics map[string]int64 `json:"metrics"`
	// ChangeAtCycleEnd makes an approved change to this plan wait for the
	// end of the billing cycle (ENTITLEMENT_PENDING_PLAN_CHANGE).
	ChangeAtCycleEnd bool `json:"change_at_cycle_end,omitempty"`
	// Private plans are sold only through private offers.
	Private bool `json:"private,omitempty"`
}

// PrivateOffer is a plan offered to one billing account.
type PrivateOffer struct {
	ID             string `json:"id"`
	BillingAccount string `json:"billing_account"` // billingAccounts/...
	Plan           string `json:"plan"`
	// StartTime, when set, is the scheduled start: an approved entitlement
	// becomes active then, not after the activation delay.
	StartTime time.Time `json:"start_time,omitempty"`
	// AutoApprove is Google's automatic offer approval: the entitlement is
	// approved at order time and ENTITLEMENT_OFFER_ACCEPTED replaces
	// ENTITLEMENT_CREATION_REQUESTED (§3.2).
	AutoApprove bool   `json:"auto_approve,omitempty"`
	Duration    string `json:"duration,omitempty"` // ISO 8601, e.g. P1Y
	// EndTime is a fixed end of the offer's term (instead of Duration).
	EndTime time.Time `json:"end_time,omitempty"`
}

// Product is a SaaS listing; its service name is the productExternalName
// and the Service Control service.
type Product struct {
	ServiceName   string         `json:"service_name"`
	DisplayName   string         `json:"display_name,omitempty"`
	Description   string         `json:"description,omitempty"`
	ProjectNumber string         `json:"project_number,omitempty"` // the listing project in offer names
	Plans         []Plan         `json:"plans"`
	PrivateOffers []PrivateOffer `json:"private_offers,omitempty"`
}

// OfferName is the resource name of one of p's private offers, as
// entitlements carry it (§2.5).
func (p *Product) OfferName(offerID string) string {
	return "projects/" + p.ProjectNumber + "/services/" + p.ServiceName + "/privateOffers/" + offerID
}

// StandardOfferName is the resource name of a public plan's offer.
func (p *Product) StandardOfferName(plan string) string {
	return "projects/" + p.ProjectNumber + "/services/" + p.ServiceName + "/standardOffers/" + plan
}

func (p *Product) plan(name string) (Plan, bool) {
	for _, pl := range p.Plans {
		if pl.Name == name {
			return pl, true
		}
	}
	return Plan{}, false
}

// Approval is one entry of an account's approvals[].
type Approval struct {
	Name       string    `json:"name"`
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	UpdateTime time.Time `json:"updateTime"`
}

// Account is a procurement account: one per billing account and provider.
type Account struct {
	ID             string            `json:"id"`
	BillingAccount string            `json:"billing_account"`
	Approvals      []Approval        `json:"approvals"`
	Properties     map[string]string `json:"properties,omitempty"`
	CreateTime     time.Time         `json:"create_time"`
	UpdateTime     time.Time         `json:"update_time"`
}

// SignupState is the state of the "signup" approval.
func (a *Account) SignupState() string {
	for _, ap := range a.Approvals {
		if ap.Name == "signup" {
			return ap.State
		}
	}
	return ""
}

// Entitlement is a purchase of a plan (§2.5). Fields after the json "-"
// group are the emulator's own bookkeeping.
type Entitlement struct {
	ID                  string    `json:"id"`
	Account             string    `json:"account"` // bare account id
	BillingAccount      string    `json:"billing_account"`
	Product             string    `json:"product"` // service name
	Plan                string    `json:"plan"`
	NewPendingPlan      string    `json:"new_pending_plan,omitempty"`
	State               string    `json:"state"`
	UsageReportingID    string    `json:"usage_reporting_id,omitempty"`
	Offer               string    `json:"offer"`
	NewPendingOffer     string    `json:"new_pending_offer,omitempty"`
	OfferDuration       string    `json:"offer_duration,omitempty"`
	OfferEndTime        time.Time `json:"offer_end_time,omitempty"`
	NewOfferStartTime   time.Time `json:"new_offer_start_time,omitempty"`
	NewOfferEndTime     time.Time `json:"new_offer_end_time,omitempty"`
	SubscriptionEndTime time.Time `json:"subscription_end_time,omitempty"`
	MessageToUser       string    `json:"message_to_user,omitempty"`
	CancellationReason  string    `json:"cancellation_reason,omitempty"`
	Consumers           []string  `json:"consumers,omitempty"`  // projects/<n>
	OrderedBy           string    `json:"ordered_by,omitempty"` // the buyer's e-mail
	CreateTime          time.Time `json:"create_time"`
	UpdateTime          time.Time `json:"update_time"`

	// Approved is set by the provider's approval; the entitlement becomes
	// active at ActivateAt.
	Approved   bool      `json:"approved,omitempty"`
	ActivateAt time.Time `json:"activate_at,omitempty"`
	// ChangeAt is when an approved end-of-cycle plan change takes effect.
	ChangeAt time.Time `json:"change_at,omitempty"`
	// UsageIDAt is when the usage reporting id appears (delayed setting).
	UsageIDAt      time.Time `json:"usage_id_at,omitempty"`
	PendingUsageID string    `json:"pending_usage_id,omitempty"`
	// EndedAt is when it was cancelled; DeleteAt when it disappears.
	EndedAt  time.Time `json:"ended_at,omitempty"`
	DeleteAt time.Time `json:"delete_at,omitempty"`
}

// Event is one Pub/Sub message payload of §3.2, waiting in the outbox.
type Event struct {
	EventID     string            `json:"eventId"`
	EventType   string            `json:"eventType"`
	ProviderID  string            `json:"providerId"`
	Account     *EventAccount     `json:"account,omitempty"`
	Entitlement *EventEntitlement `json:"entitlement,omitempty"`
}

// EventAccount is the account key of an account event.
type EventAccount struct {
	ID         string `json:"id"`
	UpdateTime string `json:"updateTime"`
}

// EventEntitlement is the entitlement key of an entitlement event.
type EventEntitlement struct {
	ID                string `json:"id"`
	UpdateTime        string `json:"updateTime"`
	NewPlan           string `json:"newPlan,omitempty"`
	NewOfferDuration  string `json:"newOfferDuration,omitempty"`
	NewOfferStartTime string `json:"newOfferStartTime,omitempty"`
	NewOfferEndTime   string `json:"newOfferEndTime,omitempty"`
}

// Delivery is an outbox entry: the event, its order and its delivery record.
type Delivery struct {
	Seq         int64     `json:"seq"`
	Event       Event     `json:"event"`
	CreatedAt   time.Time `json:"created_at"`
	Delivered   bool      `json:"delivered,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Frontend is the vendor's frontend integration in Producer Portal, which
// the buyer pages use.
type Frontend struct {
	Company   string `json:"company"`
	SignupURL string `json:"signup_url"`
	SSOURL    string `json:"sso_url,omitempty"`
	LoginURL  string `json:"login_url,omitempty"`
}
