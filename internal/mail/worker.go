package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"time"
)

// Defaults for the WorkerConfig fields left zero.
const (
	DefaultPollInterval = 5 * time.Second
	DefaultLease        = 10 * time.Minute // twice DefaultBatchSize sends of DefaultSMTPTimeout
	DefaultMaxAttempts  = 8
	DefaultBatchSize    = 10
	DefaultBackoff      = 30 * time.Second
	DefaultMaxBackoff   = time.Hour
)

// WorkerConfig configures a Worker. Zero durations and counts take the
// defaults above; Logger, Now and From are required.
type WorkerConfig struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Sender delivers mail; nil keeps it for the dev mailbox instead.
	Sender Sender
	// From is the sender address of every mail.
	From string
	// PollInterval is how often the worker looks for due mail when not kicked.
	PollInterval time.Duration
	// Lease is how long a claim keeps other workers off a mail. It must
	// outlast BatchSize sends, or a slow batch's tail is skipped and retried.
	Lease time.Duration
	// MaxAttempts is how many attempts a mail gets before it is failed.
	MaxAttempts int
	// BatchSize is how many mails one claim takes.
	BatchSize int
	// Backoff is the wait after the first failure, doubled after each
	// further one up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
}

// Validate reports every problem at once.
func (c WorkerConfig) Validate() error {
	var errs []error
	if c.Logger == nil {
		errs = append(errs, errors.New("logger is required"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("clock (Now) is required"))
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("from: %q is not a mail address: %w", c.From, err))
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"poll interval", c.PollInterval}, {"lease", c.Lease}, {"backoff", c.Backoff}, {"max backoff", c.MaxBackoff}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", d.name))
		}
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, errors.New("max attempts: must not be negative"))
	}
	if c.BatchSize < 0 {
		errs = append(errs, errors.New("batch size: must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mail worker config: %w", err)
	}
	return nil
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.Lease, DefaultLease)
	def(&c.Backoff, DefaultBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	return c
}

// Worker delivers the outbox's due mail. Several workers, in one process or
// in several replicas on one database, share the work without sending a mail
// twice while its lease holds.
type Worker struct {
	outbox *Outbox
	cfg    WorkerConfig
	id     string // names this worker in claim tokens, for whoever reads the table
	kick   chan struct{}
}

// NewWorker returns a worker for o.
func NewWorker(o *Outbox, cfg WorkerConfig) (*Worker, error) {
	if o == nil {
		return nil, errors.New("mail worker: outbox is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Worker{outbox: o, cfg: cfg.withDefaults(), id: randomHex(6), kick: make(chan struct{}, 1)}, nil
}

// Kick wakes Run now instead of at the next poll, typically after a
// transaction that enqueued mail committed. It never blocks, and kicks
// while a pass runs fold into one more pass.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers mail until ctx is done, then returns nil once the mail in
// flight is sent and recorded; claimed mail not yet started is handed back.
func (w *Worker) Run(ctx context.Context) error {
	ticker := time.NewTicker(w.cfg.PollInterval)
	defer ticker.Stop()
	w.cfg.Logger.Info("mail worker started", "worker", w.id, "dev_mailbox", w.cfg.Sender == nil)
	for {
		claimed, _, err := w.runOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.Error("mail worker pass failed", "worker", w.id, "err", err)
		}
		if ctx.Err() != nil {
			w.cfg.Logger.Info("mail worker stopped", "worker", w.id)
			return nil
		}
		if err == nil && claimed == w.cfg.BatchSize {
			continue // a full batch: more may be due right now
		}
		select {
		case <-ctx.Done():
			w.cfg.Logger.Info("mail worker stopped", "worker", w.id)
			return nil
		case <-ticker.C:
		case <-w.kick:
		}
	}
}

// RunOnce claims one batch of due mail and delivers it, returning how many
// were delivered (sent, or kept for the dev mailbox).
func (w *Worker) RunOnce(ctx context.Context) (sent int, err error) {
	_, sent, err = w.runOnce(ctx)
	return sent, err
}

func (w *Worker) runOnce(ctx context.Context) (claimedN, sent int, err error) {
	token := w.id + "-" + randomHex(6)
	batch, err := w.outbox.claim(ctx, w.cfg.Now(), token, w.cfg.Lease, w.cfg.BatchSize, w.cfg.MaxAttempts)
	if err != nil {
		return 0, 0, err
	}
	// Once claimed, a mail's outcome is recorded even if ctx ends meanwhile:
	// a send that happened must not be forgotten and repeated.
	record := context.WithoutCancel(ctx)
	var errs []error
	for i, c := range batch {
		if ctx.Err() != nil || !w.cfg.Now().Before(c.leaseUntil) {
			// Shutting down, or the lease ran out while earlier mails were
			// sent: another worker may hold this one now, so do not send it.
			for _, rest := range batch[i:] {
				if err := w.outbox.release(record, rest); err != nil {
					errs = append(errs, err)
				}
			}
			break
		}
		ok, err := w.deliver(record, c)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			sent++
		}
	}
	return len(batch), sent, errors.Join(errs...)
}

// deliver makes one attempt at c and records its outcome.
func (w *Worker) deliver(record context.Context, c claimed) (delivered bool, err error) {
	log := w.cfg.Logger.With("worker", w.id, "mail_id", c.ID, "attempt", c.Attempts)
	status, sendErr := StatusDevMailbox, error(nil)
	if w.cfg.Sender != nil {
		status = StatusSent
		// The send is not cut short by shutdown: it has its own timeout,
		// and an interrupted DATA would leave us not knowing if it went out.
		sendErr = w.cfg.Sender.Send(record, w.cfg.From, c.Message)
	}
	now := w.cfg.Now()
	next, lastError := now, ""
	if sendErr != nil {
		lastError = sendErr.Error()
		switch {
		case errors.Is(sendErr, ErrRejected):
			status = StatusFailed
		case c.Attempts >= w.cfg.MaxAttempts:
			status = StatusFailed
		default:
			status = StatusPending
			next = now.Add(w.backoff(c.Attempts))
		}
	}
	ok, err := w.outbox.finish(record, c, status, lastError, now, next)
	if err != nil {
		return false, err
	}
	if !ok {
		// Our lease ran out and another worker claimed the mail: its outcome
		// is the one that counts. If we did send, the mail may go out twice.
		log.Warn("mail lease lost before its outcome was recorded", "status", status)
		return false, nil
	}
	switch status {
	case StatusFailed:
		log.Error("mail given up", "err", sendErr)
	case StatusPending:
		log.Warn("mail send failed, will retry", "err", sendErr, "next_attempt_at", next)
	default:
		log.Info("mail delivered", "status", status)
		return true, nil
	}
	return false, nil
}

// backoff is the wait after the given failed attempt: Backoff, doubled for
// each attempt before it, at most MaxBackoff.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.Backoff
	for i := 1; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.cfg.MaxBackoff)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
