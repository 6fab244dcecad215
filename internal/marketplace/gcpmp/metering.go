package gcpmp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	servicecontrol "google.golang.org/api/servicecontrol/v1"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// operationName is what Google's own example names an hourly usage report
// ("reserved for future use").
const operationName = "Hourly Usage Report"

// operationNamespace is the UUID v5 namespace of operationIds. It must
// never change: a resend after a lost answer must carry the same id, or
// Google bills the hour twice.
var operationNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/marketbridge/marketbridge/gcp-usage"))

// OperationID is the operationId of an entitlement's usage of a metric for
// the hour starting at hour: a UUID v5 of "<entitlement>/<metric>/<hour>",
// the same on every send (§4.3).
func OperationID(entitlement, metric string, hour time.Time) string {
	return uuid.NewSHA1(operationNamespace, []byte(entitlement+"/"+metric+"/"+hour.UTC().Format(time.RFC3339))).String()
}

// stopCodes are check errors after which Google charges nothing for the
// operation and the consumer cannot be billed: not subscribed (§4.4.1).
var stopCodes = map[string]bool{
	"SERVICE_NOT_ACTIVATED": true, "BILLING_DISABLED": true, "PROJECT_DELETED": true, "PROJECT_INVALID": true,
	"CONSUMER_INVALID": true, "PERMISSION_DENIED": true, "NOT_FOUND": true,
}

// transientCodes are check errors of Google's own back ends: sent again.
var transientCodes = map[string]bool{
	"LOAD_SHEDDING": true, "RESOURCE_EXHAUSTED": true, "NAMESPACE_LOOKUP_UNAVAILABLE": true, "SERVICE_STATUS_UNAVAILABLE": true,
	"BILLING_STATUS_UNAVAILABLE": true, "QUOTA_CHECK_UNAVAILABLE": true, "LOAS_PROJECT_LOOKUP_UNAVAILABLE": true,
	"CLOUD_RESOURCE_MANAGER_BACKEND_UNAVAILABLE": true, "SECURITY_POLICY_BACKEND_UNAVAILABLE": true,
	"LOCATION_POLICY_BACKEND_UNAVAILABLE": true, "INJECTED_ERROR": true,
}

// google.rpc.Code values of reportErrors.
const (
	grpcInvalidArgument    = 3
	grpcFailedPrecondition = 9
)

// Meter is metering.Meterer for Service Control: one operation per
// record (entitlement, metric and hour), checked, then reported.
type Meter struct{ c *Client }

// NewMeter adapts c.
func NewMeter(c *Client) *Meter { return &Meter{c: c} }

var _ metering.Meterer = (*Meter)(nil)

// MetricName is the metric a dimension of a product is reported as.
func (c *Client) MetricName(product, dimension string) string {
	prefix, ok := c.cfg.MetricPrefixes[product]
	if !ok {
		prefix = product
	}
	return prefix + "/" + dimension
}

