package awsapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// The Agreement Service (AWS JSON 1.0, target prefix
// AWSMPCommerceService_v20200301): DescribeAgreement, GetAgreementTerms and
// SearchAgreements, with the shapes of its model. Members are lowerCamel,
// timestamps epoch seconds, terms a union of one member each.

// Error names of the Agreement Service; ThrottlingException and
// ValidationException are shared with the other two services.
const (
	codeUnknownOperation = "com.amazon.coral.service#UnknownOperationException"
	codeInternalServer   = "InternalServerException"
	codeAccessDenied     = "AccessDeniedException"
	codeResourceNotFound = "ResourceNotFoundException"
	agreementMaxResults  = 50 // the model's MaxResults bound, also the page size when none is asked
)

// Validation reasons of the model that these operations raise.
const (
	reasonMissingAgreementID = "MISSING_AGREEMENT_ID"
	reasonInvalidAgreementID = "INVALID_AGREEMENT_ID"
	reasonInvalidCatalog     = "INVALID_CATALOG"
	reasonInvalidFilters     = "INVALID_FILTERS"
	reasonInvalidFilterName  = "INVALID_FILTER_NAME"
	reasonInvalidFilterVals  = "INVALID_FILTER_VALUES"
	reasonMissingPartyType   = "MISSING_PARTY_TYPE"
	reasonInvalidPartyType   = "INVALID_PARTY_TYPE"
	reasonUnsupportedFilters = "UNSUPPORTED_FILTERS"
	reasonInvalidSortBy      = "INVALID_SORT_BY"
	reasonInvalidSortOrder   = "INVALID_SORT_ORDER"
	reasonInvalidNextToken   = "INVALID_NEXT_TOKEN"
	reasonInvalidMaxResults  = "INVALID_MAX_RESULTS"
)

