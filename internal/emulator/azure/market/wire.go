package market

import (
	"strconv"
	"time"
)

// The JSON shapes of the Fulfillment API v2 (saasapi.v2.json), shared by the
// API handlers and the webhook bodies. Times are RFC 3339 UTC.

// TermWire is a subscription's term.
type TermWire struct {
	TermUnit  string     `json:"termUnit"`
	StartDate *time.Time `json:"startDate,omitempty"`
	EndDate   *time.Time `json:"endDate,omitempty"`
}

// SubscriptionWire is the subscription object (§3.2).
type SubscriptionWire struct {
	ID                        string    `json:"id"`
	PublisherID               string    `json:"publisherId"`
	OfferID                   string    `json:"offerId"`
	Name                      string    `json:"name"`
	SaasSubscriptionStatus    string    `json:"saasSubscriptionStatus"`
	Beneficiary               Identity  `json:"beneficiary"`
	Purchaser                 Identity  `json:"purchaser"`
	PlanID                    string    `json:"planId"`
	Quantity                  *int      `json:"quantity,omitempty"`
	Term                      TermWire  `json:"term"`
	AutoRenew                 bool      `json:"autoRenew"`
	IsTest                    bool      `json:"isTest"`
	IsFreeTrial               bool      `json:"isFreeTrial"`
	AllowedCustomerOperations []string  `json:"allowedCustomerOperations"`
	SandboxType               string    `json:"sandboxType"`
	SessionMode               string    `json:"sessionMode"`
	Created                   time.Time `json:"created"`
	LastModified              time.Time `json:"lastModified"`
}

// OperationWire is the operation object (§3.10).
type OperationWire struct {
	ID                     string    `json:"id"`
	ActivityID             string    `json:"activityId"`
	SubscriptionID         string    `json:"subscriptionId"`
	OfferID                string    `json:"offerId"`
	PublisherID            string    `json:"publisherId"`
	PlanID                 string    `json:"planId"`
	Quantity               *int      `json:"quantity,omitempty"`
	Action                 string    `json:"action"`
	TimeStamp              time.Time `json:"timeStamp"`
	Status                 string    `json:"status"`
	ErrorStatusCode        string    `json:"errorStatusCode"`
	ErrorMessage           string    `json:"errorMessage"`
	OperationRequestSource string    `json:"operationRequestSource"`
}

// WebhookPayload is the body of a webhook (§4.2): the operation, the
// subscription and a null purchaseToken.
type WebhookPayload struct {
	OperationWire
	Subscription  SubscriptionWire `json:"subscription"`
	PurchaseToken *string          `json:"purchaseToken"`
}

func (m *Market) wireOperation(op *Operation) OperationWire { return NewOperationWire(*op) }

func (m *Market) wireSubscription(s *Subscription) SubscriptionWire {
	return NewSubscriptionWire(*s, m.cfg.LiveQuirks)
}

// NewOperationWire renders an operation.
func NewOperationWire(op Operation) OperationWire {
	w := OperationWire{ID: op.ID, ActivityID: op.ActivityID, SubscriptionID: op.SubscriptionID, OfferID: op.OfferID,
		PublisherID: op.PublisherID, PlanID: op.PlanID, Action: op.Action, TimeStamp: op.TimeStamp.UTC(),
		Status: op.Status, ErrorStatusCode: op.ErrorCode, ErrorMessage: op.ErrorMessage, OperationRequestSource: op.Source}
	if op.Quantity > 0 {
		q := op.Quantity
		w.Quantity = &q
	}
	return w
}

// NewSubscriptionWire renders a subscription. With liveQuirks, an
// Unsubscribed per-user subscription loses its quantity, as live (§3.11).
func NewSubscriptionWire(s Subscription, liveQuirks bool) SubscriptionWire {
	w := SubscriptionWire{ID: s.ID, PublisherID: s.PublisherID, OfferID: s.OfferID, Name: s.Name,
		SaasSubscriptionStatus: s.Status, Beneficiary: s.Beneficiary, Purchaser: s.Purchaser, PlanID: s.PlanID,
		Term: TermWire{TermUnit: s.Term.Unit}, AutoRenew: s.AutoRenew, IsTest: s.IsTest, IsFreeTrial: s.IsFreeTrial,
		AllowedCustomerOperations: append([]string{}, s.AllowedCustomerOperations...), SandboxType: s.SandboxType,
		SessionMode: s.SessionMode, Created: s.Created.UTC(), LastModified: s.LastModified.UTC()}
	if s.Quantity > 0 && !(liveQuirks && s.Status == StatusUnsubscribed) {
		q := s.Quantity
		w.Quantity = &q
	}
	if s.Status == StatusSubscribed || s.Status == StatusSuspended {
		start, end := s.Term.Start, s.Term.End
		w.Term.StartDate, w.Term.EndDate = &start, &end
	}
	return w
}

