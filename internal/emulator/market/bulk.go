package market

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// BulkSubscribeInput creates many buyer accounts at once, each subscribed to
// the public offer of one pay-as-you-go product: the customers of a load
// test, made in one transaction instead of two writes each.
type BulkSubscribeInput struct {
	ProductCode string   `json:"product_code"`
	AccountIDs  []string `json:"account_ids"` // new accounts, 12 digits each
	Name        string   `json:"name"`        // every account's name
}

// Validate reports the field errors that need no state.
func (in *BulkSubscribeInput) Validate() error {
	var errs []error
	if in.ProductCode == "" {
		errs = append(errs, errors.New("product_code is required"))
	}
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if len(in.AccountIDs) == 0 {
		errs = append(errs, errors.New("account_ids: give at least one"))
	}
	seen := make(map[string]bool, len(in.AccountIDs))
	bad := 0
	for _, id := range in.AccountIDs {
		switch {
		case !accountIDPattern.MatchString(id):
			bad++
			if bad <= 3 {
				errs = append(errs, fmt.Errorf("account_ids: %q: want 12 digits", id))
			}
		case seen[id]:
			errs = append(errs, fmt.Errorf("account_ids: %s appears twice", id))
		}
		seen[id] = true
	}
	if bad > 3 {
		errs = append(errs, fmt.Errorf("account_ids: %d more are not 12 digits", bad-3))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// SubscribeNewAccounts creates the accounts and subscribes each to the
// product's public offer, as CreateAccount then Subscribe would (same
// agreement, same notifications and events), all in one write of the store.
// Every account must be new, so that none holds an agreement yet: that is
// what lets it skip Subscribe's per-account look-ups, which scan every
// agreement and would make n subscriptions cost n² steps. Products sold by
// contract need quantities per buyer and are refused. It returns the
// agreements in the order of the account ids; on an error nothing is made.
func (m *Market) SubscribeNewAccounts(ctx context.Context, in BulkSubscribeInput) ([]Agreement, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out []Agreement
	err := m.update(ctx, func(tx *txn) error {
		p, ok := m.products[in.ProductCode]
		if !ok {
			return errorf(KindNotFound, "no product %s", in.ProductCode)
		}
		if p.PricingModel != PricingSubscription {
			return errorf(KindInvalid, "product %s is sold by contract: subscribe its buyers one by one, with their quantities", p.Code)
		}
		for _, id := range in.AccountIDs {
			if _, ok := m.accounts[id]; ok {
				return errorf(KindConflict, "account %s already exists", id)
			}
		}
		// Build everything first: an error must leave the market unchanged.
		now := m.now()
		accounts := make([]*Account, len(in.AccountIDs))
		agreements := make([]*Agreement, len(in.AccountIDs))
		for i, id := range in.AccountIDs {
			accounts[i] = &Account{ID: id, Name: in.Name, Permissions: []string{}, CreatedAt: now}
			// As subscribe makes it; a new account has no customer
			// identifier for the product yet, so it gets a fresh one.
			a := &Agreement{
				ID: "agmt-" + m.randomString(lowerAlnum, 25), ProductCode: p.Code, SellerAccountID: p.SellerAccountID,
				OfferID: p.PublicOfferID, AccountID: id, CustomerIdentifier: m.randomString(mixedAlnum, 11),
				LicenseArn: fmt.Sprintf("arn:aws:license-manager::%s:license:l-%s", id, m.randomHex(16)),
				Status:     StatusActive, CreatedAt: now, StartAt: now, UpdatedAt: now,
			}
			if err := m.applyTerms(a, p, nil, nil, now); err != nil {
				return err
			}
			agreements[i] = a
		}
		out = make([]Agreement, len(agreements))
		for i, a := range agreements {
			m.accounts[a.AccountID] = accounts[i]
			tx.put(kindAccount, a.AccountID, accounts[i])
			m.agreements[a.ID] = a
			tx.put(kindAgreement, a.ID, a)
			m.purchased(tx, a, p, "NEW")
			out[i] = *a
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
