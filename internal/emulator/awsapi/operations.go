package awsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

var (
	productCodePattern = regexp.MustCompile(`^[-a-zA-Z0-9/=:_.@]{1,255}$`)
	accountIDPattern   = regexp.MustCompile(`^[0-9]{1,255}$`)
)

type resolveCustomerInput struct {
	RegistrationToken *string
}

type resolveCustomerOutput struct {
	CustomerIdentifier   string `json:"CustomerIdentifier,omitempty"`
	ProductCode          string `json:"ProductCode"`
	CustomerAWSAccountID string `json:"CustomerAWSAccountId"`
	LicenseArn           string `json:"LicenseArn"`
}

func (h *Handler) resolveCustomer(seller string, body []byte) (any, error) {
	var in resolveCustomerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.RegistrationToken == nil || *in.RegistrationToken == "" {
		return nil, clientErr(market.CodeValidation, "1 validation error detected: Value null at 'registrationToken' failed to satisfy constraint: Member must not be null")
	}
	c, err := h.m.ResolveCustomer(seller, *in.RegistrationToken)
	if err != nil {
		return nil, err
	}
	return resolveCustomerOutput{c.CustomerIdentifier, c.ProductCode, c.CustomerAWSAccountID, c.LicenseArn}, nil
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type usageAllocation struct {
	AllocatedUsageQuantity *int64 `json:"AllocatedUsageQuantity"`
	Tags                   []tag  `json:"Tags,omitempty"`
}

type usageRecord struct {
	Timestamp            *json.Number       `json:"Timestamp"`
	CustomerIdentifier   *string            `json:"CustomerIdentifier,omitempty"`
	CustomerAWSAccountID *string            `json:"CustomerAWSAccountId,omitempty"`
	LicenseArn           *string            `json:"LicenseArn,omitempty"`
	Dimension            *string            `json:"Dimension"`
	Quantity             *int64             `json:"Quantity,omitempty"`
	UsageAllocations     *[]usageAllocation `json:"UsageAllocations,omitempty"`
}

type batchMeterUsageInput struct {
	ProductCode  *string
	UsageRecords *[]usageRecord
}

type usageRecordResult struct {
	UsageRecord      usageRecord `json:"UsageRecord"`
	MeteringRecordID string      `json:"MeteringRecordId,omitempty"`
	Status           string      `json:"Status"`
}

type batchMeterUsageOutput struct {
	Results            []usageRecordResult `json:"Results"`
	UnprocessedRecords []usageRecord       `json:"UnprocessedRecords"`
}

func validation(format string, args ...any) error {
	return clientErr(market.CodeValidation, "1 validation error detected: "+fmt.Sprintf(format, args...))
}

func (h *Handler) batchMeterUsage(ctx context.Context, seller string, body []byte, unprocessed int) (any, error) {
	var in batchMeterUsageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	mi, err := toMeterInput(in)
	if err != nil {
		return nil, err
	}
	mi.Unprocessed = unprocessed
	res, err := h.m.BatchMeterUsage(ctx, seller, mi)
	if err != nil {
		return nil, err
	}
	records := *in.UsageRecords
	out := batchMeterUsageOutput{Results: []usageRecordResult{}, UnprocessedRecords: []usageRecord{}}
	for _, r := range res.Results {
		out.Results = append(out.Results, usageRecordResult{UsageRecord: echo(records[r.Index]), MeteringRecordID: r.MeteringRecordID, Status: r.Status})
	}
	for _, i := range res.Unprocessed {
		out.UnprocessedRecords = append(out.UnprocessedRecords, echo(records[i]))
	}
	return out, nil
}

// echo returns the record as AWS echoes it: Quantity defaults to 0.
func echo(r usageRecord) usageRecord {
	if r.Quantity == nil {
		zero := int64(0)
		r.Quantity = &zero
	}
	return r
}

func toMeterInput(in batchMeterUsageInput) (market.MeterInput, error) {
	var mi market.MeterInput
	if in.ProductCode != nil {
		if !productCodePattern.MatchString(*in.ProductCode) {
			return mi, validation("Value '%s' at 'productCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[-a-zA-Z0-9/=:_.@]*$", *in.ProductCode)
		}
		mi.ProductCode = *in.ProductCode
	}
	if in.UsageRecords == nil {
		return mi, validation("Value null at 'usageRecords' failed to satisfy constraint: Member must not be null")
	}
	if n := len(*in.UsageRecords); n > 25 {
		return mi, validation("Value at 'usageRecords' failed to satisfy constraint: Member must have length less than or equal to 25 (got %d)", n)
	}
	for i, r := range *in.UsageRecords {
		ur, err := toUsageRecord(i+1, r)
		if err != nil {
			return mi, err
		}
		mi.Records = append(mi.Records, ur)
	}
	return mi, nil
}

func toUsageRecord(n int, r usageRecord) (market.UsageRecord, error) {
	var ur market.UsageRecord
	at := func(field string) string { return fmt.Sprintf("'usageRecords.%d.member.%s'", n, field) }
	if r.Timestamp == nil {
		return ur, validation("Value null at %s failed to satisfy constraint: Member must not be null", at("timestamp"))
	}
	ts, err := epoch(*r.Timestamp)
	if err != nil {
		return ur, clientErr("SerializationException", fmt.Sprintf("Timestamp %s is not epoch seconds", r.Timestamp.String()))
	}
	ur.Timestamp = ts
	if r.Dimension == nil || len(*r.Dimension) < 1 || len(*r.Dimension) > 255 {
		return ur, validation("Value at %s failed to satisfy constraint: Member must not be null and have length between 1 and 255", at("dimension"))
	}
	ur.Dimension = *r.Dimension
	if r.Quantity != nil {
		if *r.Quantity < 0 || *r.Quantity > math.MaxInt32 {
			return ur, validation("Value '%d' at %s failed to satisfy constraint: Member must have value between 0 and 2147483647", *r.Quantity, at("quantity"))
		}
		ur.Quantity = *r.Quantity
	}
	// The model defaults CustomerIdentifier to "", so an empty string means absent.
	if r.CustomerIdentifier != nil {
		if len(*r.CustomerIdentifier) > 255 {
			return ur, validation("Value at %s failed to satisfy constraint: Member must have length less than or equal to 255", at("customerIdentifier"))
		}
		ur.CustomerIdentifier = *r.CustomerIdentifier
	}
	if r.CustomerAWSAccountID != nil && *r.CustomerAWSAccountID != "" {
		if !accountIDPattern.MatchString(*r.CustomerAWSAccountID) {
			return ur, validation("Value '%s' at %s failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9]+$", *r.CustomerAWSAccountID, at("customerAWSAccountId"))
		}
		ur.CustomerAWSAccountID = *r.CustomerAWSAccountID
	}
	if r.LicenseArn != nil {
		ur.LicenseArn = *r.LicenseArn
	}
	if r.UsageAllocations != nil {
		ur.Allocations = []market.Allocation{}
		for j, a := range *r.UsageAllocations {
			if a.AllocatedUsageQuantity == nil || *a.AllocatedUsageQuantity < 0 || *a.AllocatedUsageQuantity > math.MaxInt32 {
				return ur, validation("Value at %s failed to satisfy constraint: Member must not be null and have value between 0 and 2147483647", at(fmt.Sprintf("usageAllocations.%d.member.allocatedUsageQuantity", j+1)))
			}
			al := market.Allocation{Quantity: *a.AllocatedUsageQuantity}
			for _, t := range a.Tags {
				al.Tags = append(al.Tags, market.Tag{Key: t.Key, Value: t.Value})
			}
			ur.Allocations = append(ur.Allocations, al)
		}
	}
	return ur, nil
}

// epoch reads epoch seconds, fractional or not.
func epoch(n json.Number) (time.Time, error) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, fmt.Errorf("not a number: %q", n)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

type getEntitlementsInput struct {
	ProductCode *string
	Filter      map[string][]string
	NextToken   *string
	MaxResults  *int
}

type entitlementValue struct {
	IntegerValue *int64 `json:"IntegerValue,omitempty"`
}

type entitlement struct {
	ProductCode          string           `json:"ProductCode"`
	Dimension            string           `json:"Dimension"`
	CustomerIdentifier   string           `json:"CustomerIdentifier,omitempty"`
	CustomerAWSAccountID string           `json:"CustomerAWSAccountId"`
	LicenseArn           string           `json:"LicenseArn"`
	Value                entitlementValue `json:"Value"`
	ExpirationDate       *int64           `json:"ExpirationDate,omitempty"`
}

type getEntitlementsOutput struct {
	Entitlements []entitlement `json:"Entitlements"`
	NextToken    string        `json:"NextToken,omitempty"`
}

func (h *Handler) getEntitlements(seller string, body []byte, emptyPage bool) (any, error) {
	var in getEntitlementsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ProductCode == nil || *in.ProductCode == "" {
		return nil, clientErr(market.CodeInvalidParameter, "ProductCode is required")
	}
	ei := market.EntitlementsInput{ProductCode: *in.ProductCode, Filter: in.Filter, EmptyPage: emptyPage}
	if in.NextToken != nil {
		ei.NextToken = *in.NextToken
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 {
			return nil, clientErr(market.CodeInvalidParameter, "MaxResults must be between 1 and 25")
		}
		ei.MaxResults = *in.MaxResults
	}
	res, err := h.m.GetEntitlements(seller, ei)
	if err != nil {
		return nil, err
	}
	out := getEntitlementsOutput{Entitlements: []entitlement{}, NextToken: res.NextToken}
	for _, e := range res.Entitlements {
		v := e.Value
		w := entitlement{ProductCode: e.ProductCode, Dimension: e.Dimension, CustomerIdentifier: e.CustomerIdentifier,
			CustomerAWSAccountID: e.CustomerAWSAccountID, LicenseArn: e.LicenseArn, Value: entitlementValue{IntegerValue: &v}}
		if e.ExpirationDate != nil {
			sec := e.ExpirationDate.Unix()
			w.ExpirationDate = &sec
		}
		out.Entitlements = append(out.Entitlements, w)
	}
	return out, nil
}
