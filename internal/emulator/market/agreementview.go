package market

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// What the Agreement API calls the emulator's agreements and products: every
// agreement is a buyer's purchase of a SaaS product.
const (
	AgreementTypePurchase = "PurchaseAgreement"
	ResourceTypeSaaS      = "SaaSProduct"
	CatalogAWSMarketplace = "AWSMarketplace"
	CurrencyUSD           = "USD"
)

// Agreement statuses as the Agreement API and the EventBridge events name them.
const (
	AgreementActive     = "ACTIVE"
	AgreementCancelled  = "CANCELLED"
	AgreementExpired    = "EXPIRED"
	AgreementTerminated = "TERMINATED"
)

// End-time behaviours of an active agreement with an end date.
const (
	EndTimeRenew            = "RENEW"
	EndTimeExpire           = "EXPIRE"
	EndReasonAcceptorOptOut = "ACCEPTOR_RENEW_OPTED_OUT"
	EndReasonNoRenewalTerm  = "NO_RENEWAL_TERM"
)

// SearchAgreements' parties and sort keys.
const (
	AgreementPartyProposer   = "Proposer"
	AgreementPartyAcceptor   = "Acceptor"
	AgreementSortByEndTime   = "EndTime"
	AgreementSortByStartTime = "StartTime"
)

// agreementStatusOf maps the emulator's lifecycle to AWS's agreement status:
// a cancelled subscription is CANCELLED at once, though metering goes on
// through its final-metering window; a failed purchase is TERMINATED, AWS's
// status for agreements it ended itself (payment failure).
func agreementStatusOf(status string) string {
	switch status {
	case StatusActive:
		return AgreementActive
	case StatusUnsubscribePending, StatusUnsubscribed:
		return AgreementCancelled
	case StatusExpired:
		return AgreementExpired
	default:
		return AgreementTerminated
	}
}

// AgreementView is an agreement as DescribeAgreement and SearchAgreements
// show it.
type AgreementView struct {
	ID                string
	AcceptorAccountID string
	ProposerAccountID string
	OfferID           string
	ProductID         string
	Status            string // AWS's: ACTIVE, CANCELLED, EXPIRED, TERMINATED
	LicenseArn        string
	AcceptanceTime    time.Time
	StartTime         time.Time
	EndTime           *time.Time // none for pay-as-you-go
	LastUpdateTime    time.Time
	EndTimeBehavior   string // RENEW or EXPIRE for an active agreement with an end date
	EndTimeReason     string // why an EXPIRE agreement does not renew
	ValueMicros       Micros // the up-front charges so far
}

// AgreementTerms are the terms the buyer accepted, as GetAgreementTerms lists
// them. Nil parts are terms the agreement does not have.
type AgreementTerms struct {
	Legal     LegalTerm
	Support   *SupportTerm
	Usage     *UsageTerm
	Upfront   *UpfrontTerm
	FreeTrial *FreeTrialTerm
	Validity  ValidityTerm
	Renewal   *RenewalTerm
}

// LegalTerm is the contract the buyer accepted: the emulator's offers all
// use AWS's Standard Contract for AWS Marketplace.
type LegalTerm struct {
	ID                 string
	Type, URL, Version string
}

// SupportTerm is the public listing's refund policy.
type SupportTerm struct {
	ID           string
	RefundPolicy string
}

// RatePrice is one dimension's unit price.
type RatePrice struct {
	Dimension   string
	PriceMicros Micros
}

// UsageTerm prices metered dimensions per unit used.
type UsageTerm struct {
	ID    string
	Rates []RatePrice
}

// UpfrontTerm is a contract's rate card and what the buyer bought.
type UpfrontTerm struct {
	ID                 string
	Duration           string // ISO 8601, e.g. P12M: the rate card's selector
	Rates              []RatePrice
	Quantities         []DimensionQuantity
	QuantityChangeable bool // a public offer lets the buyer pick quantities; a private one fixes them
}

// DimensionQuantity is a contract dimension bought.
type DimensionQuantity struct {
	Dimension string
	Quantity  int64
}

// FreeTrialTerm is a free trial's length and the dimensions it covers.
type FreeTrialTerm struct {
	ID         string
	Duration   string
	Dimensions []string
}

// ValidityTerm is when the agreement holds.
type ValidityTerm struct {
	ID       string
	Duration string // contracts only
	Start    time.Time
	End      *time.Time
}

// RenewalTerm says whether the contract renews at its end date.
type RenewalTerm struct {
	ID        string
	AutoRenew bool
}

// Standard contract of the emulator's offers (AWS's SCMP, as sellers pick it).
const (
	standardContractURL     = "https://s3.amazonaws.com/aws-mp-standard-contracts/Standard-Contact-for-AWS-Marketplace-2022-07-14.pdf"
	standardContractVersion = "2022-07-14"
	publicRefundPolicy      = "Refunds are at the seller's discretion; contact the seller through the product's support page."
)

