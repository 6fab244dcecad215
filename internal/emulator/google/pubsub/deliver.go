package pubsub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// acked reports whether a push response status acknowledges the message
// (contract §3.4). Other 2xx codes, 203 included, are nacks.
func acked(status int) bool {
	switch status {
	case http.StatusProcessing, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
		return true
	}
	return false
}

// Run delivers until ctx ends: it asks the Source for new events every
// Poll (or when Notify is called) and sends each message when it is due.
func (s *Subscription) Run(ctx context.Context) {
	for {
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("pubsub push step", "subscription", s.cfg.Subscription, "err", err)
		}
		wait := s.cfg.Poll
		if next, ok := s.nextDue(); ok {
			wait = min(wait, max(next.Sub(s.now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// DeliverDue is one step of Run: it takes new events from the Source,
// expires old ones, then sends every message due now, one request at a
// time, and returns how many requests it made. Each message goes out at
// most once per step (plus its copy under the Duplicate fault), so a step
// ends even when the endpoint fails fast. The error is the Source's; push
// failures are not errors but entries in the delivery log.
func (s *Subscription) DeliverDue(ctx context.Context) (int, error) {
	s.step.Lock()
	defer s.step.Unlock()
	syncErr := s.sync(ctx)
	tried := map[*entry]bool{}
	n := 0
	for ctx.Err() == nil {
		e, dup := s.pick(tried)
		if e == nil {
			break
		}
		tried[e] = true
		s.attempt(ctx, e, dup)
		n++
	}
	return n, errors.Join(syncErr, s.report(ctx))
}

// sync adds the Source's new events to the log, expires messages past
// retention and forgets finished ones the market has been told about once
// their retention is over too.
func (s *Subscription) sync(ctx context.Context) error {
	events, err := s.src.Pending(ctx, s.cfg.MaxOutstanding)
	if err != nil {
		err = fmt.Errorf("pubsub: list pending events: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, ev := range events {
		if ev.ID == "" || s.entries[ev.ID] != nil {
			continue
		}
		if ev.PublishTime.IsZero() {
			ev.PublishTime = now
		}
		ev.PublishTime = ev.PublishTime.UTC()
		ev.Data = bytes.Clone(ev.Data)
		e := &entry{ev: ev, messageID: messageIDFor(ev.ID), state: StatePending, nextAt: now,
			expireAt: ev.PublishTime.Add(s.cfg.Retention), seq: len(s.order)}
		if len(s.order) > 0 {
			e.seq = s.order[len(s.order)-1].seq + 1
		}
		s.entries[ev.ID] = e
		s.order = append(s.order, e)
	}
	kept := s.order[:0]
	for _, e := range s.order {
		if e.state == StatePending && !now.Before(e.expireAt) {
			s.finish(e, StateExpired, now)
		}
		if e.state != StatePending && e.reported && !now.Before(e.doneAt.Add(s.cfg.Retention)) {
			delete(s.entries, e.ev.ID)
			continue
		}
		kept = append(kept, e)
	}
	clear(s.order[len(kept):])
	s.order = kept
	return err
}

// finish ends a message's delivery; the caller holds s.mu.
func (s *Subscription) finish(e *entry, st State, now time.Time) {
	e.state, e.doneAt, e.dupDue = st, now, false
	if s.held == e {
		s.held, e.held = nil, false
	}
}

// pick chooses the next request: a copy owed by the Duplicate fault first,
// then the oldest due message not tried in this step. The Reorder fault
// holds the first fresh message back until a later one was sent (or
// ReorderHold passed).
func (s *Subscription) pick(tried map[*entry]bool) (e *entry, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Paused {
		return nil, false
	}
	for _, e := range s.order {
		if e.dupDue {
			return e, true
		}
	}
	now := s.now()
	for _, e := range s.order {
		if e.state != StatePending || tried[e] || now.Before(e.nextAt) {
			continue
		}
		if s.faults.Reorder && s.held == nil && !e.wasHeld && e.attempts == 0 {
			e.held, e.wasHeld, e.nextAt = true, true, now.Add(s.cfg.ReorderHold)
			s.held = e
			continue
		}
		if s.held == e { // held long enough: nothing came after it
			s.held, e.held = nil, false
		}
		return e, false
	}
	return nil, false
}

// attempt sends one push request for e and records the outcome.
func (s *Subscription) attempt(ctx context.Context, e *entry, dup bool) {
	s.mu.Lock()
	ev, messageID, deliveryAttempt := e.ev, e.messageID, 0
	if s.cfg.MaxAttempts > 0 {
		deliveryAttempt = e.attempts + 1
	}
	s.mu.Unlock()

	status, err := s.push(ctx, ev, messageID, deliveryAttempt)
	if ctx.Err() != nil {
		return // shutting down: the attempt does not count
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err != nil && status == 0 && errors.Is(err, errNotSent) {
		// The emulator could not build the request; the endpoint saw
		// nothing, so the attempt budget is left alone.
		e.err, e.nextAt = err.Error(), now.Add(s.cfg.MinBackoff)
		return
	}
	e.attempts++
	e.lastAt, e.status, e.err = now, status, ""
	if err != nil {
		e.err = err.Error()
	}
	s.release(e, now)
	if dup {
		e.dupDue = false
		return
	}
	if e.state != StatePending {
		return // redelivered concurrently with a finish; nothing to change
	}
	if acked(status) {
		e.ackedAt, e.failures = now, 0
		s.finish(e, StateAcked, now)
		e.dupDue = s.faults.Duplicate
		return
	}
	e.failures++
	if s.cfg.MaxAttempts > 0 && e.failures >= s.cfg.MaxAttempts {
		s.finish(e, StateDeadLettered, now)
		s.log.Info("pubsub message dead-lettered", "subscription", s.cfg.Subscription, "event", ev.ID, "message_id", messageID, "attempts", e.attempts)
		return
	}
	e.nextAt = now.Add(s.backoff(e.failures))
}

// release lets the Reorder fault's held message go once a later message
// was sent; the caller holds s.mu.
func (s *Subscription) release(sent *entry, now time.Time) {
	if h := s.held; h != nil && sent.seq > h.seq {
		s.held, h.held, h.nextAt = nil, false, now
	}
}

// backoff is the wait after the n-th nack in a row: MinBackoff doubling up
// to MaxBackoff, without jitter so that tests can step the clock exactly.
func (s *Subscription) backoff(n int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

var errNotSent = errors.New("push request not sent")

// push POSTs one envelope and returns the response status.
func (s *Subscription) push(ctx context.Context, ev Event, messageID string, deliveryAttempt int) (int, error) {
	token, err := s.signer.PushToken(s.cfg.Audience, s.cfg.ServiceAccount)
	if err != nil {
		return 0, fmt.Errorf("%w: sign push token: %w", errNotSent, err)
	}
	body, err := encodeEnvelope(s.cfg.Subscription, messageID, ev.Data, ev.PublishTime, deliveryAttempt)
	if err != nil {
		return 0, fmt.Errorf("%w: encode envelope: %w", errNotSent, err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.AckDeadline)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: build request: %w", errNotSent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, fmt.Errorf("no response within the ack deadline (%s)", s.cfg.AckDeadline)
		}
		return 0, fmt.Errorf("push to %s: %w", s.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the body so the connection can be reused.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil && !acked(resp.StatusCode) {
		return resp.StatusCode, fmt.Errorf("read push response: %w", err)
	}
	if !acked(resp.StatusCode) {
		return resp.StatusCode, fmt.Errorf("push endpoint answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// nextDue is when Run should look again: the earliest retry or hold end.
func (s *Subscription) nextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.Paused {
		return time.Time{}, false
	}
	var next time.Time
	for _, e := range s.order {
		if e.dupDue {
			return s.now(), true
		}
		if e.state == StatePending && (next.IsZero() || e.nextAt.Before(next)) {
			next = e.nextAt
		}
	}
	return next, !next.IsZero()
}

// report tells the Source about finished messages it has not heard of.
func (s *Subscription) report(ctx context.Context) error {
	s.mu.Lock()
	var ids []string
	for _, e := range s.order {
		if e.state != StatePending && !e.reported {
			ids = append(ids, e.ev.ID)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := s.src.Delivered(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("pubsub: mark event %s delivered: %w", id, err))
			continue
		}
		s.mu.Lock()
		if e := s.entries[id]; e != nil {
			e.reported = true
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}
