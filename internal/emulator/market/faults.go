package market

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/time/rate"
)

// Fault kinds.
const (
	FaultThrottle              = "throttle"               // ThrottlingException
	FaultInternalError         = "internal_error"         // 500 InternalServiceErrorException
	FaultUnprocessedRecords    = "unprocessed_records"    // BatchMeterUsage leaves records unprocessed
	FaultSlow                  = "slow"                   // the response waits DelayMillis first
	FaultEmptyPage             = "empty_page"             // GetEntitlements answers an empty page with a NextToken
	FaultDropNotification      = "drop_notification"      // a notification is lost
	FaultDuplicateNotification = "duplicate_notification" // a notification is delivered twice
)

// Fault is an injected failure. It applies to Count requests or
// notifications (forever when Count is zero) and then removes itself.
type Fault struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Operation   string    `json:"operation,omitempty"` // an AWS API operation name (ResolveCustomer, GetEntitlements, DescribeAgreement...); all when empty
	Channel     string    `json:"channel,omitempty"`   // sns or eventbridge for notification faults; both when empty
	Count       int       `json:"count"`
	Remaining   int       `json:"remaining"`
	DelayMillis int64     `json:"delay_ms,omitempty"`
	Records     int       `json:"records,omitempty"` // unprocessed_records: how many of the last records; all when zero
	CreatedAt   time.Time `json:"created_at"`
}

// FaultInput injects a fault.
type FaultInput struct {
	Kind        string `json:"kind"`
	Operation   string `json:"operation,omitempty"`
	Channel     string `json:"channel,omitempty"`
	Count       int    `json:"count,omitempty"`
	DelayMillis int64  `json:"delay_ms,omitempty"`
	Records     int    `json:"records,omitempty"`
}

// Validate reports every field error at once.
func (in *FaultInput) Validate() error {
	var errs []error
	switch in.Kind {
	case FaultThrottle, FaultInternalError, FaultUnprocessedRecords, FaultSlow, FaultEmptyPage,
		FaultDropNotification, FaultDuplicateNotification:
	default:
		errs = append(errs, fmt.Errorf("kind %q: want throttle, internal_error, unprocessed_records, slow, empty_page, drop_notification or duplicate_notification", in.Kind))
	}
	switch in.Operation {
	case "", "ResolveCustomer", "BatchMeterUsage", "GetEntitlements", "DescribeAgreement", "GetAgreementTerms", "SearchAgreements":
	default:
		errs = append(errs, fmt.Errorf("operation %q: want ResolveCustomer, BatchMeterUsage, GetEntitlements, DescribeAgreement, GetAgreementTerms or SearchAgreements", in.Operation))
	}
	switch in.Channel {
	case "", ChannelSNS, ChannelEventBridge:
	default:
		errs = append(errs, fmt.Errorf("channel %q: want sns or eventbridge", in.Channel))
	}
	if in.Count < 0 || in.DelayMillis < 0 || in.Records < 0 {
		errs = append(errs, errors.New("count, delay_ms and records must not be negative"))
	}
	if in.Kind == FaultSlow && in.DelayMillis == 0 {
		errs = append(errs, errors.New("delay_ms is required for slow"))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Message: errors.Join(errs...).Error()}
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
		f := &Fault{ID: "fault-" + m.randomString(lowerAlnum, 10), Kind: in.Kind, Operation: in.Operation, Channel: in.Channel,
			Count: in.Count, Remaining: in.Count, DelayMillis: in.DelayMillis, Records: in.Records, CreatedAt: m.now()}
		m.faults[f.ID] = f
		tx.put(kindFault, f.ID, f)
		out = *f
		return nil
	})
	return out, err
}

// Faults lists active faults in the order they were added.
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
		if id != "" {
			if _, ok := m.faults[id]; !ok {
				return errorf(KindNotFound, "no fault %s", id)
			}
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

// consumeFault takes one use of the oldest fault of kind matching scope
// (an operation or a channel).
func (m *Market) consumeFault(tx *txn, kind, scope string) *Fault {
	var found *Fault
	for _, f := range m.faults {
		if f.Kind != kind || (f.Operation != "" && f.Operation != scope) || (f.Channel != "" && f.Channel != scope) {
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

// APIFaults are the faults that apply to one API request.
type APIFaults struct {
	Delay         time.Duration
	Throttle      bool
	InternalError bool
	Unprocessed   int // BatchMeterUsage: leave this many last records unprocessed; -1 for all
	EmptyPage     bool
}

// TakeAPIFaults consumes one use of each kind of fault that applies to op.
func (m *Market) TakeAPIFaults(ctx context.Context, op string) (APIFaults, error) {
	var out APIFaults
	err := m.update(ctx, func(tx *txn) error {
		if f := m.consumeFault(tx, FaultSlow, op); f != nil {
			out.Delay = time.Duration(f.DelayMillis) * time.Millisecond
		}
		out.Throttle = m.consumeFault(tx, FaultThrottle, op) != nil
		if out.Throttle {
			return nil
		}
		out.InternalError = m.consumeFault(tx, FaultInternalError, op) != nil
		if out.InternalError {
			return nil
		}
		if op == "BatchMeterUsage" {
			if f := m.consumeFault(tx, FaultUnprocessedRecords, op); f != nil {
				out.Unprocessed = -1
				if f.Records > 0 {
					out.Unprocessed = f.Records
				}
			}
		}
		if op == "GetEntitlements" {
			out.EmptyPage = m.consumeFault(tx, FaultEmptyPage, op) != nil
		}
		return nil
	})
	return out, err
}

// Allow is the throttle: a token bucket per seller account and operation, on
// real time because that is what an SDK's retry backoff waits in.
func (m *Market) Allow(sellerAccountID, op string) bool {
	if m.cfg.ThrottleOff {
		return true
	}
	m.mu.Lock()
	key := sellerAccountID + "|" + op
	l, ok := m.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Limit(m.cfg.ThrottleRate), m.cfg.ThrottleBurst)
		m.limiters[key] = l
	}
	m.mu.Unlock()
	return l.AllowN(m.real(), 1)
}

// AdvanceClock moves the emulator's clock forward and applies what became due.
func (m *Market) AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, errorf(KindInvalid, "the clock only moves forward; got %s", d)
	}
	var now time.Time
	err := m.update(ctx, func(tx *txn) error {
		m.offset += d
		tx.put(kindClock, "clock", clockState{OffsetNanos: int64(m.offset)})
		now = m.now()
		return m.tick(tx)
	})
	return now, err
}

// SetClock moves the emulator's clock forward to t.
func (m *Market) SetClock(ctx context.Context, t time.Time) (time.Time, error) {
	return m.AdvanceClock(ctx, t.Sub(m.Now()))
}

// ClockOffset is how far the emulator's clock is ahead of real time.
func (m *Market) ClockOffset() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offset
}
