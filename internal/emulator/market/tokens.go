package market

import (
	"context"
	"time"
)

// Registration is what "Set up your account" posts to the fulfillment URL.
type Registration struct {
	Token          string    `json:"token"`
	ExpiresAt      time.Time `json:"expires_at"`
	FulfillmentURL string    `json:"fulfillment_url"`
	FreeTrial      bool      `json:"free_trial"` // adds x-amzn-marketplace-offer-type=free-trial
	ProductTitle   string    `json:"product_title"`
	AgreementID    string    `json:"agreement_id"`
}

// SetUpAccount mints a fresh registration token for an agreement, as each
// click on "Set up your account" does; earlier tokens stay valid until they expire.
func (m *Market) SetUpAccount(ctx context.Context, agreementID string) (Registration, error) {
	var out Registration
	err := m.update(ctx, func(tx *txn) error {
		a, ok := m.agreements[agreementID]
		if !ok {
			return errorf(KindNotFound, "no agreement %s", agreementID)
		}
		if a.Status != StatusActive {
			return errorf(KindConflict, "agreement %s is %s: only an active subscription can be set up", a.ID, a.Status)
		}
		p := m.products[a.ProductCode]
		now := m.now()
		t := &Token{Token: m.newToken(), AgreementID: a.ID, IssuedAt: now, ExpiresAt: now.Add(m.cfg.TokenTTL)}
		m.tokens[t.Token] = t
		tx.put(kindToken, t.Token, t)
		out = Registration{Token: t.Token, ExpiresAt: t.ExpiresAt, FulfillmentURL: p.FulfillmentURL,
			FreeTrial: a.FreeTrial, ProductTitle: p.Title, AgreementID: a.ID}
		return nil
	})
	return out, err
}

// Customer is what ResolveCustomer answers.
type Customer struct {
	CustomerIdentifier   string // empty for current-mode products
	ProductCode          string
	CustomerAWSAccountID string
	LicenseArn           string
}

// ResolveCustomer exchanges a registration token, any number of times until
// it expires, and only for the seller account that owns the product.
func (m *Market) ResolveCustomer(sellerAccountID, token string) (Customer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[token]
	if !ok {
		return Customer{}, awsErr(CodeInvalidToken, "Invalid registration token")
	}
	a := m.agreements[t.AgreementID]
	p := m.products[a.ProductCode]
	if p.SellerAccountID != sellerAccountID {
		return Customer{}, awsErr(CodeInvalidToken, "Invalid registration token")
	}
	if !m.now().Before(t.ExpiresAt) {
		return Customer{}, awsErr(CodeExpiredToken, "Registration token is expired")
	}
	c := Customer{ProductCode: p.Code, CustomerAWSAccountID: a.AccountID, LicenseArn: a.LicenseArn}
	if p.Mode == ModeLegacy {
		c.CustomerIdentifier = a.CustomerIdentifier
	}
	return c, nil
}
