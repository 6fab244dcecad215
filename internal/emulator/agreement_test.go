package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mpa "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement"
	"github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/schemas"
	mpatypes "github.com/aws/aws-sdk-go-v2/service/marketplaceagreement/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// The Agreement Service (#13) through the official Go client, in both of
// its protocols: Smithy RPC v2 CBOR (what marketplaceagreement v1.30 sends
// by default) and AWS JSON 1.0 (what the service model names, and the CLI
// and the JavaScript SDK send).

var agreementProtocols = []struct {
	name string
	opt  func(*mpa.Options)
}{
	{"rpcv2Cbor", func(*mpa.Options) {}},
	{"awsJson1_0", func(o *mpa.Options) { o.Protocol = awsjson.New10(schemas.AWSMPCommerceService_v20200301) }},
}

func (e *env) agreementsClient(key, secret string, protocol func(*mpa.Options)) *mpa.Client {
	return mpa.NewFromConfig(e.awsConfig(key, secret, noRetries), func(o *mpa.Options) {
		o.BaseEndpoint = aws.String(e.url)
		protocol(o)
	})
}

// agreementWorld is a seller's agreements of every kind the emulator makes.
type agreementWorld struct {
	c                           catalog
	payg, contract, private     market.Agreement
	offer                       market.Offer
	foreign                     market.Agreement // another seller's
	trialProduct                market.Product
	trial                       market.Agreement
	contractDays, privateMonths int
}

func (e *env) agreementWorld() agreementWorld {
	e.t.Helper()
	ctx := context.Background()
	w := agreementWorld{c: e.catalog()}
	w.payg = e.subscribe(w.c.buyer.ID, w.c.payg.Code, nil)
	w.contract = e.subscribe(w.c.buyer.ID, w.c.contract.Code, map[string]int64{"committed": 5})
	third := must(e.m.CreateAccount(ctx, market.AccountInput{ID: "333344445555", Name: "Third", Permissions: []string{"AWSMarketplaceFullAccess"}}))
	w.offer = must(e.m.CreateOffer(ctx, market.OfferInput{ProductCode: w.c.contract.Code, BuyerAccountIDs: []string{third.ID},
		Terms:          []market.OfferTerm{{Dimension: "committed", Quantity: 40, PriceMicros: 750_000}, {Dimension: "overage", PriceMicros: 5_000}},
		DurationMonths: 24, AutoRenew: true}))
	w.private = must(e.m.AcceptOffer(ctx, third.ID, w.offer.ID, "PO-1")).Agreement
	w.trialProduct = must(e.m.CreateProduct(ctx, market.ProductInput{Code: "trial", Title: "Trial", PricingModel: market.PricingSubscription,
		Mode: market.ModeCurrent, FulfillmentURL: "https://seller.example/fulfill", FreeTrialDays: 14,
		Dimensions: []market.Dimension{{Key: "seats", Name: "Seats", Kind: market.DimensionMetered, PriceMicros: 2_500_000}}}))
	w.trial = e.subscribe(w.c.other.ID, w.trialProduct.Code, nil)
	foreign := must(e.m.CreateProduct(ctx, market.ProductInput{Code: "foreign", Title: "Foreign", SellerAccountID: "999988887777",
		PricingModel: market.PricingSubscription, Mode: market.ModeCurrent, FulfillmentURL: "https://other.example/fulfill",
		Dimensions: []market.Dimension{{Key: "credits", Name: "Credits", Kind: market.DimensionMetered, PriceMicros: 1}}}))
	w.foreign = e.subscribe(w.c.buyer.ID, foreign.Code, nil)
	return w
}

