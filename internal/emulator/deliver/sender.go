package deliver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// Outbox is the part of the market the sender drains.
type Outbox interface {
	DueDeliveries(limit int) []market.Delivery
	DeliveryResult(ctx context.Context, id string, attemptErr error) error
	NextDeliveryAt() (time.Time, bool)
	Wake() <-chan struct{}
}

// Sender posts due deliveries.
type Sender struct {
	out    Outbox
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	// Poll bounds how long the sender sleeps when nothing is due.
	Poll time.Duration
}

// New returns a sender. client may be nil for a 10-second-timeout client.
func New(out Outbox, client *http.Client, now func() time.Time, logger *slog.Logger) *Sender {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sender{out: out, client: client, log: logger, now: now, Poll: time.Second}
}

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	for {
		for _, d := range s.out.DueDeliveries(50) {
			if ctx.Err() != nil {
				return
			}
			err := s.send(ctx, d)
			if ctx.Err() != nil {
				return // shutting down: the attempt does not count
			}
			if err != nil {
				s.log.Info("emulator delivery failed", "channel", d.Channel, "endpoint", d.Endpoint, "message_id", d.MessageID, "attempt", d.Attempts+1, "err", err)
			}
			if rerr := s.out.DeliveryResult(ctx, d.ID, err); rerr != nil {
				s.log.Error("record emulator delivery", "id", d.ID, "err", rerr)
			}
		}
		wait := s.Poll
		if next, ok := s.out.NextDeliveryAt(); ok {
			wait = min(wait, max(next.Sub(s.now()), time.Millisecond))
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

func (s *Sender) send(ctx context.Context, d market.Delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, bytes.NewBufferString(d.Body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, v := range d.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", d.Endpoint, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for connection reuse only
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post %s: status %d", d.Endpoint, resp.StatusCode)
	}
	return nil
}
