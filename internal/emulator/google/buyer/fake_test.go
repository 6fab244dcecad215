package buyer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

const (
	prefix     = "/google/buyer"
	buyerBA    = "billingAccounts/01A2B3-C4D5E6-F7A8B9" // has the private offer
	otherBA    = "billingAccounts/0F0F0F-1E1E1E-2D2D2D"
	product    = "example-cloud.gcpmarketplace.example.com"
	offerName  = "projects/123/services/example-cloud.gcpmarketplace.example.com/privateOffers/deal-1"
	signupURL  = "https://seller.example/marketplace/gcp/signup"
	ssoURL     = "https://seller.example/marketplace/gcp/sso"
	loginURL   = "https://seller.example/login"
	company    = "Example Cloud"
	buyerEmail = "pat@example.com"
)

var termEnd = time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)

// fakeMarket is the market in memory: one product with public plans
// standard and team, a private offer of enterprise for buyerBA, and the
// orders tests put in. It counts every call, so a test can say that an
// action reached the market exactly once, or not at all.
type fakeMarket struct {
	mu       sync.Mutex
	products []Product
	offers   map[string][]Plan // private offers by billing account
	ents     map[string][]Entitlement
	settings BuyerSettings
	calls    map[string]int
	fail     map[string]error // the error a method returns instead

	orders []OrderRequest
	tokens []tokenCall
	plans  []string // RequestPlanChange's plan argument
	next   int
}

type tokenCall struct {
	Account, User string
	Orders        []string
}

func newFakeMarket() *fakeMarket {
	return &fakeMarket{
		products: []Product{{Name: product, DisplayName: "Example Cloud", Description: "Metered SaaS for tests.", Plans: []Plan{
			{ID: "standard", DisplayName: "Standard", Prices: []Price{{Amount: 10_000, Per: "usage_cents"}}},
			{ID: "team", DisplayName: "Team", Prices: []Price{{Amount: 100_000_000, Per: "month"}}},
		}}},
		offers: map[string][]Plan{buyerBA: {{ID: "enterprise", DisplayName: "Enterprise", Offer: offerName, Term: "P1Y",
			Prices: []Price{{Amount: 12_000_000_000, Per: "year"}}}}},
		ents:     map[string][]Entitlement{},
		settings: BuyerSettings{Company: company, SignupURL: signupURL, LoginURL: loginURL},
		calls:    map[string]int{},
		fail:     map[string]error{},
	}
}

func (f *fakeMarket) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
	return f.fail[name]
}

func (f *fakeMarket) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// changes is how many state-changing calls the market had.
func (f *fakeMarket) changes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range []string{"Order", "RequestPlanChange", "Cancel", "RevertCancellation", "SignupToken"} {
		n += f.calls[m]
	}
	return n
}

func (f *fakeMarket) Products(_ context.Context, ba string) ([]Product, error) {
	if err := f.call("Products"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Product, 0, len(f.products))
	for _, p := range f.products {
		p.Plans = slices.Clone(p.Plans)
		if p.Name == product {
			p.Plans = append(p.Plans, f.offers[ba]...)
		}
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeMarket) Order(_ context.Context, o OrderRequest) (Order, error) {
	if err := f.call("Order"); err != nil {
		return Order{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders = append(f.orders, o)
	f.next++
	e := Entitlement{ID: fmt.Sprintf("ent-%d", f.next), Account: "acct-" + o.BillingAccount[len(billingPrefix):], Product: o.Product,
		Plan: o.Plan, Offer: o.Offer, State: StateActivationRequested, CreateTime: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	f.ents[o.BillingAccount] = append(f.ents[o.BillingAccount], e)
	return Order{Account: e.Account, Entitlement: e.ID}, nil
}

func (f *fakeMarket) Entitlements(_ context.Context, ba string) ([]Entitlement, error) {
	if err := f.call("Entitlements"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ents[ba]), nil
}

// put adds an entitlement for a billing account, as another test's setup.
func (f *fakeMarket) put(ba string, e Entitlement) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ents[ba] = append(f.ents[ba], e)
}

func (f *fakeMarket) get(ba, id string) Entitlement {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.ents[ba] {
		if e.ID == id {
			return e
		}
	}
	return Entitlement{}
}

func (f *fakeMarket) update(ba, id string, change func(*Entitlement)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.ents[ba] {
		if f.ents[ba][i].ID == id {
			change(&f.ents[ba][i])
			return nil
		}
	}
	return &Error{Kind: KindNotFound, Message: "no order " + id}
}

func (f *fakeMarket) RequestPlanChange(_ context.Context, ba, id, plan string) error {
	if err := f.call("RequestPlanChange"); err != nil {
		return err
	}
	f.mu.Lock()
	f.plans = append(f.plans, plan)
	f.mu.Unlock()
	return f.update(ba, id, func(e *Entitlement) { e.NewPendingPlan, e.State = plan, StatePendingPlanChangeApproval })
}

func (f *fakeMarket) Cancel(_ context.Context, ba, id string) error {
	if err := f.call("Cancel"); err != nil {
		return err
	}
	return f.update(ba, id, func(e *Entitlement) { e.State = StatePendingCancellation })
}

func (f *fakeMarket) RevertCancellation(_ context.Context, ba, id string) error {
	if err := f.call("RevertCancellation"); err != nil {
		return err
	}
	return f.update(ba, id, func(e *Entitlement) { e.State = StateActive })
}

func (f *fakeMarket) SignupToken(_ context.Context, account string, orders []string, user string) (string, error) {
	if err := f.call("SignupToken"); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, tokenCall{Account: account, Orders: orders, User: user})
	return fmt.Sprintf("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig-%d", len(f.tokens)), nil
}

func (f *fakeMarket) BillingAccounts(context.Context) ([]BillingAccount, error) {
	if err := f.call("BillingAccounts"); err != nil {
		return nil, err
	}
	return []BillingAccount{{Name: buyerBA, Why: "private offer Enterprise (Example Cloud)"}}, nil
}

func (f *fakeMarket) Settings(context.Context) (BuyerSettings, error) {
	if err := f.call("Settings"); err != nil {
		return BuyerSettings{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, nil
}
