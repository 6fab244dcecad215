package servicecontrol

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	sc "google.golang.org/api/servicecontrol/v1"
)

// Report answers per operation in reportErrors (contract §4.4.7): the good
// ones are recorded, the bad ones are not, and nothing else changes.
func TestReport_PerOperationOutcomes(t *testing.T) {
	double := usageOp("op-double", consumerA, hour0, 1)
	double.MetricValueSets[0].MetricValues[0] = &sc.MetricValue{DoubleValue: ptr(1.5)}
	unknownMetric := usageOp("op-metric", consumerA, hour0, 1)
	unknownMetric.MetricValueSets[0].MetricName = testService + "/other"
	tests := []struct {
		name    string
		op      *sc.Operation
		code    int64 // google.rpc.Code of the reportErrors entry; 0 = accepted
		entries int
	}{
		{"accepted", usageOp("op-ok", consumerA, hour0, 150), 0, 1},
		{"zero", usageOp("op-zero", consumerA, hour0, 0), 0, 1},
		{"unknown consumer", usageOp("op-nobody", "project_number:999", hour0, 1), 5, 0},
		{"unknown metric", unknownMetric, 3, 0},
		{"not int64", double, 3, 0},
		{"negative", usageOp("op-neg", consumerA, hour0, -1), 3, 0},
		{"inactive entitlement", usageOp("op-off", consumerOff, hour0, 1), 9, 0},
		{"after the entitlement ended", usageOp("op-late-end", consumerEnd, hour0.Add(time.Hour), 1), 9, 0},
		{"before it ended, reported after", usageOp("op-before-end", consumerEnd, hour0, 1), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp, err := e.report(t, tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if tt.code == 0 {
				if len(resp.ReportErrors) != 0 {
					t.Fatalf("reportErrors %+v", resp.ReportErrors[0].Status)
				}
			} else if len(resp.ReportErrors) != 1 || resp.ReportErrors[0].OperationId != tt.op.OperationId || resp.ReportErrors[0].Status.Code != tt.code || resp.ReportErrors[0].Status.Message == "" {
				t.Fatalf("reportErrors %s, want one with code %d", mustJSON(resp.ReportErrors), tt.code)
			}
			if got := len(e.ledger(t)); got != tt.entries {
				t.Fatalf("%d ledger entries, want %d", got, tt.entries)
			}
		})
	}
}

// One request, several operations: the failing one is named, the others
// are recorded.
func TestReport_PartialFailure(t *testing.T) {
	e := newEnv(t)
	resp, err := e.report(t,
		usageOp("op-1", consumerA, hour0, 10),
		usageOp("op-2", "project_number:999", hour0, 10),
		usageOp("op-3", consumerEnd, hour0, 5))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ReportErrors) != 1 || resp.ReportErrors[0].OperationId != "op-2" {
		t.Fatalf("reportErrors %s", mustJSON(resp.ReportErrors))
	}
	if entries := e.ledger(t); len(entries) != 2 || entries[0].OperationID != "op-1" || entries[1].OperationID != "op-3" || entries[0].AmountMicros != 100_000 {
		t.Fatalf("ledger %s", mustJSON(entries))
	}
}

