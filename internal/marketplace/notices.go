package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Notice is a message from a Provider's marketplace that one of its
// subscriptions changed (Microsoft's webhook, Google's Pub/Sub push), as its
// adapter parsed it.
// The core reads the subscription again before acting on it: a notice is
// only a reason to look.
type Notice struct {
	ID string // the marketplace's id: a second copy is ignored
	// SubscriptionKey is Remote.Key of the subscription it is about; ""
	// for a notice about none (Google's account events), which is kept
	// for the record and needs nothing done.
	SubscriptionKey string
	Action          string // as the marketplace names it, for the record
	// Plan and Quantity are the change a notice announces (Microsoft's
	// ChangePlan, ChangeQuantity); NeedsAck says that the marketplace waits
	// for the seller to accept it.
	Plan     string
	Quantity int64
	NeedsAck bool
	SentAt   time.Time
	Payload  string
}

// ErrNoticeNotAuthentic: a notice whose sender could not be verified (for
// Microsoft's webhook, its Entra ID token); nothing of it is believed.
var ErrNoticeNotAuthentic = errors.New("the notice's sender could not be verified")

// maxNoticeAttempts bounds retries of a notice that cannot be applied
// (the marketplace unavailable) before an operator must look.
const maxNoticeAttempts = 30

// RecordNotice stores a notice unless one with the same id was stored
// before, and says whether it is new. Storing comes before acting: the
// marketplace is answered once it is stored, and a crash after loses
// nothing.
func (s *Service) RecordNotice(ctx context.Context, marketplace string, n Notice) (id int64, isNew bool, err error) {
	if _, ok := s.cfg.Providers[marketplace]; !ok {
		return 0, false, ErrMarketplaceNotConfigured
	}
	// A notice about no subscription (Google's account events) is kept for
	// the record: the subscriptions' own notices and reads carry what
	// matters.
	status, applied := "pending", sql.NullTime{}
	if n.SubscriptionKey == "" {
		status, applied = "applied", sql.NullTime{Time: s.now(), Valid: true}
	}
	err = s.db.Write().QueryRowContext(ctx, `INSERT INTO marketplace_notices (marketplace, notice_id, subscription_key, action,
			plan_id, quantity, needs_ack, sent_at, payload, received_at, status, applied_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (marketplace, notice_id) DO NOTHING RETURNING id`,
		marketplace, n.ID, n.SubscriptionKey, n.Action, n.Plan, n.Quantity, n.NeedsAck, store.Now(n.SentAt), n.Payload, s.now(),
		status, applied).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("record notice %s: %w", n.ID, err)
	}
	return id, true, nil
}

// ApplyNotices applies stored notices that are due, oldest first, up to
// limit, and returns how many took effect. A notice for a subscription
// not landed here waits, and is applied once it is.
func (s *Service) ApplyNotices(ctx context.Context, limit int) (int, error) {
	ids, err := s.listIDs(ctx, `SELECT id FROM marketplace_notices WHERE status IN ('pending', 'waiting')
		AND (retry_after IS NULL OR retry_after <= $1) ORDER BY id LIMIT $2`, s.now(), limit)
	if err != nil {
		return 0, fmt.Errorf("list notices: %w", err)
	}
	return s.runEach(ctx, ids, "notice not applied", s.ApplyNotice), nil
}

type storedNotice struct {
	Notice
	marketplace string
	status      string
	acked       bool
}