// PlanWire is a plan of listAvailablePlans (§3.7). Prices are floats only here.
type PlanWire struct {
	PlanID         string             `json:"planId"`
	DisplayName    string             `json:"displayName"`
	IsPrivate      bool               `json:"isPrivate"`
	Description    string             `json:"description"`
	MinQuantity    *int               `json:"minQuantity,omitempty"`
	MaxQuantity    *int               `json:"maxQuantity,omitempty"`
	HasFreeTrials  bool               `json:"hasFreeTrials"`
	IsPricePerSeat bool               `json:"isPricePerSeat"`
	IsStopSell     bool               `json:"isStopSell"`
	Market         string             `json:"market"`
	PlanComponents PlanComponentsWire `json:"planComponents"`
	SourceOffers   []SourceOfferWire  `json:"sourceOffers,omitempty"`
}

// PlanComponentsWire holds a plan's terms and dimensions.
type PlanComponentsWire struct {
	RecurrentBillingTerms []BillingTermWire       `json:"recurrentBillingTerms"`
	MeteringDimensions    []MeteringDimensionWire `json:"meteringDimensions"`
}

// BillingTermWire is one recurring term of a plan.
type BillingTermWire struct {
	Currency                string                 `json:"currency"`
	Price                   float64                `json:"price"`
	TermUnit                string                 `json:"termUnit"`
	TermDescription         string                 `json:"termDescription"`
	MeteredQuantityIncluded []IncludedQuantityWire `json:"meteredQuantityIncluded"`
}

// IncludedQuantityWire is a dimension's units included in a term; units is
// a string on the wire, "Unlimited" for an unlimited dimension.
type IncludedQuantityWire struct {
	DimensionID string `json:"dimensionId"`
	Units       string `json:"units"`
}

// MeteringDimensionWire is a dimension of a plan.
type MeteringDimensionWire struct {
	ID            string  `json:"id"`
	Currency      string  `json:"currency"`
	PricePerUnit  float64 `json:"pricePerUnit"`
	UnitOfMeasure string  `json:"unitOfMeasure"`
	DisplayName   string  `json:"displayName"`
}

// SourceOfferWire names a private offer a plan comes from.
type SourceOfferWire struct {
	ExternalID string `json:"externalId"`
}

// Dollars is the float a wire price carries.
func (v Micros) Dollars() float64 { return float64(v) / 1e6 }

// NewPlanWire renders a plan of an offer.
func NewPlanWire(o Offer, p Plan) PlanWire {
	w := PlanWire{PlanID: p.ID, DisplayName: p.DisplayName, IsPrivate: p.Private, Description: p.Description,
		HasFreeTrials: p.FreeTrial, IsPricePerSeat: p.PricePerSeat, IsStopSell: p.StopSell, Market: "US",
		PlanComponents: PlanComponentsWire{RecurrentBillingTerms: []BillingTermWire{}, MeteringDimensions: []MeteringDimensionWire{}}}
	if p.PricePerSeat {
		lo, hi := p.quantityRange()
		w.MinQuantity, w.MaxQuantity = &lo, &hi
	}
	for _, t := range p.Terms {
		bt := BillingTermWire{Currency: "USD", Price: t.PriceMicros.Dollars(), TermUnit: t.Unit,
			TermDescription: termDescription(t.Unit), MeteredQuantityIncluded: []IncludedQuantityWire{}}
		for _, mt := range p.Meters {
			units := mt.IncludedAnnual
			if t.Unit == "P1M" {
				units = mt.IncludedMonthly
			}
			text := strconv.FormatInt(units, 10)
			if mt.Unlimited {
				text = "Unlimited"
			}
			bt.MeteredQuantityIncluded = append(bt.MeteredQuantityIncluded, IncludedQuantityWire{DimensionID: mt.DimensionID, Units: text})
		}
		w.PlanComponents.RecurrentBillingTerms = append(w.PlanComponents.RecurrentBillingTerms, bt)
	}
	for _, mt := range p.Meters {
		d, _ := o.dimension(mt.DimensionID)
		w.PlanComponents.MeteringDimensions = append(w.PlanComponents.MeteringDimensions, MeteringDimensionWire{
			ID: d.ID, Currency: "USD", PricePerUnit: mt.PriceMicros.Dollars(), UnitOfMeasure: d.UnitOfMeasure, DisplayName: d.DisplayName})
	}
	for _, so := range p.SourceOffers {
		w.SourceOffers = append(w.SourceOffers, SourceOfferWire{ExternalID: so})
	}
	return w
}

func termDescription(unit string) string {
	switch unit {
	case "P1M":
		return "1 month subscription"
	case "P1Y":
		return "1 year subscription"
	default:
		return unit[1:len(unit)-1] + " year subscription"
	}
}
