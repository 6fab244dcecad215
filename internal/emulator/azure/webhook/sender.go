// Package webhook delivers the Microsoft marketplace emulator's webhooks:
// a POST of the operation and subscription JSON (§4.2) to the publisher's
// Connection webhook URL with an Entra bearer token, from the market's
// durable outbox, so a restart resumes delivery. The outcome of each attempt
// goes back to the market, which owns the retry schedule and what a 2xx or
// 4xx answer means for an operation waiting for the seller (§4.3).
package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// TokenSource mints the bearer token of a webhook call: signed by the Entra
// stand-in for the publisher's tenant, with aud = the publisher's app id.
type TokenSource interface {
	WebhookToken(tenantID, audience string, now time.Time) (string, error)
}

// Outbox is the part of the market the sender drains.
type Outbox interface {
	DueDeliveries(limit int) []market.Delivery
	DeliveryResult(ctx context.Context, id string, status int, attemptErr error) error
	NextDeliveryAt() (time.Time, bool)
	Wake() <-chan struct{}
	Now() time.Time
}

// Sender posts due webhooks.
type Sender struct {
	out    Outbox
	tokens TokenSource
	client *http.Client
	log    *slog.Logger
	real   func() time.Time
	// Poll bounds how long the sender sleeps when nothing is due.
	Poll time.Duration
}

// New returns a sender. client nil is a client with a 10-second timeout
// (Microsoft expects a quick 200, §4.1); real nil is time.Now, the clock
// tokens are minted on.
func New(out Outbox, tokens TokenSource, client *http.Client, real func() time.Time, logger *slog.Logger) *Sender {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if real == nil {
		real = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sender{out: out, tokens: tokens, client: client, log: logger, real: real, Poll: time.Second}
}

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		for _, d := range s.out.DueDeliveries(50) {
			if ctx.Err() != nil {
				return
			}
			status, err := s.send(ctx, d)
			if ctx.Err() != nil {
				return // shutting down: the attempt does not count
			}
			if err != nil {
				s.log.Info("azure emulator webhook failed", "url", d.URL, "operation", d.OperationID, "action", d.Action,
					"attempt", d.Attempts+1, "status", status, "err", err)
			}
			if rerr := s.out.DeliveryResult(ctx, d.ID, status, err); rerr != nil {
				s.log.Error("record azure emulator webhook", "id", d.ID, "err", rerr)
			}
		}
		wait := s.Poll
		if next, ok := s.out.NextDeliveryAt(); ok {
			wait = min(wait, max(next.Sub(s.out.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.out.Wake():
		case <-t.C:
		}
		t.Stop()
	}
}

// send makes one attempt; it returns the HTTP status (0 when there was
// none) and an error for anything but a 2xx.
func (s *Sender) send(ctx context.Context, d market.Delivery) (int, error) {
	token, err := s.tokens.WebhookToken(d.TenantID, d.Audience, s.real())
	if err != nil {
		return 0, fmt.Errorf("mint webhook token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewBufferString(d.Body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", d.URL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for connection reuse only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("post %s: status %d", d.URL, resp.StatusCode)
	}
	return resp.StatusCode, nil
}