// Malformed requests fail whole with 400 INVALID_ARGUMENT, nothing recorded.
func TestReport_InvalidRequests(t *testing.T) {
	op := func(edit func(m map[string]any)) string {
		m := map[string]any{
			"operationId": "op-x", "consumerId": consumerA, "startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T11:00:00Z",
			"metricValueSets": []any{map[string]any{"metricName": testMetric, "metricValues": []any{map[string]any{"int64Value": "5"}}}},
		}
		edit(m)
		return `{"operations":[` + mustJSON(m) + `]}`
	}
	sets := func(vs ...any) []any { return []any{map[string]any{"metricName": testMetric, "metricValues": vs}} }
	tests := []struct{ name, body string }{
		{"not JSON", `{"operations":`},
		{"trailing data", op(func(map[string]any) {}) + `{}`},
		{"no operations", `{"operations":[]}`},
		{"no operationId", op(func(m map[string]any) { delete(m, "operationId") })},
		{"no consumerId", op(func(m map[string]any) { m["consumerId"] = "" })},
		{"no endTime", op(func(m map[string]any) { delete(m, "endTime") })},
		{"not RFC 3339", op(func(m map[string]any) { m["startTime"] = "2026-12-01 10:00:00" })},
		{"start after end", op(func(m map[string]any) { m["startTime"] = "2026-12-01T12:00:00Z" })},
		{"empty interval", op(func(m map[string]any) { m["startTime"] = m["endTime"] })},
		{"int64 as a number", op(func(m map[string]any) { m["metricValueSets"] = sets(map[string]any{"int64Value": 5}) })},
		{"int64 not a number", op(func(m map[string]any) { m["metricValueSets"] = sets(map[string]any{"int64Value": "5x"}) })},
		{"two value fields", op(func(m map[string]any) {
			m["metricValueSets"] = sets(map[string]any{"int64Value": "5", "doubleValue": 5})
		})},
		{"no value field", op(func(m map[string]any) { m["metricValueSets"] = sets(map[string]any{}) })},
		{"duplicate metric value", op(func(m map[string]any) {
			m["metricValueSets"] = sets(map[string]any{"int64Value": "5"}, map[string]any{"int64Value": "6"})
		})},
		{"duplicate across sets", op(func(m map[string]any) {
			m["metricValueSets"] = append(sets(map[string]any{"int64Value": "5", "labels": map[string]string{"a": "1"}}),
				sets(map[string]any{"int64Value": "6", "labels": map[string]string{"a": "1"}})...)
		})},
		{"over 1 MB", op(func(m map[string]any) { m["operationName"] = strings.Repeat("x", MaxRequestBytes) })},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.post(t, "/v1/services/"+testService+":report", tt.body)
			var body errorEnvelope
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 400 || body.Error.Status != "INVALID_ARGUMENT" || body.Error.Code != 400 || body.Error.Message == "" {
				t.Fatalf("%d %+v (%v), want 400 INVALID_ARGUMENT", resp.StatusCode, body, err)
			}
		})
	}
	if n := len(e.ledger(t)); n != 0 {
		t.Fatalf("%d entries recorded from invalid requests", n)
	}
	// Labels that differ make two values of one metric legal.
	ok := e.post(t, "/v1/services/"+testService+":report", op(func(m map[string]any) {
		m["metricValueSets"] = sets(map[string]any{"int64Value": "5", "labels": map[string]string{"a": "1"}}, map[string]any{"int64Value": "6", "labels": map[string]string{"a": "2"}})
	}))
	if ok.StatusCode != 200 || len(e.ledger(t)) != 2 {
		t.Fatalf("values with different labels: %d", ok.StatusCode)
	}
}

// operationId dedup (contract §4.4.8): a retry is a no-op, a reuse with
// other content is refused (or ignored, by configuration).
func TestReport_Dedup(t *testing.T) {
	tests := []struct {
		name     string
		policy   DuplicatePolicy
		conflict int64
	}{
		{"reject", DuplicateReject, 3},
		{"ignore", DuplicateIgnore, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ConflictingDuplicate = tt.policy })
			first := usageOp("op-1", consumerA, hour0, 7)
			for range 2 {
				if resp, err := e.report(t, first); err != nil || len(resp.ReportErrors) != 0 {
					t.Fatalf("report: %v %s", err, mustJSON(resp))
				}
			}
			// Same content, written differently (an offset instead of Z).
			same := usageOp("op-1", consumerA, hour0, 7)
			same.StartTime = "2026-12-01T11:00:00+01:00"
			if resp, err := e.report(t, same); err != nil || len(resp.ReportErrors) != 0 {
				t.Fatalf("same operation re-encoded: %v %s", err, mustJSON(resp))
			}
			resp, err := e.report(t, usageOp("op-1", consumerA, hour0, 8))
			if err != nil {
				t.Fatal(err)
			}
			if got := codeOf(resp); got != tt.conflict {
				t.Fatalf("conflicting reuse: code %d, want %d", got, tt.conflict)
			}
			if entries := e.ledger(t); len(entries) != 1 || entries[0].Quantity != 7 {
				t.Fatalf("ledger %s", mustJSON(entries))
			}
		})
	}
}

func codeOf(resp *sc.ReportResponse) int64 {
	if len(resp.ReportErrors) == 0 {
		return 0
	}
	return resp.ReportErrors[0].Status.Code
}

