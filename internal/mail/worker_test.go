package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// Without SMTP (the demo) the worker keeps mail for the dev mailbox.
func TestWorker_DevMailbox_KeepsMailForDisplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		a, b := enqueue(t, o, testMessage(1)), enqueue(t, o, testMessage(2))
		clk.Advance(time.Second)
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now})
		if sent, err := w.RunOnce(ctx); err != nil || sent != 2 {
			t.Fatalf("RunOnce = %d, %v; want 2, nil", sent, err)
		}
		list, err := o.List(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != b || list[1].ID != a {
			t.Fatalf("List = %+v, want mails %d and %d, newest first", list, b, a)
		}
		for _, s := range list {
			if s.Status != mail.StatusDevMailbox || !s.SentAt.Equal(clk.Now()) || s.Text == "" || len(s.To) != 1 {
				t.Errorf("mail %d: status %s, sent at %v, %+v", s.ID, s.Status, s.SentAt, s.Message)
			}
		}
		if got := get(t, o, a); got.Subject != "message 1" || got.Status != mail.StatusDevMailbox {
			t.Errorf("Get(%d) = %+v", a, got)
		}
	})
}

// Failures are retried after a doubling backoff, and the mail is failed
// after MaxAttempts with the last error kept; nothing is attempted early.
func TestWorker_RetriesWithBackoffThenGivesUp(t *testing.T) {
	tests := []struct {
		name        string
		failCalls   int // the sender fails this many calls, then succeeds
		wantStatus  mail.Status
		wantAttempt int
	}{
		{"delivered on the second attempt", 1, mail.StatusSent, 2},
		{"delivered on the last attempt", 2, mail.StatusSent, 3},
		{"failed after max attempts", 99, mail.StatusFailed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clk := newClock()
				o := mail.NewOutbox(db, clk.Now)
				sender := &fakeSender{fail: func(call int) error {
					if call <= tt.failCalls {
						return fmt.Errorf("451 4.3.0 busy (call %d)", call)
					}
					return nil
				}}
				w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Sender: sender, MaxAttempts: 3,
					Backoff: time.Minute, MaxBackoff: time.Hour})
				id := enqueue(t, o, testMessage(1))
				wantWait := time.Minute
				for attempt := 1; ; attempt++ {
					if _, err := w.RunOnce(ctx); err != nil {
						t.Fatal(err)
					}
					s := get(t, o, id)
					if s.Status != mail.StatusPending {
						break
					}
					if attempt > 3 {
						t.Fatal("still pending after MaxAttempts")
					}
					if got := s.NextAttemptAt.Sub(clk.Now()); got != wantWait {
						t.Fatalf("after attempt %d: retry in %v, want %v", attempt, got, wantWait)
					}
					clk.Advance(wantWait - time.Microsecond)
					if sent, _ := w.RunOnce(ctx); sent != 0 || get(t, o, id).Attempts != attempt {
						t.Fatalf("attempted again before the backoff passed")
					}
					clk.Advance(time.Microsecond)
					wantWait *= 2
				}
				s := get(t, o, id)
				if s.Status != tt.wantStatus || s.Attempts != tt.wantAttempt {
					t.Fatalf("status %s after %d attempts, want %s after %d", s.Status, s.Attempts, tt.wantStatus, tt.wantAttempt)
				}
				if tt.wantStatus == mail.StatusFailed && !strings.Contains(s.LastError, "call 3") {
					t.Errorf("last error %q, want the third call's", s.LastError)
				}
				if tt.wantStatus == mail.StatusSent && sender.deliveries()["message 1"] != 1 {
					t.Errorf("delivered %d times, want once", sender.deliveries()["message 1"])
				}
				clk.Advance(24 * time.Hour)
				if _, err := w.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
				if got := get(t, o, id); got.Attempts != tt.wantAttempt {
					t.Fatalf("a finished mail was attempted again")
				}
			})
		})
	}
}

