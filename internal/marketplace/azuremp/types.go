package azuremp

import (
	"bytes"
	"encoding/json"
)

// SubscriptionStatus is a SaaS subscription's saasSubscriptionStatus.
// Values Microsoft adds later are kept as written.
type SubscriptionStatus string

// The statuses of contract §1.4.
const (
	SubscriptionPendingFulfillmentStart SubscriptionStatus = "PendingFulfillmentStart"
	SubscriptionSubscribed              SubscriptionStatus = "Subscribed"
	SubscriptionSuspended               SubscriptionStatus = "Suspended"
	SubscriptionUnsubscribed            SubscriptionStatus = "Unsubscribed"
	// SubscriptionNotStarted is in the spec's enum and nowhere in the
	// docs; Pending treats it as PendingFulfillmentStart.
	SubscriptionNotStarted SubscriptionStatus = "NotStarted"
)

// Pending says the subscription waits for Activate.
func (s SubscriptionStatus) Pending() bool {
	return s == SubscriptionPendingFulfillmentStart || s == SubscriptionNotStarted
}

// UnmarshalJSON trims the spaces some examples pad the status with.
func (s *SubscriptionStatus) UnmarshalJSON(b []byte) error {
	v, err := trimmed(b)
	*s = SubscriptionStatus(v)
	return err
}

// Identity is an Entra identity (AadIdentifier): the purchaser or the
// beneficiary of a subscription.
type Identity struct {
	EmailID  string `json:"emailId"`
	ObjectID string `json:"objectId"`
	TenantID string `json:"tenantId"`
	PUID     string `json:"puid"`
}

// Term is a subscription's billing term. StartDate and EndDate mean
// something only while Subscribed or Suspended; EndDate is the last valid
// day, and renewal happens the day after.
type Term struct {
	// TermUnit is P1M, P1Y, P2Y, P3Y, P4Y or P5Y.
	TermUnit  string `json:"termUnit"`
	StartDate Time   `json:"startDate"`
	EndDate   Time   `json:"endDate"`
	// ChargeDuration is kept verbatim: its meaning is unconfirmed (§1.6).
	ChargeDuration string `json:"chargeDuration"`
}

// Subscription is a SaaS subscription (contract §3.2). ID is the seller's
// key for it and the resourceId of its usage events.
type Subscription struct {
	ID                        string             `json:"id"`
	PublisherID               string             `json:"publisherId"`
	OfferID                   string             `json:"offerId"`
	Name                      string             `json:"name"`
	Status                    SubscriptionStatus `json:"saasSubscriptionStatus"`
	Beneficiary               Identity           `json:"beneficiary"`
	Purchaser                 Identity           `json:"purchaser"`
	PlanID                    string             `json:"planId"`
	Quantity                  Seats              `json:"quantity"`
	Term                      Term               `json:"term"`
	AutoRenew                 *bool              `json:"autoRenew"` // nil: not said (Microsoft's default is true)
	IsTest                    bool               `json:"isTest"`
	IsFreeTrial               bool               `json:"isFreeTrial"`
	AllowedCustomerOperations []string           `json:"allowedCustomerOperations"`
	SandboxType               string             `json:"sandboxType"`
	SessionMode               string             `json:"sessionMode"`
	Created                   Time               `json:"created"`
	LastModified              Time               `json:"lastModified"`
}

// Resolved is Resolve's answer. Subscription is the full object; the
// fields beside it repeat what the landing page shows first.
type Resolved struct {
	ID               string       `json:"id"`
	SubscriptionName string       `json:"subscriptionName"`
	OfferID          string       `json:"offerId"`
	PlanID           string       `json:"planId"`
	Quantity         Seats        `json:"quantity"`
	Subscription     Subscription `json:"subscription"`
}

// Plan is one plan listAvailablePlans offers a subscription, the current
// one included (contract §3.7). Prices are exact micro-units.
type Plan struct {
	PlanID         string         `json:"planId"`
	DisplayName    string         `json:"displayName"`
	Description    string         `json:"description"`
	IsPrivate      bool           `json:"isPrivate"`
	MinQuantity    Seats          `json:"minQuantity"`
	MaxQuantity    Seats          `json:"maxQuantity"`
	HasFreeTrials  bool           `json:"hasFreeTrials"`
	IsPricePerSeat bool           `json:"isPricePerSeat"`
	IsStopSell     bool           `json:"isStopSell"`
	Market         string         `json:"market"`
	PlanComponents PlanComponents `json:"planComponents"`
	// SourceOffers are kept verbatim; their meaning for private offers is
	// unconfirmed (§1.6).
	SourceOffers []SourceOffer `json:"sourceOffers"`
}

// PlanComponents are a plan's recurring fees and metered dimensions.
type PlanComponents struct {
	RecurrentBillingTerms []BillingTerm       `json:"recurrentBillingTerms"`
	MeteringDimensions    []MeteringDimension `json:"meteringDimensions"`
}

// BillingTerm is a recurring fee of a plan, per TermUnit.
type BillingTerm struct {
	Currency                string             `json:"currency"`
	Price                   Micros             `json:"price"`
	TermUnit                string             `json:"termUnit"`
	TermDescription         string             `json:"termDescription"`
	MeteredQuantityIncluded []IncludedQuantity `json:"meteredQuantityIncluded"`
}