// DescribeAgreement shows one agreement to the seller who proposed it.
func (m *Market) DescribeAgreement(sellerAccountID, agreementID string) (AgreementView, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.proposedAgreement(sellerAccountID, agreementID)
	if err != nil {
		return AgreementView{}, err
	}
	return m.agreementView(a), nil
}

// GetAgreementTerms lists an agreement's accepted terms to its proposer.
func (m *Market) GetAgreementTerms(sellerAccountID, agreementID string) (AgreementTerms, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.proposedAgreement(sellerAccountID, agreementID)
	if err != nil {
		return AgreementTerms{}, err
	}
	return m.agreementTerms(a), nil
}

// proposedAgreement finds an agreement the caller may read: AWS answers
// another party's agreement with AccessDeniedException, not "not found".
func (m *Market) proposedAgreement(callerAccountID, id string) (*Agreement, error) {
	a, ok := m.agreements[id]
	if !ok {
		return nil, errorf(KindNotFound, "Agreement %s not found", id)
	}
	if a.SellerAccountID != callerAccountID && a.AccountID != callerAccountID {
		return nil, errorf(KindForbidden, "User is not authorized to access agreement %s", id)
	}
	return a, nil
}

// AgreementSearch is what SearchAgreements filters and sorts on; empty
// fields do not filter.
type AgreementSearch struct {
	PartyType         string // Proposer or Acceptor: which side the caller is on
	AgreementType     string
	AcceptorAccountID string
	OfferID           string
	ResourceID        string // product id
	ResourceType      string
	Status            string
	LicenseArn        string
	BeforeEndTime     *time.Time
	AfterEndTime      *time.Time
	BeforeStartTime   *time.Time
	AfterStartTime    *time.Time
	SortBy            string // EndTime (default) or StartTime
	Ascending         bool   // AWS's default order is descending
}

// SearchAgreements lists the caller's agreements that match, sorted; the
// caller pages through the result.
func (m *Market) SearchAgreements(callerAccountID string, q AgreementSearch) []AgreementView {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AgreementView
	for _, a := range m.agreements {
		mine := a.SellerAccountID == callerAccountID
		if q.PartyType == AgreementPartyAcceptor {
			mine = a.AccountID == callerAccountID
		}
		if !mine {
			continue
		}
		v := m.agreementView(a)
		if v.matches(q) {
			out = append(out, v)
		}
	}
	key := func(v AgreementView) (time.Time, bool) {
		if q.SortBy == AgreementSortByStartTime {
			return v.StartTime, true
		}
		if v.EndTime == nil {
			return time.Time{}, false
		}
		return *v.EndTime, true
	}
	sort.Slice(out, func(i, j int) bool {
		ti, oki := key(out[i])
		tj, okj := key(out[j])
		var less bool
		switch {
		case oki != okj:
			less = oki // no end date sorts as the latest: the agreement never ends
		case !ti.Equal(tj):
			less = ti.Before(tj)
		default:
			less = out[i].ID < out[j].ID
		}
		if q.Ascending {
			return less
		}
		return !less
	})
	return out
}

func (v AgreementView) matches(q AgreementSearch) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	if !eq(q.AgreementType, AgreementTypePurchase) || !eq(q.AcceptorAccountID, v.AcceptorAccountID) || !eq(q.OfferID, v.OfferID) || !eq(q.ResourceID, v.ProductID) ||
		!eq(q.ResourceType, ResourceTypeSaaS) || !eq(q.Status, v.Status) || !eq(q.LicenseArn, v.LicenseArn) {
		return false
	}
	if q.BeforeEndTime != nil || q.AfterEndTime != nil {
		if v.EndTime == nil {
			return false
		}
		if q.BeforeEndTime != nil && !v.EndTime.Before(*q.BeforeEndTime) || q.AfterEndTime != nil && !v.EndTime.After(*q.AfterEndTime) {
			return false
		}
	}
	if q.BeforeStartTime != nil && !v.StartTime.Before(*q.BeforeStartTime) || q.AfterStartTime != nil && !v.StartTime.After(*q.AfterStartTime) {
		return false
	}
	return true
}