func TestAgreementAPI_DescribeAgreement_13(t *testing.T) {
	e := newEnv(t)
	w := e.agreementWorld()
	ctx := context.Background()
	product := func(code string) string { return must(e.m.Product(code)).ID }
	cases := []struct {
		name      string
		a         market.Agreement
		offerID   string
		productID string
		end       *time.Time
		behaviour mpatypes.EndTimeBehaviorType
		reason    mpatypes.EndTimeBehaviorReasonCode
		value     string
	}{
		{"pay-as-you-go has no end time", w.payg, w.c.payg.PublicOfferID, product(w.c.payg.Code), nil, "", "", "0.00"},
		{"public contract expires, the buyer did not opt into renewal", w.contract, w.c.contract.PublicOfferID, product(w.c.contract.Code),
			w.contract.EndAt, mpatypes.EndTimeBehaviorTypeExpire, mpatypes.EndTimeBehaviorReasonCodeAcceptorRenewOptedOut, "5.00"},
		{"private offer renews", w.private, w.offer.ID, product(w.c.contract.Code), w.private.EndAt, mpatypes.EndTimeBehaviorTypeRenew, "", "30.00"},
	}
	for _, p := range agreementProtocols {
		client := e.agreementsClient("test", "test", p.opt)
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				out, err := client.DescribeAgreement(ctx, &mpa.DescribeAgreementInput{AgreementId: aws.String(tc.a.ID)})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(out.AgreementId) != tc.a.ID || aws.ToString(out.AgreementType) != "PurchaseAgreement" ||
					aws.ToString(out.Acceptor.AccountId) != tc.a.AccountID || aws.ToString(out.Proposer.AccountId) != "111122223333" ||
					out.Status != mpatypes.AgreementStatusActive || aws.ToString(out.InitialAgreementId) != tc.a.ID {
					t.Fatalf("DescribeAgreement = %+v", out)
				}
				if aws.ToString(out.ProposalSummary.OfferId) != tc.offerID || len(out.ProposalSummary.Resources) != 1 ||
					aws.ToString(out.ProposalSummary.Resources[0].Id) != tc.productID || aws.ToString(out.ProposalSummary.Resources[0].Type) != "SaaSProduct" {
					t.Fatalf("proposal summary = %+v", out.ProposalSummary)
				}
				if !out.AcceptanceTime.Equal(tc.a.CreatedAt.Truncate(time.Second)) || !out.StartTime.Equal(tc.a.StartAt.Truncate(time.Second)) {
					t.Fatalf("acceptance %v start %v, want %v %v", out.AcceptanceTime, out.StartTime, tc.a.CreatedAt, tc.a.StartAt)
				}
				if (out.EndTime == nil) != (tc.end == nil) || tc.end != nil && !out.EndTime.Equal(tc.end.Truncate(time.Second)) {
					t.Fatalf("end time = %v, want %v", out.EndTime, tc.end)
				}
				if tc.behaviour == "" && out.EndTimeBehavior != nil ||
					tc.behaviour != "" && (out.EndTimeBehavior == nil || out.EndTimeBehavior.Type != tc.behaviour || out.EndTimeBehavior.ReasonCode != tc.reason) {
					t.Fatalf("end time behaviour = %+v, want %s %s", out.EndTimeBehavior, tc.behaviour, tc.reason)
				}
				if aws.ToString(out.EstimatedCharges.AgreementValue) != tc.value || aws.ToString(out.EstimatedCharges.CurrencyCode) != "USD" {
					t.Fatalf("estimated charges = %+v, want %s", out.EstimatedCharges, tc.value)
				}
			})
		}
	}
	t.Run("a cancelled subscription is CANCELLED at once", func(t *testing.T) {
		must(e.m.Cancel(ctx, w.payg.ID))
		out := must(e.agreementsClient("test", "test", agreementProtocols[0].opt).DescribeAgreement(ctx, &mpa.DescribeAgreementInput{AgreementId: aws.String(w.payg.ID)}))
		if out.Status != mpatypes.AgreementStatusCancelled {
			t.Fatalf("status = %s", out.Status)
		}
	})
}

// termsOf collects every page of an agreement's terms through the SDK's paginator.
func termsOf(t *testing.T, client *mpa.Client, id string, pageSize int32) []mpatypes.AcceptedTerm {
	t.Helper()
	in := &mpa.GetAgreementTermsInput{AgreementId: aws.String(id)}
	if pageSize > 0 {
		in.MaxResults = aws.Int32(pageSize)
	}
	var out []mpatypes.AcceptedTerm
	pages := 0
	for p := mpa.NewGetAgreementTermsPaginator(client, in); p.HasMorePages(); {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pageSize > 0 && len(page.AcceptedTerms) > int(pageSize) {
			t.Fatalf("page of %d terms, asked for %d", len(page.AcceptedTerms), pageSize)
		}
		out = append(out, page.AcceptedTerms...)
		pages++
	}
	if pageSize > 0 && pages != (len(out)+int(pageSize)-1)/int(pageSize) {
		t.Fatalf("%d terms came in %d pages of %d", len(out), pages, pageSize)
	}
	return out
}

