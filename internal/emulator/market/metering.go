package market

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Per-record statuses of BatchMeterUsage.
const (
	RecordSuccess               = "Success"
	RecordCustomerNotSubscribed = "CustomerNotSubscribed"
	RecordDuplicate             = "DuplicateRecord"
)

var tagPattern = regexp.MustCompile(`^[a-zA-Z0-9+ -=._:\/@]+$`)

// UsageRecord is one record of a BatchMeterUsage call, already shape-checked.
type UsageRecord struct {
	Timestamp            time.Time
	CustomerIdentifier   string
	CustomerAWSAccountID string
	LicenseArn           string
	Dimension            string
	Quantity             int64
	Allocations          []Allocation // nil when the record had none
}

// MeterInput is a BatchMeterUsage call.
type MeterInput struct {
	ProductCode string
	Records     []UsageRecord
	// Unprocessed leaves this many last records unprocessed (-1: all), from a fault.
	Unprocessed int
}

// MeterResult is the outcome of one processed record.
type MeterResult struct {
	Index            int
	Status           string
	MeteringRecordID string
}

// MeterOutput lists processed results and the indexes of unprocessed records.
type MeterOutput struct {
	Results     []MeterResult
	Unprocessed []int
}

// BatchMeterUsage validates the whole batch in AWS's order (product, license,
// customer, dimension, timestamps, tags and allocations), failing it at the
// first rule broken, then records each record: Success, DuplicateRecord or
// CustomerNotSubscribed.
func (m *Market) BatchMeterUsage(ctx context.Context, sellerAccountID string, in MeterInput) (MeterOutput, error) {
	var out MeterOutput
	err := m.update(ctx, func(tx *txn) error {
		now := m.now()
		p, err := m.meteredProduct(sellerAccountID, in)
		if err != nil {
			return err
		}
		byRecord := make([]*Agreement, len(in.Records))
		if err := m.checkCustomers(p, in.Records, byRecord); err != nil {
			return err
		}
		for _, r := range in.Records {
			if d, ok := p.Dimension(r.Dimension); !ok || d.Kind != DimensionMetered {
				return awsErr(CodeInvalidUsageDimension, "Dimension %s is not a valid usage dimension of product %s", r.Dimension, p.Code)
			}
		}
		for _, r := range in.Records {
			if !m.inWindow(r.Timestamp, now) {
				return awsErr(CodeTimestampOutOfBounds, "Usage record timestamp %s is outside the allowed window", r.Timestamp.UTC().Format(time.RFC3339))
			}
		}
		for _, r := range in.Records {
			if err := checkAllocations(r); err != nil {
				return err
			}
		}
		processed := len(in.Records)
		switch {
		case in.Unprocessed < 0:
			processed = 0
		case in.Unprocessed > 0:
			processed = max(0, len(in.Records)-in.Unprocessed)
		}
		for i := processed; i < len(in.Records); i++ {
			out.Unprocessed = append(out.Unprocessed, i)
		}
		for i, r := range in.Records[:processed] {
			out.Results = append(out.Results, m.meter(tx, p, r, byRecord[i], now, i))
		}
		return nil
	})
	return out, err
}

func (m *Market) meteredProduct(sellerAccountID string, in MeterInput) (*Product, error) {
	var p *Product
	if in.ProductCode != "" {
		p = m.products[in.ProductCode]
		if p == nil || p.SellerAccountID != sellerAccountID {
			return nil, awsErr(CodeInvalidProductCode, "Product code %s is invalid", in.ProductCode)
		}
	}
	for _, r := range in.Records {
		if r.LicenseArn == "" {
			if p == nil {
				return nil, awsErr(CodeInvalidProductCode, "ProductCode is required unless every usage record has a LicenseArn")
			}
			continue
		}
		a := m.agreementByLicense(r.LicenseArn)
		if a == nil || m.products[a.ProductCode].SellerAccountID != sellerAccountID {
			return nil, awsErr(CodeInvalidLicense, "License %s is invalid", r.LicenseArn)
		}
		if p == nil {
			p = m.products[a.ProductCode]
		} else if a.ProductCode != p.Code {
			return nil, awsErr(CodeInvalidLicense, "License %s is not for product %s: a call meters one product", r.LicenseArn, p.Code)
		}
	}
	if p == nil {
		return nil, awsErr(CodeInvalidProductCode, "ProductCode is required")
	}
	return p, nil
}

