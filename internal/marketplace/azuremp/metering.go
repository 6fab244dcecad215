package azuremp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxBatch is the most usage events one batchUsageEvent call takes.
const MaxBatch = 25

// UsageEvent is the usage of one SaaS subscription's dimension in one UTC
// hour (contract §5). Microsoft accepts one event per resource, dimension
// and hour; any later one is a Duplicate.
type UsageEvent struct {
	// ResourceID is the SaaS subscription id.
	ResourceID string
	// PlanID is the subscription's plan when the usage happened.
	PlanID    string
	Dimension string
	// Quantity must be > 0 and have at most 15 significant digits, which
	// Microsoft's double holds exactly. It is sent digit for digit.
	Quantity Decimal
	// EffectiveStart is when the usage happened; the hour it falls in is
	// the event's. Microsoft takes the last 24 hours only.
	EffectiveStart time.Time
}

// Hour is the UTC hour the event bills.
func (e UsageEvent) Hour() time.Time { return e.EffectiveStart.UTC().Truncate(time.Hour) }

// maxSignificant is how many decimal digits a double holds exactly.
const maxSignificant = 15

func (e UsageEvent) validate(i int) []error {
	var errs []error
	at := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("event %d: "+format, append([]any{i}, a...)...))
	}
	if checkID("", e.ResourceID) != nil {
		at("resource id %q: want a SaaS subscription id", e.ResourceID)
	}
	if strings.TrimSpace(e.PlanID) == "" {
		at("plan id required")
	}
	if strings.TrimSpace(e.Dimension) == "" {
		at("dimension required")
	}
	switch q := e.Quantity; {
	case q.Scale > MaxScale:
		at("quantity scale %d exceeds %d", q.Scale, MaxScale)
	case q.Sign() <= 0:
		at("quantity %s: Microsoft takes only quantities above 0; send no event for an hour without usage", q)
	case len(strconv.FormatInt(q.normal().Units, 10)) > maxSignificant:
		at("quantity %s: more than %d significant digits, which Microsoft's double would round", q, maxSignificant)
	}
	if e.EffectiveStart.IsZero() {
		at("effective start time required")
	}
	return errs
}

// UsageStatus is the outcome of one usage event (contract §5.2).
type UsageStatus string

// The outcomes Microsoft reports per event, and UsageUnanswered for an
// event its answer did not mention.
const (
	UsageAccepted              UsageStatus = "Accepted"
	UsageDuplicate             UsageStatus = "Duplicate"
	UsageExpired               UsageStatus = "Expired"
	UsageResourceNotFound      UsageStatus = "ResourceNotFound"
	UsageResourceNotAuthorized UsageStatus = "ResourceNotAuthorized"
	UsageResourceNotActive     UsageStatus = "ResourceNotActive"
	UsageInvalidDimension      UsageStatus = "InvalidDimension"
	UsageInvalidQuantity       UsageStatus = "InvalidQuantity"
	UsageBadArgument           UsageStatus = "BadArgument"
	UsageError                 UsageStatus = "Error"
	// UsageUnanswered: no item of the answer matched the event. Send it
	// again; if it had been accepted the answer is Duplicate.
	UsageUnanswered UsageStatus = "Unanswered"
)

// UnmarshalJSON trims padding spaces.
func (s *UsageStatus) UnmarshalJSON(b []byte) error {
	v, err := trimmed(b)
	*s = UsageStatus(v)
	return err
}

// AcceptedUsage is an event Microsoft accepted: for a Duplicate, the
// original one, whose quantity may differ from the event sent.
type AcceptedUsage struct {
	UsageEventID   string  `json:"usageEventId"`
	ResourceID     string  `json:"resourceId"`
	PlanID         string  `json:"planId"`
	Dimension      string  `json:"dimension"`
	Quantity       Decimal `json:"quantity"`
	EffectiveStart Time    `json:"effectiveStartTime"`
	MessageTime    Time    `json:"messageTime"`
}

