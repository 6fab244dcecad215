package web

import (
	"net/url"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/metering"
)

// FuzzUsageReportQuery feeds any query string to the usage report's
// parser: it never panics, accepts only what the report can answer
// (aligned ends, from before to, within the bounds), and every refusal
// names the fields at fault.
func FuzzUsageReportQuery(f *testing.F) {
	for _, q := range []string{
		"from=2026-11-23T09:00:00Z&to=2026-11-23T12:00:00Z",
		"from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&granularity=day",
		"from=2026-11-23T09:30:00Z&to=2026-11-23T09:00:00Z&granularity=hour",
		"from=2026-11-23T09:00:00%2B01:00&to=2026-11-24T00:00:00Z&granularity=week",
		"from=&to=x",
		"from=2026-11-23T09:00:00Z&from=2026-11-23T10:00:00Z",
		"granularity=day&from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z",
		"%zz",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // the server answers 400 before the handler
		}
		q, err := parseUsageQuery(7, v)
		if err != nil {
			if fault.KindOf(err) != fault.KindInvalid || len(fault.Fields(err)) == 0 {
				t.Fatalf("%q: refused without naming a field: %v", raw, err)
			}
			return
		}
		g := time.Hour
		max := time.Duration(metering.MaxReportHours) * time.Hour
		if q.Granularity == metering.GranularityDay {
			g, max = 24*time.Hour, time.Duration(metering.MaxReportDays)*24*time.Hour
		} else if q.Granularity != metering.GranularityHour {
			t.Fatalf("%q: accepted granularity %q", raw, q.Granularity)
		}
		if !q.From.Before(q.To) || q.To.Sub(q.From) > max || !q.From.Truncate(g).Equal(q.From) || !q.To.Truncate(g).Equal(q.To) ||
			q.From.Location() != time.UTC || q.OrgID != 7 {
			t.Fatalf("%q: accepted %+v", raw, q)
		}
	})
}

// Every field's error comes back at once.
func TestUsageReportQuery_EveryFieldErrorAtOnce(t *testing.T) {
	for _, tc := range []struct {
		query  string
		fields []string
	}{
		{"", []string{"from", "to"}},
		{"from=yesterday&to=2026-11-23T09:30:00Z&granularity=week", []string{"from", "to", "granularity"}},
		{"from=2026-11-23T09:30:00Z&to=2026-11-23T09:15:00Z", []string{"from", "to"}},
		{"from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z", []string{"to"}},
		{"from=2026-11-01T00:00:00Z&to=2026-12-02T01:00:00Z", []string{"to"}},
		{"from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&granularity=day", nil},
		{"from=2026-11-23T09:00:00%2B01:00&to=2026-11-23T10:00:00Z", nil}, // 08:00 UTC: aligned
	} {
		v, _ := url.ParseQuery(tc.query)
		_, err := parseUsageQuery(1, v)
		got := fault.Fields(err)
		if len(got) != len(tc.fields) {
			t.Errorf("%q: field errors %v, want %v", tc.query, got, tc.fields)
			continue
		}
		for _, f := range tc.fields {
			if got[f] == "" {
				t.Errorf("%q: no error for %s: %v", tc.query, f, got)
			}
		}
	}
}
