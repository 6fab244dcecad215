package awsmp

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	agtypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// catalogAWSMarketplace is the catalog of every AWS Marketplace agreement.
const catalogAWSMarketplace = "AWSMarketplace"

// Agreement reads an agreement and its accepted terms (DescribeAgreement,
// then every page of GetAgreementTerms). It implements
// marketplace.AgreementReader.
func (c *Client) Agreement(ctx context.Context, id string) (marketplace.Agreement, error) {
	if err := pace(ctx, c.agreementPace); err != nil {
		return marketplace.Agreement{}, err
	}
	out, err := c.agreements.DescribeAgreement(ctx, &marketplaceagreement.DescribeAgreementInput{AgreementId: aws.String(id)})
	if err != nil {
		return marketplace.Agreement{}, agreementError(err)
	}
	a := marketplace.Agreement{
		ID: aws.ToString(out.AgreementId), Status: string(out.Status),
		AcceptedAt: aws.ToTime(out.AcceptanceTime), StartsAt: aws.ToTime(out.StartTime), EndsAt: aws.ToTime(out.EndTime),
	}
	if out.Acceptor != nil {
		a.AcceptorAccountID = aws.ToString(out.Acceptor.AccountId)
	}
	if p := out.ProposalSummary; p != nil {
		a.OfferID = aws.ToString(p.OfferId)
		for _, r := range p.Resources {
			a.ProductIDs = append(a.ProductIDs, aws.ToString(r.Id))
		}
	}
	pages := marketplaceagreement.NewGetAgreementTermsPaginator(c.agreements, &marketplaceagreement.GetAgreementTermsInput{AgreementId: aws.String(id)})
	for pages.HasMorePages() {
		if err := pace(ctx, c.agreementPace); err != nil {
			return marketplace.Agreement{}, err
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return marketplace.Agreement{}, agreementError(err)
		}
		for _, t := range page.AcceptedTerms {
			addTerm(&a.Terms, t)
		}
	}
	return a, nil
}