// UsageResult is Microsoft's answer about one event of a batch.
type UsageResult struct {
	// Event is the event sent, as given to BatchUsage.
	Event  UsageEvent
	Status UsageStatus
	// UsageEventID is Microsoft's id of an Accepted event; for a
	// Duplicate, that of the original (also in Original).
	UsageEventID string
	MessageTime  time.Time
	// Original is, for a Duplicate, the event Microsoft accepted first for
	// that resource, dimension and hour; nil when it did not say.
	Original *AcceptedUsage
	// Code and Message are the item's error, if any.
	Code, Message string
}

// SameAsSent says a Duplicate is the seller's own retry: the original
// carries the quantity that was sent. Count it as accepted; a Duplicate
// with another quantity is a lost update to alert on.
func (r UsageResult) SameAsSent() bool {
	return r.Status == UsageDuplicate && r.Original != nil && r.Original.Quantity.Equal(r.Event.Quantity)
}

// usageItem is one item of the batch answer.
type usageItem struct {
	AcceptedUsage
	Status UsageStatus `json:"status"`
	Error  *struct {
		Code           string `json:"code"`
		Message        string `json:"message"`
		AdditionalInfo *struct {
			AcceptedMessage *AcceptedUsage `json:"acceptedMessage"`
		} `json:"additionalInfo"`
	} `json:"error"`
}

// usageKey is what Microsoft dedupes on: resource, dimension, UTC hour.
// Case is folded: Microsoft may echo a GUID in another case, and whether it
// tells dimensions apart by case is unconfirmed.
func usageKey(resource, dimension string, at time.Time) string {
	return strings.ToLower(strings.TrimSpace(resource)) + "|" + strings.ToLower(dimension) + "|" +
		strconv.FormatInt(at.UTC().Truncate(time.Hour).Unix(), 10)
}

// BatchUsage reports 1 to MaxBatch events in one call and returns one
// result per event, in the order given. Results are matched to events by
// (resource, dimension, hour), never by position. An item's refusal is in
// its result; the error is for the batch as a whole: ErrInvalidInput
// before sending (a quantity <= 0, two events of one hour, ...),
// ErrBadRequest, ErrForbidden, ErrThrottled or ErrUnavailable. The call is
// repeated after a failure without an answer: what was accepted comes back
// as Duplicate, and SameAsSent tells it apart.
func (c *Client) BatchUsage(ctx context.Context, events []UsageEvent) ([]UsageResult, error) {
	const op = "batch usage event"
	body, err := batchBody(events)
	if err != nil {
		return nil, &APIError{Kind: ErrInvalidInput, Op: op, Err: err}
	}
	res, err := c.do(ctx, request{op: op, method: http.MethodPost, url: c.endpoint("/batchUsageEvent", nil), body: body, idempotent: true})
	if err != nil {
		return nil, err
	}
	results, err := matchUsage(events, res.body)
	if err != nil {
		return nil, badResponse(op, res, err)
	}
	return results, nil
}

// batchBody checks the events and writes the request.
func batchBody(events []UsageEvent) ([]byte, error) {
	var errs []error
	if len(events) == 0 || len(events) > MaxBatch {
		errs = append(errs, fmt.Errorf("%d events: want 1 to %d", len(events), MaxBatch))
	}
	type wireEvent struct {
		ResourceID         string  `json:"resourceId"`
		Quantity           Decimal `json:"quantity"`
		Dimension          string  `json:"dimension"`
		EffectiveStartTime string  `json:"effectiveStartTime"`
		PlanID             string  `json:"planId"`
	}
	wire := struct {
		Request []wireEvent `json:"request"`
	}{}
	seen := map[string]int{}
	for i, e := range events {
		errs = append(errs, e.validate(i)...)
		k := usageKey(e.ResourceID, e.Dimension, e.EffectiveStart)
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("event %d: same resource, dimension and hour as event %d; Microsoft takes one", i, j))
		}
		seen[k] = i
		wire.Request = append(wire.Request, wireEvent{ResourceID: e.ResourceID, Quantity: e.Quantity, Dimension: e.Dimension,
			EffectiveStartTime: e.EffectiveStart.UTC().Format(time.RFC3339), PlanID: e.PlanID})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return json.Marshal(wire)
}