// checkCustomers resolves each record's agreement when its identifiers name
// one; a record whose customer holds no agreement is left nil, to be answered
// CustomerNotSubscribed.
func (m *Market) checkCustomers(p *Product, records []UsageRecord, byRecord []*Agreement) error {
	now := m.now()
	for i, r := range records {
		if r.CustomerIdentifier != "" && r.CustomerAWSAccountID != "" {
			return awsErr(CodeInvalidCustomerID, "CustomerIdentifier and CustomerAWSAccountId are mutually exclusive")
		}
		if r.LicenseArn != "" {
			a := m.agreementByLicense(r.LicenseArn)
			switch {
			case r.CustomerAWSAccountID != "" && r.CustomerAWSAccountID != a.AccountID,
				r.CustomerIdentifier != "" && r.CustomerIdentifier != a.CustomerIdentifier:
				return awsErr(CodeInvalidLicense, "License %s does not match the customer", r.LicenseArn)
			case r.Timestamp.Before(a.StartAt.Truncate(time.Hour)) || a.EndAt != nil && !r.Timestamp.Before(*a.EndAt):
				return awsErr(CodeInvalidLicense, "Usage at %s is outside the activation period of license %s", r.Timestamp.UTC().Format(time.RFC3339), r.LicenseArn)
			}
			byRecord[i] = a
			continue
		}
		switch {
		case r.CustomerIdentifier != "":
			if p.Mode != ModeLegacy {
				return awsErr(CodeInvalidCustomerID, "Product %s takes CustomerAWSAccountId and LicenseArn, not CustomerIdentifier", p.Code)
			}
			found := false
			for _, a := range m.agreementsOf(p.Code, func(a *Agreement) bool { return a.CustomerIdentifier == r.CustomerIdentifier }) {
				found = true
				if byRecord[i] == nil || a.meterableAt(now) {
					byRecord[i] = a
				}
			}
			if !found {
				return awsErr(CodeInvalidCustomerID, "Customer identifier %s does not exist", r.CustomerIdentifier)
			}
		case r.CustomerAWSAccountID != "":
			for _, a := range m.agreementsOf(p.Code, func(a *Agreement) bool { return a.AccountID == r.CustomerAWSAccountID }) {
				if byRecord[i] == nil || a.meterableAt(now) {
					byRecord[i] = a
				}
			}
		default:
			return awsErr(CodeInvalidCustomerID, "A usage record needs CustomerAWSAccountId or CustomerIdentifier")
		}
	}
	return nil
}

