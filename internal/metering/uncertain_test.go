package metering_test

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/marketbridge/marketbridge/internal/metering"
)

// TestUncertain_HidesWhatTheLastAttemptSaid: a call that failed after an
// attempt which may have reached the marketplace is neither throttled,
// refused, out of the window nor never sent, whatever its last attempt's
// error wraps (R10), and keeps that error's text for the operator.
func TestUncertain_HidesWhatTheLastAttemptSaid(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	last := fmt.Errorf("%w %w %w %w", metering.ErrThrottled, metering.ErrRejected, metering.ErrTimestampOutOfBounds, dial)
	if !metering.NeverSent(last) || !errors.Is(last, metering.ErrThrottled) {
		t.Fatal("the last attempt's error does not read as the test needs")
	}
	err := metering.Uncertain(last)
	for _, kind := range []error{metering.ErrThrottled, metering.ErrRejected, metering.ErrTimestampOutOfBounds} {
		if errors.Is(err, kind) {
			t.Errorf("Uncertain(...) is %v", kind)
		}
	}
	if metering.NeverSent(err) {
		t.Error("Uncertain(...) reads as never sent")
	}
	if err.Error() != last.Error() {
		t.Errorf("text %q, want %q", err, last)
	}
}
