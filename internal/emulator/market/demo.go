package market

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Demo catalog identifiers, fixed so that a seller's configuration can name them.
const (
	DemoPAYGCode          = "example-cloud-payg"
	DemoContractCode      = "example-cloud-contract"
	DemoBuyerAccountID    = "123456789012"
	DemoReadOnlyAccountID = "210987654321"
)

// DemoInput says where the demo seller lives.
type DemoInput struct {
	FulfillmentURL string `json:"fulfillment_url"`
	Mode           Mode   `json:"mode,omitempty"`
	// Optional: subscribe the seller's SNS endpoint to every demo topic
	// (already confirmed) and point EventBridge at the seller.
	SNSEndpoint         string `json:"sns_endpoint,omitempty"`
	EventBridgeEndpoint string `json:"eventbridge_endpoint,omitempty"`
	EventBridgeAPIKey   string `json:"eventbridge_api_key,omitempty"`
}

// DemoCatalog is what SeedDemo made (or found already made).
type DemoCatalog struct {
	PAYG          Product `json:"payg"`
	Contract      Product `json:"contract"`
	Buyer         Account `json:"buyer"`
	ReadOnlyBuyer Account `json:"read_only_buyer"`
	PrivateOffer  Offer   `json:"private_offer"`
}

// SeedDemo creates the demo catalog: the PAYG listing "Example Cloud - Pay As
// You Go" (credits of $0.01), the contract product "Example Cloud - Committed
// Contract" (committed credits of $1 plus metered overage of $0.01), a buyer
// account with AWSMarketplaceFullAccess holding a 12-month private offer for
// 10,000 committed credits, and a second buyer with only
// AWSMarketplaceRead-only who gets the same offer but is refused its page. Running it again changes nothing but the fulfillment URL.
func (m *Market) SeedDemo(ctx context.Context, in DemoInput) (DemoCatalog, error) {
	var out DemoCatalog
	if in.FulfillmentURL == "" {
		return out, errorf(KindInvalid, "fulfillment_url is required")
	}
	if in.Mode == "" {
		in.Mode = ModeCurrent
	}
	var err error
	if out.PAYG, err = m.ensureProduct(ctx, ProductInput{
		Code: DemoPAYGCode, Title: "Example Cloud - Pay As You Go", PricingModel: PricingSubscription, Mode: in.Mode,
		Description:    "A managed cloud database. Pay for what you use, billed hourly through AWS Marketplace.",
		FulfillmentURL: in.FulfillmentURL,
		Dimensions:     []Dimension{{Key: "credits", Name: "Usage credits", Unit: "$0.01 of usage", Kind: DimensionMetered, PriceMicros: 10_000}},
	}); err != nil {
		return out, err
	}
	if out.Contract, err = m.ensureProduct(ctx, ProductInput{
		Code: DemoContractCode, Title: "Example Cloud - Committed Contract", PricingModel: PricingContractConsumption, Mode: in.Mode,
		Description:    "A managed cloud database with committed spend: prepaid credits for the contract term, overage billed by usage.",
		FulfillmentURL: in.FulfillmentURL, ContractMonths: 12,
		Dimensions: []Dimension{
			{Key: "committed_credits", Name: "Committed credits", Unit: "$1 of usage", Kind: DimensionContract, PriceMicros: 1_000_000},
			{Key: "additional_usage", Name: "Additional usage", Unit: "$0.01 of usage", Kind: DimensionMetered, PriceMicros: 10_000},
		},
	}); err != nil {
		return out, err
	}
	if out.Buyer, err = m.ensureAccount(ctx, AccountInput{ID: DemoBuyerAccountID, Name: "Demo Buyer", Email: "buyer@example.com",
		Permissions: []string{"AWSMarketplaceFullAccess"}}); err != nil {
		return out, err
	}
	if out.ReadOnlyBuyer, err = m.ensureAccount(ctx, AccountInput{ID: DemoReadOnlyAccountID, Name: "Demo Buyer (read-only)",
		Email: "readonly@example.com", Permissions: []string{"AWSMarketplaceRead-only"}}); err != nil {
		return out, err
	}
	for _, o := range m.OffersFor(DemoBuyerAccountID) {
		if o.ProductCode == DemoContractCode {
			out.PrivateOffer = o
		}
	}
	if out.PrivateOffer.ID == "" {
		if out.PrivateOffer, err = m.CreateOffer(ctx, demoOffer(DemoBuyerAccountID, DemoReadOnlyAccountID)); err != nil {
			return out, err
		}
	}
	if in.SNSEndpoint != "" {
		if err := m.ensureDemoSNS(ctx, in.SNSEndpoint); err != nil {
			return out, err
		}
	}
	if in.EventBridgeEndpoint != "" {
		if _, err := m.SetEventBridgeTarget(ctx, EventBridgeTarget{Endpoint: in.EventBridgeEndpoint, APIKey: in.EventBridgeAPIKey}); err != nil {
			return out, err
		}
	}
	return out, nil
}