// IncludedQuantity is how much of a dimension the fee includes per term.
// Units is kept as Microsoft writes it, a string: a number, or a word for
// "unlimited" (never meter an unlimited dimension).
type IncludedQuantity struct {
	DimensionID string `json:"dimensionId"`
	Units       string `json:"units"`
}

// UnmarshalJSON accepts units written as a number too.
func (q *IncludedQuantity) UnmarshalJSON(b []byte) error {
	var raw struct {
		DimensionID string          `json:"dimensionId"`
		Units       json.RawMessage `json:"units"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	units, _, err := scalarText(raw.Units)
	if err != nil {
		return err
	}
	*q = IncludedQuantity{DimensionID: raw.DimensionID, Units: units}
	return nil
}

// MeteringDimension is a dimension a plan meters, with its overage price.
type MeteringDimension struct {
	ID            string `json:"id"`
	Currency      string `json:"currency"`
	PricePerUnit  Micros `json:"pricePerUnit"`
	UnitOfMeasure string `json:"unitOfMeasure"`
	DisplayName   string `json:"displayName"`
}

// SourceOffer is an item of a plan's sourceOffers.
type SourceOffer struct {
	ExternalID string `json:"externalId"`
}

// Action is what an operation or a webhook does. Unknown actions (the
// unconfirmed Transfer and Subscribe among them) are kept as written.
type Action string

// The actions of contract §3.10.
const (
	ActionUnsubscribe    Action = "Unsubscribe"
	ActionChangePlan     Action = "ChangePlan"
	ActionChangeQuantity Action = "ChangeQuantity"
	ActionSuspend        Action = "Suspend"
	ActionReinstate      Action = "Reinstate"
	ActionRenew          Action = "Renew"
)

// NeedsAck says whether Microsoft waits for the seller's UpdateOperation
// (§4.3): plan and quantity changes, and Reinstate by the 2021 reading.
func (a Action) NeedsAck() bool {
	return a == ActionChangePlan || a == ActionChangeQuantity || a == ActionReinstate
}

// UnmarshalJSON trims padding spaces.
func (a *Action) UnmarshalJSON(b []byte) error {
	v, err := trimmed(b)
	*a = Action(v)
	return err
}

// OperationStatus is an operation's status.
type OperationStatus string

// The operation statuses. Conflict means the new plan or quantity equals
// the existing one.
const (
	OperationNotStarted OperationStatus = "NotStarted"
	OperationInProgress OperationStatus = "InProgress"
	OperationSucceeded  OperationStatus = "Succeeded"
	OperationFailed     OperationStatus = "Failed"
	OperationConflict   OperationStatus = "Conflict"
)

// Done says the operation will not change any more.
func (s OperationStatus) Done() bool {
	return s == OperationSucceeded || s == OperationFailed || s == OperationConflict
}

// UnmarshalJSON trims padding spaces.
func (s *OperationStatus) UnmarshalJSON(b []byte) error {
	v, err := trimmed(b)
	*s = OperationStatus(v)
	return err
}

// Operation is an asynchronous change of a subscription (contract §3.10).
type Operation struct {
	ID             string          `json:"id"`
	ActivityID     string          `json:"activityId"`
	SubscriptionID string          `json:"subscriptionId"`
	OfferID        string          `json:"offerId"`
	PublisherID    string          `json:"publisherId"`
	PlanID         string          `json:"planId"`
	Quantity       Seats           `json:"quantity"`
	Action         Action          `json:"action"`
	TimeStamp      Time            `json:"timeStamp"`
	Status         OperationStatus `json:"status"`
	// ErrorStatusCode and ErrorMessage appear in the docs only.
	ErrorStatusCode string `json:"errorStatusCode"`
	ErrorMessage    string `json:"errorMessage"`
	// RequestSource is "Azure" (the customer or Microsoft) or "Partner"
	// (the seller's own PATCH or DELETE, which must not be acknowledged).
	RequestSource string `json:"operationRequestSource"`
}

// Request sources of an operation.
const (
	SourceAzure   = "Azure"
	SourcePartner = "Partner"
)

// UnmarshalJSON also reads errorStatusCode written as a number and the
// source spelt operationRequestedSource, as Microsoft's emulator does.
func (o *Operation) UnmarshalJSON(b []byte) error {
	type plain Operation
	var aux struct {
		plain
		ErrorStatusCode json.RawMessage `json:"errorStatusCode"`
		RequestedSource string          `json:"operationRequestedSource"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*o = Operation(aux.plain)
	code, _, err := scalarText(aux.ErrorStatusCode)
	if err != nil {
		return err
	}
	o.ErrorStatusCode = code
	if o.RequestSource == "" {
		o.RequestSource = aux.RequestedSource
	}
	return nil
}

// isEmptyBody is true for a body Microsoft sends instead of an empty list:
// nothing, whitespace, null or {}.
func isEmptyBody(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return true
	}
	if b[0] == '{' && bytes.Equal(bytes.Join(bytes.Fields(b), nil), []byte("{}")) {
		return true
	}
	return false
}
