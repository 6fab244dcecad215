package api

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func FuzzParseActivate(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"planId":"gold","quantity":3}`, `{"planId":"gold","quantity":"3"}`, `{"quantity":null}`, `{"quantity":1e400}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, q, err := parseActivate(b)
		if err == nil && q != nil && *q < 0 {
			t.Fatalf("negative quantity %d from %q", *q, b)
		}
	})
}

func FuzzParseChange(f *testing.F) {
	for _, s := range []string{`{"planId":"gold"}`, `{"quantity":5}`, `{"planId":"gold","quantity":5}`, `{"planId":""}`, `{"quantity":"x"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseChange(b)
		if err == nil && in.Quantity != nil && *in.Quantity < 0 {
			t.Fatalf("negative quantity from %q", b)
		}
	})
}

func FuzzParseAck(f *testing.F) {
	for _, s := range []string{`{"status":"Success"}`, `{"status":"Failure"}`, `{"status":7}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { parseAck(b) }) //nolint:errcheck // no panic is the property
}

// FuzzUsage runs arbitrary single and batch bodies through the parsers and
// the market's checks: no panic, one result per item, and an accepted
// event's quantity is positive and exact.
func FuzzUsage(f *testing.F) {
	for _, s := range []string{
		`{"resourceId":"00000000-0000-4000-8000-000000000001","quantity":5.0,"dimension":"emails","effectiveStartTime":"2026-03-10T12:00:00Z","planId":"flat"}`,
		`{"request":[{"resourceId":"00000000-0000-4000-8000-000000000001","quantity":"1","dimension":"emails","effectiveStartTime":"2026-03-10T11:00","planId":"flat"},7,null]}`,
		`{"request":[]}`, `{"quantity":-1e-7}`, `{"quantity":{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	m, err := market.Open(context.Background(), market.Config{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, _, err := parseUsageEvent(b); err == nil {
			check(t, m, []market.UsageInput{in})
		}
		if ins, _, err := parseBatch(b); err == nil {
			if len(ins) == 0 || len(ins) > maxBatch {
				t.Fatalf("batch of %d accepted", len(ins))
			}
			check(t, m, ins)
		}
	})
}

func check(t *testing.T, m *market.Market, ins []market.UsageInput) {
	res, err := m.RecordUsage(context.Background(), "contoso", ins)
	if err != nil || len(res) != len(ins) {
		t.Fatalf("%d results for %d events: %v", len(res), len(ins), err)
	}
	for _, r := range res {
		if r.Status == market.UsageAccepted && r.Event.Quantity.Millionths <= 0 {
			t.Fatalf("accepted %+v", r.Event)
		}
	}
}

func FuzzParseUsageQuery(f *testing.F) {
	for _, s := range []string{"usageStartDate=2020-12-03", "usageStartDate=2020-12-03T15:00&UsageEndDate=2020-12-04&reconStatus=Accepted",
		"usageStartDate=x", "", "usageStartDate=2020-12-03&azureSubscriptionId=nope"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		out, err := parseUsageQuery(q, now)
		if err == nil && !out.filter.From.Before(out.filter.To) {
			t.Fatalf("empty range accepted from %q", raw)
		}
	})
}