// BatchMeterUsage sends the records of one product (its service name) and
// reports each one's outcome in the order given. Each record is checked
// first (§4.4.1), then all that passed are reported in one call. A record
// whose entitlement has no usageReportingId yet is not sent (unprocessed:
// sent later). Of the report's per-operation errors, INVALID_ARGUMENT is
// rejected, FAILED_PRECONDITION is not subscribed when the entitlement
// has ended (read to tell) and unprocessed otherwise, the rest
// unprocessed. A report Google did not answer, or answered with an error
// status, returns an error: its outcome is unknown for every record, and
// the resend carries the same operationIds.
func (m *Meter) BatchMeterUsage(ctx context.Context, productCode string, recs []metering.Record) ([]metering.Outcome, error) {
	out := make([]metering.Outcome, len(recs))
	var ops []*servicecontrol.Operation
	index := map[string]int{}      // operationId -> record
	ends := map[string]time.Time{} // entitlement -> its end, zero while it runs (read once a call)
	for i, r := range recs {
		metric := m.c.MetricName(productCode, r.Dimension)
		id := OperationID(r.Key, metric, r.Hour)
		out[i].MeteringRecordID = id
		if r.Customer.Identifier == "" {
			out[i].Detail = "the entitlement has no usageReportingId from Google yet"
			continue
		}
		q := r.Quantity
		op := &servicecontrol.Operation{OperationId: id, OperationName: operationName, ConsumerId: r.Customer.Identifier,
			StartTime: r.Hour.UTC().Format(time.RFC3339), EndTime: r.Hour.Add(time.Hour).UTC().Format(time.RFC3339),
			MetricValueSets: []*servicecontrol.MetricValueSet{{MetricName: metric, MetricValues: []*servicecontrol.MetricValue{{Int64Value: &q}}}}}
		passed, err := m.check(ctx, productCode, op, &out[i])
		if err != nil {
			return nil, err
		}
		if !passed && out[i].Status == metering.OutcomeNotSubscribed {
			// The final hour of an entitlement that ended inside it:
			// Google takes the usage before the end, reported until the
			// end, not past it (§4.4.4, R18).
			end, inside, err := m.endInside(ctx, r, ends)
			switch {
			case err != nil:
				out[i].Status, out[i].Detail = metering.OutcomeUnprocessed, "Google's check refused the hour, and the entitlement could not be read to tell whether it ended inside it: "+err.Error()
			case inside:
				op.EndTime = end.Format(time.RFC3339)
				out[i] = metering.Outcome{MeteringRecordID: id}
				if passed, err = m.check(ctx, productCode, op, &out[i]); err != nil {
					return nil, err
				}
			}
		}
		if passed {
			ops = append(ops, op)
			index[id] = i
		}
	}
	if len(ops) == 0 {
		return out, nil
	}
	var res *servicecontrol.ReportResponse
	err := m.c.retry(ctx, func(ctx context.Context) (err error) {
		res, err = m.c.sc.Services.Report(productCode, &servicecontrol.ReportRequest{Operations: ops}).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, meterError("report usage of "+productCode, err)
	}
	for _, op := range ops {
		out[index[op.OperationId]].Status = metering.OutcomeAccepted
	}
	// FAILED_PRECONDITION says the entitlement cannot take the hour: over
	// (final) or not active now (suspended, which Google may lift): its
	// entitlement is read to tell which, once per entitlement.
	ended := map[string]bool{}
	for _, re := range res.ReportErrors {
		if re == nil {
			continue
		}
		i, ok := index[re.OperationId]
		if !ok {
			continue // not one of ours: ignored
		}
		o := &out[i]
		switch code := statusCode(re.Status); code {
		case grpcInvalidArgument:
			o.Status, o.Detail = metering.OutcomeRejected, "Google refused it: "+describeStatus(re.Status)
		case grpcFailedPrecondition:
			key := recs[i].Key
			if _, ok := ended[key]; !ok {
				r, err := NewProvider(m.c).Read(ctx, key)
				ended[key] = err == nil && r.Status == marketplace.StatusCancelled
			}
			o.Status, o.Detail = metering.OutcomeUnprocessed, "Google did not take it now: "+describeStatus(re.Status)
			if ended[key] {
				// Google deduplicates a resend of what it took before
				// validating it, so a refusal means it holds none of it.
				o.Status, o.NotHeld = metering.OutcomeNotSubscribed, true
				o.Detail = "Google refused it: the entitlement has ended: " + describeStatus(re.Status)
			}
		default:
			o.Status, o.Detail = metering.OutcomeUnprocessed, "Google did not process it: "+describeStatus(re.Status)
		}
	}
	return out, nil
}

// endInside reads the end of r's entitlement (its subscriptionEndTime
// once CANCELLED, to the second, rounded down so that no usage after it
// is reported) and says whether it falls inside r's hour; ends caches it.
func (m *Meter) endInside(ctx context.Context, r metering.Record, ends map[string]time.Time) (time.Time, bool, error) {
	end, seen := ends[r.Key]
	if !seen {
		e, err := m.c.entitlement(ctx, r.Key)
		switch {
		case errors.Is(err, errNotFound):
			// Deleted, long after its end: not this hour's.
		case err != nil:
			return time.Time{}, false, err
		case e.State == stateCancelled:
			end = parseTime(e.SubscriptionEndTime).Truncate(time.Second)
		}
		ends[r.Key] = end
	}
	return end, end.After(r.Hour) && end.Before(r.Hour.Add(time.Hour)), nil
}

// check runs services.check for op and says whether it may be reported;
// when not, it fills o. A throttled check ends the call (nothing was
// reported); a check Google did not answer leaves the record unprocessed.
func (m *Meter) check(ctx context.Context, service string, op *servicecontrol.Operation, o *metering.Outcome) (bool, error) {
	var res *servicecontrol.CheckResponse
	err := m.c.retry(ctx, func(ctx context.Context) (err error) {
		res, err = m.c.sc.Services.Check(service, &servicecontrol.CheckRequest{Operation: op}).Context(ctx).Do()
		return err
	})
	switch {
	case httpCode(err) == http.StatusTooManyRequests:
		return false, fmt.Errorf("%w: check usage of %s: %w", metering.ErrThrottled, service, err)
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		o.Status, o.Detail = metering.OutcomeUnprocessed, "Google's check did not answer: "+err.Error()
		return false, nil
	}
	var stop, other []string
	for _, ce := range res.CheckErrors {
		if ce == nil {
			continue
		}
		d := ce.Code
		if ce.Detail != "" {
			d += ": " + ce.Detail
		}
		switch {
		case stopCodes[ce.Code]:
			stop = append(stop, d)
		case !transientCodes[ce.Code]:
			other = append(other, d)
		}
	}
	switch {
	case len(stop) > 0:
		o.Status, o.Detail = metering.OutcomeNotSubscribed, fmt.Sprintf("Google's check refused it, so nothing is charged: %q", stop)
	case len(other) > 0:
		o.Status, o.Detail = metering.OutcomeRejected, fmt.Sprintf("Google's check refused it: %q", other)
	case len(res.CheckErrors) > 0:
		o.Status, o.Detail = metering.OutcomeUnprocessed, "Google's check could not decide now"
	default:
		return true, nil
	}
	return false, nil
}

// meterError says a failed report call in the sender's words: throttled,
// the whole request refused (400: a record of it is wrong; the sender
// splits the batch to find it), or unknown, which it also is after an
// attempt that may have reached Google, whatever came last.
func meterError(doing string, err error) error {
	switch code := httpCode(err); {
	case errors.Is(err, errMayHaveArrived):
		return metering.Uncertain(fmt.Errorf("%s: %w", doing, err))
	case code == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %w", metering.ErrThrottled, doing, err)
	case code == http.StatusBadRequest:
		return fmt.Errorf("%w: %s: %w", metering.ErrRejected, doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func statusCode(s *servicecontrol.Status) int64 {
	if s == nil {
		return 0
	}
	return s.Code
}

func describeStatus(s *servicecontrol.Status) string {
	if s == nil {
		return "no status"
	}
	return fmt.Sprintf("code %d: %s", s.Code, s.Message)
}
