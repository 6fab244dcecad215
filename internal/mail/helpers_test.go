package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
)

// clock is a test clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSender records deliveries and fails while fail returns an error.
type fakeSender struct {
	mu    sync.Mutex
	sent  map[string]int // subject -> deliveries
	calls int
	fail  func(call int) error
}

func (f *fakeSender) Send(_ context.Context, _ string, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(f.calls); err != nil {
			return err
		}
	}
	if f.sent == nil {
		f.sent = map[string]int{}
	}
	f.sent[m.Subject]++
	return nil
}

func (f *fakeSender) deliveries() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.sent {
		out[k] = v
	}
	return out
}

func testMessage(i int) mail.Message {
	return mail.Message{
		To:      []string{fmt.Sprintf("User %d <user%d@example.com>", i, i)},
		Subject: fmt.Sprintf("message %d", i),
		Text:    fmt.Sprintf("Hello %d", i),
		HTML:    fmt.Sprintf("<p>Hello %d</p>", i),
	}
}

func enqueue(t *testing.T, o *mail.Outbox, m mail.Message) int64 {
	t.Helper()
	id, err := o.Enqueue(context.Background(), nil, m)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

func newWorker(t *testing.T, o *mail.Outbox, cfg mail.WorkerConfig) *mail.Worker {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.From == "" {
		cfg.From = "marketbridge <no-reply@example.com>"
	}
	w, err := mail.NewWorker(o, cfg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return w
}

func get(t *testing.T, o *mail.Outbox, id int64) mail.Stored {
	t.Helper()
	s, err := o.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get mail %d: %v", id, err)
	}
	return s
}

func countRows(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM mail_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