func TestWorker_PermanentRejectionFailsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		sender := &fakeSender{fail: func(int) error { return fmt.Errorf("550 no such user: %w", mail.ErrRejected) }}
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Sender: sender, MaxAttempts: 5})
		id := enqueue(t, o, testMessage(1))
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := get(t, o, id); s.Status != mail.StatusFailed || s.Attempts != 1 || !strings.Contains(s.LastError, "550") {
			t.Fatalf("status %s, attempts %d, error %q; want failed after 1 with the reply", s.Status, s.Attempts, s.LastError)
		}
	})
}

// A worker that crashes after claiming loses nothing: once its lease passes
// another worker delivers the mail, exactly once. If the crash was on the
// last attempt, the mail is failed rather than tried forever.
func TestWorker_CrashedClaimIsDeliveredAfterLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		cfg := mail.WorkerConfig{Now: clk.Now, Lease: 5 * time.Minute, MaxAttempts: 3}
		id := enqueue(t, o, testMessage(1))
		if n, err := mail.ClaimOnly(ctx, newWorker(t, o, cfg)); err != nil || n != 1 {
			t.Fatalf("crashed worker claimed %d, %v; want 1", n, err)
		}

		sender := &fakeSender{}
		cfg.Sender = sender
		w := newWorker(t, o, cfg) // the restarted process
		clk.Advance(5*time.Minute - time.Microsecond)
		if sent, err := w.RunOnce(ctx); err != nil || sent != 0 {
			t.Fatalf("while the lease holds: RunOnce = %d, %v; want 0", sent, err)
		}
		clk.Advance(time.Microsecond)
		if sent, err := w.RunOnce(ctx); err != nil || sent != 1 {
			t.Fatalf("after the lease: RunOnce = %d, %v; want 1", sent, err)
		}
		clk.Advance(time.Hour)
		if sent, err := w.RunOnce(ctx); err != nil || sent != 0 {
			t.Fatalf("later: RunOnce = %d, %v; want 0", sent, err)
		}
		if got := sender.deliveries()["message 1"]; got != 1 {
			t.Fatalf("delivered %d times, want once", got)
		}
		if s := get(t, o, id); s.Status != mail.StatusSent || s.Attempts != 2 {
			t.Fatalf("status %s, attempts %d; want sent, 2 (the crashed claim counts)", s.Status, s.Attempts)
		}

		cfg.MaxAttempts, cfg.Sender = 1, nil
		last := enqueue(t, o, testMessage(2))
		if n, _ := mail.ClaimOnly(ctx, newWorker(t, o, cfg)); n != 1 {
			t.Fatalf("crashed worker claimed %d, want 1", n)
		}
		clk.Advance(cfg.Lease)
		if _, err := newWorker(t, o, cfg).RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if s := get(t, o, last); s.Status != mail.StatusFailed || !strings.Contains(s.LastError, "stopped before reporting") {
			t.Fatalf("crash on the last attempt: status %s, error %q; want failed", s.Status, s.LastError)
		}
	})
}

// A worker whose lease ran out while sending cannot overwrite the outcome of
// the worker that took the mail over.
func TestWorker_OutcomeAfterLostLeaseIsIgnored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		id := enqueue(t, o, testMessage(1))
		started, release := make(chan struct{}), make(chan struct{})
		slow := &fakeSender{fail: func(int) error {
			close(started)
			<-release
			return errors.New("451 too slow")
		}}
		cfg := mail.WorkerConfig{Now: clk.Now, Lease: time.Minute}
		cfg.Sender = slow
		a := newWorker(t, o, cfg)
		fast := &fakeSender{}
		cfg.Sender = fast
		b := newWorker(t, o, cfg)

		done := make(chan error, 1)
		go func() { _, err := a.RunOnce(ctx); done <- err }()
		<-started
		clk.Advance(time.Minute)
		if sent, err := b.RunOnce(ctx); err != nil || sent != 1 {
			t.Fatalf("takeover: RunOnce = %d, %v; want 1", sent, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := get(t, o, id); s.Status != mail.StatusSent || s.LastError != "" {
			t.Fatalf("status %s, error %q; want the takeover's sent", s.Status, s.LastError)
		}
	})
}

