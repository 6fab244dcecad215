package market

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Entitlement filter names.
const (
	FilterCustomerIdentifier   = "CUSTOMER_IDENTIFIER"
	FilterDimension            = "DIMENSION"
	FilterCustomerAWSAccountID = "CUSTOMER_AWS_ACCOUNT_ID"
	FilterLicenseArn           = "LICENSE_ARN"
)

// EntitlementsInput is a GetEntitlements call.
type EntitlementsInput struct {
	ProductCode string
	Filter      map[string][]string
	NextToken   string
	MaxResults  int
	EmptyPage   bool // from a fault: answer an empty page that still has a NextToken
}

// Entitlement is one dimension a customer is entitled to.
type Entitlement struct {
	ProductCode          string
	Dimension            string
	CustomerIdentifier   string
	CustomerAWSAccountID string
	LicenseArn           string
	Value                int64
	ExpirationDate       *time.Time
}

// EntitlementsOutput is one page.
type EntitlementsOutput struct {
	Entitlements []Entitlement
	NextToken    string
}

// GetEntitlements pages through a product's live entitlements. Like AWS, it
// filters each page after cutting it, so a page may be empty while a
// NextToken says more follow: clients must keep paging.
func (m *Market) GetEntitlements(sellerAccountID string, in EntitlementsInput) (EntitlementsOutput, error) {
	if in.MaxResults == 0 {
		in.MaxResults = 25
	}
	if in.MaxResults < 1 || in.MaxResults > 25 {
		return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "MaxResults must be between 1 and 25")
	}
	for name, values := range in.Filter {
		switch name {
		case FilterCustomerIdentifier, FilterDimension, FilterCustomerAWSAccountID, FilterLicenseArn:
		default:
			return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "Invalid filter name %s", name)
		}
		if len(values) == 0 {
			return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "Filter %s needs at least one value", name)
		}
	}
	if len(in.Filter[FilterCustomerIdentifier]) > 0 && len(in.Filter[FilterCustomerAWSAccountID]) > 0 {
		return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "CUSTOMER_IDENTIFIER and CUSTOMER_AWS_ACCOUNT_ID filters are mutually exclusive")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.products[in.ProductCode]
	if !ok || p.SellerAccountID != sellerAccountID {
		return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "Product code %s is invalid", in.ProductCode)
	}
	offset := 0
	if in.NextToken != "" {
		var err error
		if offset, err = parseNextToken(in.NextToken, p.Code); err != nil {
			return EntitlementsOutput{}, awsErr(CodeInvalidParameter, "Invalid NextToken")
		}
	}
	all := m.liveEntitlements(p)
	// A token past the end, forged or from a list that shrank, is an empty
	// last page; clamping first keeps offset+MaxResults from overflowing.
	offset = min(offset, len(all))
	if in.EmptyPage && offset < len(all) {
		return EntitlementsOutput{Entitlements: []Entitlement{}, NextToken: nextToken(offset, p.Code)}, nil
	}
	end := min(offset+in.MaxResults, len(all))
	out := EntitlementsOutput{Entitlements: []Entitlement{}}
	for _, e := range all[offset:end] {
		if matches(e, in.Filter) {
			out.Entitlements = append(out.Entitlements, e)
		}
	}
	if end < len(all) {
		out.NextToken = nextToken(end, p.Code)
	}
	return out, nil
}

func (m *Market) liveEntitlements(p *Product) []Entitlement {
	now := m.now()
	agreements := m.agreementsOf(p.Code, func(a *Agreement) bool {
		return a.Status == StatusActive && len(a.Entitlements) > 0 && (a.EndAt == nil || now.Before(*a.EndAt))
	})
	sort.Slice(agreements, func(i, j int) bool {
		return agreements[i].CreatedAt.Before(agreements[j].CreatedAt) ||
			agreements[i].CreatedAt.Equal(agreements[j].CreatedAt) && agreements[i].ID < agreements[j].ID
	})
	var out []Entitlement
	for _, a := range agreements {
		dims := make([]string, 0, len(a.Entitlements))
		for d := range a.Entitlements {
			dims = append(dims, d)
		}
		sort.Strings(dims)
		for _, d := range dims {
			e := Entitlement{ProductCode: p.Code, Dimension: d, CustomerAWSAccountID: a.AccountID, LicenseArn: a.LicenseArn,
				Value: a.Entitlements[d], ExpirationDate: a.EndAt}
			if p.Mode == ModeLegacy {
				e.CustomerIdentifier = a.CustomerIdentifier
			}
			out = append(out, e)
		}
	}
	return out
}

// matches unions values within a filter and intersects filters.
func matches(e Entitlement, filter map[string][]string) bool {
	field := map[string]string{
		FilterCustomerIdentifier: e.CustomerIdentifier, FilterDimension: e.Dimension,
		FilterCustomerAWSAccountID: e.CustomerAWSAccountID, FilterLicenseArn: e.LicenseArn,
	}
	for name, values := range filter {
		if !slices.Contains(values, field[name]) {
			return false
		}
	}
	return true
}

func nextToken(offset int, productCode string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1:%s:%d", productCode, offset)))
}

func parseNextToken(tok, productCode string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), "v1:"+productCode+":")
	if !ok {
		return 0, fmt.Errorf("token is for another product")
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad offset %q", rest)
	}
	return n, nil
}
