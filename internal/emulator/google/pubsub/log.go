package pubsub

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is where a message is in its delivery.
type State string

// The states of a message.
const (
	// StatePending: not acked yet; delivered at NextAttemptAt.
	StatePending State = "pending"
	// StateAcked: the endpoint acknowledged it.
	StateAcked State = "acked"
	// StateDeadLettered: it used up MaxAttempts without an ack.
	StateDeadLettered State = "dead_lettered"
	// StateExpired: the retention ended before an ack.
	StateExpired State = "expired"
)

// Delivery is the delivery log's record of one message.
type Delivery struct {
	EventID     string    `json:"eventId"`
	MessageID   string    `json:"messageId"`
	PublishTime time.Time `json:"publishTime"`
	State       State     `json:"state"`
	// Attempts counts push requests made, duplicates included.
	Attempts int `json:"attempts"`
	// LastStatus is the HTTP status of the last request, 0 when it got no
	// answer (LastError says why).
	LastStatus    int        `json:"lastStatus,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	LastAttemptAt *time.Time `json:"lastAttemptAt,omitempty"`
	// NextAttemptAt is when a pending message goes out next.
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	AckedAt       *time.Time `json:"ackedAt,omitempty"`
	// FinishedAt is when it was acked, dead-lettered or expired.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Held says the Reorder fault holds it until a later message went out.
	Held bool `json:"held,omitempty"`
	// Payload is the message data when it is JSON (it always is for
	// Marketplace events).
	Payload json.RawMessage `json:"payload,omitempty"`
}

// entry is a message's delivery state.
type entry struct {
	ev        Event
	messageID string
	state     State
	attempts  int // push requests made
	failures  int // nacks in a row, for the backoff and the dead-letter policy
	status    int
	err       string
	lastAt    time.Time
	nextAt    time.Time
	ackedAt   time.Time
	doneAt    time.Time
	expireAt  time.Time
	seq       int // publish order
	held      bool
	wasHeld   bool // the Reorder fault holds a message at most once
	dupDue    bool // the Duplicate fault owes it a second request
	reported  bool // Source.Delivered succeeded
}

func (e *entry) delivery() Delivery {
	d := Delivery{
		EventID: e.ev.ID, MessageID: e.messageID, PublishTime: e.ev.PublishTime, State: e.state,
		Attempts: e.attempts, LastStatus: e.status, LastError: e.err, Held: e.held,
		LastAttemptAt: timePtr(e.lastAt), AckedAt: timePtr(e.ackedAt), FinishedAt: timePtr(e.doneAt),
	}
	if e.state == StatePending {
		d.NextAttemptAt = timePtr(e.nextAt)
	}
	if json.Valid(e.ev.Data) {
		d.Payload = json.RawMessage(e.ev.Data)
	}
	return d
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Log returns the delivery log in publish order.
func (s *Subscription) Log() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.order))
	for _, e := range s.order {
		out = append(out, e.delivery())
	}
	return out
}

// Lookup returns the delivery log's record of one event.
func (s *Subscription) Lookup(eventID string) (Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[eventID]
	if !ok {
		return Delivery{}, false
	}
	return e.delivery(), true
}

// ErrUnknownEvent means the delivery log has no such event.
var ErrUnknownEvent = errors.New("pubsub: no such event in the delivery log")

// Redeliver makes a dead-lettered, expired or pending message due now with
// a fresh attempt budget: the emulator's stand-in for replaying a
// dead-letter topic or seeking the subscription back. An acked message is
// delivered again too, as a duplicate would be.
func (s *Subscription) Redeliver(eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[eventID]
	if !ok {
		return fmt.Errorf("redeliver %q: %w", eventID, ErrUnknownEvent)
	}
	now := s.now()
	// The market may already have been told the subscription is done with
	// it; from here on the log alone keeps the event, which is all a
	// redelivery needs. A replay gets a fresh retention period.
	e.state, e.failures, e.nextAt, e.doneAt, e.ackedAt = StatePending, 0, now, time.Time{}, time.Time{}
	e.expireAt = later(e.expireAt, now.Add(s.cfg.Retention))
	s.Notify()
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
