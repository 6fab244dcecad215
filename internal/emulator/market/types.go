package market

import "time"

// PricingModel is one of the three SaaS pricing models.
type PricingModel string

// Pricing models.
const (
	PricingSubscription        PricingModel = "subscription"
	PricingContract            PricingModel = "contract"
	PricingContractConsumption PricingModel = "contract-with-consumption"
)

// Mode says which identifiers ResolveCustomer returns.
type Mode string

// Modes: legacy products get a CustomerIdentifier; products created since
// 2026 get only CustomerAWSAccountId and LicenseArn.
const (
	ModeLegacy  Mode = "legacy"
	ModeCurrent Mode = "current"
)

// DimensionKind says how a dimension is sold.
type DimensionKind string

// Dimension kinds: metered dimensions take BatchMeterUsage records; contract
// dimensions are bought up front and show up in GetEntitlements.
const (
	DimensionMetered  DimensionKind = "metered"
	DimensionContract DimensionKind = "contract"
)

// Agreement statuses.
const (
	StatusActive             = "active"
	StatusUnsubscribePending = "unsubscribe-pending"
	StatusUnsubscribed       = "unsubscribed"
	StatusExpired            = "expired"
	StatusFailed             = "failed"
)

// Micros is an amount of US dollars in millionths: prices per unit need finer
// steps than cents, and money is never a float.
type Micros int64

// Cents rounds to whole cents, half away from zero: the one rounding rule of
// the ledger.
func (m Micros) Cents() int64 {
	if m < 0 {
		return -((-int64(m) + 5000) / 10000)
	}
	return (int64(m) + 5000) / 10000
}

// Dimension is a priced unit of a product.
type Dimension struct {
	Key         string        `json:"key"` // the API name, case-sensitive
	Name        string        `json:"name"`
	Unit        string        `json:"unit,omitempty"`
	Kind        DimensionKind `json:"kind"`
	PriceMicros Micros        `json:"price_micros"` // per unit used (metered) or per unit bought for the term (contract)
}

// Product is a SaaS listing.
type Product struct {
	Code                 string       `json:"code"`
	ID                   string       `json:"id"`
	Title                string       `json:"title"`
	Description          string       `json:"description,omitempty"`
	SellerAccountID      string       `json:"seller_account_id"`
	PricingModel         PricingModel `json:"pricing_model"`
	Mode                 Mode         `json:"mode"`
	FulfillmentURL       string       `json:"fulfillment_url"`
	Dimensions           []Dimension  `json:"dimensions"`
	ConcurrentAgreements bool         `json:"concurrent_agreements"`
	FreeTrialDays        int          `json:"free_trial_days,omitempty"`
	ContractMonths       int          `json:"contract_months,omitempty"` // term of a public contract purchase
	PublicOfferID        string       `json:"public_offer_id"`
	CreatedAt            time.Time    `json:"created_at"`
}

// Dimension finds a dimension by its API key.
func (p *Product) Dimension(key string) (Dimension, bool) {
	for _, d := range p.Dimensions {
		if d.Key == key {
			return d, true
		}
	}
	return Dimension{}, false
}

// Account is a buyer's AWS account.
type Account struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Email       string    `json:"email,omitempty"`
	Permissions []string  `json:"permissions"` // IAM actions and managed policy names
	CreatedAt   time.Time `json:"created_at"`
}

// Credential is an access key the AWS API accepts, and the seller account it
// stands for.
type Credential struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	AccountID       string    `json:"account_id"`
	CreatedAt       time.Time `json:"created_at"`
}

// OfferTerm is one dimension of an offer: for contract dimensions the
// quantity bought and its unit price; for metered ones an override of the
// listing's unit price (Quantity zero).
type OfferTerm struct {
	Dimension   string `json:"dimension"`
	Quantity    int64  `json:"quantity"`
	PriceMicros Micros `json:"price_micros"`
}

// OfferEmail is the message AWS sends the buyer about a private offer.
type OfferEmail struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Offer is a private offer to named buyer accounts.
type Offer struct {
	ID              string      `json:"id"`
	ProductCode     string      `json:"product_code"`
	Name            string      `json:"name"`
	BuyerAccountIDs []string    `json:"buyer_account_ids"`
	Terms           []OfferTerm `json:"terms"`
	DurationMonths  int         `json:"duration_months,omitempty"`
	StartAt         *time.Time  `json:"start_at,omitempty"` // a future-dated start; acceptance time when nil
	EndAt           *time.Time  `json:"end_at,omitempty"`   // overrides DurationMonths
	FreeTrial       bool        `json:"free_trial,omitempty"`
	AutoRenew       bool        `json:"auto_renew,omitempty"`
	ExpiresAt       *time.Time  `json:"expires_at,omitempty"` // last moment the offer can be accepted
	Email           OfferEmail  `json:"email"`
	CreatedAt       time.Time   `json:"created_at"`
}

