package awsmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	metertypes "github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// BatchMeterUsage sends up to 25 records of one product to AWS and reports
// each record's outcome in the order given.
func (c *Client) BatchMeterUsage(ctx context.Context, productCode string, recs []metering.Record) ([]metering.Outcome, error) {
	in := &marketplacemetering.BatchMeterUsageInput{ProductCode: aws.String(productCode)}
	for _, r := range recs {
		if r.Quantity > math.MaxInt32 {
			return nil, fmt.Errorf("record %d: quantity %d exceeds AWS's int32", r.ID, r.Quantity)
		}
		ur := metertypes.UsageRecord{Dimension: aws.String(r.Dimension), Timestamp: aws.Time(r.Hour), Quantity: aws.Int32(int32(r.Quantity))}
		// AWS forbids both identities in one record: legacy products carry
		// the customer identifier, current ones the account and license.
		if r.Customer.Identifier != "" {
			ur.CustomerIdentifier = aws.String(r.Customer.Identifier)
		} else {
			ur.CustomerAWSAccountId = aws.String(r.Customer.AccountID)
			if r.Customer.LicenseArn != "" {
				ur.LicenseArn = aws.String(r.Customer.LicenseArn)
			}
		}
		in.UsageRecords = append(in.UsageRecords, ur)
	}
	var attempts attemptLog
	out, err := c.metering.BatchMeterUsage(ctx, in, attempts.record)
	if err != nil {
		// The SDK retries within the call, and answers with the last
		// attempt's error. A throttled, out-of-window or rejected last
		// attempt says AWS did not take that attempt's batch, not that an
		// earlier one (whose answer was lost) was not taken: then the call
		// is as uncertain as a lost answer, and must not be carried later
		// as never billed.
		if attempts.uncertain > 0 {
			return nil, metering.Uncertain(fmt.Errorf("batch meter usage: %d of %d attempts may have reached AWS before the last failed: %w",
				attempts.uncertain, attempts.n, err))
		}
		var tooOld *metertypes.TimestampOutOfBoundsException
		if errors.As(err, &tooOld) {
			return nil, fmt.Errorf("%w: %w", metering.ErrTimestampOutOfBounds, err)
		}
		var throttled *metertypes.ThrottlingException
		if errors.As(err, &throttled) {
			return nil, fmt.Errorf("%w: %w", metering.ErrThrottled, err)
		}
		if rejected(err) {
			return nil, fmt.Errorf("%w: %w", metering.ErrRejected, err)
		}
		return nil, fmt.Errorf("batch meter usage: %w", err)
	}
	outcomes := make([]metering.Outcome, len(recs))
	for i := range outcomes {
		outcomes[i] = metering.Outcome{Status: metering.OutcomeUnprocessed}
	}
	// AWS echoes each record; match them back by (dimension, hour,
	// customer), unique within one call since records are per subscription,
	// dimension and hour.
	index := map[string]int{}
	for i, u := range in.UsageRecords {
		// The key is built from exactly what was sent, as AWS echoes it.
		index[key(aws.ToString(u.Dimension), aws.ToTime(u.Timestamp), aws.ToString(u.CustomerAWSAccountId),
			aws.ToString(u.CustomerIdentifier), aws.ToString(u.LicenseArn))] = i
	}
	for _, res := range out.Results {
		u := res.UsageRecord
		if u == nil {
			continue
		}
		i, ok := index[key(aws.ToString(u.Dimension), aws.ToTime(u.Timestamp), aws.ToString(u.CustomerAWSAccountId),
			aws.ToString(u.CustomerIdentifier), aws.ToString(u.LicenseArn))]
		if !ok {
			continue
		}
		o := metering.Outcome{MeteringRecordID: aws.ToString(res.MeteringRecordId)}
		switch res.Status {
		case metertypes.UsageRecordResultStatusSuccess:
			o.Status = metering.OutcomeAccepted
		case metertypes.UsageRecordResultStatusDuplicateRecord:
			o.Status = metering.OutcomeDuplicate
		case metertypes.UsageRecordResultStatusCustomerNotSubscribed:
			o.Status = metering.OutcomeNotSubscribed
		}
		outcomes[i] = o
	}
	return outcomes, nil
}

func key(dim string, hour time.Time, account, identifier, license string) string {
	return fmt.Sprintf("%s|%d|%s|%s|%s", dim, hour.Unix(), account, identifier, license)
}

// rejected says AWS refused the batch for what it holds: sending it again
// changes nothing.
func rejected(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidLicenseException", "InvalidCustomerIdentifierException", "InvalidUsageDimensionException",
		"InvalidProductCodeException", "InvalidTagException", "InvalidUsageAllocationsException":
		return true
	}
	return false
}

// attemptLog counts a call's attempts, and those that failed without AWS's
// answer saying it did not take the batch: a timeout, a connection lost
// after the request left, a server error. Its record option adds a step
// after the SDK's retry step, which runs once an attempt.
type attemptLog struct {
	n, uncertain int
}

func (a *attemptLog) record(o *marketplacemetering.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("marketbridgeAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				a.n++
				if err != nil && !surelyNotTaken(err) {
					a.uncertain++
				}
				return out, md, err
			}), middleware.After)
	})
}

// surelyNotTaken says an attempt's error proves AWS did not take its batch:
// AWS answered with an error of its API, or the connection was never made.
func surelyNotTaken(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		var resp *awshttp.ResponseError
		// A server error may come after the records were stored.
		return !errors.As(err, &resp) || resp.HTTPStatusCode() < 500
	}
	return metering.NeverSent(err)
}