// agreementsOf lists a product's agreements matching keep, newest first.
func (m *Market) agreementsOf(productCode string, keep func(*Agreement) bool) []*Agreement {
	var out []*Agreement
	for _, a := range m.agreements {
		if a.ProductCode == productCode && keep(a) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out
}

func (m *Market) agreementByLicense(arn string) *Agreement {
	// An index, checked on use and rebuilt on a miss: an agreement's license
	// never changes, and one gone (Reset) is no longer in m.agreements. A
	// miss costs the scan every look-up used to cost.
	if a := m.byLicense[arn]; a != nil && a.LicenseArn == arn && m.agreements[a.ID] == a {
		return a
	}
	clear(m.byLicense)
	for _, a := range m.agreements {
		m.byLicense[a.LicenseArn] = a
	}
	return m.byLicense[arn]
}

// inWindow applies the timestamp window, and the month boundary: after the
// first six hours of a month, usage of the previous month is refused.
func (m *Market) inWindow(ts, now time.Time) bool {
	if ts.Before(now.Add(-m.cfg.MeteringWindow)) || ts.After(now.Add(m.cfg.FutureTolerance)) {
		return false
	}
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return !(ts.Before(monthStart) && !now.Before(monthStart.Add(6*time.Hour)))
}

func checkAllocations(r UsageRecord) error {
	if r.Allocations == nil {
		return nil
	}
	if len(r.Allocations) == 0 || len(r.Allocations) > 2500 {
		return awsErr(CodeInvalidUsageAllocations, "A usage record takes 1 to 2500 usage allocations")
	}
	var sum int64
	seen := map[string]bool{}
	for _, al := range r.Allocations {
		if len(al.Tags) == 0 || len(al.Tags) > 5 {
			return awsErr(CodeInvalidTag, "A usage allocation takes 1 to 5 tags")
		}
		keys := make([]string, 0, len(al.Tags))
		tagKeys := map[string]bool{}
		for _, t := range al.Tags {
			if len(t.Key) < 1 || len(t.Key) > 100 || len(t.Value) < 1 || len(t.Value) > 256 ||
				!tagPattern.MatchString(t.Key) || !tagPattern.MatchString(t.Value) {
				return awsErr(CodeInvalidTag, "Tag %q=%q is invalid", t.Key, t.Value)
			}
			if tagKeys[t.Key] {
				return awsErr(CodeInvalidTag, "Tag key %q appears twice in one allocation", t.Key)
			}
			tagKeys[t.Key] = true
			keys = append(keys, t.Key+"\x00"+t.Value)
		}
		sort.Strings(keys)
		set := strings.Join(keys, "\x01")
		if seen[set] {
			return awsErr(CodeInvalidUsageAllocations, "Usage allocations must have unique tag sets")
		}
		seen[set] = true
		sum += al.Quantity
	}
	if sum != r.Quantity {
		return awsErr(CodeInvalidUsageAllocations, "Allocated quantities sum to %d, not the record's quantity %d", sum, r.Quantity)
	}
	return nil
}

func dedupKey(agreementID, dimension string, hour time.Time) string {
	return fmt.Sprintf("%s|%s|%d", agreementID, dimension, hour.Unix())
}

// meter records one record. The first write of a (customer, license,
// dimension, hour) wins: an identical resend gets the same MeteringRecordId,
// a different quantity DuplicateRecord.
func (m *Market) meter(tx *txn, p *Product, r UsageRecord, a *Agreement, now time.Time, index int) MeterResult {
	if a == nil || !a.meterableAt(now) {
		return MeterResult{Index: index, Status: RecordCustomerNotSubscribed}
	}
	hour := r.Timestamp.UTC().Truncate(time.Hour)
	key := dedupKey(a.ID, r.Dimension, hour)
	if prev, ok := m.dedup[key]; ok {
		if prev.Quantity == r.Quantity {
			return MeterResult{Index: index, Status: RecordSuccess, MeteringRecordID: prev.ID}
		}
		return MeterResult{Index: index, Status: RecordDuplicate}
	}
	price := a.MeteredPrices[r.Dimension]
	trial := a.FreeTrialEndAt != nil && r.Timestamp.Before(*a.FreeTrialEndAt)
	if trial {
		price = 0
	}
	rec := &MeteringRecord{
		ID: m.uuid(), SellerAccountID: p.SellerAccountID, ProductCode: p.Code, AgreementID: a.ID, AccountID: a.AccountID,
		CustomerIdentifier: r.CustomerIdentifier, LicenseArn: a.LicenseArn, Dimension: r.Dimension,
		Timestamp: r.Timestamp.UTC(), Hour: hour, Quantity: r.Quantity, Allocations: r.Allocations,
		UnitPriceMicros: price, AmountMicros: price * Micros(r.Quantity), FreeTrial: trial, AcceptedAt: now,
	}
	m.records[rec.ID] = rec
	m.dedup[key] = rec
	tx.put(kindRecord, rec.ID, rec)
	return MeterResult{Index: index, Status: RecordSuccess, MeteringRecordID: rec.ID}
}