// Agreement is an accepted offer: a subscription or a contract, with the
// license that identifies it to the seller.
type Agreement struct {
	ID                 string            `json:"id"`
	LicenseArn         string            `json:"license_arn"`
	ProductCode        string            `json:"product_code"`
	SellerAccountID    string            `json:"seller_account_id"`
	OfferID            string            `json:"offer_id"`
	PrivateOffer       bool              `json:"private_offer"`
	AccountID          string            `json:"account_id"`
	CustomerIdentifier string            `json:"customer_identifier"`
	Status             string            `json:"status"`
	PONumber           string            `json:"po_number,omitempty"`
	FreeTrial          bool              `json:"free_trial,omitempty"`
	FreeTrialEndAt     *time.Time        `json:"free_trial_end_at,omitempty"`
	AutoRenew          bool              `json:"auto_renew,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	StartAt            time.Time         `json:"start_at"`
	EndAt              *time.Time        `json:"end_at,omitempty"` // contract end; none for subscriptions
	CancelledAt        *time.Time        `json:"cancelled_at,omitempty"`
	FinalMeteringUntil *time.Time        `json:"final_metering_until,omitempty"`
	EndedAt            *time.Time        `json:"ended_at,omitempty"`
	UpdatedAt          time.Time         `json:"updated_at,omitzero"` // last change, the Agreement API's lastUpdateTime
	Entitlements       map[string]int64  `json:"entitlements,omitempty"`
	MeteredPrices      map[string]Micros `json:"metered_prices,omitempty"`
}

// meterableAt says whether usage may be recorded against the agreement at now.
func (a *Agreement) meterableAt(now time.Time) bool {
	switch a.Status {
	case StatusActive:
		return a.EndAt == nil || now.Before(*a.EndAt)
	case StatusUnsubscribePending:
		return a.FinalMeteringUntil != nil && now.Before(*a.FinalMeteringUntil)
	}
	return false
}

// Token is a registration token minted by "Set up your account".
type Token struct {
	Token       string    `json:"token"`
	AgreementID string    `json:"agreement_id"`
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Allocation splits a record's quantity across tag sets.
type Allocation struct {
	Quantity int64 `json:"quantity"`
	Tags     []Tag `json:"tags"`
}

// Tag is one key/value of an allocation.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// MeteringRecord is an accepted usage record: what AWS will invoice.
type MeteringRecord struct {
	ID                 string       `json:"metering_record_id"`
	SellerAccountID    string       `json:"seller_account_id"`
	ProductCode        string       `json:"product_code"`
	AgreementID        string       `json:"agreement_id"`
	AccountID          string       `json:"account_id"`
	CustomerIdentifier string       `json:"customer_identifier,omitempty"`
	LicenseArn         string       `json:"license_arn"`
	Dimension          string       `json:"dimension"`
	Timestamp          time.Time    `json:"timestamp"`
	Hour               time.Time    `json:"hour"`
	Quantity           int64        `json:"quantity"`
	Allocations        []Allocation `json:"allocations,omitempty"`
	UnitPriceMicros    Micros       `json:"unit_price_micros"`
	AmountMicros       Micros       `json:"amount_micros"`
	FreeTrial          bool         `json:"free_trial,omitempty"`
	AcceptedAt         time.Time    `json:"accepted_at"`
}

// Charge is an up-front contract charge (purchase, upgrade, renewal).
type Charge struct {
	ID              string    `json:"id"`
	AccountID       string    `json:"account_id"`
	AgreementID     string    `json:"agreement_id"`
	ProductCode     string    `json:"product_code"`
	Dimension       string    `json:"dimension"`
	Quantity        int64     `json:"quantity"`
	UnitPriceMicros Micros    `json:"unit_price_micros"`
	AmountMicros    Micros    `json:"amount_micros"`
	Reason          string    `json:"reason"` // purchase, upgrade, renewal
	At              time.Time `json:"at"`
}
