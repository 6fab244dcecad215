package web

import (
	"bytes"
	"html/template"
	"math"
	"testing"
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