func termKinds(terms []mpatypes.AcceptedTerm) []string {
	var out []string
	for _, t := range terms {
		out = append(out, fmt.Sprintf("%T", t)[len("*types.AcceptedTermMember"):])
	}
	return out
}

func TestAgreementAPI_GetAgreementTerms_13(t *testing.T) {
	e := newEnv(t)
	w := e.agreementWorld()
	cases := []struct {
		name  string
		a     market.Agreement
		kinds []string
		check func(t *testing.T, terms []mpatypes.AcceptedTerm)
	}{
		{"pay-as-you-go: usage prices and validity", w.payg,
			[]string{"LegalTerm", "SupportTerm", "UsageBasedPricingTerm", "ValidityTerm"},
			func(t *testing.T, terms []mpatypes.AcceptedTerm) {
				u := terms[2].(*mpatypes.AcceptedTermMemberUsageBasedPricingTerm).Value
				rc := u.RateCards[0].RateCard[0]
				if aws.ToString(u.CurrencyCode) != "USD" || aws.ToString(rc.DimensionKey) != "credits" || aws.ToString(rc.Price) != "0.01" {
					t.Fatalf("usage term = %+v", u)
				}
				v := terms[3].(*mpatypes.AcceptedTermMemberValidityTerm).Value
				if v.AgreementEndDate != nil || v.AgreementDuration != nil || !v.AgreementStartDate.Equal(w.payg.StartAt.Truncate(time.Second)) {
					t.Fatalf("validity = %+v", v)
				}
				l := terms[0].(*mpatypes.AcceptedTermMemberLegalTerm).Value
				if len(l.Documents) != 1 || aws.ToString(l.Documents[0].Type) != "StandardEula" || aws.ToString(l.Id) == "" {
					t.Fatalf("legal = %+v", l)
				}
			}},
		{"public contract: quantities chosen, committed amounts, renewal off", w.contract,
			[]string{"LegalTerm", "SupportTerm", "ConfigurableUpfrontPricingTerm", "UsageBasedPricingTerm", "ValidityTerm", "RenewalTerm"},
			func(t *testing.T, terms []mpatypes.AcceptedTerm) {
				c := terms[2].(*mpatypes.AcceptedTermMemberConfigurableUpfrontPricingTerm).Value
				if aws.ToString(c.Configuration.SelectorValue) != "P12M" || len(c.Configuration.Dimensions) != 1 ||
					aws.ToString(c.Configuration.Dimensions[0].DimensionKey) != "committed" || c.Configuration.Dimensions[0].DimensionValue != 5 {
					t.Fatalf("configuration = %s %+v", aws.ToString(c.Configuration.SelectorValue), c.Configuration)
				}
				rc := c.RateCards[0]
				if aws.ToString(rc.Selector.Value) != "P12M" || aws.ToString(rc.Constraints.QuantityConfiguration) != "Allowed" ||
					aws.ToString(rc.RateCard[0].DimensionKey) != "committed" || aws.ToString(rc.RateCard[0].Price) != "1.00" {
					t.Fatalf("rate card = %+v", rc)
				}
				if r := terms[5].(*mpatypes.AcceptedTermMemberRenewalTerm).Value; aws.ToBool(r.Configuration.EnableAutoRenew) {
					t.Fatalf("renewal = %+v", r)
				}
				v := terms[4].(*mpatypes.AcceptedTermMemberValidityTerm).Value
				if aws.ToString(v.AgreementDuration) != "P12M" || v.AgreementEndDate == nil || !v.AgreementEndDate.Equal(w.contract.EndAt.Truncate(time.Second)) {
					t.Fatalf("validity = %+v", v)
				}
			}},
		{"private offer: the offer's prices and quantities, 24 months, auto-renew", w.private,
			[]string{"LegalTerm", "ConfigurableUpfrontPricingTerm", "UsageBasedPricingTerm", "ValidityTerm", "RenewalTerm"},
			func(t *testing.T, terms []mpatypes.AcceptedTerm) {
				c := terms[1].(*mpatypes.AcceptedTermMemberConfigurableUpfrontPricingTerm).Value
				if aws.ToString(c.Configuration.SelectorValue) != "P24M" || c.Configuration.Dimensions[0].DimensionValue != 40 ||
					aws.ToString(c.RateCards[0].RateCard[0].Price) != "0.75" || aws.ToString(c.RateCards[0].Constraints.QuantityConfiguration) != "Disallowed" {
					t.Fatalf("upfront = %+v", c)
				}
				u := terms[2].(*mpatypes.AcceptedTermMemberUsageBasedPricingTerm).Value
				if aws.ToString(u.RateCards[0].RateCard[0].Price) != "0.005" {
					t.Fatalf("usage = %+v", u)
				}
				if r := terms[4].(*mpatypes.AcceptedTermMemberRenewalTerm).Value; !aws.ToBool(r.Configuration.EnableAutoRenew) {
					t.Fatalf("renewal = %+v", r)
				}
			}},
		{"free trial: its length and the dimensions it covers", w.trial,
			[]string{"LegalTerm", "SupportTerm", "FreeTrialPricingTerm", "UsageBasedPricingTerm", "ValidityTerm"},
			func(t *testing.T, terms []mpatypes.AcceptedTerm) {
				f := terms[2].(*mpatypes.AcceptedTermMemberFreeTrialPricingTerm).Value
				if aws.ToString(f.Duration) != "P14D" || len(f.Grants) != 1 || aws.ToString(f.Grants[0].DimensionKey) != "seats" {
					t.Fatalf("free trial = %+v", f)
				}
			}},
	}
	for _, p := range agreementProtocols {
		client := e.agreementsClient("test", "test", p.opt)
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				all := termsOf(t, client, tc.a.ID, 0)
				if got := termKinds(all); !slices.Equal(got, tc.kinds) {
					t.Fatalf("terms = %v, want %v", got, tc.kinds)
				}
				tc.check(t, all)
				paged := termsOf(t, client, tc.a.ID, 2)
				if got := termKinds(paged); !slices.Equal(got, tc.kinds) {
					t.Fatalf("in pages of 2: terms = %v, want %v", got, tc.kinds)
				}
			})
		}
	}
}

