package gcpmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
)

var testHour = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

func rec(key, usageID, dim string, q int64) metering.Record {
	return metering.Record{ProductCode: testProduct, Dimension: dim, Hour: testHour, Quantity: q, Key: key,
		Customer: marketplace.Customer{AccountID: "E-1", Identifier: usageID}}
}

func TestOperationID_Deterministic(t *testing.T) {
	a := OperationID("ent-1", testProduct+"/usage_cents", testHour)
	if a != OperationID("ent-1", testProduct+"/usage_cents", testHour.In(time.FixedZone("x", 3600))) {
		t.Fatal("the same hour in another zone is another operation")
	}
	for _, other := range []string{OperationID("ent-2", testProduct+"/usage_cents", testHour),
		OperationID("ent-1", testProduct+"/other", testHour), OperationID("ent-1", testProduct+"/usage_cents", testHour.Add(time.Hour))} {
		if other == a {
			t.Fatal("two operations share an id")
		}
	}
	if a[14] != '5' {
		t.Fatalf("%s is not a UUID v5", a)
	}
}

// TestBatchMeterUsage_R10_R11 covers the outcomes of one call: accepted,
// refused by the check (not subscribed, rejected, transient), no usage id
// yet, and a partial failure of the report.
func TestBatchMeterUsage_R10_R11(t *testing.T) {
	f := newFakeGoogle(t)
	f.checkErrors["project_number:2"] = []map[string]any{{"code": "BILLING_DISABLED", "detail": "billing is off"}}
	f.checkErrors["project_number:3"] = []map[string]any{{"code": "API_KEY_INVALID"}}
	f.checkErrors["project_number:4"] = []map[string]any{{"code": "SERVICE_STATUS_UNAVAILABLE"}}
	f.reportErrors[testProduct+"/bad_metric"] = 3    // INVALID_ARGUMENT
	f.reportErrors[testProduct+"/flaky_metric"] = 14 // UNAVAILABLE
	f.reportErrors[testProduct+"/late_metric"] = 9   // FAILED_PRECONDITION
	f.entitlement("ent-9", "E-1", "CANCELLED", nil)
	f.entitlement("ent-10", "E-1", "SUSPENDED", nil)
	m := NewMeter(f.client(newClock().Now))
	recs := []metering.Record{
		rec("ent-1", "project_number:1", "usage_cents", 150),
		rec("ent-2", "project_number:2", "usage_cents", 10),
		rec("ent-3", "project_number:3", "usage_cents", 10),
		rec("ent-4", "project_number:4", "usage_cents", 10),
		rec("ent-5", "", "usage_cents", 10),
		rec("ent-6", "project_number:6", "bad_metric", 10),
		rec("ent-7", "project_number:7", "flaky_metric", 10),
		rec("ent-8", "project_number:8", "usage_cents", 0),
		rec("ent-9", "project_number:9", "late_metric", 5),
		rec("ent-10", "project_number:10", "late_metric", 5),
	}
	out, err := m.BatchMeterUsage(context.Background(), testProduct, recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []metering.OutcomeStatus{metering.OutcomeAccepted, metering.OutcomeNotSubscribed, metering.OutcomeRejected,
		metering.OutcomeUnprocessed, metering.OutcomeUnprocessed, metering.OutcomeRejected, metering.OutcomeUnprocessed, metering.OutcomeAccepted,
		metering.OutcomeNotSubscribed, metering.OutcomeUnprocessed}
	for i, o := range out {
		if o.Status != want[i] {
			t.Errorf("record %d (%s): outcome %v (%s), want %v", i, recs[i].Key, o.Status, o.Detail, want[i])
		}
		if o.MeteringRecordID != OperationID(recs[i].Key, testProduct+"/"+recs[i].Dimension, testHour) {
			t.Errorf("record %d: id %s", i, o.MeteringRecordID)
		}
		if o.Status != metering.OutcomeAccepted && o.Status != metering.OutcomeUnprocessed && o.Detail == "" {
			t.Errorf("record %d: no detail", i)
		}
		if o.NotHeld != (recs[i].Key == "ent-9") {
			t.Errorf("record %d: NotHeld %v", i, o.NotHeld)
		}
	}
	// Only the checked operations were reported, each as §4.3 says.
	f.mu.Lock()
	defer f.mu.Unlock()
	var consumers []string
	for _, op := range f.reported {
		consumers = append(consumers, op["consumerId"].(string))
	}
	if !slices.Equal(consumers, []string{"project_number:1", "project_number:6", "project_number:7", "project_number:8",
		"project_number:9", "project_number:10"}) {
		t.Fatalf("reported %q", consumers)
	}
	op := f.reported[0]
	mv := op["metricValueSets"].([]any)[0].(map[string]any)
	if op["startTime"] != "2026-01-01T09:00:00Z" || op["endTime"] != "2026-01-01T10:00:00Z" || op["operationName"] != operationName ||
		mv["metricName"] != testProduct+"/usage_cents" || mv["metricValues"].([]any)[0].(map[string]any)["int64Value"] != "150" {
		t.Fatalf("operation %v", op)
	}
}

// TestBatchMeterUsage_LostAnswerResentSameIDs: a report whose answer is
// lost is an error for the whole call; the resend carries the same
// operationIds, which Google deduplicates.
func TestBatchMeterUsage_LostAnswerResentSameIDs(t *testing.T) {
	f := newFakeGoogle(t)
	f.loseReport = 3 // every attempt of the first call
	m := NewMeter(f.client(newClock().Now))
	recs := []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 150), rec("ent-2", "project_number:2", "usage_cents", 7)}
	if _, err := m.BatchMeterUsage(context.Background(), testProduct, recs); err == nil || errors.Is(err, metering.ErrThrottled) {
		t.Fatalf("lost answers: err = %v", err)
	}
	out, err := m.BatchMeterUsage(context.Background(), testProduct, recs)
	if err != nil || out[0].Status != metering.OutcomeAccepted || out[1].Status != metering.OutcomeAccepted {
		t.Fatalf("resend: %+v, %v", out, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[string]int{}
	for _, op := range f.reported {
		ids[op["operationId"].(string)]++
	}
	if len(ids) != 2 || ids[out[0].MeteringRecordID] != 4 || ids[out[1].MeteringRecordID] != 4 {
		t.Fatalf("operation ids sent: %v", ids)
	}
}

func TestBatchMeterUsage_Throttled(t *testing.T) {
	for _, call := range []string{"check", "report"} {
		t.Run(call, func(t *testing.T) {
			f := newFakeGoogle(t)
			f.fail["POST services/"+testProduct+":"+call] = []int{429, 429, 429}
			m := NewMeter(f.client(newClock().Now))
			_, err := m.BatchMeterUsage(context.Background(), testProduct, []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 1)})
			if !errors.Is(err, metering.ErrThrottled) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// R10: a report whose first attempt got a 503 may have been recorded
	// by Google; ending throttled, the call is not surely unbilled, and the
	// sender must not carry its records into a later one as never billed.
	t.Run("throttled after an attempt that may have arrived", func(t *testing.T) {
		for _, codes := range [][]int{{503, 429, 429}, {429, 503, 429}, {500, 400}} {
			f := newFakeGoogle(t)
			f.fail["POST services/"+testProduct+":report"] = codes
			m := NewMeter(f.client(newClock().Now))
			_, err := m.BatchMeterUsage(context.Background(), testProduct, []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 1)})
			if err == nil || errors.Is(err, metering.ErrThrottled) || errors.Is(err, metering.ErrRejected) {
				t.Errorf("%v: err = %v, want one that is neither throttled nor rejected", codes, err)
			}
		}
	})
	t.Run("retried inside", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.fail["POST services/"+testProduct+":report"] = []int{429, 503}
		m := NewMeter(f.client(newClock().Now))
		out, err := m.BatchMeterUsage(context.Background(), testProduct, []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 1)})
		if err != nil || out[0].Status != metering.OutcomeAccepted {
			t.Fatalf("%+v, %v", out, err)
		}
	})
	t.Run("whole request refused", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.fail["POST services/"+testProduct+":report"] = []int{400}
		f.failBody[400] = `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"duplicate metric value"}}`
		m := NewMeter(f.client(newClock().Now))
		_, err := m.BatchMeterUsage(context.Background(), testProduct, []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 1)})
		if !errors.Is(err, metering.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("check down", func(t *testing.T) {
		f := newFakeGoogle(t)
		f.fail["POST services/"+testProduct+":check"] = []int{503, 503, 503}
		m := NewMeter(f.client(newClock().Now))
		out, err := m.BatchMeterUsage(context.Background(), testProduct, []metering.Record{rec("ent-1", "project_number:1", "usage_cents", 1)})
		if err != nil || out[0].Status != metering.OutcomeUnprocessed || len(f.reported) != 0 {
			t.Fatalf("%+v, %v, reported %d", out, err, len(f.reported))
		}
	})
}

