package servicecontrol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The request bodies as the Go client sends them (discovery document
// servicecontrol/v1, revision 20261015). Fields Marketplace usage does not
// use are left out, and so ignored as unknown fields.
type wireCheckRequest struct {
	Operation       *wireOperation `json:"operation"`
	ServiceConfigID string         `json:"serviceConfigId"`
}

type wireReportRequest struct {
	Operations      []wireOperation `json:"operations"`
	ServiceConfigID string          `json:"serviceConfigId"`
}

type wireOperation struct {
	OperationID     string               `json:"operationId"`
	OperationName   string               `json:"operationName"`
	ConsumerID      string               `json:"consumerId"`
	StartTime       *string              `json:"startTime"`
	EndTime         *string              `json:"endTime"`
	MetricValueSets []wireMetricValueSet `json:"metricValueSets"`
	UserLabels      map[string]string    `json:"userLabels"`
	Labels          map[string]string    `json:"labels"`
}

type wireMetricValueSet struct {
	MetricName   string            `json:"metricName"`
	MetricValues []wireMetricValue `json:"metricValues"`
}

type wireMetricValue struct {
	Int64Value        json.RawMessage   `json:"int64Value"`
	DoubleValue       json.RawMessage   `json:"doubleValue"`
	BoolValue         json.RawMessage   `json:"boolValue"`
	StringValue       json.RawMessage   `json:"stringValue"`
	MoneyValue        json.RawMessage   `json:"moneyValue"`
	DistributionValue json.RawMessage   `json:"distributionValue"`
	StartTime         *string           `json:"startTime"`
	EndTime           *string           `json:"endTime"`
	Labels            map[string]string `json:"labels"`
}

// operation is a decoded, validated Operation.
type operation struct {
	ID         string            `json:"id"`
	ConsumerID string            `json:"consumerId"`
	Start      time.Time         `json:"start"` // zero when absent (check)
	End        time.Time         `json:"end"`
	Sets       []metricSet       `json:"sets"`
	UserLabels map[string]string `json:"userLabels,omitempty"`
}

type metricSet struct {
	Metric string        `json:"metric"`
	Values []metricValue `json:"values"`
}

// metricValue is one value; Kind says which of the oneof fields was set.
// Only int64 values are billable.
type metricValue struct {
	Kind   string            `json:"kind"`
	Int64  int64             `json:"int64,omitempty"`
	Start  time.Time         `json:"start"` // the operation's when not given
	End    time.Time         `json:"end"`
	Labels map[string]string `json:"labels,omitempty"`
}

// decodeJSON reads exactly one JSON object.
func decodeJSON(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return invalidArgument("Invalid JSON payload received. " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidArgument("Invalid JSON payload received. Unexpected data after the request object.")
	}
	return nil
}

// decodeReport decodes and validates a ReportRequest. Anything malformed
// fails the whole request with 400 INVALID_ARGUMENT, as Google's front end
// does before any operation is looked at; per-operation outcomes (unknown
// consumer or metric, duplicates) are the handler's.
func decodeReport(body []byte) ([]operation, *apiError) {
	var req wireReportRequest
	if e := decodeJSON(body, &req); e != nil {
		return nil, e
	}
	if len(req.Operations) == 0 {
		return nil, invalidArgument("Request contains an invalid argument: 'operations' must not be empty.")
	}
	ops := make([]operation, 0, len(req.Operations))
	for i := range req.Operations {
		op, e := req.Operations[i].decode(fmt.Sprintf("operations[%d]", i), true)
		if e != nil {
			return nil, e
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// decodeCheck decodes and validates a CheckRequest; times are optional.
func decodeCheck(body []byte) (operation, *apiError) {
	var req wireCheckRequest
	if e := decodeJSON(body, &req); e != nil {
		return operation{}, e
	}
	if req.Operation == nil {
		return operation{}, invalidArgument("Request contains an invalid argument: 'operation' is required.")
	}
	return req.Operation.decode("operation", false)
}

func (w *wireOperation) decode(at string, report bool) (operation, *apiError) {
	op := operation{ID: w.OperationID, ConsumerID: w.ConsumerID, UserLabels: w.UserLabels}
	if op.ID == "" && report {
		return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.operation_id' is required.", at))
	}
	if len(op.ID) > 256 {
		return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.operation_id' is longer than 256 characters.", at))
	}
	if op.ConsumerID == "" {
		return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.consumer_id' is required.", at))
	}
	var e *apiError
	if op.Start, e = parseTime(w.StartTime, at+".start_time"); e != nil {
		return op, e
	}
	if op.End, e = parseTime(w.EndTime, at+".end_time"); e != nil {
		return op, e
	}
	if report && (op.Start.IsZero() || op.End.IsZero()) {
		return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s' needs start_time and end_time in a report.", at))
	}
	if !op.Start.IsZero() && !op.End.IsZero() && !op.Start.Before(op.End) {
		return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.start_time' (%s) must be before end_time (%s).", at, op.Start.Format(time.RFC3339Nano), op.End.Format(time.RFC3339Nano)))
	}
	// Google rejects the whole request when one operation holds two values
	// of the same metric with identical labels (D2, MetricValueSet).
	seen := map[string]bool{}
	for i, ws := range w.MetricValueSets {
		sat := fmt.Sprintf("%s.metric_value_sets[%d]", at, i)
		if ws.MetricName == "" {
			return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.metric_name' is required.", sat))
		}
		set := metricSet{Metric: ws.MetricName}
		for j, wv := range ws.MetricValues {
			vat := fmt.Sprintf("%s.metric_values[%d]", sat, j)
			v, e := wv.decode(vat, op.Start, op.End)
			if e != nil {
				return op, e
			}
			key := ws.MetricName + "\x00" + labelKey(v.Labels)
			if seen[key] {
				return op, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s' duplicates a value of metric %s with identical labels.", vat, ws.MetricName))
			}
			seen[key] = true
			set.Values = append(set.Values, v)
		}
		op.Sets = append(op.Sets, set)
	}
	return op, nil
}

func (w *wireMetricValue) decode(at string, opStart, opEnd time.Time) (metricValue, *apiError) {
	v := metricValue{Labels: w.Labels}
	set := 0
	for kind, raw := range map[string]json.RawMessage{
		"int64": w.Int64Value, "double": w.DoubleValue, "bool": w.BoolValue, "string": w.StringValue,
		"money": w.MoneyValue, "distribution": w.DistributionValue,
	} {
		if len(raw) > 0 && string(raw) != "null" {
			set++
			v.Kind = kind
		}
	}
	if set != 1 {
		return v, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s' must set exactly one value field, found %d.", at, set))
	}
	if v.Kind == "int64" {
		// proto3 JSON writes int64 as a string; the Go client always does.
		var s string
		if err := json.Unmarshal(w.Int64Value, &s); err != nil {
			return v, invalidArgument(fmt.Sprintf("Invalid value at '%s.int64_value' (TYPE_INT64), %s: int64 values are JSON strings.", at, w.Int64Value))
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return v, invalidArgument(fmt.Sprintf("Invalid value at '%s.int64_value' (TYPE_INT64), %q", at, s))
		}
		v.Int64 = n
	}
	var e *apiError
	if v.Start, e = parseTime(w.StartTime, at+".start_time"); e != nil {
		return v, e
	}
	if v.End, e = parseTime(w.EndTime, at+".end_time"); e != nil {
		return v, e
	}
	if v.Start.IsZero() {
		v.Start = opStart
	}
	if v.End.IsZero() {
		v.End = opEnd
	}
	if !v.Start.IsZero() && !v.End.IsZero() && !v.Start.Before(v.End) {
		return v, invalidArgument(fmt.Sprintf("Request contains an invalid argument: '%s.start_time' must be before end_time.", at))
	}
	return v, nil
}

// parseTime reads an RFC 3339 timestamp; nil is absent (zero time).
func parseTime(s *string, at string) (time.Time, *apiError) {
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, invalidArgument(fmt.Sprintf("Invalid value at '%s' (type.googleapis.com/google.protobuf.Timestamp), %q", at, *s))
	}
	return t.UTC(), nil
}

// labelKey is a canonical form of a label map.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}
