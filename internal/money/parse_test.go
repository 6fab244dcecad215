package money

import (
	"strings"
	"testing"
)

func TestParseMicros(t *testing.T) {
	cases := []struct {
		in   string
		want Micros
		ok   bool
	}{
		{"12000", 12_000_000_000, true},
		{"12000.00", 12_000_000_000, true},
		{"0.0125", 12_500, true},
		{"0.000001", 1, true},
		{"-3.5", -3_500_000, true},
		{"9223372036854", 9_223_372_036_854_000_000, true},
		{"9223372036855", 0, false}, // past int64 micro-units
		{"0.0000001", 0, false},     // a seventh place would be rounded
		{"", 0, false},
		{"-", 0, false},
		{".5", 0, false},
		{"5.", 0, false},
		{"+5", 0, false},
		{"1e3", 0, false},
		{"1,000", 0, false},
		{" 1", 0, false},
		{"--1", 0, false},
		{"1.2.3", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseMicros(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMicros_ExactAndInCurrency(t *testing.T) {
	cases := []struct {
		m               Micros
		code            string
		exact, currency string
	}{
		{12_000_000_000, "USD", "12,000.00", "$12,000.00"},
		{12_500, "USD", "0.0125", "$0.0125"},
		{1, "", "0.000001", "$0.000001"},
		{-3_500_000, "USD", "-3.50", "-$3.50"},
		{1_234_560_000, "EUR", "1,234.56", "1,234.56 EUR"},
		{0, "USD", "0.00", "$0.00"},
	}
	for _, tc := range cases {
		if got := tc.m.Exact(); got != tc.exact {
			t.Errorf("Micros(%d).Exact() = %q, want %q", tc.m, got, tc.exact)
		}
		if got := tc.m.InCurrency(tc.code); got != tc.currency {
			t.Errorf("Micros(%d).InCurrency(%q) = %q, want %q", tc.m, tc.code, got, tc.currency)
		}
	}
}

// Whatever a marketplace sends as an amount is either read exactly (it
// prints back to the same number) or refused.
func FuzzParseMicros(f *testing.F) {
	for _, s := range []string{"12000", "0.0125", "-3.50", "9223372036854.775807", "1e3", "", "-0", "007.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMicros(s)
		if err != nil {
			return
		}
		back, err := ParseMicros(strings.ReplaceAll(m.Exact(), ",", ""))
		if err != nil || back != m {
			t.Fatalf("%q read as %d, printed as %q, read back as %d", s, m, m.Exact(), back)
		}
	})
}