// Two replicas on one database, polling at once, deliver every mail exactly once.
func TestWorker_ConcurrentWorkersDeliverEachMailOnce(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, engine)
			clk := newClock()
			sender := &fakeSender{}
			const replicas, mails = 3, 60
			var workers []*mail.Worker
			var first *mail.Outbox
			for i := range replicas {
				db, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if _, err := db.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				o := mail.NewOutbox(db, clk.Now)
				if i == 0 {
					first = o
				}
				workers = append(workers, newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Sender: sender, BatchSize: 4}))
			}
			for i := range mails {
				enqueue(t, first, testMessage(i))
			}
			var wg sync.WaitGroup
			errs := make(chan error, replicas)
			for _, w := range workers {
				wg.Go(func() {
					// The clock stands still, so a claimed mail is never due
					// again: a worker is done when a pass finds nothing, and
					// every other pass sends one at least.
					for pass := 0; ; pass++ {
						if pass > mails {
							errs <- fmt.Errorf("a worker still sends after %d passes over %d mails", pass, mails)
							return
						}
						sent, err := w.RunOnce(ctx)
						if err != nil {
							errs <- err
							return
						}
						if sent == 0 {
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("worker: %v", err)
			}
			got := sender.deliveries()
			for i := range mails {
				if n := got[fmt.Sprintf("message %d", i)]; n != 1 {
					t.Errorf("message %d delivered %d times, want once", i, n)
				}
			}
		})
	}
}

// Run wakes on Kick, delivers, and returns nil when its context ends.
func TestWorker_RunWakesOnKickAndStops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		delivered := make(chan string, 1)
		sender := &fakeSender{fail: func(int) error { return nil }}
		notify := senderFunc(func(ctx context.Context, from string, m mail.Message) error {
			err := sender.Send(ctx, from, m)
			delivered <- m.Subject
			return err
		})
		// An hour's poll: only the kick can explain a prompt delivery.
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Sender: notify, PollInterval: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		enqueue(t, o, testMessage(7))
		w.Kick()
		w.Kick() // never blocks
		if got := <-delivered; got != "message 7" {
			t.Fatalf("delivered %q", got)
		}
		// The first mail may have gone with Run's opening pass; this one
		// arrives after Run has settled into waiting, so only a kick sends it.
		enqueue(t, o, testMessage(8))
		w.Kick()
		if got := <-delivered; got != "message 8" {
			t.Fatalf("delivered %q", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	})
}

// Shutdown waits for the mail being sent and records its outcome.
func TestWorker_RunFinishesMailInFlightOnShutdown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		o := mail.NewOutbox(db, clk.Now)
		started, release := make(chan struct{}), make(chan struct{})
		sender := senderFunc(func(ctx context.Context, _ string, _ mail.Message) error {
			close(started)
			<-release
			return ctx.Err() // the send must not see the shutdown
		})
		w := newWorker(t, o, mail.WorkerConfig{Now: clk.Now, Sender: sender, PollInterval: time.Hour})
		id := enqueue(t, o, testMessage(1))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		w.Kick()
		<-started
		cancel()
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if s := get(t, o, id); s.Status != mail.StatusSent {
			t.Fatalf("status %s, error %q; want sent", s.Status, s.LastError)
		}
	})
}

type senderFunc func(ctx context.Context, from string, m mail.Message) error

func (f senderFunc) Send(ctx context.Context, from string, m mail.Message) error {
	return f(ctx, from, m)
}

func TestWorkerConfig_Validate(t *testing.T) {
	ok := mail.WorkerConfig{Logger: slog.New(slog.DiscardHandler), Now: time.Now, From: "a@example.com"}
	tests := []struct {
		name string
		edit func(c *mail.WorkerConfig)
		want []string
	}{
		{"valid with defaults", func(*mail.WorkerConfig) {}, nil},
		{"missing logger and clock", func(c *mail.WorkerConfig) { c.Logger, c.Now = nil, nil }, []string{"logger", "clock"}},
		{"bad from", func(c *mail.WorkerConfig) { c.From = "nobody" }, []string{"from"}},
		{"negatives", func(c *mail.WorkerConfig) { c.Lease, c.MaxAttempts, c.BatchSize = -1, -1, -1 },
			[]string{"lease", "max attempts", "batch size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