func filters(kv ...string) []mpatypes.Filter {
	var out []mpatypes.Filter
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, mpatypes.Filter{Name: aws.String(kv[i]), Values: []string{kv[i+1]}})
	}
	return out
}

func searchIDs(t *testing.T, client *mpa.Client, in *mpa.SearchAgreementsInput) []string {
	t.Helper()
	var ids []string
	for p := mpa.NewSearchAgreementsPaginator(client, in); p.HasMorePages(); {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.AgreementViewSummaries {
			ids = append(ids, aws.ToString(s.AgreementId))
		}
	}
	return ids
}

func TestAgreementAPI_SearchAgreements_13(t *testing.T) {
	e := newEnv(t)
	w := e.agreementWorld()
	ctx := context.Background()
	must(e.m.Cancel(ctx, w.trial.ID))
	base := []string{"PartyType", "Proposer", "AgreementType", "PurchaseAgreement"}
	with := func(kv ...string) []mpatypes.Filter { return filters(append(slices.Clone(base), kv...)...) }
	productID := must(e.m.Product(w.c.contract.Code)).ID
	day := func(t *time.Time) string { return t.UTC().Format(time.RFC3339) }
	between := w.contract.EndAt.Add(24 * time.Hour)
	cases := []struct {
		name     string
		filters  []mpatypes.Filter
		sort     *mpatypes.Sort
		pageSize int32
		want     []string
	}{
		// Descending on EndTime: agreements without an end come first, as
		// they never end; ties fall back to the id.
		{"all of the seller's, newest end first", with(), nil, 0, noEndFirst([]string{w.payg.ID, w.trial.ID}, w.private.ID, w.contract.ID)},
		{"in pages of one", with(), nil, 1, noEndFirst([]string{w.payg.ID, w.trial.ID}, w.private.ID, w.contract.ID)},
		{"ascending", with(), &mpatypes.Sort{SortBy: aws.String("EndTime"), SortOrder: mpatypes.SortOrderAscending}, 0,
			reversed(noEndFirst([]string{w.payg.ID, w.trial.ID}, w.private.ID, w.contract.ID))},
		{"by acceptor", with("AcceptorAccountId", w.c.buyer.ID), nil, 0, noEndFirst([]string{w.payg.ID}, w.contract.ID)},
		{"by offer", with("OfferId", w.offer.ID), nil, 0, []string{w.private.ID}},
		{"by product", with("ResourceIdentifier", productID), nil, 0, []string{w.private.ID, w.contract.ID}},
		{"by resource type", with("ResourceType", "SaaSProduct", "AcceptorAccountId", w.c.other.ID), nil, 0, []string{w.trial.ID}},
		{"by status", with("Status", "CANCELLED"), nil, 0, []string{w.trial.ID}},
		{"by license", with("LicenseArn", w.private.LicenseArn), nil, 0, []string{w.private.ID}},
		{"ending before", with("BeforeEndTime", day(&between)), nil, 0, []string{w.contract.ID}},
		{"ending after", with("AfterEndTime", day(&between)), nil, 0, []string{w.private.ID}},
		{"another agreement type matches nothing", filters("PartyType", "Proposer", "AgreementType", "VendorInsightsAgreement"), nil, 0, nil},
		{"the acceptor's view of a seller is empty", filters("PartyType", "Acceptor", "AgreementType", "PurchaseAgreement"), nil, 0, nil},
	}
	for _, p := range agreementProtocols {
		client := e.agreementsClient("test", "test", p.opt)
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				in := &mpa.SearchAgreementsInput{Catalog: aws.String("AWSMarketplace"), Filters: tc.filters, Sort: tc.sort}
				if tc.pageSize > 0 {
					in.MaxResults = aws.Int32(tc.pageSize)
				}
				if got := searchIDs(t, client, in); !slices.Equal(got, tc.want) {
					t.Fatalf("ids = %v, want %v", got, tc.want)
				}
			})
		}
	}
	t.Run("a summary carries the license and the proposal", func(t *testing.T) {
		out := must(e.agreementsClient("test", "test", agreementProtocols[1].opt).SearchAgreements(ctx, &mpa.SearchAgreementsInput{
			Catalog: aws.String("AWSMarketplace"), Filters: with("OfferId", w.offer.ID)}))
		s := out.AgreementViewSummaries[0]
		if len(s.Entitlements) != 1 || aws.ToString(s.Entitlements[0].LicenseArn) != w.private.LicenseArn ||
			aws.ToString(s.ProposalSummary.OfferId) != w.offer.ID || s.Status != mpatypes.AgreementStatusActive ||
			s.EndTimeBehaviorType != mpatypes.EndTimeBehaviorTypeRenew || s.LastUpdateTime == nil || out.NextToken != nil {
			t.Fatalf("summary = %+v", s)
		}
	})
}

