package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	mmtypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/marketbridge/marketbridge/internal/emulator"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

func TestResolveCustomer_TokenRules(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	must(e.m.CreateCredential(ctx, market.CredentialInput{AccessKeyID: "other", SecretAccessKey: "other-secret", AccountID: "999988887777"}))
	legacy := e.subscribe(c.buyer.ID, c.legacy.Code, nil)
	current := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	legacyTok := must(e.m.SetUpAccount(ctx, legacy.ID)).Token
	currentTok := must(e.m.SetUpAccount(ctx, current.ID)).Token

	t.Run("legacy product returns the customer identifier too", func(t *testing.T) {
		out := must(e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(legacyTok)}))
		if aws.ToString(out.CustomerIdentifier) != legacy.CustomerIdentifier || aws.ToString(out.CustomerAWSAccountId) != c.buyer.ID ||
			aws.ToString(out.LicenseArn) != legacy.LicenseArn || aws.ToString(out.ProductCode) != c.legacy.Code {
			t.Fatalf("ResolveCustomer = %+v", out)
		}
	})
	t.Run("current product omits the customer identifier", func(t *testing.T) {
		out := must(e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(currentTok)}))
		if out.CustomerIdentifier != nil || aws.ToString(out.CustomerAWSAccountId) != c.buyer.ID || aws.ToString(out.LicenseArn) != current.LicenseArn {
			t.Fatalf("ResolveCustomer = %+v", out)
		}
	})
	t.Run("token resolves repeatedly to the same customer", func(t *testing.T) {
		for range 3 {
			out := must(e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(currentTok)}))
			if aws.ToString(out.LicenseArn) != current.LicenseArn {
				t.Fatalf("resolve again = %+v", out)
			}
		}
	})
	t.Run("unknown token is InvalidTokenException", func(t *testing.T) {
		_, err := e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("nope")})
		if got := errorCode(err); got != "InvalidTokenException" {
			t.Fatalf("code = %s", got)
		}
	})
	t.Run("another seller account gets InvalidTokenException", func(t *testing.T) {
		_, err := e.meteringWith("other", "other-secret", noRetries).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(currentTok)})
		if got := errorCode(err); got != "InvalidTokenException" {
			t.Fatalf("code = %s", got)
		}
	})
	t.Run("after four hours the token is ExpiredTokenException", func(t *testing.T) {
		must(e.m.AdvanceClock(ctx, 4*time.Hour))
		_, err := e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(currentTok)})
		if got := errorCode(err); got != "ExpiredTokenException" {
			t.Fatalf("code = %s", got)
		}
		fresh := must(e.m.SetUpAccount(ctx, current.ID)).Token
		if _, err := e.metering().ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(fresh)}); err != nil {
			t.Fatalf("a fresh Set up your account token must resolve: %v", err)
		}
	})
}

