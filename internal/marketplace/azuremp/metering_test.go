package azuremp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// TestBatchUsage_SendsExactly: quantities go out digit for digit as JSON
// numbers, times as RFC 3339 UTC, in Microsoft's field names.
func TestBatchUsage_SendsExactly(t *testing.T) {
	f, c, _, _ := newFake(t, reply(200, []byte(`{"count":0,"result":[]}`)))
	hour := time.Date(2026, 3, 4, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	_, err := c.BatchUsage(ctx, []UsageEvent{
		{ResourceID: testSubID, PlanID: "gold", Dimension: "emails", Quantity: Decimal{Units: 123456789012345, Scale: 2}, EffectiveStart: hour},
		{ResourceID: testSubID, PlanID: "gold", Dimension: "tokens", Quantity: Int(7), EffectiveStart: hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.seen()[0]
	want := `{"request":[` +
		`{"resourceId":"` + testSubID + `","quantity":1234567890123.45,"dimension":"emails","effectiveStartTime":"2026-03-04T08:00:00Z","planId":"gold"},` +
		`{"resourceId":"` + testSubID + `","quantity":7,"dimension":"tokens","effectiveStartTime":"2026-03-04T08:00:00Z","planId":"gold"}]}`
	if r.Method != "POST" || r.Path != "/api/batchUsageEvent" || r.Body != want {
		t.Errorf("sent %s %s\n%s\nwant\n%s", r.Method, r.Path, r.Body, want)
	}
}

// TestBatchUsage_MatchesByResourceDimensionHour: results come back in any
// order and are matched by what Microsoft dedupes on; a Duplicate carries
// the original event, and the same quantity marks the seller's own retry.
func TestBatchUsage_MatchesByResourceDimensionHour(t *testing.T) {
	dupRes := "8151a707-467c-4105-df0b-44c3fca5880d"
	events := []UsageEvent{
		{ResourceID: testSubID, PlanID: "plan1", Dimension: "dim1", Quantity: Int(5), EffectiveStart: time.Date(2020, 1, 12, 8, 0, 0, 0, time.UTC)},
		{ResourceID: dupRes, PlanID: "gold", Dimension: "email", Quantity: Int(1), EffectiveStart: time.Date(2020, 1, 12, 11, 0, 0, 0, time.UTC)},
		{ResourceID: dupRes, PlanID: "gold", Dimension: "email", Quantity: Int(1), EffectiveStart: time.Date(2020, 1, 12, 12, 0, 0, 0, time.UTC)},
	}
	_, c, _, _ := newFake(t, reply(200, sample(t, "batch-result.json")))
	got, err := c.BatchUsage(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	msgTime := time.Date(2020, 1, 12, 13, 19, 35, 345865800, time.UTC)
	want := []UsageResult{
		{Event: events[0], Status: UsageAccepted, UsageEventID: "3ba2c1d0-9e8f-4a7b-8c6d-5e4f3a2b1c0d", MessageTime: msgTime},
		{Event: events[1], Status: UsageDuplicate, UsageEventID: "0f5a9c3e-2b1d-4e8f-a7c6-5d4e3f2a1b0c", Code: "Conflict",
			Message: "This usage event already exist.", Original: &AcceptedUsage{UsageEventID: "0f5a9c3e-2b1d-4e8f-a7c6-5d4e3f2a1b0c",
				ResourceID: dupRes, PlanID: "gold", Dimension: "email", Quantity: Int(1),
				EffectiveStart: Time{time.Date(2020, 1, 12, 11, 3, 28, 140000000, time.UTC)}, MessageTime: Time{msgTime}}},
		{Event: events[2], Status: UsageUnanswered},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !got[1].SameAsSent() || got[0].SameAsSent() {
		t.Errorf("SameAsSent: the duplicate of the same quantity is the seller's retry")
	}
	got[1].Event.Quantity = Decimal{Units: 15, Scale: 1}
	if got[1].SameAsSent() {
		t.Errorf("SameAsSent: a duplicate of another quantity is a lost update")
	}
}

// TestBatchUsage_EveryItemStatus: each per-item status of §5.2 is kept,
// and an item error's code and message with it.
func TestBatchUsage_EveryItemStatus(t *testing.T) {
	statuses := []UsageStatus{UsageAccepted, UsageExpired, UsageResourceNotFound, UsageResourceNotAuthorized, UsageResourceNotActive,
		UsageInvalidDimension, UsageInvalidQuantity, UsageBadArgument, UsageError, "SomethingNew"}
	var events []UsageEvent
	var items []string
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	for i, s := range statuses {
		e := UsageEvent{ResourceID: testSubID, PlanID: "gold", Dimension: "emails", Quantity: Int(1), EffectiveStart: start.Add(time.Duration(i) * time.Hour)}
		events = append(events, e)
		items = append(items, fmt.Sprintf(`{"status":" %s ","resourceId":%q,"dimension":"emails","effectiveStartTime":%q,"quantity":1,
			"error":{"code":"%s","message":"because"}}`, s, strings.ToUpper(testSubID), e.EffectiveStart.Format("2006-01-02T15:04:05"), s))
	}
	_, c, _, _ := newFake(t, reply(200, []byte(`{"count":10,"result":[`+strings.Join(items, ",")+`]}`)))
	got, err := c.BatchUsage(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Status != statuses[i] || r.Code != string(statuses[i]) || r.Message != "because" {
			t.Errorf("event %d: %+v, want status %s", i, r, statuses[i])
		}
	}
}

// TestBatchUsage_RefusedBeforeSending: no zero or negative quantity, no
// two events of one hour, 1 to 25 events, every fault reported at once.
func TestBatchUsage_RefusedBeforeSending(t *testing.T) {
	at := time.Date(2026, 3, 4, 9, 15, 0, 0, time.UTC)
	ok := UsageEvent{ResourceID: testSubID, PlanID: "gold", Dimension: "emails", Quantity: Int(1), EffectiveStart: at}
	with := func(edit func(*UsageEvent)) []UsageEvent { e := ok; edit(&e); return []UsageEvent{e} }
	many := make([]UsageEvent, 26)
	for i := range many {
		many[i] = ok
		many[i].EffectiveStart = at.Add(time.Duration(-i) * time.Hour)
	}
	for _, tc := range []struct {
		name   string
		events []UsageEvent
		want   []string
	}{
		{"none", nil, []string{"0 events"}},
		{"26", many, []string{"26 events"}},
		{"zero", with(func(e *UsageEvent) { e.Quantity = Decimal{} }), []string{"above 0"}},
		{"negative", with(func(e *UsageEvent) { e.Quantity = Decimal{Units: -5, Scale: 1} }), []string{"above 0"}},
		{"too precise for a double", with(func(e *UsageEvent) { e.Quantity = Decimal{Units: 1234567890123456, Scale: 3} }), []string{"significant digits"}},
		{"two events of one hour", append(with(func(*UsageEvent) {}), with(func(e *UsageEvent) { e.EffectiveStart = at.Add(40 * time.Minute) })...),
			[]string{"same resource, dimension and hour as event 0"}},
		{"everything missing", []UsageEvent{{}}, []string{"resource id", "plan id required", "dimension required", "above 0", "effective start time required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c, _, _ := newFake(t, reply(200, nil))
			_, err := c.BatchUsage(ctx, tc.events)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%v, want ErrInvalidInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if len(f.seen()) != 0 {
				t.Error("sent anyway")
			}
		})
	}
}

// TestBatchUsage_BatchLevelErrors: a refusal of the whole batch is a typed
// error, with the body's code and detail.
func TestBatchUsage_BatchLevelErrors(t *testing.T) {
	events := []UsageEvent{{ResourceID: testSubID, PlanID: "gold", Dimension: "emails", Quantity: Int(1), EffectiveStart: time.Now()}}
	for _, tc := range []struct {
		status      int
		body        []byte
		kind        error
		code, words string
	}{
		{400, sample(t, "error-metering-400.json"), ErrBadRequest, "BadArgument", "The resourceId is required."},
		{403, sample(t, "error-metering-403.json"), ErrForbidden, "Forbidden", "Client is not authorized"},
		{429, nil, ErrThrottled, "", ""},
		{500, nil, ErrUnavailable, "", ""},
		{200, []byte(`{"result":"nope"}`), ErrBadResponse, "", ""},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			_, c, _, _ := newFake(t, reply(tc.status, tc.body))
			_, err := c.BatchUsage(ctx, events)
			var ae *APIError
			if !errors.Is(err, tc.kind) || !errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(ae.Message, tc.words) {
				t.Errorf("%v, want %v %q %q", err, tc.kind, tc.code, tc.words)
			}
		})
	}
}

// TestGetUsageEvents: the filter's query (the capital U of UsageEndDate
// included) and the bare array of daily aggregates.
func TestGetUsageEvents(t *testing.T) {
	f, c, _, _ := newFake(t, reply(200, sample(t, "usage-events.json")))
	got, err := c.GetUsageEvents(ctx, UsageFilter{Start: time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC),
		End: time.Date(2020, 12, 3, 15, 0, 0, 0, time.UTC), OfferID: "mycooloffer", ReconStatus: "Accepted"})
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageAggregate{{UsageDate: Time{time.Date(2020, 11, 30, 0, 0, 0, 0, time.UTC)}, UsageResourceID: testSubID, Dimension: "tokens",
		PlanID: "silver", PlanName: "Silver", OfferID: "mycooloffer", OfferName: "My Cool Offer", OfferType: "SaaS",
		AzureSubscriptionID: "9c8b7a6f-5e4d-4c3b-a2a1-0f9e8d7c6b5a", ReconStatus: "Accepted", SubmittedQuantity: Int(17),
		ProcessedQuantity: Int(17), SubmittedCount: SeatCount(17)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	r := f.seen()[0]
	if r.Path != "/api/usageEvents" ||
		r.RawQuery != "UsageEndDate=2020-12-03T15%3A00%3A00Z&api-version=2018-08-31&offerId=mycooloffer&reconStatus=Accepted&usageStartDate=2020-11-30T00%3A00%3A00Z" {
		t.Errorf("sent %s?%s", r.Path, r.RawQuery)
	}
	f.setAPI(reply(200, nil))
	if got, err := c.GetUsageEvents(ctx, UsageFilter{Start: time.Now()}); err != nil || len(got) != 0 {
		t.Errorf("empty body: %v %v", got, err)
	}
	if _, err := c.GetUsageEvents(ctx, UsageFilter{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("no start: %v", err)
	}
}

// TestDecimal_JSON: what goes out is what was meant, digit for digit.
func TestDecimal_JSON(t *testing.T) {
	for _, tc := range []struct {
		d    Decimal
		want string
	}{
		{Int(5), "5"}, {Decimal{Units: 125, Scale: 2}, "1.25"}, {Decimal{Units: 5, Scale: 3}, "0.005"},
		{Decimal{Units: 1500, Scale: 3}, "1.5"}, {Decimal{Units: -25, Scale: 2}, "-0.25"}, {Decimal{}, "0"},
		{Decimal{Units: 1, Scale: 18}, "0.000000000000000001"},
	} {
		b, err := json.Marshal(tc.d)
		if err != nil || string(b) != tc.want {
			t.Errorf("%#v: %s %v, want %s", tc.d, b, err, tc.want)
		}
		var back Decimal
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tc.d) {
			t.Errorf("%s read back as %#v %v", b, back, err)
		}
	}
}

// TestMeter_ThrottledAfterAnAttemptThatMayHaveArrived (R10): the client
// repeats a batch that got a 5xx or lost its answer, and Microsoft may have
// recorded that first attempt. If the repeat is then throttled, the call is
// not surely untaken: the sender must keep the records as maybe sent, never
// carry them into a later hour as unbilled. A call throttled throughout, or
// whose earlier failure never left, stays throttled.
func TestMeter_ThrottledAfterAnAttemptThatMayHaveArrived(t *testing.T) {
	recs := []metering.Record{{Key: testSubID, Plan: "gold", Dimension: "emails", Quantity: 3, Hour: time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)}}
	for _, tc := range []struct {
		name      string
		statuses  []int // the batch's answers, in turn
		throttled bool
	}{
		{"503 then throttled", []int{503, 429, 429}, false},
		{"throttled, 500, throttled", []int{429, 500, 429}, false},
		{"throttled throughout", []int{429, 429, 429}, true},
		{"500 then refused", []int{500, 400}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			_, c, _, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				status := tc.statuses[min(n, len(tc.statuses)-1)]
				n++
				mu.Unlock()
				w.WriteHeader(status)
			})
			_, err := NewMeter(c).BatchMeterUsage(ctx, "", recs)
			if !tc.throttled && errors.Is(err, metering.ErrRejected) {
				t.Errorf("err = %v: refused, after an attempt that may have arrived", err)
			}
			if err == nil || errors.Is(err, metering.ErrThrottled) != tc.throttled {
				t.Errorf("err = %v; throttled %v, want %v", err, errors.Is(err, metering.ErrThrottled), tc.throttled)
			}
			if n != len(tc.statuses) {
				t.Errorf("%d attempts, want %d", n, len(tc.statuses))
			}
		})
	}
}

// TestMeterError_AfterAnAttemptThatMayHaveArrived: whatever the last
// attempt got, a call with an earlier attempt that may have reached
// Microsoft is neither throttled, refused nor never sent for the sender;
// without one, the last attempt decides (R10).
func TestMeterError_AfterAnAttemptThatMayHaveArrived(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	earlier := &APIError{Kind: ErrUnavailable, Op: "batch usage event", Status: 503}
	type verdict struct{ throttled, rejected, neverSent bool }
	for _, tc := range []struct {
		name string
		last *APIError
		want verdict
	}{
		{"throttled", &APIError{Kind: ErrThrottled, Status: 429}, verdict{throttled: true}},
		{"refused", &APIError{Kind: ErrBadRequest, Status: 400}, verdict{rejected: true}},
		{"no connection", &APIError{Kind: ErrUnavailable, Err: dial}, verdict{neverSent: true}},
		{"throttled after 503", &APIError{Kind: ErrThrottled, Status: 429, earlier: earlier}, verdict{}},
		{"refused after 503", &APIError{Kind: ErrBadRequest, Status: 400, earlier: earlier}, verdict{}},
		{"no connection after 503", &APIError{Kind: ErrUnavailable, Err: dial, earlier: earlier}, verdict{}},
	} {
		err := meterError(fmt.Errorf("wrapped: %w", tc.last))
		got := verdict{errors.Is(err, metering.ErrThrottled), errors.Is(err, metering.ErrRejected), metering.NeverSent(err)}
		if got != tc.want {
			t.Errorf("%s: %v reads as %+v, want %+v", tc.name, err, got, tc.want)
		}
	}
}
