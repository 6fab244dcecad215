package pubsub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Faults are the delivery faults the emulator can inject, to exercise the
// seller's handling of §3.3's at-least-once, unordered delivery.
type Faults struct {
	// Duplicate sends every acked message a second time, right after the
	// ack, with the same messageId.
	Duplicate bool `json:"duplicate"`
	// Reorder holds each fresh message back until the one after it was
	// sent (or ReorderHold passed), so pairs arrive swapped.
	Reorder bool `json:"reorder"`
	// Paused stops all requests; messages wait (and may expire).
	Paused bool `json:"paused"`
}

// Faults returns the faults in force.
func (s *Subscription) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults in force. Turning Reorder off lets a held
// message go at once.
func (s *Subscription) SetFaults(f Faults) {
	s.mu.Lock()
	if !f.Reorder && s.held != nil {
		h := s.held
		s.held, h.held, h.nextAt = nil, false, s.now()
	}
	s.faults = f
	s.mu.Unlock()
	s.Notify()
}

// maxFaultsBody bounds a faults document; the real one is a few dozen bytes.
const maxFaultsBody = 4 << 10

// decodeFaults parses a faults document strictly: one JSON object with only
// the known keys, so that a misspelt fault is an error rather than silently
// off.
func decodeFaults(r io.Reader) (Faults, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxFaultsBody+1))
	if err != nil {
		return Faults{}, fmt.Errorf("read faults: %w", err)
	}
	if len(raw) > maxFaultsBody {
		return Faults{}, fmt.Errorf("faults document over %d bytes", maxFaultsBody)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f Faults
	if err := dec.Decode(&f); err != nil {
		return Faults{}, fmt.Errorf("faults: want {\"duplicate\":bool,\"reorder\":bool,\"paused\":bool}: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Faults{}, errors.New("faults: trailing data after the JSON object")
	}
	return f, nil
}
