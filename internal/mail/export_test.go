package mail

import "context"

// ClaimOnly claims a batch as RunOnce would and then stops, as a worker that
// crashed right after its claim committed.
func ClaimOnly(ctx context.Context, w *Worker) (int, error) {
	batch, err := w.outbox.claim(ctx, w.cfg.Now(), w.id+"-crashed", w.cfg.Lease, w.cfg.BatchSize, w.cfg.MaxAttempts)
	return len(batch), err
}
