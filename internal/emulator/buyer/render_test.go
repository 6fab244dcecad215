package buyer

import (
	"math"
	"testing"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// The emulator writes every price and total the way AWS does, for every
// value, negative ones and the extremes included (#11, item 3).
func TestDollars_EveryValue(t *testing.T) {
	for _, tc := range []struct {
		in   market.Micros
		want string
	}{
		{0, "$0.00"},
		{1, "$0.000001"},
		{-1, "-$0.000001"},
		{2_500, "$0.0025"},
		{10_000, "$0.01"},
		{-500_000, "-$0.50"},
		{999_000_000, "$999.00"},
		{1_000_000_000, "$1,000.00"},
		{-1_000_000_000, "-$1,000.00"},
		{999_999_000_000, "$999,999.00"},
		{1_000_000_000_000, "$1,000,000.00"},
		{math.MaxInt64, "$9,223,372,036,854.775807"},
		{math.MinInt64, "-$9,223,372,036,854.775808"},
	} {
		if got := dollars(tc.in); got != tc.want {
			t.Errorf("dollars(%d) = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

// A contract's total is price times quantity without wrapping.
func TestTimes_DoesNotWrap(t *testing.T) {
	for _, tc := range []struct {
		price market.Micros
		qty   int64
		want  string
	}{
		{1_000_000, 7_500, "$7,500.00"},
		{1_000_000, math.MaxInt64, "$9,223,372,036,854,775,807.00"},
		{math.MaxInt64, 2, "$18,446,744,073,709.551614"},
		{-1_000_000, 1_000, "-$1,000.00"},
	} {
		if got := times(tc.price, tc.qty); got != tc.want {
			t.Errorf("times(%d, %d) = %q, want %q", tc.price, tc.qty, got, tc.want)
		}
	}
}
