package market

import (
	"context"
	"sort"
)

// Outbox is what the pubsub package drains: events in the order they
// happened, and the record of their delivery.
type Outbox interface {
	PendingEvents(ctx context.Context, limit int) ([]Delivery, error)
	MarkDelivered(ctx context.Context, eventID string) error
	MarkFailed(ctx context.Context, eventID string, reason string) error
}

var _ Outbox = (*Market)(nil)

func (m *Market) addEvent(tx *txn, ev Event) {
	m.seq++
	ev.EventID = m.newUUID()
	ev.ProviderID = m.provider
	d := &Delivery{Seq: m.seq, Event: ev, CreatedAt: m.now()}
	m.outbox[ev.EventID] = d
	tx.put(kindEvent, ev.EventID, d)
}

func (m *Market) accountEvent(tx *txn, typ string, a *Account) {
	m.addEvent(tx, Event{EventType: typ, Account: &EventAccount{ID: a.ID, UpdateTime: rfc3339(a.UpdateTime)}})
}

func (m *Market) entEvent(tx *txn, typ string, e *Entitlement) {
	ee := &EventEntitlement{ID: e.ID, UpdateTime: rfc3339(e.UpdateTime),
		NewOfferStartTime: rfc3339(e.NewOfferStartTime), NewOfferEndTime: rfc3339(e.NewOfferEndTime)}
	if typ == "ENTITLEMENT_PLAN_CHANGE_REQUESTED" {
		ee.NewPlan = e.NewPendingPlan
	}
	if typ == "ENTITLEMENT_PLAN_CHANGED" {
		ee.NewPlan = e.Plan
	}
	if typ == "ENTITLEMENT_OFFER_ACCEPTED" || typ == "ENTITLEMENT_CREATION_REQUESTED" {
		ee.NewOfferDuration = e.OfferDuration
	}
	m.addEvent(tx, Event{EventType: typ, Entitlement: ee})
}

// PendingEvents lists up to limit undelivered events, oldest first
// (limit <= 0: all).
func (m *Market) PendingEvents(ctx context.Context, limit int) ([]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Delivery
	for _, d := range m.outbox {
		if !d.Delivered {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Events lists every event with its delivery record, oldest first.
func (m *Market) Events() []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Delivery, 0, len(m.outbox))
	for _, d := range m.outbox {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// MarkDelivered records the subscriber's acknowledgement.
func (m *Market) MarkDelivered(ctx context.Context, eventID string) error {
	return m.update(ctx, func(tx *txn) error {
		d, ok := m.outbox[eventID]
		if !ok {
			return Errorf(NotFound, "no event %s", eventID)
		}
		d.Delivered, d.DeliveredAt = true, m.now()
		d.Attempts++
		tx.put(kindEvent, eventID, d)
		return nil
	})
}

// MarkFailed records a failed attempt; the event stays pending.
func (m *Market) MarkFailed(ctx context.Context, eventID, reason string) error {
	return m.update(ctx, func(tx *txn) error {
		d, ok := m.outbox[eventID]
		if !ok {
			return Errorf(NotFound, "no event %s", eventID)
		}
		d.Attempts++
		d.LastError = reason
		tx.put(kindEvent, eventID, d)
		return nil
	})
}
