package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// event is an EventBridge event as delivered to an API destination.
type event struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     any      `json:"detail"`
}

type idRef struct {
	ID string `json:"id"`
}

type accountRef struct {
	AccountID string `json:"accountId"`
}

type agreementDetail struct {
	RequestID           string          `json:"requestId"`
	Catalog             string          `json:"catalog"`
	Agreement           agreementFields `json:"agreement"`
	ResaleAuthorization *idRef          `json:"resaleAuthorization"`
	Acceptor            accountRef      `json:"acceptor"`
	Proposer            accountRef      `json:"proposer"`
	Offer               idRef           `json:"offer"`
}

type agreementFields struct {
	ID             string `json:"id"`
	Intent         string `json:"intent,omitempty"`
	Status         string `json:"status"`
	AcceptanceTime string `json:"acceptanceTime"`
	StartTime      string `json:"startTime"`
	EndTime        string `json:"endTime,omitempty"`
}

type licenseDetail struct {
	RequestID string     `json:"requestId"`
	Catalog   string     `json:"catalog"`
	Agreement idRef      `json:"agreement"`
	Product   productRef `json:"product"`
	License   arnRef     `json:"license"`
	Acceptor  accountRef `json:"acceptor"`
	Proposer  accountRef `json:"proposer"`
	Offer     idRef      `json:"offer"`
}

type productRef struct {
	Code string `json:"code"`
	ID   string `json:"id"`
}

type arnRef struct {
	Arn string `json:"arn"`
}

func eventTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Purchase agreement events, without their audience suffix.
const (
	eventAgreementCreated = "Purchase Agreement Created"
	eventAgreementAmended = "Purchase Agreement Amended"
	eventAgreementEnded   = "Purchase Agreement Ended"
)

// emitAgreementEvent sends an agreement event to the seller in both of its
// roles: AWS addresses agreement events to the manufacturer (the product's
// owner) and to the proposer (who made the offer). The emulator has no
// resellers, so the seller is always both and gets two events, with their
// own event ids, about the same agreement and change.
func (m *Market) emitAgreementEvent(tx *txn, a *Agreement, event, intent, status string) {
	f := agreementFields{ID: a.ID, Intent: intent, Status: status, AcceptanceTime: eventTime(a.CreatedAt), StartTime: eventTime(a.StartAt)}
	if a.EndAt != nil {
		f.EndTime = eventTime(*a.EndAt)
	}
	detail := agreementDetail{
		RequestID: m.uuid(), Catalog: "AWSMarketplace", Agreement: f,
		Acceptor: accountRef{a.AccountID}, Proposer: accountRef{a.SellerAccountID}, Offer: idRef{a.OfferID},
	}
	m.emitEvent(tx, a, event+" - Manufacturer", detail)
	m.emitEvent(tx, a, event+" - Proposer", detail)
}

func (m *Market) emitLicenseEvent(tx *txn, a *Agreement, detailType string) {
	p := m.products[a.ProductCode]
	m.emitEvent(tx, a, detailType, licenseDetail{
		RequestID: m.uuid(), Catalog: "AWSMarketplace", Agreement: idRef{a.ID},
		Product: productRef{Code: p.Code, ID: p.ID}, License: arnRef{a.LicenseArn},
		Acceptor: accountRef{a.AccountID}, Proposer: accountRef{a.SellerAccountID}, Offer: idRef{a.OfferID},
	})
}

func (m *Market) emitEvent(tx *txn, a *Agreement, detailType string, detail any) {
	if m.eventBridge == nil {
		return
	}
	ev := event{
		Version: "0", ID: m.uuid(), DetailType: detailType, Source: "aws.agreement-marketplace",
		Account: a.SellerAccountID, Time: eventTime(m.now()), Region: m.cfg.Region,
		Resources: []string{"arn:aws:aws-marketplace::aws:agreement:" + a.ID}, Detail: detail,
	}
	body, err := json.Marshal(ev)
	if err != nil {
		tx.err = errors.Join(tx.err, fmt.Errorf("encode event: %w", err))
		return
	}
	m.enqueue(tx, &Delivery{
		Channel: ChannelEventBridge, Endpoint: m.eventBridge.Endpoint, MessageID: ev.ID, MessageType: detailType,
		Headers: map[string]string{"Content-Type": "application/json; charset=utf-8", m.eventBridge.HeaderName: m.eventBridge.APIKey,
			"User-Agent": "Amazon/EventBridge/ApiDestinations"},
		Body: string(body),
	})
}

// Deliveries lists the outbox, oldest first, optionally by channel or status.
func (m *Market) Deliveries(channel, status string) []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Delivery, 0, len(m.deliveries))
	for _, d := range m.deliveries {
		if (channel == "" || d.Channel == channel) && (status == "" || d.Status == status) {
			out = append(out, copyDelivery(d))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func copyDelivery(d *Delivery) Delivery {
	c := *d
	c.Headers = make(map[string]string, len(d.Headers))
	for k, v := range d.Headers {
		c.Headers[k] = v
	}
	return c
}

// DueDeliveries returns pending deliveries whose next attempt has come, in
// creation order, so that one endpoint sees messages in the order they arose.
func (m *Market) DueDeliveries(limit int) []Delivery {
	now := m.real()
	var out []Delivery
	for _, d := range m.Deliveries("", DeliveryPending) {
		if !d.NextAttemptAt.After(now) {
			out = append(out, d)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}

// NextDeliveryAt is when the earliest pending delivery is due, if any.
func (m *Market) NextDeliveryAt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, d := range m.deliveries {
		if d.Status == DeliveryPending && (next.IsZero() || d.NextAttemptAt.Before(next)) {
			next = d.NextAttemptAt
		}
	}
	return next, !next.IsZero()
}

// DeliveryResult records an attempt: delivered, or retried later with
// exponential backoff until DeliveryMaxAttempts.
func (m *Market) DeliveryResult(ctx context.Context, id string, attemptErr error) error {
	return m.update(ctx, func(tx *txn) error {
		d, ok := m.deliveries[id]
		if !ok || d.Status != DeliveryPending {
			return nil
		}
		d.Attempts++
		if attemptErr == nil {
			now := m.now()
			d.Status, d.DeliveredAt, d.LastError = DeliveryDelivered, &now, ""
		} else {
			d.LastError = attemptErr.Error()
			if d.Attempts >= m.cfg.DeliveryMaxAttempts {
				d.Status = DeliveryFailed
			} else {
				backoff := m.cfg.DeliveryBackoff << min(d.Attempts-1, 20)
				d.NextAttemptAt = m.real().Add(min(backoff, m.cfg.DeliveryMaxBackoff))
			}
		}
		tx.put(kindDelivery, d.ID, d)
		return nil
	})
}