// The seller's crash-retry cases: an injected 429/503 records nothing; a
// lost answer records the report, and the retry with the same operationId
// records nothing more.
func TestReport_FaultsAndRetries(t *testing.T) {
	e := newEnv(t)
	op := usageOp("op-1", consumerA, hour0, 3)
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		if err := e.s.FailNext(1, status); err != nil {
			t.Fatal(err)
		}
		_, err := e.report(t, op)
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != status {
			t.Fatalf("injected %d: %v", status, err)
		}
		if n := len(e.ledger(t)); n != 0 {
			t.Fatalf("a refused call recorded %d entries", n)
		}
	}
	e.s.LoseNextAnswers(1)
	if _, err := e.report(t, op); err == nil {
		t.Fatal("lost answer: the client got one")
	}
	if n := len(e.ledger(t)); n != 1 {
		t.Fatalf("lost answer: %d entries, want the report applied", n)
	}
	if resp, err := e.report(t, op); err != nil || len(resp.ReportErrors) != 0 {
		t.Fatalf("retry: %v %s", err, mustJSON(resp))
	}
	if n := len(e.ledger(t)); n != 1 {
		t.Fatalf("retry recorded again: %d entries", n)
	}
	if err := e.s.FailNext(1, http.StatusTeapot); err == nil {
		t.Fatal("FailNext accepted 418")
	}
}

// Dedup holds across a restart on the same ledger file.
func TestReport_DedupAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servicecontrol.db")
	e := newEnv(t, func(c *Config) { c.LedgerPath = path })
	op := usageOp("op-1", consumerA, hour0, 3)
	if _, err := e.report(t, op); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	if resp, err := e.report(t, op); err != nil || len(resp.ReportErrors) != 0 {
		t.Fatalf("retry after restart: %v", err)
	}
	resp, err := e.report(t, usageOp("op-1", consumerA, hour0, 4))
	if err != nil || codeOf(resp) != 3 {
		t.Fatalf("conflict after restart: %v %s", err, mustJSON(resp))
	}
	if entries := e.ledger(t); len(entries) != 1 || entries[0].Quantity != 3 {
		t.Fatalf("ledger %s", mustJSON(entries))
	}
}

// Late reports and overlapping intervals are recorded and flagged: Google
// would bill them; a correct seller sends neither.
func TestReport_LateAndOverlapFlags(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(hour0.Add(3 * time.Hour)) // the 10:00 hour ended 2 h ago
	if _, err := e.report(t, usageOp("op-late", consumerA, hour0, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.report(t, usageOp("op-on-time", consumerA, hour0.Add(time.Hour+15*time.Minute), 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.report(t, usageOp("op-overlap", consumerA, hour0.Add(30*time.Minute), 1)); err != nil {
		t.Fatal(err)
	}
	entries := e.ledger(t)
	if len(entries) != 3 {
		t.Fatalf("ledger %s", mustJSON(entries))
	}
	if !entries[0].Late || entries[1].Late || len(entries[0].Overlaps) != 0 {
		t.Fatalf("late flags %s", mustJSON(entries))
	}
	if got := strings.Join(entries[2].Overlaps, ","); got != "op-late,op-on-time" {
		t.Fatalf("overlaps %q, want op-late,op-on-time", got)
	}
	inv, err := e.s.Invoice(t.Context(), "acct-1", "2026-12")
	if err != nil || inv.LateEntries != 2 || inv.OverlapEntries != 1 {
		t.Fatalf("invoice flags %+v, %v", inv, err)
	}
}

// Usage after the end is recorded and flagged when so configured.
func TestReport_AfterEndRecorded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.UsageAfterEnd = AfterEndRecord })
	resp, err := e.report(t, usageOp("op-1", consumerEnd, hour0.Add(time.Hour), 1))
	if err != nil || len(resp.ReportErrors) != 0 {
		t.Fatalf("%v %s", err, mustJSON(resp))
	}
	if entries := e.ledger(t); len(entries) != 1 || !entries[0].AfterEnd {
		t.Fatalf("ledger %s", mustJSON(entries))
	}
}

// A consumer lookup failing is the emulator's fault: 500, nothing recorded.
func TestReport_ConsumersFailing(t *testing.T) {
	e := newEnv(t)
	e.consumers.err = errors.New("market unavailable")
	_, err := e.report(t, usageOp("op-1", consumerA, hour0, 1))
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 500 {
		t.Fatalf("%v, want a 500", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Concurrent retries of one operation record it once.
func TestReport_ConcurrentRetries(t *testing.T) {
	e := newEnv(t)
	op := usageOp("op-1", consumerA, hour0, 9)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			resp, err := e.report(t, op)
			if err == nil && len(resp.ReportErrors) != 0 {
				err = errors.New(mustJSON(resp.ReportErrors))
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if entries := e.ledger(t); len(entries) != 1 {
		t.Fatalf("%d entries, want 1", len(entries))
	}
}
