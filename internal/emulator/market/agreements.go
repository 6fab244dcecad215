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

// SubscribeInput is the buyer's "Subscribe" (public offer) or "Accept" (a
// private offer when OfferID is set).
type SubscribeInput struct {
	AccountID   string `json:"account_id"`
	ProductCode string `json:"product_code"`
	OfferID     string `json:"offer_id,omitempty"`
	PONumber    string `json:"po_number,omitempty"`
	// Entitlements are the quantities of a public contract purchase.
	Entitlements map[string]int64 `json:"entitlements,omitempty"`
	// Fail makes the subscription fail, as when the buyer's payment method is
	// refused: the seller gets subscribe-fail.
	Fail bool `json:"fail,omitempty"`
}

// Validate reports the field errors that need no state.
func (in *SubscribeInput) Validate() error {
	var errs []error
	if !accountIDPattern.MatchString(in.AccountID) {
		errs = append(errs, fmt.Errorf("account_id %q: want 12 digits", in.AccountID))
	}
	if in.ProductCode == "" && in.OfferID == "" {
		errs = append(errs, errors.New("product_code or offer_id is required"))
	}
	if len(in.PONumber) > 200 {
		errs = append(errs, errors.New("po_number: at most 200 characters"))
	}
	for dim, q := range in.Entitlements {
		if q < 0 || q > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("entitlements[%s]: between 0 and 2147483647 (an entitlement's IntegerValue)", dim))
		}
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// SubscribeResult is the agreement, and whether it already existed (a second
// Subscribe shows the existing subscription, as AWS does).
type SubscribeResult struct {
	Agreement Agreement `json:"agreement"`
	Existing  bool      `json:"existing"`
}

// Subscribe creates an agreement, or returns the one the account already holds.
func (m *Market) Subscribe(ctx context.Context, in SubscribeInput) (SubscribeResult, error) {
	if err := in.Validate(); err != nil {
		return SubscribeResult{}, err
	}
	var out SubscribeResult
	err := m.update(ctx, func(tx *txn) error {
		r, err := m.subscribe(tx, in)
		out = r
		return err
	})
	return out, err
}

// AcceptOffer is "Accept" on the private offer page: it needs the offer
// page's permissions.
func (m *Market) AcceptOffer(ctx context.Context, accountID, offerID, poNumber string) (SubscribeResult, error) {
	if _, _, err := m.ViewOffer(accountID, offerID); err != nil {
		return SubscribeResult{}, err
	}
	return m.Subscribe(ctx, SubscribeInput{AccountID: accountID, OfferID: offerID, PONumber: poNumber})
}