// matchUsage reads the batch answer and gives each event its result.
func matchUsage(events []UsageEvent, body []byte) ([]UsageResult, error) {
	var answer struct {
		Result []usageItem `json:"result"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, err
	}
	out := make([]UsageResult, len(events))
	index := map[string]int{}
	for i, e := range events {
		out[i] = UsageResult{Event: e, Status: UsageUnanswered}
		index[usageKey(e.ResourceID, e.Dimension, e.EffectiveStart)] = i
	}
	for _, item := range answer.Result {
		i, ok := index[usageKey(item.ResourceID, item.Dimension, item.EffectiveStart.Time)]
		if !ok || item.EffectiveStart.IsZero() || out[i].Status != UsageUnanswered {
			continue // not one of ours, or said twice: the first answer holds
		}
		r := &out[i]
		r.Status, r.UsageEventID, r.MessageTime = item.Status, item.UsageEventID, item.MessageTime.Time
		if r.Status == "" {
			r.Status = UsageError
		}
		if e := item.Error; e != nil {
			r.Code, r.Message = e.Code, e.Message
			if e.AdditionalInfo != nil && e.AdditionalInfo.AcceptedMessage != nil {
				orig := *e.AdditionalInfo.AcceptedMessage
				r.Original = &orig
				if r.UsageEventID == "" {
					r.UsageEventID = orig.UsageEventID
				}
			}
		}
	}
	return out, nil
}

// UsageFilter selects the daily aggregates GetUsageEvents returns.
type UsageFilter struct {
	// Start is required; End defaults to today at Microsoft. Both are
	// instants sent as RFC 3339 times: End is the first instant left out.
	Start, End          time.Time
	OfferID, PlanID     string
	Dimension           string
	AzureSubscriptionID string
	ReconStatus         string
}

// UsageAggregate is one day's usage of a resource's dimension, as
// Microsoft's analytics saw it (contract §5.4).
type UsageAggregate struct {
	UsageDate           Time    `json:"usageDate"`
	UsageResourceID     string  `json:"usageResourceId"`
	Dimension           string  `json:"dimension"`
	PlanID              string  `json:"planId"`
	PlanName            string  `json:"planName"`
	OfferID             string  `json:"offerId"`
	OfferName           string  `json:"offerName"`
	OfferType           string  `json:"offerType"`
	AzureSubscriptionID string  `json:"azureSubscriptionId"`
	ReconStatus         string  `json:"reconStatus"`
	SubmittedQuantity   Decimal `json:"submittedQuantity"`
	ProcessedQuantity   Decimal `json:"processedQuantity"`
	SubmittedCount      Seats   `json:"submittedCount"`
}

// parseUsageAggregates reads the bare array GET /usageEvents answers.
func parseUsageAggregates(b []byte) ([]UsageAggregate, error) {
	if isEmptyBody(b) {
		return nil, nil
	}
	var out []UsageAggregate
	if err := json.Unmarshal(bytes.TrimSpace(b), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// isoDate writes a time of a usage query.
func isoDate(t time.Time) string {
	// Microsoft's prose shows 2020-12-03 and 2020-12-03T15:00; its OpenAPI
	// document says date-time, which only a full RFC 3339 time is.
	return t.UTC().Format(time.RFC3339)
}

// GetUsageEvents lists the daily aggregates of accepted usage, for
// reconciliation against the seller's ledger.
func (c *Client) GetUsageEvents(ctx context.Context, f UsageFilter) ([]UsageAggregate, error) {
	const op = "get usage events"
	if f.Start.IsZero() {
		return nil, &APIError{Kind: ErrInvalidInput, Op: op, Err: errors.New("start date required")}
	}
	q := url.Values{"usageStartDate": {isoDate(f.Start)}}
	if !f.End.IsZero() {
		q.Set("UsageEndDate", isoDate(f.End)) // the capital U is the API's
	}
	for name, v := range map[string]string{"offerId": f.OfferID, "planId": f.PlanID, "dimension": f.Dimension,
		"azureSubscriptionId": f.AzureSubscriptionID, "reconStatus": f.ReconStatus} {
		if v != "" {
			q.Set(name, v)
		}
	}
	return read(ctx, c, op, c.endpoint("/usageEvents", q), parseUsageAggregates)
}