// noEndFirst is the expected order of a descending EndTime search: the
// agreements without an end first (they never end), ties by id descending,
// then the others, given latest end first.
func noEndFirst(noEnd []string, rest ...string) []string {
	head := slices.Clone(noEnd)
	slices.Sort(head)
	slices.Reverse(head)
	return append(head, rest...)
}

func reversed(ids []string) []string {
	out := slices.Clone(ids)
	slices.Reverse(out)
	return out
}

func TestAgreementAPI_Errors_13(t *testing.T) {
	e := newEnv(t)
	w := e.agreementWorld()
	ctx := context.Background()
	search := func(catalog *string, f []mpatypes.Filter, sort *mpatypes.Sort) func(*mpa.Client) error {
		return func(c *mpa.Client) error {
			_, err := c.SearchAgreements(ctx, &mpa.SearchAgreementsInput{Catalog: catalog, Filters: f, Sort: sort})
			return err
		}
	}
	describe := func(id string) func(*mpa.Client) error {
		return func(c *mpa.Client) error {
			_, err := c.DescribeAgreement(ctx, &mpa.DescribeAgreementInput{AgreementId: aws.String(id)})
			return err
		}
	}
	terms := func(in *mpa.GetAgreementTermsInput) func(*mpa.Client) error {
		return func(c *mpa.Client) error {
			_, err := c.GetAgreementTerms(ctx, in)
			return err
		}
	}
	mp := aws.String("AWSMarketplace")
	good := filters("PartyType", "Proposer", "AgreementType", "PurchaseAgreement")
	cases := []struct {
		name   string
		call   func(*mpa.Client) error
		code   string
		reason mpatypes.ValidationExceptionReason
		check  func(t *testing.T, err error)
	}{
		{"unknown agreement is ResourceNotFoundException", describe("agmt-doesnotexist"), "ResourceNotFoundException", "",
			func(t *testing.T, err error) {
				var nf *mpatypes.ResourceNotFoundException
				if !errors.As(err, &nf) || aws.ToString(nf.ResourceId) != "agmt-doesnotexist" || nf.ResourceType != mpatypes.ResourceTypeAgreement || aws.ToString(nf.RequestId) == "" {
					t.Fatalf("err = %#v", err)
				}
			}},
		{"another seller's agreement is AccessDeniedException", describe(w.foreign.ID), "AccessDeniedException", "", nil},
		{"another seller's terms are AccessDeniedException", terms(&mpa.GetAgreementTermsInput{AgreementId: aws.String(w.foreign.ID)}), "AccessDeniedException", "", nil},
		{"malformed agreement id", describe("agmt bad!"), "ValidationException", mpatypes.ValidationExceptionReasonInvalidAgreementId, nil},
		{"maxResults above 50", terms(&mpa.GetAgreementTermsInput{AgreementId: aws.String(w.payg.ID), MaxResults: aws.Int32(51)}),
			"ValidationException", mpatypes.ValidationExceptionReasonInvalidMaxResults, nil},
		{"maxResults 0", terms(&mpa.GetAgreementTermsInput{AgreementId: aws.String(w.payg.ID), MaxResults: aws.Int32(0)}),
			"ValidationException", mpatypes.ValidationExceptionReasonInvalidMaxResults, nil},
		{"forged nextToken", terms(&mpa.GetAgreementTermsInput{AgreementId: aws.String(w.payg.ID), NextToken: aws.String("Zm9yZ2Vk")}),
			"ValidationException", mpatypes.ValidationExceptionReasonInvalidNextToken, nil},
		{"no catalog", search(nil, good, nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidCatalog, nil},
		{"another catalog", search(aws.String("Other"), good, nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidCatalog, nil},
		{"no PartyType", search(mp, filters("AgreementType", "PurchaseAgreement"), nil), "ValidationException", mpatypes.ValidationExceptionReasonMissingPartyType, nil},
		{"bad PartyType", search(mp, filters("PartyType", "Seller", "AgreementType", "PurchaseAgreement"), nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidPartyType, nil},
		{"no AgreementType", search(mp, filters("PartyType", "Proposer"), nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidFilters, nil},
		{"unknown filter", search(mp, append(slices.Clone(good), filters("Colour", "red")...), nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidFilterName, nil},
		{"filter the emulator does not model", search(mp, append(slices.Clone(good), filters("OfferSetId", "os-1")...), nil), "ValidationException", mpatypes.ValidationExceptionReasonUnsupportedFilters, nil},
		{"bad status", search(mp, append(slices.Clone(good), filters("Status", "ASLEEP")...), nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidFilterValues, nil},
		{"bad date", search(mp, append(slices.Clone(good), filters("BeforeEndTime", "yesterday")...), nil), "ValidationException", mpatypes.ValidationExceptionReasonInvalidFilterValues, nil},
		{"two values", search(mp, append(slices.Clone(good), mpatypes.Filter{Name: aws.String("Status"), Values: []string{"ACTIVE", "EXPIRED"}}), nil),
			"ValidationException", mpatypes.ValidationExceptionReasonInvalidFilterValues, nil},
		{"bad sortBy", search(mp, good, &mpatypes.Sort{SortBy: aws.String("Price")}), "ValidationException", mpatypes.ValidationExceptionReasonInvalidSortBy,
			func(t *testing.T, err error) {
				var ve *mpatypes.ValidationException
				if !errors.As(err, &ve) || len(ve.Fields) != 1 || aws.ToString(ve.Fields[0].Name) != "sort.sortBy" || aws.ToString(ve.Message) == "" {
					t.Fatalf("err = %#v", err)
				}
			}},
		{"bad sortOrder", search(mp, good, &mpatypes.Sort{SortOrder: "SIDEWAYS"}), "ValidationException", mpatypes.ValidationExceptionReasonInvalidSortOrder, nil},
	}
	for _, p := range agreementProtocols {
		client := e.agreementsClient("test", "test", p.opt)
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				err := tc.call(client)
				if got := errorCode(err); got != tc.code {
					t.Fatalf("code = %s (%v), want %s", got, err, tc.code)
				}
				if tc.reason != "" {
					var ve *mpatypes.ValidationException
					if !errors.As(err, &ve) || ve.Reason != tc.reason {
						t.Fatalf("err = %#v, want reason %s", err, tc.reason)
					}
				}
				if tc.check != nil {
					tc.check(t, err)
				}
			})
		}
	}
	faults := []struct {
		kind, op, code string
		call           func(*mpa.Client) error
		typed          any
	}{
		{market.FaultThrottle, "DescribeAgreement", "ThrottlingException", describe(w.payg.ID), new(*mpatypes.ThrottlingException)},
		{market.FaultInternalError, "GetAgreementTerms", "InternalServerException", terms(&mpa.GetAgreementTermsInput{AgreementId: aws.String(w.payg.ID)}), new(*mpatypes.InternalServerException)},
		{market.FaultThrottle, "SearchAgreements", "ThrottlingException", search(mp, good, nil), new(*mpatypes.ThrottlingException)},
	}
	for _, p := range agreementProtocols {
		client := e.agreementsClient("test", "test", p.opt)
		for _, f := range faults {
			t.Run(p.name+"/injected "+f.kind+" on "+f.op, func(t *testing.T) {
				must(e.m.AddFault(ctx, market.FaultInput{Kind: f.kind, Operation: f.op, Count: 1}))
				err := f.call(client)
				if got := errorCode(err); got != f.code || !errors.As(err, f.typed) {
					t.Fatalf("err = %v, want %s", err, f.code)
				}
				if err := f.call(client); err != nil {
					t.Fatalf("after the one fault: %v", err)
				}
			})
		}
	}
	t.Run("the per-seller throttle answers ThrottlingException", func(t *testing.T) {
		e := newEnv(t, func(c *emulator.Config) { c.Settings.ThrottleRate, c.Settings.ThrottleBurst = 0.001, 1 })
		w := e.agreementWorld()
		client := e.agreementsClient("test", "test", agreementProtocols[0].opt)
		if err := describe(w.payg.ID)(client); err != nil {
			t.Fatalf("first call: %v", err)
		}
		var te *mpatypes.ThrottlingException
		if err := describe(w.payg.ID)(client); !errors.As(err, &te) {
			t.Fatalf("second call = %v, want ThrottlingException", err)
		}
	})
}

// TestAgreementAPI_DescribesTheAgreementOfAnEvent_13 follows AWS's advice
// to sellers: on Purchase Agreement Created, DescribeAgreement and
// GetAgreementTerms with the event's agreement id give the terms behind it;
// the event's ids and times are the API's.
func TestAgreementAPI_DescribesTheAgreementOfAnEvent_13(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	ep := newEndpoint(t, 0)
	must(e.m.SetEventBridgeTarget(ctx, market.EventBridgeTarget{Endpoint: ep.srv.URL, HeaderName: "x-api-key", APIKey: "k"}))
	e.subscribe(c.buyer.ID, c.contract.Code, map[string]int64{"committed": 7})
	var ev struct {
		DetailType string `json:"detail-type"`
		Detail     struct {
			Agreement struct {
				ID        string `json:"id"`
				StartTime string `json:"startTime"`
				EndTime   string `json:"endTime"`
			} `json:"agreement"`
			Offer    struct{ ID string } `json:"offer"`
			Acceptor struct {
				AccountID string `json:"accountId"`
			} `json:"acceptor"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(ep.waitFor(t, 1)[0].body), &ev); err != nil || ev.DetailType != "Purchase Agreement Created - Manufacturer" {
		t.Fatalf("first event %q: %v", ev.DetailType, err)
	}
	client := e.agreementsClient("test", "test", agreementProtocols[0].opt)
	out := must(client.DescribeAgreement(ctx, &mpa.DescribeAgreementInput{AgreementId: aws.String(ev.Detail.Agreement.ID)}))
	if aws.ToString(out.ProposalSummary.OfferId) != ev.Detail.Offer.ID || aws.ToString(out.Acceptor.AccountId) != ev.Detail.Acceptor.AccountID ||
		out.StartTime.UTC().Format(time.RFC3339) != ev.Detail.Agreement.StartTime || out.EndTime.UTC().Format(time.RFC3339) != ev.Detail.Agreement.EndTime {
		t.Fatalf("DescribeAgreement %+v does not match the event %+v", out, ev.Detail)
	}
	terms := termsOf(t, client, ev.Detail.Agreement.ID, 0)
	for _, term := range terms {
		if up, ok := term.(*mpatypes.AcceptedTermMemberConfigurableUpfrontPricingTerm); ok {
			if up.Value.Configuration.Dimensions[0].DimensionValue != 7 {
				t.Fatalf("committed quantity = %+v", up.Value.Configuration.Dimensions)
			}
			return
		}
	}
	t.Fatalf("no ConfigurableUpfrontPricingTerm in %v", termKinds(terms))
}