func TestSigV4_RefusesBadSignatures(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, key, secret, want string
	}{
		{"wrong secret is InvalidSignatureException", "test", "wrong", "InvalidSignatureException"},
		{"unknown access key is UnrecognizedClientException", "AKIDUNKNOWN", "test", "UnrecognizedClientException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.meteringWith(tc.key, tc.secret, noRetries).ResolveCustomer(context.Background(), &mm.ResolveCustomerInput{RegistrationToken: aws.String("x")})
			if got := errorCode(err); got != tc.want {
				t.Fatalf("code = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("unsigned request is MissingAuthenticationTokenException", func(t *testing.T) {
		client := mm.NewFromConfig(e.awsConfig("test", "test", noRetries), func(o *mm.Options) {
			o.BaseEndpoint = aws.String(e.url)
			o.Credentials = aws.AnonymousCredentials{}
		})
		_, err := client.ResolveCustomer(context.Background(), &mm.ResolveCustomerInput{RegistrationToken: aws.String("x")})
		if got := errorCode(err); got != "MissingAuthenticationTokenException" {
			t.Fatalf("code = %s", got)
		}
	})
}

func record(ts time.Time, account, dim string, qty int32) mmtypes.UsageRecord {
	return mmtypes.UsageRecord{Timestamp: aws.Time(ts), CustomerAWSAccountId: aws.String(account), Dimension: aws.String(dim), Quantity: aws.Int32(qty)}
}

func TestBatchMeterUsage_RequestErrors(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	legacy := e.subscribe(c.buyer.ID, c.legacy.Code, nil)
	payg := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	now := e.m.Now().Add(-time.Minute)
	tags := func(n int) []mmtypes.Tag {
		var out []mmtypes.Tag
		for i := range n {
			out = append(out, mmtypes.Tag{Key: aws.String(string(rune('a' + i))), Value: aws.String("v")})
		}
		return out
	}
	many := make([]mmtypes.UsageRecord, 26)
	for i := range many {
		many[i] = record(now, c.buyer.ID, "credits", 1)
	}
	cases := []struct {
		name    string
		product string
		records []mmtypes.UsageRecord
		want    string
	}{
		{"unknown product code", "nope", []mmtypes.UsageRecord{record(now, c.buyer.ID, "credits", 1)}, "InvalidProductCodeException"},
		{"unknown dimension fails the whole call", c.payg.Code, []mmtypes.UsageRecord{record(now, c.buyer.ID, "credits", 1), record(now, c.buyer.ID, "nope", 1)}, "InvalidUsageDimensionException"},
		{"contract dimension cannot be metered", c.contract.Code, []mmtypes.UsageRecord{record(now, c.buyer.ID, "committed", 1)}, "InvalidUsageDimensionException"},
		{"unknown customer identifier", c.legacy.Code, []mmtypes.UsageRecord{{Timestamp: aws.Time(now), CustomerIdentifier: aws.String("nobody"), Dimension: aws.String("credits"), Quantity: aws.Int32(1)}}, "InvalidCustomerIdentifierException"},
		{"identifier and account id are mutually exclusive", c.legacy.Code, []mmtypes.UsageRecord{{Timestamp: aws.Time(now), CustomerIdentifier: aws.String(legacy.CustomerIdentifier), CustomerAWSAccountId: aws.String(c.buyer.ID), Dimension: aws.String("credits"), Quantity: aws.Int32(1)}}, "InvalidCustomerIdentifierException"},
		{"unknown license", c.payg.Code, []mmtypes.UsageRecord{{Timestamp: aws.Time(now), CustomerAWSAccountId: aws.String(c.buyer.ID), LicenseArn: aws.String("arn:aws:license-manager::1:license/l-x"), Dimension: aws.String("credits"), Quantity: aws.Int32(1)}}, "InvalidLicenseException"},
		{"license of another customer", c.payg.Code, []mmtypes.UsageRecord{{Timestamp: aws.Time(now), CustomerAWSAccountId: aws.String(c.other.ID), LicenseArn: aws.String(payg.LicenseArn), Dimension: aws.String("credits"), Quantity: aws.Int32(1)}}, "InvalidLicenseException"},
		{"license of another product", c.legacy.Code, []mmtypes.UsageRecord{{Timestamp: aws.Time(now), CustomerAWSAccountId: aws.String(c.buyer.ID), LicenseArn: aws.String(payg.LicenseArn), Dimension: aws.String("credits"), Quantity: aws.Int32(1)}}, "InvalidLicenseException"},
		{"timestamp older than the window fails the whole batch", c.payg.Code, []mmtypes.UsageRecord{record(now, c.buyer.ID, "credits", 1), record(now.Add(-7*time.Hour), c.buyer.ID, "credits", 1)}, "TimestampOutOfBoundsException"},
		{"timestamp in the future", c.payg.Code, []mmtypes.UsageRecord{record(now.Add(time.Hour), c.buyer.ID, "credits", 1)}, "TimestampOutOfBoundsException"},
		{"more than five tags", c.payg.Code, []mmtypes.UsageRecord{func() mmtypes.UsageRecord {
			r := record(now, c.buyer.ID, "credits", 2)
			r.UsageAllocations = []mmtypes.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(2), Tags: tags(6)}}
			return r
		}()}, "InvalidTagException"},
		{"allocations must sum to the quantity", c.payg.Code, []mmtypes.UsageRecord{func() mmtypes.UsageRecord {
			r := record(now, c.buyer.ID, "credits", 5)
			r.UsageAllocations = []mmtypes.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(2), Tags: tags(1)}}
			return r
		}()}, "InvalidUsageAllocationsException"},
		{"allocation tag sets must be unique", c.payg.Code, []mmtypes.UsageRecord{func() mmtypes.UsageRecord {
			r := record(now, c.buyer.ID, "credits", 2)
			r.UsageAllocations = []mmtypes.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(1), Tags: tags(2)}, {AllocatedUsageQuantity: aws.Int32(1), Tags: tags(2)}}
			return r
		}()}, "InvalidUsageAllocationsException"},
		{"more than 25 records", c.payg.Code, many, "ValidationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.metering().BatchMeterUsage(ctx, &mm.BatchMeterUsageInput{ProductCode: aws.String(tc.product), UsageRecords: tc.records})
			if got := errorCode(err); got != tc.want {
				t.Fatalf("code = %s, want %s", got, tc.want)
			}
		})
	}
	if n := len(e.m.Records(market.RecordFilter{})); n != 0 {
		t.Fatalf("a refused batch must record nothing; ledger has %d records", n)
	}
}