var demoBuyerName = regexp.MustCompile(`^Demo Buyer \d+$`)

// demoOffer is the demo's private offer of committed credits to buyers.
func demoOffer(buyers ...string) OfferInput {
	return OfferInput{
		ProductCode: DemoContractCode, Name: "Example Cloud committed spend - 12 months",
		BuyerAccountIDs: buyers, DurationMonths: 12,
		Terms: []OfferTerm{{Dimension: "committed_credits", Quantity: 10_000, PriceMicros: 1_000_000},
			{Dimension: "additional_usage", PriceMicros: 10_000}},
		Note: "As discussed, here is your committed-spend contract: 10,000 credits for 12 months, overage at list price.",
	}
}

// NewDemoBuyer makes another buyer account with full access, as a second
// person walking the demo would have: a new AWS account id, no
// subscriptions, and (when the demo is seeded) its own copy of the demo's
// private offer. An account holds one subscription to a product, so walking
// the flows again needs a new account, not a reset of the old one.
func (m *Market) NewDemoBuyer(ctx context.Context) (Account, error) {
	n := 2 // the seeded one is "Demo Buyer"
	for _, a := range m.Accounts() {
		if demoBuyerName.MatchString(a.Name) {
			n++
		}
	}
	a, err := m.CreateAccount(ctx, AccountInput{Name: fmt.Sprintf("Demo Buyer %d", n), Email: fmt.Sprintf("buyer%d@example.com", n),
		Permissions: []string{"AWSMarketplaceFullAccess"}})
	if err != nil {
		return a, fmt.Errorf("new demo buyer: %w", err)
	}
	if _, err := m.Product(DemoContractCode); err == nil {
		if _, err := m.CreateOffer(ctx, demoOffer(a.ID)); err != nil {
			return a, fmt.Errorf("new demo buyer %s: private offer: %w", a.ID, err)
		}
	}
	return a, nil
}

func (m *Market) ensureProduct(ctx context.Context, in ProductInput) (Product, error) {
	if p, err := m.Product(in.Code); err == nil {
		return m.SetFulfillmentURL(ctx, p.Code, in.FulfillmentURL)
	}
	p, err := m.CreateProduct(ctx, in)
	if err != nil {
		return p, fmt.Errorf("seed %s: %w", in.Code, err)
	}
	return p, nil
}

func (m *Market) ensureAccount(ctx context.Context, in AccountInput) (Account, error) {
	if a, err := m.Account(in.ID); err == nil {
		return a, nil
	}
	a, err := m.CreateAccount(ctx, in)
	if err != nil {
		return a, fmt.Errorf("seed account %s: %w", in.ID, err)
	}
	return a, nil
}

func (m *Market) ensureDemoSNS(ctx context.Context, endpoint string) error {
	have := map[string]bool{}
	for _, s := range m.SNSSubscriptions() {
		if s.Endpoint == endpoint {
			have[s.TopicArn] = true
		}
	}
	var errs []error
	for _, t := range []struct{ topic, code string }{
		{TopicSubscription, DemoPAYGCode}, {TopicSubscription, DemoContractCode}, {TopicEntitlement, DemoContractCode},
	} {
		if have[m.TopicArn(t.topic, t.code)] {
			continue
		}
		if _, err := m.SubscribeSNS(ctx, SNSSubscribeInput{ProductCode: t.code, Topic: t.topic, Endpoint: endpoint, Confirmed: true}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