var (
	resourceIDPattern  = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,64}$`)
	catalogPattern     = regexp.MustCompile(`^[a-zA-Z]{1,64}$`)
	filterValuePattern = regexp.MustCompile(`^[A-Za-z0-9+:_-]+$`) // up to 2048 characters: 64 in the 2023 model, but license ARNs are longer
	nextTokenPattern   = regexp.MustCompile(`^[a-zA-Z0-9+/=]+$`)  // and at most 8192 characters
)

// agreementValidation is a ValidationException with the model's reason and
// the offending member.
func agreementValidation(reason, field, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	return &apiError{status: http.StatusBadRequest, code: market.CodeValidation, message: msg, fields: map[string]any{
		"reason": reason,
		"fields": []map[string]string{{"name": field, "message": msg}},
	}}
}

// agreementError turns the market's outcomes into the service's errors.
func agreementError(err error, agreementID string) error {
	var me *market.Error
	if !errors.As(err, &me) {
		return err
	}
	switch me.Kind {
	case market.KindNotFound:
		return &apiError{status: http.StatusNotFound, code: codeResourceNotFound, message: me.Message,
			fields: map[string]any{"resourceId": agreementID, "resourceType": "Agreement"}}
	case market.KindForbidden:
		return &apiError{status: http.StatusForbidden, code: codeAccessDenied, message: me.Message}
	}
	return &apiError{status: http.StatusBadRequest, code: market.CodeValidation, message: me.Message}
}

type acceptorShape struct {
	AccountID string `json:"accountId"`
}

type resourceShape struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type proposalSummaryShape struct {
	OfferID   string          `json:"offerId"`
	Resources []resourceShape `json:"resources"`
}

type endTimeBehaviorShape struct {
	Type       string `json:"type"`
	ReasonCode string `json:"reasonCode,omitempty"`
}

type estimatedChargesShape struct {
	CurrencyCode   string `json:"currencyCode"`
	AgreementValue string `json:"agreementValue"`
}

type describeAgreementOutput struct {
	AgreementID        string                `json:"agreementId"`
	AgreementType      string                `json:"agreementType"`
	Acceptor           acceptorShape         `json:"acceptor"`
	Proposer           acceptorShape         `json:"proposer"`
	AcceptanceTime     epochSeconds          `json:"acceptanceTime"`
	StartTime          epochSeconds          `json:"startTime"`
	EndTime            *epochSeconds         `json:"endTime,omitempty"`
	Status             string                `json:"status"`
	ProposalSummary    proposalSummaryShape  `json:"proposalSummary"`
	EstimatedCharges   estimatedChargesShape `json:"estimatedCharges"`
	InitialAgreementID string                `json:"initialAgreementId"`
	EndTimeBehavior    *endTimeBehaviorShape `json:"endTimeBehavior,omitempty"`
}

// epochSeconds is a timestamp as AWS JSON sends it: seconds since the epoch.
// Whole seconds, as the EventBridge events carry them, so an event's
// startTime and DescribeAgreement's are the same instant; and a fraction
// would not survive the SDK's CBOR reader, which truncates float
// milliseconds.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, time.Time(t).Unix(), 10), nil
}

func epochPtr(t *time.Time) *epochSeconds {
	if t == nil {
		return nil
	}
	e := epochSeconds(*t)
	return &e
}

type agreementIDInput struct {
	AgreementID *string `json:"agreementId"`
	MaxResults  *int    `json:"maxResults"`
	NextToken   *string `json:"nextToken"`
}

func validAgreementID(id *string) (string, error) {
	if id == nil {
		return "", agreementValidation(reasonMissingAgreementID, "agreementId", "1 validation error detected: Value null at 'agreementId' failed to satisfy constraint: Member must not be null")
	}
	if !resourceIDPattern.MatchString(*id) {
		return "", agreementValidation(reasonInvalidAgreementID, "agreementId", "1 validation error detected: Value '%s' at 'agreementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[A-Za-z0-9_/-]+$ and have length between 1 and 64", *id)
	}
	return *id, nil
}

func (h *Handler) describeAgreement(seller string, body []byte) (any, error) {
	var in agreementIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	id, err := validAgreementID(in.AgreementID)
	if err != nil {
		return nil, err
	}
	v, err := h.m.DescribeAgreement(seller, id)
	if err != nil {
		return nil, agreementError(err, id)
	}
	out := describeAgreementOutput{
		AgreementID: v.ID, AgreementType: market.AgreementTypePurchase,
		Acceptor: acceptorShape{v.AcceptorAccountID}, Proposer: acceptorShape{v.ProposerAccountID},
		AcceptanceTime: epochSeconds(v.AcceptanceTime), StartTime: epochSeconds(v.StartTime), EndTime: epochPtr(v.EndTime),
		Status: v.Status, InitialAgreementID: v.ID,
		ProposalSummary:  proposalSummaryShape{OfferID: v.OfferID, Resources: []resourceShape{{ID: v.ProductID, Type: market.ResourceTypeSaaS}}},
		EstimatedCharges: estimatedChargesShape{CurrencyCode: market.CurrencyUSD, AgreementValue: v.ValueMicros.Decimal()},
	}
	if v.EndTimeBehavior != "" {
		out.EndTimeBehavior = &endTimeBehaviorShape{Type: v.EndTimeBehavior, ReasonCode: v.EndTimeReason}
	}
	return out, nil
}

// Term shapes, each one member of the AcceptedTerm union.
type (
	documentShape struct {
		Type    string `json:"type"`
		URL     string `json:"url"`
		Version string `json:"version"`
	}
	legalTermShape struct {
		Type      string          `json:"type"`
		ID        string          `json:"id"`
		Documents []documentShape `json:"documents"`
	}
	supportTermShape struct {
		Type         string `json:"type"`
		ID           string `json:"id"`
		RefundPolicy string `json:"refundPolicy"`
	}
	rateCardItemShape struct {
		DimensionKey string `json:"dimensionKey"`
		Price        string `json:"price"`
	}
	usageRateCardShape struct {
		RateCard []rateCardItemShape `json:"rateCard"`
	}
	usageTermShape struct {
		Type         string               `json:"type"`
		ID           string               `json:"id"`
		CurrencyCode string               `json:"currencyCode"`
		RateCards    []usageRateCardShape `json:"rateCards"`
	}
	selectorShape struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	constraintsShape struct {
		MultipleDimensionSelection string `json:"multipleDimensionSelection"`
		QuantityConfiguration      string `json:"quantityConfiguration"`
	}
	upfrontRateCardShape struct {
		Selector    selectorShape       `json:"selector"`
		Constraints constraintsShape    `json:"constraints"`
		RateCard    []rateCardItemShape `json:"rateCard"`
	}
	dimensionShape struct {
		DimensionKey   string `json:"dimensionKey"`
		DimensionValue int64  `json:"dimensionValue"`
	}
	upfrontConfigurationShape struct {
		SelectorValue string           `json:"selectorValue"`
		Dimensions    []dimensionShape `json:"dimensions"`
	}
	upfrontTermShape struct {
		Type          string                    `json:"type"`
		ID            string                    `json:"id"`
		CurrencyCode  string                    `json:"currencyCode"`
		RateCards     []upfrontRateCardShape    `json:"rateCards"`
		Configuration upfrontConfigurationShape `json:"configuration"`
	}
	grantShape struct {
		DimensionKey string `json:"dimensionKey"`
	}
	freeTrialTermShape struct {
		Type     string       `json:"type"`
		ID       string       `json:"id"`
		Duration string       `json:"duration,omitempty"` // none for a free private offer without an end
		Grants   []grantShape `json:"grants"`
	}
	validityTermShape struct {
		Type               string        `json:"type"`
		ID                 string        `json:"id"`
		AgreementDuration  string        `json:"agreementDuration,omitempty"`
		AgreementStartDate epochSeconds  `json:"agreementStartDate"`
		AgreementEndDate   *epochSeconds `json:"agreementEndDate,omitempty"`
	}
	renewalConfigurationShape struct {
		EnableAutoRenew bool `json:"enableAutoRenew"`
	}
	renewalTermShape struct {
		Type          string                    `json:"type"`
		ID            string                    `json:"id"`
		Configuration renewalConfigurationShape `json:"configuration"`
	}
)

type getAgreementTermsOutput struct {
	AcceptedTerms []map[string]any `json:"acceptedTerms"`
	NextToken     string           `json:"nextToken,omitempty"`
}

// acceptedTerms lists the terms in the order AWS's console shows them:
// legal, support, pricing, validity, renewal.
func acceptedTerms(t market.AgreementTerms) []map[string]any {
	rates := func(rs []market.RatePrice) []rateCardItemShape {
		out := make([]rateCardItemShape, 0, len(rs))
		for _, r := range rs {
			out = append(out, rateCardItemShape{DimensionKey: r.Dimension, Price: r.PriceMicros.Decimal()})
		}
		return out
	}
	out := []map[string]any{{"legalTerm": legalTermShape{Type: "LegalTerm", ID: t.Legal.ID,
		Documents: []documentShape{{Type: t.Legal.Type, URL: t.Legal.URL, Version: t.Legal.Version}}}}}
	if t.Support != nil {
		out = append(out, map[string]any{"supportTerm": supportTermShape{Type: "SupportTerm", ID: t.Support.ID, RefundPolicy: t.Support.RefundPolicy}})
	}
	if t.FreeTrial != nil {
		ft := freeTrialTermShape{Type: "FreeTrialPricingTerm", ID: t.FreeTrial.ID, Duration: t.FreeTrial.Duration, Grants: []grantShape{}}
		for _, d := range t.FreeTrial.Dimensions {
			ft.Grants = append(ft.Grants, grantShape{DimensionKey: d})
		}
		out = append(out, map[string]any{"freeTrialPricingTerm": ft})
	}
	if t.Upfront != nil {
		allowed := "Disallowed"
		if t.Upfront.QuantityChangeable {
			allowed = "Allowed"
		}
		up := upfrontTermShape{Type: "ConfigurableUpfrontPricingTerm", ID: t.Upfront.ID, CurrencyCode: market.CurrencyUSD,
			RateCards: []upfrontRateCardShape{{
				Selector:    selectorShape{Type: "Duration", Value: t.Upfront.Duration},
				Constraints: constraintsShape{MultipleDimensionSelection: allowed, QuantityConfiguration: allowed},
				RateCard:    rates(t.Upfront.Rates),
			}},
			Configuration: upfrontConfigurationShape{SelectorValue: t.Upfront.Duration, Dimensions: []dimensionShape{}},
		}
		for _, q := range t.Upfront.Quantities {
			up.Configuration.Dimensions = append(up.Configuration.Dimensions, dimensionShape{DimensionKey: q.Dimension, DimensionValue: q.Quantity})
		}
		out = append(out, map[string]any{"configurableUpfrontPricingTerm": up})
	}
	if t.Usage != nil {
		out = append(out, map[string]any{"usageBasedPricingTerm": usageTermShape{Type: "UsageBasedPricingTerm", ID: t.Usage.ID,
			CurrencyCode: market.CurrencyUSD, RateCards: []usageRateCardShape{{RateCard: rates(t.Usage.Rates)}}}})
	}
	out = append(out, map[string]any{"validityTerm": validityTermShape{Type: "ValidityTerm", ID: t.Validity.ID,
		AgreementDuration: t.Validity.Duration, AgreementStartDate: epochSeconds(t.Validity.Start), AgreementEndDate: epochPtr(t.Validity.End)}})
	if t.Renewal != nil {
		out = append(out, map[string]any{"renewalTerm": renewalTermShape{Type: "RenewalTerm", ID: t.Renewal.ID,
			Configuration: renewalConfigurationShape{EnableAutoRenew: t.Renewal.AutoRenew}}})
	}
	return out
}

func (h *Handler) getAgreementTerms(seller string, body []byte) (any, error) {
	var in agreementIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	id, err := validAgreementID(in.AgreementID)
	if err != nil {
		return nil, err
	}
	size, offset, err := pageOf(in.MaxResults, in.NextToken, "terms:"+id)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		size = agreementMaxResults
	}
	t, err := h.m.GetAgreementTerms(seller, id)
	if err != nil {
		return nil, agreementError(err, id)
	}
	all := acceptedTerms(t)
	offset = min(offset, len(all))
	end := min(offset+size, len(all))
	out := getAgreementTermsOutput{AcceptedTerms: all[offset:end]}
	if end < len(all) {
		out.NextToken = pageToken("terms:"+id, end)
	}
	return out, nil
}

// pageOf checks maxResults and nextToken; scope ties a token to the call it
// came from, so a token of another agreement or operation is refused.
func pageOf(maxResults *int, nextToken *string, scope string) (size, offset int, err error) {
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > agreementMaxResults {
			return 0, 0, agreementValidation(reasonInvalidMaxResults, "maxResults", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", *maxResults, agreementMaxResults)
		}
		size = *maxResults
	}
	if nextToken != nil {
		if offset, err = parsePageToken(*nextToken, scope); err != nil {
			return 0, 0, agreementValidation(reasonInvalidNextToken, "nextToken", "The nextToken is invalid")
		}
	}
	return size, offset, nil
}

func pageToken(scope string, offset int) string {
	return base64.StdEncoding.EncodeToString([]byte("v1|" + scope + "|" + strconv.Itoa(offset)))
}

func parsePageToken(tok, scope string) (int, error) {
	if len(tok) > 8192 || !nextTokenPattern.MatchString(tok) {
		return 0, errors.New("token has characters outside base64")
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), "v1|"+scope+"|")
	if !ok {
		return 0, errors.New("token is for another request")
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad offset %q", rest)
	}
	return n, nil
}

type filterShape struct {
	Name   *string  `json:"name"`
	Values []string `json:"values"`
}

type sortShape struct {
	SortBy    *string `json:"sortBy"`
	SortOrder *string `json:"sortOrder"`
}

type searchAgreementsInput struct {
	Catalog    *string       `json:"catalog"`
	Filters    []filterShape `json:"filters"`
	Sort       *sortShape    `json:"sort"`
	MaxResults *int          `json:"maxResults"`
	NextToken  *string       `json:"nextToken"`
}

type entitlementShape struct {
	LicenseArn string `json:"licenseArn"`
}

type agreementViewSummaryShape struct {
	AgreementID               string               `json:"agreementId"`
	AgreementType             string               `json:"agreementType"`
	Acceptor                  acceptorShape        `json:"acceptor"`
	Proposer                  acceptorShape        `json:"proposer"`
	AcceptanceTime            epochSeconds         `json:"acceptanceTime"`
	StartTime                 epochSeconds         `json:"startTime"`
	EndTime                   *epochSeconds        `json:"endTime,omitempty"`
	LastUpdateTime            epochSeconds         `json:"lastUpdateTime"`
	Status                    string               `json:"status"`
	ProposalSummary           proposalSummaryShape `json:"proposalSummary"`
	Entitlements              []entitlementShape   `json:"entitlements"`
	InitialAgreementID        string               `json:"initialAgreementId"`
	EndTimeBehaviorType       string               `json:"endTimeBehaviorType,omitempty"`
	EndTimeBehaviorReasonCode string               `json:"endTimeBehaviorReasonCode,omitempty"`
}

type searchAgreementsOutput struct {
	AgreementViewSummaries []agreementViewSummaryShape `json:"agreementViewSummaries"`
	NextToken              string                      `json:"nextToken,omitempty"`
}

// Filters the model documents but the emulator does not model: refused by
// name rather than silently ignored, so a caller learns what it is missing.
var unsupportedAgreementFilters = map[string]bool{
	"OfferSetId": true, "EndTimeBehaviorType": true, "EndTimeBehaviorReasonCode": true,
	"InitialAgreementId": true, "BeforeLastUpdateTime": true, "AfterLastUpdateTime": true,
}

var agreementStatuses = map[string]bool{
	"ACTIVE": true, "ARCHIVED": true, "CANCELLED": true, "EXPIRED": true, "RENEWED": true,
	"REPLACED": true, "ROLLED_BACK": true, "SUPERSEDED": true, "TERMINATED": true,
}

// toAgreementSearch validates a SearchAgreements request as the service
// does: catalog AWSMarketplace, a PartyType and an AgreementType filter,
// one value per filter.
func toAgreementSearch(in searchAgreementsInput) (market.AgreementSearch, error) {
	var q market.AgreementSearch
	if in.Catalog == nil || !catalogPattern.MatchString(*in.Catalog) || *in.Catalog != market.CatalogAWSMarketplace {
		got := "null"
		if in.Catalog != nil {
			got = "'" + *in.Catalog + "'"
		}
		return q, agreementValidation(reasonInvalidCatalog, "catalog", "Value %s at 'catalog' is invalid: the only catalog is AWSMarketplace", got)
	}
	seen := map[string]bool{}
	var agreementType string
	for i, f := range in.Filters {
		field := fmt.Sprintf("filters.%d.member", i+1)
		if f.Name == nil || *f.Name == "" {
			return q, agreementValidation(reasonInvalidFilterName, field+".name", "Filter name is missing")
		}
		name := *f.Name
		if len(f.Values) != 1 || len(f.Values[0]) > 2048 || !filterValuePattern.MatchString(f.Values[0]) {
			return q, agreementValidation(reasonInvalidFilterVals, field+".values", "Filter %s takes exactly one value of 1-2048 characters of [A-Za-z0-9+:_-]", name)
		}
		if seen[name] {
			return q, agreementValidation(reasonInvalidFilters, field+".name", "Filter %s appears more than once", name)
		}
		seen[name] = true
		v := f.Values[0]
		badValue := func(want string) error {
			return agreementValidation(reasonInvalidFilterVals, field+".values", "Value '%s' of filter %s is invalid: %s", v, name, want)
		}
		at := func(dst **time.Time) error {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return badValue("want an ISO 8601 date-time such as 2026-01-31T00:00:00Z")
			}
			*dst = &t
			return nil
		}
		var err error
		switch name {
		case "PartyType":
			if v != market.AgreementPartyProposer && v != market.AgreementPartyAcceptor {
				return q, agreementValidation(reasonInvalidPartyType, field+".values", "PartyType must be Proposer or Acceptor, not '%s'", v)
			}
			q.PartyType = v
		case "AgreementType":
			agreementType = v
		case "AcceptorAccountId":
			if !accountIDPattern.MatchString(v) {
				err = badValue("want an AWS account id")
			}
			q.AcceptorAccountID = v
		case "OfferId":
			q.OfferID = v
		case "ResourceIdentifier":
			q.ResourceID = v
		case "ResourceType":
			q.ResourceType = v
		case "Status":
			if !agreementStatuses[v] {
				err = badValue("want ACTIVE, ARCHIVED, CANCELLED, EXPIRED, RENEWED, REPLACED, ROLLED_BACK, SUPERSEDED or TERMINATED")
			}
			q.Status = v
		case "LicenseArn":
			q.LicenseArn = v
		case "BeforeEndTime":
			err = at(&q.BeforeEndTime)
		case "AfterEndTime":
			err = at(&q.AfterEndTime)
		case "BeforeStartTime":
			err = at(&q.BeforeStartTime)
		case "AfterStartTime":
			err = at(&q.AfterStartTime)
		default:
			if unsupportedAgreementFilters[name] {
				return q, agreementValidation(reasonUnsupportedFilters, field+".name", "Filter %s is not supported by the emulator", name)
			}
			return q, agreementValidation(reasonInvalidFilterName, field+".name", "Filter name '%s' is invalid", name)
		}
		if err != nil {
			return q, err
		}
	}
	if q.PartyType == "" {
		return q, agreementValidation(reasonMissingPartyType, "filters", "A PartyType filter (Proposer or Acceptor) is required")
	}
	if agreementType == "" {
		return q, agreementValidation(reasonInvalidFilters, "filters", "An AgreementType filter is required")
	}
	// VendorInsightsAgreement exists at AWS but not in the emulator: the
	// filter is valid and matches nothing.
	q.AgreementType = agreementType
	q.SortBy = market.AgreementSortByEndTime
	if in.Sort != nil {
		if in.Sort.SortBy != nil {
			switch *in.Sort.SortBy {
			case market.AgreementSortByEndTime, market.AgreementSortByStartTime:
				q.SortBy = *in.Sort.SortBy
			default:
				return q, agreementValidation(reasonInvalidSortBy, "sort.sortBy", "sortBy must be EndTime or StartTime, not '%s'", *in.Sort.SortBy)
			}
		}
		if in.Sort.SortOrder != nil {
			switch *in.Sort.SortOrder {
			case "ASCENDING":
				q.Ascending = true
			case "DESCENDING":
			default:
				return q, agreementValidation(reasonInvalidSortOrder, "sort.sortOrder", "sortOrder must be ASCENDING or DESCENDING, not '%s'", *in.Sort.SortOrder)
			}
		}
	}
	return q, nil
}

func (h *Handler) searchAgreements(seller string, body []byte) (any, error) {
	var in searchAgreementsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	q, err := toAgreementSearch(in)
	if err != nil {
		return nil, err
	}
	size, offset, err := pageOf(in.MaxResults, in.NextToken, "search")
	if err != nil {
		return nil, err
	}
	if size == 0 {
		size = agreementMaxResults
	}
	all := h.m.SearchAgreements(seller, q)
	offset = min(offset, len(all))
	end := min(offset+size, len(all))
	out := searchAgreementsOutput{AgreementViewSummaries: []agreementViewSummaryShape{}}
	for _, v := range all[offset:end] {
		out.AgreementViewSummaries = append(out.AgreementViewSummaries, agreementViewSummaryShape{
			AgreementID: v.ID, AgreementType: market.AgreementTypePurchase,
			Acceptor: acceptorShape{v.AcceptorAccountID}, Proposer: acceptorShape{v.ProposerAccountID},
			AcceptanceTime: epochSeconds(v.AcceptanceTime), StartTime: epochSeconds(v.StartTime), EndTime: epochPtr(v.EndTime),
			LastUpdateTime: epochSeconds(v.LastUpdateTime), Status: v.Status,
			ProposalSummary: proposalSummaryShape{OfferID: v.OfferID, Resources: []resourceShape{{ID: v.ProductID, Type: market.ResourceTypeSaaS}}},
			Entitlements:    []entitlementShape{{LicenseArn: v.LicenseArn}}, InitialAgreementID: v.ID,
			EndTimeBehaviorType: v.EndTimeBehavior, EndTimeBehaviorReasonCode: v.EndTimeReason,
		})
	}
	if end < len(all) {
		out.NextToken = pageToken("search", end)
	}
	return out, nil
}
