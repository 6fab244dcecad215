package web

import (
	"bytes"
	"html/template"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// Every amount a page can show is written as AWS writes it, with thousands
// separators, for negative values (a refund-like carried delta) and the
// extremes too: the billing page once showed $-98283696215.-55 (#11, item 3).
func TestTemplates_MoneyForEveryValue(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		in   int64
		want string
	}{
		{`{{dollars .}}`, 7_500_000_000, "$7,500.00"},
		{`{{dollars .}}`, -98_283_696_215_550_000, "-$98,283,696,215.55"},
		{`{{dollars .}}`, -1, "$0.00"},
		{`{{dollars .}}`, math.MinInt64, "-$9,223,372,036,854.77"},
		{`{{dollars .}}`, math.MaxInt64, "$9,223,372,036,854.77"},
		{`{{cents .}}`, 750_000, "$7,500.00"},
		{`{{cents .}}`, -55, "-$0.55"},
		{`{{cents .}}`, -100_000, "-$1,000.00"},
		{`{{cents .}}`, math.MinInt64, "-$92,233,720,368,547,758.08"},
	} {
		var buf bytes.Buffer
		if err := template.Must(template.New("").Funcs(funcs).Parse(tc.tmpl)).Execute(&buf, tc.in); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("%s of %d = %q, want %q", tc.tmpl, tc.in, buf.String(), tc.want)
		}
	}
}

// The usage chart draws every day it can be given: bars never taller than
// the chart nor below zero, whatever the amounts (#11, item 3).
func TestBarChart_EveryValue(t *testing.T) {
	day := func(micros int64) metering.Day {
		return metering.Day{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Micros: micros}
	}
	for _, tc := range []struct {
		name  string
		days  []metering.Day
		wantH []int
	}{
		{"none", nil, nil},
		{"zero", []metering.Day{day(0)}, []int{0}},
		{"half of the highest", []metering.Day{day(500_000), day(1_000_000)}, []int{55, 110}},
		{"a refund-like day", []metering.Day{day(-5_000_000), day(1_000_000)}, []int{0, 110}},
		{"only below zero", []metering.Day{day(-1), day(math.MinInt64)}, []int{0, 0}},
		{"the largest amounts", []metering.Day{day(math.MaxInt64), day(math.MaxInt64 / 2), day(math.MinInt64)}, []int{110, 55, 0}},
	} {
		c := barChart(tc.days)
		var got []int
		for _, b := range c.Bars {
			if b.Y+b.H != c.Height {
				t.Errorf("%s: a bar from %d of height %d does not stand on the axis", tc.name, b.Y, b.H)
			}
			got = append(got, b.H)
		}
		if !slices.Equal(got, tc.wantH) {
			t.Errorf("%s: bar heights %v, want %v", tc.name, got, tc.wantH)
		}
	}
}