func (m *Market) agreementView(a *Agreement) AgreementView {
	p := m.products[a.ProductCode]
	v := AgreementView{
		ID: a.ID, AcceptorAccountID: a.AccountID, ProposerAccountID: a.SellerAccountID, OfferID: a.OfferID,
		ProductID: p.ID, Status: agreementStatusOf(a.Status), LicenseArn: a.LicenseArn,
		AcceptanceTime: a.CreatedAt, StartTime: a.StartAt, LastUpdateTime: a.UpdatedAt,
	}
	if v.LastUpdateTime.IsZero() {
		v.LastUpdateTime = a.CreatedAt
	}
	if a.EndAt != nil {
		end := *a.EndAt
		v.EndTime = &end
		if v.Status == AgreementActive {
			switch {
			case a.AutoRenew:
				v.EndTimeBehavior = EndTimeRenew
			case p.PricingModel == PricingSubscription:
				v.EndTimeBehavior, v.EndTimeReason = EndTimeExpire, EndReasonNoRenewalTerm
			default:
				v.EndTimeBehavior, v.EndTimeReason = EndTimeExpire, EndReasonAcceptorOptOut
			}
		}
	}
	for _, c := range m.charges {
		if c.AgreementID == a.ID {
			v.ValueMicros += c.AmountMicros
		}
	}
	return v
}

// agreementTerms derives the accepted terms from the listing, the private
// offer if any, and what the buyer chose.
func (m *Market) agreementTerms(a *Agreement) AgreementTerms {
	p := m.products[a.ProductCode]
	var offer *Offer
	if a.PrivateOffer {
		offer = m.offers[a.OfferID]
	}
	id := func(kind string) string { return termID(a.OfferID, kind) }
	t := AgreementTerms{
		Legal:    LegalTerm{ID: id("LegalTerm"), Type: "StandardEula", URL: standardContractURL, Version: standardContractVersion},
		Validity: ValidityTerm{ID: id("ValidityTerm"), Start: a.StartAt, End: a.EndAt},
	}
	if offer == nil {
		t.Support = &SupportTerm{ID: id("SupportTerm"), RefundPolicy: publicRefundPolicy}
	}
	var metered []string
	for _, d := range p.Dimensions {
		if d.Kind == DimensionMetered {
			metered = append(metered, d.Key)
		}
	}
	if len(metered) > 0 {
		u := &UsageTerm{ID: id("UsageBasedPricingTerm")}
		for _, k := range metered {
			u.Rates = append(u.Rates, RatePrice{Dimension: k, PriceMicros: a.MeteredPrices[k]})
		}
		t.Usage = u
	}
	if p.PricingModel != PricingSubscription {
		duration := m.contractDuration(a, p, offer)
		t.Validity.Duration = duration
		up := &UpfrontTerm{ID: id("ConfigurableUpfrontPricingTerm"), Duration: duration, QuantityChangeable: offer == nil}
		for _, d := range p.Dimensions {
			if d.Kind != DimensionContract {
				continue
			}
			price := d.PriceMicros
			if offer != nil {
				for _, ot := range offer.Terms {
					if ot.Dimension == d.Key {
						price = ot.PriceMicros
					}
				}
			}
			up.Rates = append(up.Rates, RatePrice{Dimension: d.Key, PriceMicros: price})
			if q, ok := a.Entitlements[d.Key]; ok {
				up.Quantities = append(up.Quantities, DimensionQuantity{Dimension: d.Key, Quantity: q})
			}
		}
		t.Upfront = up
		t.Renewal = &RenewalTerm{ID: id("RenewalTerm"), AutoRenew: a.AutoRenew}
	}
	if a.FreeTrial {
		ft := &FreeTrialTerm{ID: id("FreeTrialPricingTerm"), Duration: t.Validity.Duration}
		if a.FreeTrialEndAt != nil {
			ft.Duration = "P" + strconv.Itoa(int(a.FreeTrialEndAt.Sub(a.StartAt).Hours()/24)) + "D"
		}
		for _, d := range p.Dimensions {
			ft.Dimensions = append(ft.Dimensions, d.Key)
		}
		t.FreeTrial = ft
	}
	return t
}

// contractDuration is the contract's term in ISO 8601: months when the
// offer gives months, days when a private offer gives an end date.
func (m *Market) contractDuration(a *Agreement, p *Product, offer *Offer) string {
	switch {
	case offer != nil && offer.DurationMonths > 0:
		return fmt.Sprintf("P%dM", offer.DurationMonths)
	case offer != nil && offer.EndAt != nil:
		days := int(offer.EndAt.Sub(a.StartAt).Hours() / 24)
		return fmt.Sprintf("P%dD", max(days, 1))
	}
	return fmt.Sprintf("P%dM", max(p.ContractMonths, 1))
}

// termID is stable per offer and term type: AWS's term ids are shared by the
// offer and every agreement made from it.
func termID(offerID, kind string) string {
	sum := sha256.Sum256([]byte(offerID + "/" + kind))
	return "term-" + hex.EncodeToString(sum[:])[:32]
}

// Decimal writes an amount in dollars as AWS's price strings do: at least
// two decimals, at most six, no float on the way.
func (m Micros) Decimal() string {
	neg := m < 0
	v := int64(m)
	if neg {
		v = -v
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", v%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	s := strconv.FormatInt(v/1_000_000, 10) + "." + frac
	if neg {
		s = "-" + s
	}
	return s
}
