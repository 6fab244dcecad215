package clock

import "time"

// Scaled is real time sped up: from the moment it is made it runs speed times
// as fast as real time. On time.Now it measures elapsed time with the
// monotonic clock, so it does not run backwards when the wall clock is set
// back.
type Scaled struct {
	real  func() time.Time
	start time.Time
	speed float64
}

// NewScaled starts a clock at real's present that runs speed times as fast
// as real from then on. A speed below 1 is taken as 1: a slower clock would
// have to run backwards to stay behind real time.
func NewScaled(speed float64, real func() time.Time) *Scaled {
	return &Scaled{real: real, start: real(), speed: max(speed, 1)}
}

// Now is the time on this clock.
func (c *Scaled) Now() time.Time {
	now := c.real()
	return now.Add(c.ahead(now))
}

// Ahead is how far this clock has run ahead of real time.
func (c *Scaled) Ahead() time.Duration { return c.ahead(c.real()) }

func (c *Scaled) ahead(now time.Time) time.Duration {
	return time.Duration(float64(now.Sub(c.start)) * (c.speed - 1))
}

// Speed is how many seconds pass on this clock in a real second.
func (c *Scaled) Speed() float64 { return c.speed }

// ToReal is how long d on this clock lasts in real time.
func (c *Scaled) ToReal(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// FromReal is how much of this clock passes in d of real time.
func (c *Scaled) FromReal(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.speed)
}
