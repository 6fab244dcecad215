package money_test

import (
	"math"
	"testing"

	"github.com/marketbridge/marketbridge/internal/money"
)

// Every value an amount can take is written as AWS writes it, negative ones
// (a refund-like carried delta) and the extremes included (#11, item 3).
func TestMicros_String(t *testing.T) {
	for _, tc := range []struct {
		in   money.Micros
		want string
	}{
		{0, "$0.00"},
		{1, "$0.00"},
		{-1, "$0.00"}, // rounds toward zero, and zero has no sign
		{9_999, "$0.00"},
		{10_000, "$0.01"},
		{-10_000, "-$0.01"},
		{-19_999, "-$0.01"},
		{990_000, "$0.99"},
		{1_000_000, "$1.00"},
		{999_990_000, "$999.99"},
		{999_999_999, "$999.99"},
		{1_000_000_000, "$1,000.00"},
		{-1_000_000_000, "-$1,000.00"},
		{7_500_000_000, "$7,500.00"},
		{999_999_990_000, "$999,999.99"},
		{1_000_000_000_000, "$1,000,000.00"},
		{-98_283_696_215_550_000, "-$98,283,696,215.55"}, // the amount the billing page once showed as $-98283696215.-55
		{math.MaxInt64, "$9,223,372,036,854.77"},
		{math.MinInt64, "-$9,223,372,036,854.77"},
		{math.MinInt64 + 1, "-$9,223,372,036,854.77"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Micros(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestCents_String(t *testing.T) {
	for _, tc := range []struct {
		in   money.Cents
		want string
	}{
		{0, "$0.00"},
		{1, "$0.01"},
		{-1, "-$0.01"},
		{99, "$0.99"},
		{-99, "-$0.99"},
		{100, "$1.00"},
		{-100, "-$1.00"},
		{-101, "-$1.01"},
		{99_999, "$999.99"},
		{100_000, "$1,000.00"},
		{-100_000, "-$1,000.00"},
		{99_999_999, "$999,999.99"},
		{100_000_000, "$1,000,000.00"},
		{-100_000_001, "-$1,000,000.01"},
		{99_999_999_999, "$999,999,999.99"},
		{100_000_000_000, "$1,000,000,000.00"},
		{math.MaxInt64, "$92,233,720,368,547,758.07"},
		{math.MinInt64, "-$92,233,720,368,547,758.08"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Cents(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestDollars_String(t *testing.T) {
	for _, tc := range []struct {
		in   money.Dollars
		want string
	}{
		{0, "$0.00"},
		{1, "$1.00"},
		{-1, "-$1.00"},
		{999, "$999.00"},
		{1_000, "$1,000.00"},
		{-1_000, "-$1,000.00"},
		{7_500, "$7,500.00"},
		{999_999, "$999,999.00"},
		{1_000_000, "$1,000,000.00"},
		{math.MaxInt64, "$9,223,372,036,854,775,807.00"},
		{math.MinInt64, "-$9,223,372,036,854,775,808.00"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Dollars(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestGrouped(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{-1, "-1"},
		{999, "999"},
		{1_000, "1,000"},
		{-1_000, "-1,000"},
		{999_999, "999,999"},
		{1_000_000, "1,000,000"},
		{math.MaxInt64, "9,223,372,036,854,775,807"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	} {
		if got := money.Grouped(tc.in); got != tc.want {
			t.Errorf("Grouped(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The one rounding rule: toward zero.
func TestMicros_Cents(t *testing.T) {
	for _, tc := range []struct {
		in   money.Micros
		want money.Cents
	}{
		{0, 0}, {9_999, 0}, {10_000, 1}, {-9_999, 0}, {-10_000, -1}, {-10_001, -1},
		{math.MaxInt64, 922_337_203_685_477}, {math.MinInt64, -922_337_203_685_477},
	} {
		if got := tc.in.Cents(); got != tc.want {
			t.Errorf("Micros(%d).Cents() = %d, want %d", int64(tc.in), got, tc.want)
		}
	}
}