// ApplyNotice applies one stored notice: it accepts the change the
// marketplace waits on (once), reads the subscription, and applies what it
// reads. A change it accepted that the marketplace does not show yet is
// looked at again shortly, without accepting twice.
func (s *Service) ApplyNotice(ctx context.Context, id int64) (bool, error) {
	var n storedNotice
	var acked sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT marketplace, notice_id, subscription_key, action, plan_id, quantity, needs_ack,
			sent_at, status, acked_at FROM marketplace_notices WHERE id = $1`, id).
		Scan(&n.marketplace, &n.ID, &n.SubscriptionKey, &n.Action, &n.Plan, &n.Quantity, &n.NeedsAck, &n.SentAt, &n.status, &acked)
	if err != nil {
		return false, fmt.Errorf("read notice %d: %w", id, err)
	}
	n.acked = acked.Valid
	if n.status == "applied" || n.status == "failed" {
		return false, nil
	}
	prov, ok := s.cfg.Providers[n.marketplace]
	if !ok {
		return false, s.noticeFailed(ctx, id, ErrMarketplaceNotConfigured)
	}
	var subID int64
	err = s.db.Read().QueryRowContext(ctx, `SELECT id FROM subscriptions WHERE marketplace = $1 AND agreement_key = $2`,
		n.marketplace, n.SubscriptionKey).Scan(&subID)
	if errors.Is(err, sql.ErrNoRows) {
		// Not landed here yet (or never will be): kept, and looked at
		// again from time to time, once a minute at most.
		_, err := s.db.Write().ExecContext(ctx, `UPDATE marketplace_notices SET status = 'waiting', retry_after = $1 WHERE id = $2`,
			s.now().Add(time.Minute), id)
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("find subscription of notice %d: %w", id, err)
	}
	if n.NeedsAck && !n.acked {
		// The seller's policy is to accept every change the buyer made on
		// the marketplace; the plan takes effect when the marketplace says
		// it has, through the read below, never before.
		if err := prov.Acknowledge(ctx, n.SubscriptionKey, n.ID); err != nil {
			return false, s.noticeFailed(ctx, id, fmt.Errorf("accept %s: %w", n.Action, err))
		}
		if _, err := s.db.Write().ExecContext(ctx, `UPDATE marketplace_notices SET acked_at = $1 WHERE id = $2`, s.now(), id); err != nil {
			return false, err
		}
	}
	r, err := prov.Read(ctx, n.SubscriptionKey)
	if err != nil {
		return false, s.noticeFailed(ctx, id, fmt.Errorf("read subscription %s: %w", n.SubscriptionKey, err))
	}
	shown := (n.Plan == "" || r.Plan == n.Plan) && (n.Quantity == 0 || r.Quantity == n.Quantity)
	applied := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM marketplace_notices WHERE id = $1`+s.db.Dialect().ForUpdate(), id).Scan(&status); err != nil {
			return fmt.Errorf("lock notice %d: %w", id, err)
		}
		if status == "applied" {
			return nil
		}
		if _, err := s.syncRemote(ctx, tx, subID, r, n.SentAt); err != nil {
			return err
		}
		if !shown && r.Status == StatusActive {
			return nil // applied as far as it shows; looked at again below
		}
		applied = true
		_, err := tx.ExecContext(ctx, `UPDATE marketplace_notices SET status = 'applied', applied_at = $1, attempts = attempts + 1,
			last_error = '' WHERE id = $2`, s.now(), id)
		return err
	})
	if err != nil {
		return false, s.noticeFailed(ctx, id, err)
	}
	if !applied && !shown {
		return false, s.noticeFailed(ctx, id, fmt.Errorf("%s accepted, but the marketplace does not show plan %q quantity %d yet", n.Action, n.Plan, n.Quantity))
	}
	return applied, nil
}

// noticeFailed records a failed attempt and when to try again: 5 s,
// doubling, at most 10 minutes; after maxNoticeAttempts the notice is
// failed for the operator to look at.
func (s *Service) noticeFailed(ctx context.Context, id int64, cause error) error {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	var attempts int
	if err := s.db.Read().QueryRowContext(ctx, `SELECT attempts FROM marketplace_notices WHERE id = $1`, id).Scan(&attempts); err != nil {
		return errors.Join(cause, err)
	}
	wait := min(5*time.Second<<min(attempts, 7), 10*time.Minute)
	if _, err := s.db.Write().ExecContext(ctx, `UPDATE marketplace_notices SET attempts = attempts + 1, last_error = $1, retry_after = $2,
		status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END WHERE id = $4 AND status <> 'applied'`,
		msg, s.now().Add(wait), maxNoticeAttempts, id); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// RunProviders, until ctx ends, makes the activations that are due and
// applies the notices that are due every interval, and reconciles with
// each marketplace every reconcileEvery[name] (never when absent or zero).
func (s *Service) RunProviders(ctx context.Context, every time.Duration, reconcileEvery map[string]time.Duration) {
	if len(s.cfg.Providers) == 0 {
		return
	}
	last := map[string]time.Time{}
	runEvery(ctx, every, func() {
		if _, err := s.ActivateWanted(ctx, 50); err != nil {
			s.cfg.Logger.Warn("activations", "err", err)
		}
		if _, err := s.ApplyNotices(ctx, 100); err != nil {
			s.cfg.Logger.Warn("marketplace notices", "err", err)
		}
		for name := range s.cfg.Providers {
			if d := reconcileEvery[name]; d <= 0 || time.Since(last[name]) < d {
				continue
			}
			last[name] = time.Now()
			rep, err := s.Reconcile(ctx, name)
			if err != nil {
				s.cfg.Logger.Warn("reconcile", "marketplace", name, "err", err)
				continue
			}
			if rep.Changed > 0 {
				s.cfg.Logger.Info("reconciled", "marketplace", name, "listed", rep.Listed, "known", rep.Known, "changed", rep.Changed)
			}
		}
	})
}
