package market

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"golang.org/x/time/rate"
)

// Fault kinds.
const (
	FaultInternalError = "internal_error" // answer 500 without doing anything
	FaultDropResponse  = "drop_response"  // do the work, commit it, then close the connection unanswered
	FaultDelay         = "delay"          // wait DelayMillis before handling
	FaultThrottle      = "throttle"       // answer 429 with Retry-After
)

// Fault scopes besides an operation name.
const (
	ScopeFulfillment = "fulfillment"
	ScopeMetering    = "metering"
)

// Operations are the API operation names a fault may target (the spec's
// operationIds), with the API each belongs to.
var Operations = map[string]string{
	"resolve": ScopeFulfillment, "activate": ScopeFulfillment, "listSubscriptions": ScopeFulfillment,
	"getSubscription": ScopeFulfillment, "listAvailablePlans": ScopeFulfillment, "updateSubscription": ScopeFulfillment,
	"deleteSubscription": ScopeFulfillment, "listOperations": ScopeFulfillment, "getOperation": ScopeFulfillment,
	"updateOperation": ScopeFulfillment,
	"usageEvent":      ScopeMetering, "batchUsageEvent": ScopeMetering, "getUsageEvents": ScopeMetering,
}

// Fault is an injected failure for the next Count matching calls (all
// calls when Count is zero), removed when used up.
type Fault struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Scope       string    `json:"scope,omitempty"` // fulfillment, metering, an operation name; all when empty
	Count       int       `json:"count"`
	Remaining   int       `json:"remaining"`
	DelayMillis int64     `json:"delay_ms,omitempty"`
	RetryAfter  int       `json:"retry_after,omitempty"` // seconds, for throttle (1 when zero)
	CreatedAt   time.Time `json:"created_at"`
}

// FaultInput injects a fault.
type FaultInput struct {
	Kind        string `json:"kind"`
	Scope       string `json:"scope,omitempty"`
	Count       int    `json:"count,omitempty"`
	DelayMillis int64  `json:"delay_ms,omitempty"`
	RetryAfter  int    `json:"retry_after,omitempty"`
}

// Validate reports every field error at once.
func (in *FaultInput) Validate() error {
	var errs []error
	switch in.Kind {
	case FaultInternalError, FaultDropResponse, FaultDelay, FaultThrottle:
	default:
		errs = append(errs, fmt.Errorf("kind %q: want internal_error, drop_response, delay or throttle", in.Kind))
	}
	if _, ok := Operations[in.Scope]; !ok && in.Scope != "" && in.Scope != ScopeFulfillment && in.Scope != ScopeMetering {
		errs = append(errs, fmt.Errorf("scope %q: want fulfillment, metering or an operation name (resolve, activate, batchUsageEvent...)", in.Scope))
	}
	if in.Count < 0 || in.DelayMillis < 0 || in.RetryAfter < 0 {
		errs = append(errs, errors.New("count, delay_ms and retry_after must not be negative"))
	}
	if in.Kind == FaultDelay && in.DelayMillis == 0 {
		errs = append(errs, errors.New("delay_ms is required for delay"))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Code: CodeBadArgument, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// AddFault injects a fault.
func (m *Market) AddFault(ctx context.Context, in FaultInput) (Fault, error) {
	if err := in.Validate(); err != nil {
		return Fault{}, err
	}
	var out Fault
	err := m.update(ctx, func(tx *txn) error {
		f := &Fault{ID: "fault-" + m.uuid()[:8], Kind: in.Kind, Scope: in.Scope, Count: in.Count, Remaining: in.Count,
			DelayMillis: in.DelayMillis, RetryAfter: in.RetryAfter, CreatedAt: m.now()}
		m.faults[f.ID] = f
		tx.put(kindFault, f.ID, f)
		out = *f
		return nil
	})
	return out, err
}

// Faults lists active faults, oldest first.
func (m *Market) Faults() []Fault {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Fault, 0, len(m.faults))
	for _, f := range m.faults {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID
	})
	return out
}

// RemoveFault removes one fault, or all when id is empty.
func (m *Market) RemoveFault(ctx context.Context, id string) error {
	return m.update(ctx, func(tx *txn) error {
		if _, ok := m.faults[id]; id != "" && !ok {
			return notFoundf("id", "no fault %s", id)
		}
		for fid := range m.faults {
			if id == "" || fid == id {
				delete(m.faults, fid)
				tx.del(kindFault, fid)
			}
		}
		return nil
	})
}

func (m *Market) consumeFault(tx *txn, kind, op string) *Fault {
	var found *Fault
	for _, f := range m.faults {
		if f.Kind != kind || (f.Scope != "" && f.Scope != op && f.Scope != Operations[op]) {
			continue
		}
		if found == nil || f.CreatedAt.Before(found.CreatedAt) || f.CreatedAt.Equal(found.CreatedAt) && f.ID < found.ID {
			found = f
		}
	}
	if found == nil {
		return nil
	}
	used := *found
	if found.Count > 0 {
		found.Remaining--
		if found.Remaining <= 0 {
			delete(m.faults, found.ID)
			tx.del(kindFault, found.ID)
		} else {
			tx.put(kindFault, found.ID, found)
		}
	}
	return &used
}

// APIFaults are the faults that apply to one call.
type APIFaults struct {
	Delay         time.Duration
	Throttle      time.Duration // Retry-After; zero when not throttled
	InternalError bool
	DropResponse  bool
}

// TakeFaults consumes one use of each kind of fault that applies to op.
func (m *Market) TakeFaults(ctx context.Context, op string) (APIFaults, error) {
	var out APIFaults
	err := m.update(ctx, func(tx *txn) error {
		if f := m.consumeFault(tx, FaultDelay, op); f != nil {
			out.Delay = time.Duration(f.DelayMillis) * time.Millisecond
		}
		if f := m.consumeFault(tx, FaultThrottle, op); f != nil {
			out.Throttle = time.Duration(max(1, f.RetryAfter)) * time.Second
			return nil
		}
		if out.InternalError = m.consumeFault(tx, FaultInternalError, op) != nil; out.InternalError {
			return nil
		}
		out.DropResponse = m.consumeFault(tx, FaultDropResponse, op) != nil
		return nil
	})
	return out, err
}

// Allow is the throttle: a token bucket per publisher, on real time because
// that is what a client's Retry-After wait runs on. It returns how long to
// wait when the call is refused (whole seconds, at least 1).
func (m *Market) Allow(publisherID string) (bool, time.Duration) {
	m.mu.Lock()
	if m.cfg.ThrottleRate <= 0 {
		m.mu.Unlock()
		return true, 0
	}
	l, ok := m.limiters[publisherID]
	if !ok {
		l = rate.NewLimiter(rate.Limit(m.cfg.ThrottleRate), m.cfg.ThrottleBurst)
		m.limiters[publisherID] = l
	}
	m.mu.Unlock()
	now := m.real()
	if l.AllowN(now, 1) {
		return true, 0
	}
	r := l.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, time.Duration(math.Ceil(max(wait.Seconds(), 1))) * time.Second
}
