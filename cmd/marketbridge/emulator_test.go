package main

import (
	"context"
	"io"
	"testing"

	"github.com/marketbridge/marketbridge/internal/config"
	"github.com/marketbridge/marketbridge/internal/emulator"
)

// TestEmulatorFlags_ThrottleRateZeroIsOff_13: --throttle-rate 0 is
// documented as off, and used to become 10 a second with a burst of 1.
func TestEmulatorFlags_ThrottleRateZeroIsOff_13(t *testing.T) {
	cases := []struct {
		name          string
		rate          string
		wantThrottled bool
	}{
		{"0 turns throttling off", "0", false},
		{"a rate throttles a burst beyond it", "1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.NewCommand("emulator", "", "")
			var o emulatorOptions
			o.bind(c)
			if err := c.Parse([]string{"--throttle-rate", tc.rate, "--data", t.TempDir()}, func(string) string { return "" }, io.Discard); err != nil {
				t.Fatal(err)
			}
			emu, err := emulator.New(context.Background(), o.config(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { emu.Close() })
			throttled := 0
			for range 100 {
				if !emu.Market().Allow(o.sellerAccountID, "BatchMeterUsage") {
					throttled++
				}
			}
			if got := throttled > 0; got != tc.wantThrottled {
				t.Fatalf("%d of 100 back-to-back calls throttled, want throttling %v", throttled, tc.wantThrottled)
			}
		})
	}
}