func TestBatchMeterUsage_DedupOnCustomerDimensionHour(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	must(e.m.AdvanceClock(ctx, 3*time.Hour)) // usage hours after the license started
	hour := e.m.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	meter := func(r mmtypes.UsageRecord) mmtypes.UsageRecordResult {
		t.Helper()
		out := must(e.metering().BatchMeterUsage(ctx, &mm.BatchMeterUsageInput{ProductCode: aws.String(c.payg.Code), UsageRecords: []mmtypes.UsageRecord{r}}))
		if len(out.Results) != 1 {
			t.Fatalf("results = %+v", out)
		}
		return out.Results[0]
	}
	first := meter(record(hour, c.buyer.ID, "credits", 7))
	if first.Status != mmtypes.UsageRecordResultStatusSuccess || aws.ToString(first.MeteringRecordId) == "" {
		t.Fatalf("first = %+v", first)
	}
	cases := []struct {
		name       string
		rec        mmtypes.UsageRecord
		wantStatus mmtypes.UsageRecordResultStatus
		sameID     bool
	}{
		{"identical resend is Success with the same id", record(hour, c.buyer.ID, "credits", 7), mmtypes.UsageRecordResultStatusSuccess, true},
		{"same hour at another minute is the same record", record(hour.Add(17*time.Minute+500*time.Millisecond), c.buyer.ID, "credits", 7), mmtypes.UsageRecordResultStatusSuccess, true},
		{"with the license arn it is still the same customer", func() mmtypes.UsageRecord {
			r := record(hour, c.buyer.ID, "credits", 7)
			r.LicenseArn = aws.String(a.LicenseArn)
			return r
		}(), mmtypes.UsageRecordResultStatusSuccess, true},
		{"different quantity is DuplicateRecord", record(hour, c.buyer.ID, "credits", 8), mmtypes.UsageRecordResultStatusDuplicateRecord, false},
		{"next hour is a new record", record(hour.Add(time.Hour), c.buyer.ID, "credits", 8), mmtypes.UsageRecordResultStatusSuccess, false},
		{"account without a subscription is CustomerNotSubscribed", record(hour, c.other.ID, "credits", 1), mmtypes.UsageRecordResultStatusCustomerNotSubscribed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := meter(tc.rec)
			if got.Status != tc.wantStatus {
				t.Fatalf("status = %s, want %s", got.Status, tc.wantStatus)
			}
			if same := aws.ToString(got.MeteringRecordId) == aws.ToString(first.MeteringRecordId); same != tc.sameID {
				t.Fatalf("record id %q vs first %q: same=%v, want %v", aws.ToString(got.MeteringRecordId), aws.ToString(first.MeteringRecordId), same, tc.sameID)
			}
		})
	}
	recs := e.m.Records(market.RecordFilter{AccountID: c.buyer.ID})
	if len(recs) != 2 || recs[0].Quantity != 7 {
		t.Fatalf("ledger = %+v, want the first write of each hour", recs)
	}
}

func TestBatchMeterUsage_FinalMeteringWindowAfterCancel(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	must(e.m.Cancel(ctx, a.ID))
	meter := func(ts time.Time) mmtypes.UsageRecordResultStatus {
		out := must(e.metering().BatchMeterUsage(ctx, &mm.BatchMeterUsageInput{ProductCode: aws.String(c.payg.Code),
			UsageRecords: []mmtypes.UsageRecord{record(ts, c.buyer.ID, "credits", 1)}}))
		return out.Results[0].Status
	}
	if got := meter(e.m.Now().Add(-time.Minute)); got != mmtypes.UsageRecordResultStatusSuccess {
		t.Fatalf("inside the window: %s", got)
	}
	must(e.m.AdvanceClock(ctx, 61*time.Minute))
	if got := meter(e.m.Now().Add(-time.Minute)); got != mmtypes.UsageRecordResultStatusCustomerNotSubscribed {
		t.Fatalf("after the window: %s", got)
	}
	if got := must(e.m.Agreement(a.ID)).Status; got != market.StatusUnsubscribed {
		t.Fatalf("agreement status = %s", got)
	}
}

func TestBatchMeterUsage_LicenseArnWithoutProductCode(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	a := e.subscribe(c.buyer.ID, c.payg.Code, nil)
	r := record(e.m.Now().Add(-time.Minute), c.buyer.ID, "credits", 3)
	r.LicenseArn = aws.String(a.LicenseArn)
	out := must(e.metering().BatchMeterUsage(context.Background(), &mm.BatchMeterUsageInput{UsageRecords: []mmtypes.UsageRecord{r}}))
	if len(out.Results) != 1 || out.Results[0].Status != mmtypes.UsageRecordResultStatusSuccess {
		t.Fatalf("results = %+v", out.Results)
	}
}

