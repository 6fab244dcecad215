package azuremp

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// pacer records its waits and answers err.
type pacer struct {
	mu    sync.Mutex
	waits int
	err   error
}

func (p *pacer) Wait(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waits++
	return p.err
}

// TestPace_EveryAttemptWaits: each attempt, retries included, waits for
// the seller's quota first; a wait that fails sends nothing.
func TestPace_EveryAttemptWaits(t *testing.T) {
	n := 0
	f, c, _, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write(sample(t, "subscription.json"))
	})
	p := &pacer{}
	c.Pace(p)
	if _, err := c.Subscription(ctx, testSubID); err != nil {
		t.Fatal(err)
	}
	if p.waits != 2 || len(f.seen()) != 2 {
		t.Errorf("%d waits for %d attempts, want 2 and 2", p.waits, len(f.seen()))
	}
	p.err = context.DeadlineExceeded
	if _, err := c.Subscription(ctx, testSubID); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v, want ErrUnavailable wrapping the wait's error", err)
	}
	if len(f.seen()) != 2 || p.waits != 3 {
		t.Errorf("%d waits, %d calls: want one failed wait and no call", p.waits, len(f.seen()))
	}
}

// TestAttemptTimeout_BoundsAHungCall: an answer that never comes ends the
// attempt: a hung call must not hold a metering worker for good.
func TestAttemptTimeout_BoundsAHungCall(t *testing.T) {
	release := make(chan struct{})
	f, c, waits, _ := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		<-release // answers only when the test ends, whatever the client does
	}, func(c *Config) { c.AttemptTimeout, c.MaxAttempts = 200*time.Millisecond, 2 })
	defer close(release)
	_, err := c.BatchUsage(ctx, []UsageEvent{{ResourceID: testSubID, PlanID: "p", Dimension: "d", Quantity: Int(1), EffectiveStart: time.Now()}})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want ErrUnavailable after the attempt's deadline", err)
	}
	if len(f.seen()) != 2 || !slices.Equal(*waits, []time.Duration{time.Second}) {
		t.Errorf("%d attempts, waits %v; want 2 attempts, the batch being safe to repeat", len(f.seen()), *waits)
	}
}

// TestContextCancelled_StopsRetrying: a caller that gives up is not kept
// waiting for the next attempt.
func TestContextCancelled_StopsRetrying(t *testing.T) {
	f, c, _, _ := newFake(t, reply(500, nil))
	cctx, cancel := context.WithCancel(ctx)
	c.sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return sleepCtx(ctx, time.Hour) }
	_, err := c.Subscription(cctx, testSubID)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) || len(f.seen()) != 1 {
		t.Errorf("%v after %d attempts, want one attempt and the cancellation", err, len(f.seen()))
	}
}
