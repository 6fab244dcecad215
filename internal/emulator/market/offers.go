package market

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// OfferInput creates a private offer.
type OfferInput struct {
	ProductCode     string      `json:"product_code"`
	Name            string      `json:"name,omitempty"`
	BuyerAccountIDs []string    `json:"buyer_account_ids"`
	Terms           []OfferTerm `json:"terms"`
	DurationMonths  int         `json:"duration_months,omitempty"`
	StartAt         *time.Time  `json:"start_at,omitempty"`
	EndAt           *time.Time  `json:"end_at,omitempty"`
	FreeTrial       bool        `json:"free_trial,omitempty"`
	AutoRenew       bool        `json:"auto_renew,omitempty"`
	ExpiresAt       *time.Time  `json:"expires_at,omitempty"`
	Note            string      `json:"note,omitempty"` // the seller's words in the offer e-mail
}

// Validate reports the field errors that need no state.
func (in *OfferInput) Validate() error {
	var errs []error
	if in.ProductCode == "" {
		errs = append(errs, errors.New("product_code is required"))
	}
	if len(in.BuyerAccountIDs) == 0 {
		errs = append(errs, errors.New("buyer_account_ids: at least one is required"))
	}
	for _, id := range in.BuyerAccountIDs {
		if !accountIDPattern.MatchString(id) {
			errs = append(errs, fmt.Errorf("buyer_account_ids: %q is not 12 digits", id))
		}
	}
	if in.DurationMonths < 0 {
		errs = append(errs, errors.New("duration_months must not be negative"))
	}
	if in.StartAt != nil && in.EndAt != nil && !in.EndAt.After(*in.StartAt) {
		errs = append(errs, errors.New("end_at must be after start_at"))
	}
	for i, t := range in.Terms {
		if t.Quantity < 0 || t.PriceMicros < 0 || t.Quantity > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("terms[%d]: quantity (at most 2147483647, an entitlement's IntegerValue) and price_micros must not be negative", i))
		}
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// CreateOffer makes a private offer and "sends" its e-mail to each buyer:
// the e-mail is kept with the offer and shown in the buyer's inbox.
func (m *Market) CreateOffer(ctx context.Context, in OfferInput) (Offer, error) {
	if err := in.Validate(); err != nil {
		return Offer{}, err
	}
	var out Offer
	err := m.update(ctx, func(tx *txn) error {
		p, ok := m.products[in.ProductCode]
		if !ok {
			return errorf(KindNotFound, "no product %s", in.ProductCode)
		}
		var errs []error
		for _, id := range in.BuyerAccountIDs {
			if _, ok := m.accounts[id]; !ok {
				errs = append(errs, fmt.Errorf("buyer account %s does not exist", id))
			}
		}
		contractTerms := 0
		for _, t := range in.Terms {
			d, ok := p.Dimension(t.Dimension)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("terms: product has no dimension %q", t.Dimension))
			case d.Kind == DimensionContract && t.Quantity == 0:
				errs = append(errs, fmt.Errorf("terms: contract dimension %q needs a quantity", t.Dimension))
			case d.Kind == DimensionMetered && t.Quantity != 0:
				errs = append(errs, fmt.Errorf("terms: metered dimension %q takes a price, not a quantity", t.Dimension))
			case d.Kind == DimensionContract:
				contractTerms++
			}
		}
		if p.PricingModel != PricingSubscription && contractTerms == 0 {
			errs = append(errs, errors.New("terms: a contract offer needs at least one contract dimension"))
		}
		if len(errs) > 0 {
			return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
		}
		o := &Offer{
			ID: "offer-" + m.randomString(lowerAlnum, 13), ProductCode: p.Code, Name: in.Name,
			BuyerAccountIDs: in.BuyerAccountIDs, Terms: in.Terms, DurationMonths: in.DurationMonths,
			StartAt: in.StartAt, EndAt: in.EndAt, FreeTrial: in.FreeTrial, AutoRenew: in.AutoRenew,
			ExpiresAt: in.ExpiresAt, CreatedAt: m.now(),
		}
		if o.Name == "" {
			o.Name = "Private offer for " + p.Title
		}
		if o.DurationMonths == 0 && o.EndAt == nil && p.PricingModel != PricingSubscription {
			o.DurationMonths = p.ContractMonths
		}
		o.Email = m.offerEmail(p, o, in.Note)
		m.offers[o.ID] = o
		tx.put(kindOffer, o.ID, o)
		out = *o
		return nil
	})
	return out, err
}

func (m *Market) offerEmail(p *Product, o *Offer, note string) OfferEmail {
	var to []string
	for _, id := range o.BuyerAccountIDs {
		if a := m.accounts[id]; a != nil && a.Email != "" {
			to = append(to, a.Email)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Hello,\n\nSeller account %s has extended a private offer to your AWS account for %q.\n\n", p.SellerAccountID, p.Title)
	if note != "" {
		fmt.Fprintf(&b, "%s\n\n", note)
	}
	fmt.Fprintf(&b, "Offer: %s (%s)\n", o.Name, o.ID)
	if o.ExpiresAt != nil {
		fmt.Fprintf(&b, "Accept by: %s\n", o.ExpiresAt.UTC().Format("January 2, 2006 15:04 MST"))
	}
	b.WriteString("\nTo review and accept the offer, choose \"Review offer\". You need the IAM permissions aws-marketplace:ListPrivateListings and aws-marketplace:ViewSubscriptions.\n\nAWS Marketplace")
	return OfferEmail{
		From:    "AWS Marketplace <no-reply@marketplace.aws>",
		To:      strings.Join(to, ", "),
		Subject: fmt.Sprintf("You have received a private offer for %s", p.Title),
		Body:    b.String(),
	}
}

// Offers lists private offers, newest first.
func (m *Market) Offers() []Offer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offersWhere(func(*Offer) bool { return true })
}

// OffersFor is an account's private offer inbox, newest first.
func (m *Market) OffersFor(accountID string) []Offer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offersWhere(func(o *Offer) bool { return slices.Contains(o.BuyerAccountIDs, accountID) })
}

func (m *Market) offersWhere(keep func(*Offer) bool) []Offer {
	var out []Offer
	for _, o := range m.offers {
		if keep(o) {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.After(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID
	})
	return out
}

// Offer returns one offer.
func (m *Market) Offer(id string) (Offer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.offers[id]
	if !ok {
		return Offer{}, errorf(KindNotFound, "no offer %s", id)
	}
	return *o, nil
}

// ViewOffer returns an offer to a buyer, as the offer page does: only to an
// account it was extended to, and only with AWS's permissions.
func (m *Market) ViewOffer(accountID, offerID string) (Offer, Product, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[accountID]
	if !ok {
		return Offer{}, Product{}, errorf(KindNotFound, "no account %s", accountID)
	}
	if !a.CanViewPrivateOffers() {
		return Offer{}, Product{}, errorf(KindForbidden,
			"account %s is not authorized to perform aws-marketplace:ListPrivateListings and aws-marketplace:ViewSubscriptions. Ask your administrator for the AWSMarketplaceRead-only and AWSMarketplaceManageSubscriptions policies, or AWSMarketplaceFullAccess", accountID)
	}
	o, ok := m.offers[offerID]
	if !ok || !slices.Contains(o.BuyerAccountIDs, accountID) {
		return Offer{}, Product{}, errorf(KindNotFound, "no offer %s for account %s", offerID, accountID)
	}
	return *o, *m.products[o.ProductCode], nil
}