func TestMetricPrefix(t *testing.T) {
	f := newFakeGoogle(t)
	c := f.client(newClock().Now, func(c *Config) { c.MetricPrefixes = map[string]string{testProduct: "example-cloud"} })
	if got := c.MetricName(testProduct, "usage_cents"); got != "example-cloud/usage_cents" {
		t.Fatal(got)
	}
	if got := c.MetricName("other.example.com", "x"); got != "other.example.com/x" {
		t.Fatal(got)
	}
}

// TestMeterError_AfterAnAttemptThatMayHaveArrived: a report whose earlier
// attempt may have reached Google is neither throttled, refused nor never
// sent for the sender, whatever its last attempt got (R10); without one,
// the last attempt decides.
func TestMeterError_AfterAnAttemptThatMayHaveArrived(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "https://servicecontrol.googleapis.com", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	throttled := &googleapi.Error{Code: 429}
	refused := &googleapi.Error{Code: 400}
	after := func(last error) error {
		return fmt.Errorf("%w (%v): %w", errMayHaveArrived, &googleapi.Error{Code: 503}, last)
	}
	type verdict struct{ throttled, rejected, neverSent bool }
	for _, tc := range []struct {
		name string
		err  error
		want verdict
	}{
		{"throttled", throttled, verdict{throttled: true}},
		{"refused", refused, verdict{rejected: true}},
		{"no connection", dial, verdict{neverSent: true}},
		{"throttled after 503", after(throttled), verdict{}},
		{"refused after 503", after(refused), verdict{}},
		{"no connection after 503", after(dial), verdict{}},
	} {
		err := meterError("report usage", tc.err)
		got := verdict{errors.Is(err, metering.ErrThrottled), errors.Is(err, metering.ErrRejected), metering.NeverSent(err)}
		if got != tc.want {
			t.Errorf("%s: %v reads as %+v, want %+v", tc.name, err, got, tc.want)
		}
	}
}