func (m *Market) subscribe(tx *txn, in SubscribeInput) (SubscribeResult, error) {
	now := m.now()
	acct, ok := m.accounts[in.AccountID]
	if !ok {
		return SubscribeResult{}, errorf(KindNotFound, "no account %s", in.AccountID)
	}
	var offer *Offer
	if in.OfferID != "" {
		if offer, ok = m.offers[in.OfferID]; !ok || !slices.Contains(offer.BuyerAccountIDs, acct.ID) {
			return SubscribeResult{}, errorf(KindNotFound, "no offer %s for account %s", in.OfferID, acct.ID)
		}
		if in.ProductCode != "" && in.ProductCode != offer.ProductCode {
			return SubscribeResult{}, errorf(KindInvalid, "offer %s is for product %s", offer.ID, offer.ProductCode)
		}
		in.ProductCode = offer.ProductCode
		if offer.ExpiresAt != nil && !now.Before(*offer.ExpiresAt) {
			return SubscribeResult{}, errorf(KindConflict, "offer %s expired on %s", offer.ID, offer.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	p, ok := m.products[in.ProductCode]
	if !ok {
		return SubscribeResult{}, errorf(KindNotFound, "no product %s", in.ProductCode)
	}
	if held := m.heldAgreement(acct.ID, p.Code); held != nil && !p.ConcurrentAgreements {
		if offer == nil || held.OfferID == offer.ID {
			return SubscribeResult{Agreement: *held, Existing: true}, nil
		}
		return m.replace(tx, held, p, offer, in.PONumber)
	}
	a := &Agreement{
		ID: "agmt-" + m.randomString(lowerAlnum, 25), ProductCode: p.Code, SellerAccountID: p.SellerAccountID,
		OfferID: p.PublicOfferID, AccountID: acct.ID, CustomerIdentifier: m.customerIdentifier(acct.ID, p.Code),
		LicenseArn: fmt.Sprintf("arn:aws:license-manager::%s:license:l-%s", acct.ID, m.randomHex(16)),
		Status:     StatusActive, PONumber: in.PONumber, CreatedAt: now, StartAt: now, UpdatedAt: now,
	}
	if err := m.applyTerms(a, p, offer, in.Entitlements, now); err != nil {
		return SubscribeResult{}, err
	}
	if in.Fail {
		a.Status = StatusFailed
		a.EndedAt = &now
		m.agreements[a.ID] = a
		tx.put(kindAgreement, a.ID, a)
		m.notifySubscription(tx, a, ActionSubscribeFail)
		return SubscribeResult{Agreement: *a}, nil
	}
	m.agreements[a.ID] = a
	tx.put(kindAgreement, a.ID, a)
	m.purchased(tx, a, p, "NEW")
	return SubscribeResult{Agreement: *a}, nil
}

// purchased charges a new or replacing agreement and tells the seller.
func (m *Market) purchased(tx *txn, a *Agreement, p *Product, intent string) {
	m.charge(tx, a, p, a.Entitlements, "purchase")
	m.notifySubscription(tx, a, ActionSubscribeSuccess)
	if p.PricingModel != PricingSubscription {
		m.notifyEntitlement(tx, a)
	}
	m.emitAgreementEvent(tx, a, eventAgreementCreated, intent, AgreementActive)
	m.emitLicenseEvent(tx, a, "License Updated - Manufacturer")
}

// applyTerms sets prices, entitlements and dates from the public listing or a
// private offer.
func (m *Market) applyTerms(a *Agreement, p *Product, offer *Offer, quantities map[string]int64, now time.Time) error {
	a.MeteredPrices = map[string]Micros{}
	for _, d := range p.Dimensions {
		if d.Kind == DimensionMetered {
			a.MeteredPrices[d.Key] = d.PriceMicros
		}
	}
	months := p.ContractMonths
	if offer == nil {
		if p.FreeTrialDays > 0 {
			a.FreeTrial = true
			end := now.AddDate(0, 0, p.FreeTrialDays)
			a.FreeTrialEndAt = &end
		}
		if p.PricingModel != PricingSubscription {
			a.Entitlements = map[string]int64{}
			for dim, q := range quantities {
				d, ok := p.Dimension(dim)
				if !ok || d.Kind != DimensionContract {
					return errorf(KindInvalid, "entitlements: %q is not a contract dimension of %s", dim, p.Code)
				}
				if q > 0 {
					a.Entitlements[dim] = q
				}
			}
			if len(a.Entitlements) == 0 {
				return errorf(KindInvalid, "entitlements: choose a quantity of at least one contract dimension")
			}
		}
	} else {
		a.OfferID, a.PrivateOffer, a.FreeTrial, a.AutoRenew = offer.ID, true, offer.FreeTrial, offer.AutoRenew
		if offer.StartAt != nil && offer.StartAt.After(now) {
			a.StartAt = *offer.StartAt
		}
		if offer.DurationMonths > 0 {
			months = offer.DurationMonths
		}
		for _, t := range offer.Terms {
			if d, _ := p.Dimension(t.Dimension); d.Kind == DimensionMetered {
				a.MeteredPrices[t.Dimension] = t.PriceMicros
			} else {
				if a.Entitlements == nil {
					a.Entitlements = map[string]int64{}
				}
				a.Entitlements[t.Dimension] = t.Quantity
			}
		}
		if offer.EndAt != nil {
			end := *offer.EndAt
			a.EndAt = &end
		}
	}
	if p.PricingModel != PricingSubscription && a.EndAt == nil {
		end := a.StartAt.AddDate(0, max(months, 1), 0)
		a.EndAt = &end
	}
	return nil
}

// replace swaps a held agreement's terms for a newly accepted private offer:
// AWS replaces the agreement, the buyer keeps using the product undisturbed.
func (m *Market) replace(tx *txn, held *Agreement, p *Product, offer *Offer, po string) (SubscribeResult, error) {
	now := m.now()
	next := *held
	next.EndAt, next.FreeTrialEndAt, next.Entitlements = nil, nil, nil
	next.StartAt = now
	if po != "" {
		next.PONumber = po
	}
	if err := m.applyTerms(&next, p, offer, nil, now); err != nil {
		return SubscribeResult{}, err
	}
	next.UpdatedAt = now
	*held = next
	tx.put(kindAgreement, held.ID, held)
	m.purchased(tx, held, p, "REPLACE")
	return SubscribeResult{Agreement: *held}, nil
}

// heldAgreement is the account's agreement for the product that still counts
// as a subscription: active, or cancelled but inside its final-metering window.
func (m *Market) heldAgreement(accountID, productCode string) *Agreement {
	var held *Agreement
	for _, a := range m.agreements {
		if a.AccountID == accountID && a.ProductCode == productCode &&
			(a.Status == StatusActive || a.Status == StatusUnsubscribePending) {
			if held == nil || a.CreatedAt.After(held.CreatedAt) {
				held = a
			}
		}
	}
	return held
}

// customerIdentifier is stable per account and product, as AWS's is.
func (m *Market) customerIdentifier(accountID, productCode string) string {
	for _, a := range m.agreements {
		if a.AccountID == accountID && a.ProductCode == productCode {
			return a.CustomerIdentifier
		}
	}
	return m.randomString(mixedAlnum, 11)
}

func (m *Market) charge(tx *txn, a *Agreement, p *Product, quantities map[string]int64, reason string) {
	dims := make([]string, 0, len(quantities))
	for d := range quantities {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	var offer *Offer
	if a.PrivateOffer {
		offer = m.offers[a.OfferID]
	}
	for _, dim := range dims {
		q := quantities[dim]
		if q <= 0 {
			continue
		}
		d, _ := p.Dimension(dim)
		price := d.PriceMicros
		if offer != nil {
			for _, t := range offer.Terms {
				if t.Dimension == dim {
					price = t.PriceMicros
				}
			}
		}
		if a.FreeTrial {
			price = 0
		}
		c := &Charge{ID: "chg-" + m.randomString(lowerAlnum, 16), AccountID: a.AccountID, AgreementID: a.ID,
			ProductCode: a.ProductCode, Dimension: dim, Quantity: q, UnitPriceMicros: price,
			AmountMicros: price * Micros(q), Reason: reason, At: m.now()}
		m.charges[c.ID] = c
		tx.put(kindCharge, c.ID, c)
	}
}

// Agreements lists agreements, newest first, optionally for one account or product.
func (m *Market) Agreements(accountID, productCode string) []Agreement {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Agreement
	for _, a := range m.agreements {
		if (accountID == "" || a.AccountID == accountID) && (productCode == "" || a.ProductCode == productCode) {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.After(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID
	})
	return out
}

// Agreement returns one agreement.
func (m *Market) Agreement(id string) (Agreement, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agreements[id]
	if !ok {
		return Agreement{}, errorf(KindNotFound, "no agreement %s", id)
	}
	return *a, nil
}

// Cancel is the buyer's cancel: unsubscribe-pending now, unsubscribe-success
// when the final-metering window closes.
func (m *Market) Cancel(ctx context.Context, id string) (Agreement, error) {
	return m.change(ctx, id, func(tx *txn, a *Agreement, p *Product) error {
		if a.Status != StatusActive {
			return errorf(KindConflict, "agreement %s is %s, not active", a.ID, a.Status)
		}
		now := m.now()
		until := now.Add(m.cfg.FinalMeteringWindow)
		a.Status, a.CancelledAt, a.FinalMeteringUntil = StatusUnsubscribePending, &now, &until
		m.notifySubscription(tx, a, ActionUnsubscribePending)
		m.emitAgreementEvent(tx, a, eventAgreementEnded, "", AgreementCancelled)
		if m.cfg.DeprovisionAtCancel {
			m.emitLicenseEvent(tx, a, "License Deprovisioned - Manufacturer")
		}
		return nil
	})
}

// Renew extends a contract by months (its own term when zero) and charges it again.
func (m *Market) Renew(ctx context.Context, id string, months int) (Agreement, error) {
	return m.change(ctx, id, func(tx *txn, a *Agreement, p *Product) error {
		if p.PricingModel == PricingSubscription || a.Status != StatusActive {
			return errorf(KindConflict, "agreement %s is not an active contract", a.ID)
		}
		m.renew(tx, a, p, months)
		return nil
	})
}

func (m *Market) renew(tx *txn, a *Agreement, p *Product, months int) {
	if months <= 0 {
		months = max(p.ContractMonths, 1)
		if o := m.offers[a.OfferID]; a.PrivateOffer && o != nil && o.DurationMonths > 0 {
			months = o.DurationMonths
		}
	}
	end := a.EndAt.AddDate(0, months, 0)
	a.EndAt = &end
	m.charge(tx, a, p, a.Entitlements, "renewal")
	m.notifyEntitlement(tx, a)
	m.emitAgreementEvent(tx, a, eventAgreementCreated, "RENEW", AgreementActive)
	m.emitLicenseEvent(tx, a, "License Updated - Manufacturer")
}

// Upgrade raises a contract's quantities; the difference is charged.
func (m *Market) Upgrade(ctx context.Context, id string, quantities map[string]int64) (Agreement, error) {
	return m.change(ctx, id, func(tx *txn, a *Agreement, p *Product) error {
		if p.PricingModel == PricingSubscription || a.Status != StatusActive {
			return errorf(KindConflict, "agreement %s is not an active contract", a.ID)
		}
		extra := map[string]int64{}
		var errs []string
		for dim, q := range quantities {
			d, ok := p.Dimension(dim)
			switch {
			case !ok || d.Kind != DimensionContract:
				errs = append(errs, fmt.Sprintf("%q is not a contract dimension", dim))
			case q > math.MaxInt32:
				errs = append(errs, fmt.Sprintf("%s: at most 2147483647", dim))
			case q < a.Entitlements[dim]:
				errs = append(errs, fmt.Sprintf("%s: %d is below the current %d (downgrades wait for renewal)", dim, q, a.Entitlements[dim]))
			default:
				extra[dim] = q - a.Entitlements[dim]
			}
		}
		if len(quantities) == 0 {
			errs = append(errs, "give the new quantities")
		}
		if len(errs) > 0 {
			return errorf(KindInvalid, "upgrade: %s", strings.Join(errs, "; "))
		}
		if a.Entitlements == nil {
			a.Entitlements = map[string]int64{}
		}
		for dim, q := range quantities {
			a.Entitlements[dim] = q
		}
		m.charge(tx, a, p, extra, "upgrade")
		m.notifyEntitlement(tx, a)
		m.emitAgreementEvent(tx, a, eventAgreementAmended, "AMEND", AgreementActive)
		m.emitLicenseEvent(tx, a, "License Updated - Manufacturer")
		return nil
	})
}

// Expire ends a contract now, as reaching its end date does.
func (m *Market) Expire(ctx context.Context, id string) (Agreement, error) {
	return m.change(ctx, id, func(tx *txn, a *Agreement, p *Product) error {
		if p.PricingModel == PricingSubscription || a.Status != StatusActive {
			return errorf(KindConflict, "agreement %s is not an active contract", a.ID)
		}
		now := m.now()
		a.EndAt = &now
		m.expire(tx, a, now)
		return nil
	})
}

func (m *Market) expire(tx *txn, a *Agreement, now time.Time) {
	a.Status, a.EndedAt = StatusExpired, &now
	m.notifyEntitlement(tx, a)
	m.emitAgreementEvent(tx, a, eventAgreementEnded, "", AgreementExpired)
	m.emitLicenseEvent(tx, a, "License Deprovisioned - Manufacturer")
}

func (m *Market) change(ctx context.Context, id string, fn func(*txn, *Agreement, *Product) error) (Agreement, error) {
	var out Agreement
	err := m.update(ctx, func(tx *txn) error {
		a, ok := m.agreements[id]
		if !ok {
			return errorf(KindNotFound, "no agreement %s", id)
		}
		if err := fn(tx, a, m.products[a.ProductCode]); err != nil {
			return err
		}
		a.UpdatedAt = m.now()
		tx.put(kindAgreement, a.ID, a)
		out = *a
		return nil
	})
	return out, err
}

// Tick applies what the clock has made due: final-metering windows that
// closed, contracts that reached their end date (renewed when auto-renewing),
// tokens long expired.
func (m *Market) Tick(ctx context.Context) error {
	return m.update(ctx, m.tick)
}

func (m *Market) tick(tx *txn) error {
	now := m.now()
	// Only the agreements due now are sorted, for a deterministic order of
	// their notifications: sorting every id each second held the market's
	// lock for most of the second at a million agreements, and every API
	// call waited for it (#14).
	var ids []string
	for id, a := range m.agreements {
		if due(a, now) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := m.agreements[id]
		p := m.products[a.ProductCode]
		switch {
		case a.Status == StatusUnsubscribePending && !now.Before(*a.FinalMeteringUntil):
			a.Status, a.EndedAt = StatusUnsubscribed, a.FinalMeteringUntil
			m.notifySubscription(tx, a, ActionUnsubscribeSuccess)
			if p.PricingModel != PricingSubscription {
				m.notifyEntitlement(tx, a)
			}
			if !m.cfg.DeprovisionAtCancel {
				m.emitLicenseEvent(tx, a, "License Deprovisioned - Manufacturer")
			}
		case a.Status == StatusActive && a.EndAt != nil && !now.Before(*a.EndAt):
			if a.AutoRenew {
				m.renew(tx, a, p, 0)
			} else {
				m.expire(tx, a, *a.EndAt)
			}
		default:
			continue
		}
		a.UpdatedAt = now
		tx.put(kindAgreement, a.ID, a)
	}
	for tok, t := range m.tokens {
		if now.Sub(t.ExpiresAt) > 24*time.Hour {
			delete(m.tokens, tok)
			tx.del(kindToken, tok)
		}
	}
	return nil
}

// due says whether the clock's tick changes the agreement at now: the end
// of a cancellation's final-metering window, or the end of a term.
func due(a *Agreement, now time.Time) bool {
	switch {
	case a.Status == StatusUnsubscribePending && a.FinalMeteringUntil != nil:
		return !now.Before(*a.FinalMeteringUntil)
	case a.Status == StatusActive && a.EndAt != nil:
		return !now.Before(*a.EndAt)
	}
	return false
}