// ActiveAgreements lists the seller's active purchase agreements with a
// buyer, of one license or product (SearchAgreements from the proposer's
// side). It implements marketplace.AgreementReader.
func (c *Client) ActiveAgreements(ctx context.Context, q marketplace.AgreementQuery) ([]marketplace.Agreement, error) {
	filters := []agtypes.Filter{
		{Name: aws.String("PartyType"), Values: []string{"Proposer"}},
		{Name: aws.String("AgreementType"), Values: []string{"PurchaseAgreement"}},
		{Name: aws.String("AcceptorAccountId"), Values: []string{q.AcceptorAccountID}},
		{Name: aws.String("Status"), Values: []string{string(agtypes.AgreementStatusActive)}},
	}
	switch {
	case q.LicenseArn != "":
		filters = append(filters, agtypes.Filter{Name: aws.String("LicenseArn"), Values: []string{q.LicenseArn}})
	case q.ProductID != "":
		filters = append(filters, agtypes.Filter{Name: aws.String("ResourceIdentifier"), Values: []string{q.ProductID}})
	}
	pages := marketplaceagreement.NewSearchAgreementsPaginator(c.agreements, &marketplaceagreement.SearchAgreementsInput{
		Catalog: aws.String(catalogAWSMarketplace), Filters: filters})
	var out []marketplace.Agreement
	// A buyer holds a handful of agreements with one seller; a hundred
	// pages would be a marketplace gone wrong, not a buyer.
	for i := 0; pages.HasMorePages() && i < 100; i++ {
		if err := pace(ctx, c.agreementPace); err != nil {
			return nil, err
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, agreementError(err)
		}
		for _, s := range page.AgreementViewSummaries {
			a := marketplace.Agreement{ID: aws.ToString(s.AgreementId), Status: string(s.Status),
				AcceptedAt: aws.ToTime(s.AcceptanceTime), StartsAt: aws.ToTime(s.StartTime), EndsAt: aws.ToTime(s.EndTime)}
			if s.Acceptor != nil {
				a.AcceptorAccountID = aws.ToString(s.Acceptor.AccountId)
			}
			for _, e := range s.Entitlements {
				a.LicenseArns = append(a.LicenseArns, aws.ToString(e.LicenseArn))
			}
			if p := s.ProposalSummary; p != nil {
				a.OfferID = aws.ToString(p.OfferId)
				for _, r := range p.Resources {
					a.ProductIDs = append(a.ProductIDs, aws.ToString(r.Id))
				}
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// addTerm adds what the billing page shows of one accepted term. Terms it
// does not show (BYOL, net and variable payment) are left out.
func addTerm(t *marketplace.AgreementTerms, term agtypes.AcceptedTerm) {
	currency := func(code *string) {
		if t.Currency == "" {
			t.Currency = aws.ToString(code)
		}
	}
	switch v := term.(type) {
	case *agtypes.AcceptedTermMemberConfigurableUpfrontPricingTerm:
		currency(v.Value.CurrencyCode)
		// The configuration is what the buyer chose: a quantity per
		// dimension, priced by the rate card its selector picked.
		prices := map[string]string{}
		if cfg := v.Value.Configuration; cfg != nil {
			for _, card := range v.Value.RateCards {
				if card.Selector != nil && aws.ToString(card.Selector.Value) != aws.ToString(cfg.SelectorValue) {
					continue
				}
				for _, item := range card.RateCard {
					prices[aws.ToString(item.DimensionKey)] = aws.ToString(item.Price)
				}
				if t.Duration == "" && card.Selector != nil && aws.ToString(card.Selector.Type) == "Duration" {
					t.Duration = aws.ToString(card.Selector.Value)
				}
			}
			for _, d := range cfg.Dimensions {
				key := aws.ToString(d.DimensionKey)
				t.Commitments = append(t.Commitments, marketplace.Commitment{Dimension: key, Quantity: int64(d.DimensionValue), UnitPrice: prices[key]})
			}
		}
	case *agtypes.AcceptedTermMemberFixedUpfrontPricingTerm:
		currency(v.Value.CurrencyCode)
		t.UpfrontPrice = aws.ToString(v.Value.Price)
		if t.Duration == "" {
			t.Duration = aws.ToString(v.Value.Duration)
		}
		for _, g := range v.Value.Grants {
			// No maximum is an unlimited grant, not a grant of none.
			t.Commitments = append(t.Commitments, marketplace.Commitment{Dimension: aws.ToString(g.DimensionKey),
				Quantity: int64(aws.ToInt32(g.MaxQuantity)), Unlimited: g.MaxQuantity == nil})
		}
	case *agtypes.AcceptedTermMemberUsageBasedPricingTerm:
		currency(v.Value.CurrencyCode)
		for _, card := range v.Value.RateCards {
			for _, item := range card.RateCard {
				t.Usage = append(t.Usage, marketplace.UsageRate{Dimension: aws.ToString(item.DimensionKey), Price: aws.ToString(item.Price)})
			}
		}
	case *agtypes.AcceptedTermMemberPaymentScheduleTerm:
		currency(v.Value.CurrencyCode)
		for _, item := range v.Value.Schedule {
			t.Payments = append(t.Payments, marketplace.Payment{ChargeDate: aws.ToTime(item.ChargeDate).UTC(), Amount: aws.ToString(item.ChargeAmount)})
		}
	case *agtypes.AcceptedTermMemberRecurringPaymentTerm:
		currency(v.Value.CurrencyCode)
		t.RecurringPrice, t.RecurringPeriod = aws.ToString(v.Value.Price), aws.ToString(v.Value.BillingPeriod)
	case *agtypes.AcceptedTermMemberFreeTrialPricingTerm:
		t.FreeTrial = aws.ToString(v.Value.Duration)
	case *agtypes.AcceptedTermMemberRenewalTerm:
		if cfg := v.Value.Configuration; cfg != nil && cfg.EnableAutoRenew != nil {
			on := *cfg.EnableAutoRenew
			t.AutoRenew = &on
		}
	case *agtypes.AcceptedTermMemberValidityTerm:
		if d := aws.ToString(v.Value.AgreementDuration); d != "" {
			t.Duration = d
		}
	case *agtypes.AcceptedTermMemberLegalTerm:
		for _, d := range v.Value.Documents {
			t.Documents = append(t.Documents, marketplace.Document{Type: aws.ToString(d.Type), URL: aws.ToString(d.Url), Version: aws.ToString(d.Version)})
		}
	case *agtypes.AcceptedTermMemberSupportTerm:
		t.RefundPolicy = aws.ToString(v.Value.RefundPolicy)
	}
}

// agreementError maps the Agreement API's errors: an agreement that does
// not exist will not become readable by trying again; a refusal of the
// credentials waits for the IAM policy; anything else (throttling, outage,
// network) may pass soon.
func agreementError(err error) error {
	var notFound *agtypes.ResourceNotFoundException
	var denied *agtypes.AccessDeniedException
	var invalid *agtypes.ValidationException
	switch {
	case errors.As(err, &notFound) || errors.As(err, &invalid):
		return fmt.Errorf("%w: %v", marketplace.ErrAgreementUnreadable, err)
	case errors.As(err, &denied):
		// Mended by the vendor's IAM policy, which may come later: not
		// given up on, tried again hourly.
		return fmt.Errorf("%w: %v", marketplace.ErrAgreementNotPermitted, err)
	}
	return fmt.Errorf("AWS Marketplace Agreement API: %w", err)
}
