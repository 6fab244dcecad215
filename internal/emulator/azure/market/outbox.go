package market

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryRejected  = "rejected" // a 4xx answer to an action that waits for the seller
	DeliveryFailed    = "failed"   // gave up after the last attempt
)

// Delivery is one webhook call in the durable outbox: a restart resumes it.
type Delivery struct {
	ID          string    `json:"id"`
	Seq         int64     `json:"seq"`
	OperationID string    `json:"operation_id"`
	Action      string    `json:"action"`
	PublisherID string    `json:"publisher_id"`
	TenantID    string    `json:"tenant_id"` // the publisher's tenant: the token's tid
	Audience    string    `json:"audience"`  // the publisher's app id: the token's aud
	URL         string    `json:"url"`
	Body        string    `json:"body"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	NextAt      time.Time `json:"next_at"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
}

// notify enqueues the webhook of an operation with the subscription as it
// is now. Without a webhook URL nothing is sent, and an operation waiting
// for an ACK starts its AckWindow at once.
func (m *Market) notify(tx *txn, op *Operation, s *Subscription) {
	p := m.publishers[s.PublisherID]
	if p == nil || p.WebhookURL == "" {
		if op.NeedsAck && op.Status == OpInProgress {
			op.DueAt = m.now().Add(m.cfg.AckWindow)
			tx.put(kindOperation, op.ID, op)
		}
		return
	}
	body, err := json.Marshal(WebhookPayload{OperationWire: m.wireOperation(op), Subscription: m.wireSubscription(s)})
	if err != nil {
		tx.err = fmt.Errorf("encode webhook of operation %s: %w", op.ID, err)
		return
	}
	n := 1
	if m.cfg.DuplicateWebhooks {
		n = 2
	}
	now := m.now()
	for range n {
		d := &Delivery{ID: m.uuid(), Seq: m.nextSeq(), OperationID: op.ID, Action: op.Action, PublisherID: p.ID,
			TenantID: p.TenantID, Audience: p.AppID, URL: p.WebhookURL, Body: string(body),
			Status: DeliveryPending, NextAt: now, CreatedAt: now}
		m.deliveries[d.ID] = d
		m.outbox[d.ID] = d
		tx.put(kindDelivery, d.ID, d)
	}
	m.signalWake()
}

// DueDeliveries returns up to limit pending webhooks whose time has come,
// oldest first.
func (m *Market) DueDeliveries(limit int) []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Delivery
	for _, d := range m.outbox {
		if !now.Before(d.NextAt) {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// NextDeliveryAt is when the next pending webhook is due.
func (m *Market) NextDeliveryAt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, d := range m.outbox {
		if next.IsZero() || d.NextAt.Before(next) {
			next = d.NextAt
		}
	}
	return next, !next.IsZero()
}

// DeliveryResult records an attempt: status is the HTTP answer (0 when the
// call failed with attemptErr). A 2xx delivers; for an action that waits
// for the seller, it starts the AckWindow and a 4xx rejects the operation.
// Anything else is retried with doubling delays up to WebhookMaxAttempts;
// giving up fails an operation still waiting.
func (m *Market) DeliveryResult(ctx context.Context, id string, status int, attemptErr error) error {
	return m.update(ctx, func(tx *txn) error {
		d, ok := m.deliveries[id]
		if !ok || d.Status != DeliveryPending {
			return nil // reset or already settled
		}
		now := m.now()
		d.Attempts++
		d.LastStatus = status
		d.LastError = ""
		if attemptErr != nil {
			d.LastError = attemptErr.Error()
		}
		op := m.operations[d.OperationID]
		waiting := op != nil && op.NeedsAck && op.Status == OpInProgress
		switch {
		case status >= 200 && status <= 299:
			d.Status, d.DeliveredAt = DeliveryDelivered, now
			if waiting && op.DueAt.IsZero() {
				op.DueAt = now.Add(m.cfg.AckWindow)
				tx.put(kindOperation, op.ID, op)
			}
		case status >= 400 && status <= 499 && waiting:
			d.Status, d.DeliveredAt = DeliveryRejected, now
			m.fail(tx, op, fmt.Sprint(status), "The publisher rejected the webhook")
		case d.Attempts >= m.cfg.WebhookMaxAttempts:
			d.Status = DeliveryFailed
			if waiting {
				m.fail(tx, op, fmt.Sprint(status), "The publisher did not accept the webhook")
			}
		default:
			delay := m.cfg.WebhookRetryInitial
			for i := 1; i < d.Attempts && delay < m.cfg.WebhookRetryMax; i++ {
				delay *= 2
			}
			d.NextAt = now.Add(min(delay, m.cfg.WebhookRetryMax))
		}
		if d.Status != DeliveryPending {
			delete(m.outbox, d.ID)
		}
		tx.put(kindDelivery, d.ID, d)
		return nil
	})
}

// Deliveries lists the outbox, oldest first (control API).
func (m *Market) Deliveries() []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Delivery, 0, len(m.deliveries))
	for _, d := range m.deliveries {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}
