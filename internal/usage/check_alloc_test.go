package usage

import (
	"encoding/json"
	"testing"
	"time"
)

// TestCheck_ValidEventAllocatesNothing: check runs once per event on the
// request's goroutine; a list of problems is made only for an event that
// has some.
func TestCheck_ValidEventAllocatesNothing(t *testing.T) {
	now := time.Date(2026, 5, 10, 14, 0, 0, 0, time.UTC)
	c := checker{meters: oneMeter{}, now: now, maxAge: time.Hour, maxFuture: time.Minute}
	in := Input{SpecVersion: "1.0", ID: "4f1c2d3e", Source: "//product.example.com/eu-west-1", Type: "api-calls",
		Subject: "svc-1", Time: "2026-05-10T13:45:00.123Z", Data: json.RawMessage(`{"quantity":12.5}`)}
	var ev Event
	if err := c.check(1, &in, &ev); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.check(1, &in, &ev) }); n != 0 {
		t.Errorf("check of a valid event: %v allocations, want 0", n)
	}
	bad := in
	bad.ID, bad.Source = "", ""
	if err := c.check(1, &bad, &ev); err == nil {
		t.Error("check of an event without id and source: no error")
	}
}