func TestBatchMeterUsage_Faults(t *testing.T) {
	e := newEnv(t)
	c := e.catalog()
	ctx := context.Background()
	e.subscribe(c.buyer.ID, c.payg.Code, nil)
	ts := e.m.Now().Add(-time.Minute)
	input := func() *mm.BatchMeterUsageInput {
		return &mm.BatchMeterUsageInput{ProductCode: aws.String(c.payg.Code), UsageRecords: []mmtypes.UsageRecord{
			record(ts, c.buyer.ID, "credits", 1), record(ts.Add(-time.Hour), c.buyer.ID, "credits", 2)}}
	}
	t.Run("unprocessed records are returned untouched", func(t *testing.T) {
		must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultUnprocessedRecords, Count: 1, Records: 1}))
		out := must(e.metering().BatchMeterUsage(ctx, input()))
		if len(out.Results) != 1 || len(out.UnprocessedRecords) != 1 || aws.ToInt32(out.UnprocessedRecords[0].Quantity) != 2 {
			t.Fatalf("out = %+v", out)
		}
		out = must(e.metering().BatchMeterUsage(ctx, input()))
		if len(out.Results) != 2 || len(out.UnprocessedRecords) != 0 {
			t.Fatalf("resubmitted: %+v", out)
		}
	})
	t.Run("internal error is a 500 InternalServiceErrorException", func(t *testing.T) {
		must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultInternalError, Count: 1}))
		_, err := e.metering().BatchMeterUsage(ctx, input())
		if got := errorCode(err); got != "InternalServiceErrorException" {
			t.Fatalf("code = %s", got)
		}
	})
	t.Run("injected throttling without retries is ThrottlingException", func(t *testing.T) {
		must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultThrottle, Operation: "BatchMeterUsage", Count: 2}))
		_, err := e.metering().BatchMeterUsage(ctx, input())
		if got := errorCode(err); got != "ThrottlingException" {
			t.Fatalf("code = %s", got)
		}
	})
	t.Run("the SDK retryer gets through injected throttling", func(t *testing.T) {
		must(e.m.AddFault(ctx, market.FaultInput{Kind: market.FaultThrottle, Operation: "BatchMeterUsage", Count: 2}))
		out, err := e.meteringWith("test", "test", retrying).BatchMeterUsage(ctx, input())
		if err != nil || len(out.Results) != 2 {
			t.Fatalf("out=%+v err=%v", out, err)
		}
	})
}

func TestThrottle_TokenBucketPerSellerAccount(t *testing.T) {
	t.Run("without retries the second call in a burst of one is throttled", func(t *testing.T) {
		e := newEnv(t, func(c *emulator.Config) { c.Settings.ThrottleRate, c.Settings.ThrottleBurst = 0.001, 1 })
		c := e.catalog()
		tok := must(e.m.SetUpAccount(context.Background(), e.subscribe(c.buyer.ID, c.payg.Code, nil).ID)).Token
		in := &mm.ResolveCustomerInput{RegistrationToken: aws.String(tok)}
		if _, err := e.metering().ResolveCustomer(context.Background(), in); err != nil {
			t.Fatalf("first call: %v", err)
		}
		_, err := e.metering().ResolveCustomer(context.Background(), in)
		if got := errorCode(err); got != "ThrottlingException" {
			t.Fatalf("code = %s", got)
		}
	})
	t.Run("with the SDK retryer every call eventually succeeds", func(t *testing.T) {
		e := newEnv(t, func(c *emulator.Config) { c.Settings.ThrottleRate, c.Settings.ThrottleBurst = 20, 1 })
		c := e.catalog()
		e.subscribe(c.buyer.ID, c.payg.Code, nil)
		client := e.meteringWith("test", "test", retrying)
		for i := range 6 {
			out, err := client.BatchMeterUsage(context.Background(), &mm.BatchMeterUsageInput{ProductCode: aws.String(c.payg.Code),
				UsageRecords: []mmtypes.UsageRecord{record(e.m.Now().Add(-time.Duration(i)*time.Hour), c.buyer.ID, "credits", 1)}})
			if err != nil || out.Results[0].Status != mmtypes.UsageRecordResultStatusSuccess {
				t.Fatalf("call %d: out=%+v err=%v", i, out, err)
			}
		}
	})
}
