package clock

import (
	"testing"
	"time"
)

func TestScaled(t *testing.T) {
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		speed     float64
		elapsed   time.Duration // real time since the clock was made
		wantNow   time.Time
		wantAhead time.Duration
		// A real duration and the same span of this clock.
		real, onClock time.Duration
	}{
		{"real time at speed 1", 1, 90 * time.Minute, start.Add(90 * time.Minute), 0, time.Minute, time.Minute},
		{"at the start, whatever the speed", 60, 0, start, 0, time.Second, time.Minute},
		{"a real minute is an hour at 60x", 60, time.Minute, start.Add(time.Hour), 59 * time.Minute, time.Second, time.Minute},
		{"a day in 24 real minutes at 60x", 60, 24 * time.Minute, start.Add(24 * time.Hour), 23*time.Hour + 36*time.Minute, time.Minute, time.Hour},
		{"a real second is an hour at 3600x", 3600, 3 * time.Second, start.Add(3 * time.Hour), 3*time.Hour - 3*time.Second, time.Second, time.Hour},
		{"below 1 is real time, never backwards", 0.5, time.Hour, start.Add(time.Hour), 0, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			c := NewScaled(tt.speed, func() time.Time { return now })
			now = now.Add(tt.elapsed)
			if got := c.Now(); !got.Equal(tt.wantNow) {
				t.Errorf("Now() = %s after %s, want %s", got, tt.elapsed, tt.wantNow)
			}
			if got := c.Ahead(); got != tt.wantAhead {
				t.Errorf("Ahead() = %s after %s, want %s", got, tt.elapsed, tt.wantAhead)
			}
			if got := c.FromReal(tt.real); got != tt.onClock {
				t.Errorf("FromReal(%s) = %s, want %s", tt.real, got, tt.onClock)
			}
			if got := c.ToReal(tt.onClock); got != tt.real {
				t.Errorf("ToReal(%s) = %s, want %s", tt.onClock, got, tt.real)
			}
		})
	}
}
