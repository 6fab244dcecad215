package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/secret"
	"github.com/marketbridge/marketbridge/internal/store"
)

// This file is the core's side of marketplaces reached through a Provider
// (#15): the landing visit, the activation the marketplace waits for once a
// subscription is linked, its notices, and reconciliation. Each reads the
// subscription from the marketplace and applies what it says through one
// function, syncRemote, so that a landing, a notice and the reconciliation's
// list can arrive in any order, twice, or not at all, and leave the same
// state.

// ErrMarketplaceNotConfigured: a landing or notice for a marketplace this
// seller has not been set up to sell through.
var ErrMarketplaceNotConfigured = fault.New(fault.KindNotFound, "This marketplace is not set up on our side. "+
	"Please contact support; your purchase on the marketplace is safe.")

// landingErrors are what a buyer arriving from a Provider's marketplace
// is told, in that marketplace's words (R5).
var landingErrors = map[string]struct{ invalid, cancelled, unavailable error }{
	Azure: {
		invalid: fault.New(fault.KindInvalid, "The link from Microsoft's marketplace is not valid or has expired. "+
			"Open your SaaS subscription in the Azure portal or the Microsoft 365 admin center and select "+
			"\u201cConfigure account now\u201d (or \u201cManage account\u201d) again; you do not need to buy again."),
		cancelled: fault.New(fault.KindConflict, "This subscription was cancelled on Microsoft's marketplace, so it cannot bill an organization. "+
			"Buy the offer again in the Azure portal or Microsoft AppSource, then select \u201cConfigure account now\u201d."),
		unavailable: fault.New(fault.KindUnavailable, "Microsoft's marketplace did not answer. Nothing was changed: "+
			"reload this page in a minute, or select \u201cConfigure account now\u201d on the marketplace again."),
	},
	GCP: {
		invalid: fault.New(fault.KindInvalid, "The sign-up from Google Cloud Marketplace is not valid or has expired (it lasts five minutes). "+
			"Open the product in Google Cloud Marketplace (Your orders) and click \u201cRegister\u201d (or \u201cManage on\u201d) for it again; "+
			"you do not need to order again."),
		cancelled: fault.New(fault.KindConflict, "This order was cancelled on Google Cloud Marketplace, so it cannot bill an organization. "+
			"Order the product again in Google Cloud Marketplace, then click \u201cRegister\u201d."),
		unavailable: fault.New(fault.KindUnavailable, "Google Cloud Marketplace did not answer. Nothing was changed: "+
			"click \u201cRegister\u201d on the product's page in Google Cloud Marketplace again in a minute."),
	},
}

// setUpActivationTimeout bounds what a link waits for the marketplace to
// confirm the activation; the activation loop finishes what it leaves.
const setUpActivationTimeout = 5 * time.Second

// Land is Fulfill for a marketplace that sends the buyer's browser to a
// landing page with a token (Microsoft's "Configure account now", a GET
// with ?token=): it resolves the token at once, records the subscription as
// the marketplace holds it, and opens a purchase for the browser; the token
// is not kept (R4). A returning buyer ("Manage account") lands on the same
// subscription (R6, R7).
func (s *Service) Land(ctx context.Context, marketplace, token string) (claim string, p Purchase, err error) {
	prov, ok := s.cfg.Providers[marketplace]
	if !ok {
		return "", Purchase{}, ErrMarketplaceNotConfigured
	}
	words := landingErrors[marketplace]
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxTokenBytes {
		return "", Purchase{}, words.invalid
	}
	r, err := prov.Resolve(ctx, token)
	switch {
	case errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrTokenExpired):
		return "", Purchase{}, fmt.Errorf("%w: %w", words.invalid, err)
	case errors.Is(err, ErrMarketplaceUnavailable):
		return "", Purchase{}, fmt.Errorf("%w: %w", words.unavailable, err)
	}
	if err != nil {
		return "", Purchase{}, err
	}
	product, ok := s.cfg.Catalog.Product(r.ProductCode)
	if !ok || product.Marketplace != marketplace {
		return "", Purchase{}, &ProductError{Code: r.ProductCode}
	}
	if r.Key == "" || r.Account == "" {
		return "", Purchase{}, fmt.Errorf("resolve: answer without a subscription id or a buyer: %w", words.invalid)
	}
	claim = secret.Token()
	var id int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		subID, err := s.upsertRemote(ctx, tx, marketplace, product, r)
		if err != nil {
			return err
		}
		if _, err := s.syncRemote(ctx, tx, subID, r, s.now()); err != nil {
			return err
		}
		if r.Status == StatusCancelled {
			return nil
		}
		now := s.now()
		return tx.QueryRowContext(ctx, `INSERT INTO purchases (claim_hash, subscription_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			secret.Hash(claim), subID, now, now.Add(PurchaseTTL)).Scan(&id)
	})
	if err != nil {
		return "", Purchase{}, fmt.Errorf("record purchase: %w", err)
	}
	if r.Status == StatusCancelled {
		return "", Purchase{}, words.cancelled
	}
	p, err = s.purchase(ctx, `p.id = $1`, id)
	return claim, p, err
}

func (s *Service) upsertRemote(ctx context.Context, tx *sql.Tx, marketplace string, product Product, r Remote) (int64, error) {
	now := s.now()
	var id int64
	// A new row starts as the marketplace's status says; syncRemote, run
	// next in the same transaction, applies everything else, so that a
	// landing and a notice take the same path.
	err := tx.QueryRowContext(ctx, `INSERT INTO subscriptions (marketplace, product_code, offer_type, customer_aws_account_id,
			agreement_key, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT (marketplace, product_code, customer_aws_account_id, agreement_key) DO UPDATE SET updated_at = excluded.updated_at
		RETURNING id`, marketplace, product.Code, product.OfferType, r.Account, r.Key, r.Status, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record subscription: %w", err)
	}
	return id, nil
}

// syncRemote makes the recorded subscription what its marketplace says it
// is now, as of at, and tells the organization it bills of any change of
// status (mail, audit, webhook events). A status never goes back to
// pending, and a cancellation is final, so that a stale read arriving late
// cannot undo a newer one. It reports whether the status, plan or seats
// changed.
func (s *Service) syncRemote(ctx context.Context, tx *sql.Tx, subID int64, r Remote, at time.Time) (changed bool, err error) {
	var status, activation, plan, usageID string
	var seats int64
	if err := tx.QueryRowContext(ctx, `SELECT status, activation, plan_id, quantity, customer_identifier FROM subscriptions WHERE id = $1`+s.db.Dialect().ForUpdate(), subID).
		Scan(&status, &activation, &plan, &seats, &usageID); err != nil {
		return false, fmt.Errorf("lock subscription %d: %w", subID, err)
	}
	link, err := s.eventLink(ctx, tx, subID)
	if err != nil {
		return false, err
	}
	next := r.Status
	switch {
	case status == StatusCancelled, next == StatusPending && status != StatusPending:
		next = status
	}
	if activation == ActivationWanted {
		switch next {
		case StatusActive, StatusSuspended:
			activation = ActivationDone
		case StatusCancelled:
			activation = "" // nothing to bill any more
		}
	}
	// A usage id, once known, stays: Google's may be missing from a read
	// made before it was issued.
	if r.UsageID != "" {
		usageID = r.UsageID
	}
	if r.ProductCode == "" && r.Status == StatusCancelled {
		// A subscription the marketplace no longer has (Google's get
		// answers 404 once an entitlement is deleted): cancelled, and
		// what was recorded of it stays.
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET read_at = $1, updated_at = $1,
				activation = CASE WHEN activation = 'wanted' THEN '' ELSE activation END WHERE id = $2`, s.now(), subID); err != nil {
			return false, fmt.Errorf("update subscription %d from its marketplace: %w", subID, err)
		}
		r.Plan, r.Quantity = plan, seats
	} else if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET plan_id = $1, quantity = $2, display_name = $3, buyer_email = $4,
			term_start = $5, term_end = $6, free_trial = $7, read_at = $8, updated_at = $8, activation = $9,
			activated_at = CASE WHEN $9 = 'done' THEN COALESCE(activated_at, $8) ELSE activated_at END,
			activation_error = CASE WHEN $9 = 'wanted' THEN activation_error ELSE '' END,
			customer_identifier = $10, offer_id = $11
		WHERE id = $12`, r.Plan, r.Quantity, r.Name, r.Email, nullableTime(r.TermStart), nullableTime(r.TermEnd), r.FreeTrial,
		s.now(), activation, usageID, r.OfferID, subID); err != nil {
		return false, fmt.Errorf("update subscription %d from its marketplace: %w", subID, err)
	}
	changed = next != status || r.Plan != plan || r.Quantity != seats
	if next == status {
		return changed, s.tellChange(ctx, tx, link, subID, "", false)
	}
	at = store.Now(at)
	if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = $1, status_at = $2,
			cancelled_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE cancelled_at END WHERE id = $3`, next, at, subID); err != nil {
		return changed, fmt.Errorf("update subscription %d to %s: %w", subID, next, err)
	}
	// The activation that follows a link is no news to the admins its
	// mail just told; a reinstatement after a suspension is.
	if status != StatusPending {
		note := next
		if status == StatusUnsubscribePending && next == StatusActive {
			note = noteCancellationReverted
		}
		if err := s.tellBilling(ctx, tx, subID, note); err != nil {
			return changed, err
		}
	}
	if next == StatusCancelled {
		if err := s.endLink(ctx, tx, subID, StatusCancelled); err != nil {
			return changed, err
		}
	}
	return changed, s.tellChange(ctx, tx, link, subID, next, false)
}

// wantActivation marks a subscription just linked as owing its
// marketplace's activation, in the link's transaction: a process that dies
// after the link leaves it for the activation loop.
func (s *Service) wantActivation(ctx context.Context, tx *sql.Tx, subID int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET activation = 'wanted', activation_after = NULL, activation_attempts = 0
		WHERE id = $1 AND status = 'pending' AND activation = ''`, subID)
	if err != nil {
		return false, fmt.Errorf("want activation of subscription %d: %w", subID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// activationLease is how long one process holds an activation it is
// making: another waits that long before trying it.
const activationLease = time.Minute

// Activate tells the marketplace to bill a linked subscription that waits
// for it, once: it reads the subscription first and calls the
// marketplace's activation only if it is still pending, since Microsoft's
// is not idempotent (a second call answers 400). A process that claimed it
// and died leaves it to the next after activationLease. It reports whether
// the subscription is now activated.
func (s *Service) Activate(ctx context.Context, subID int64) (bool, error) {
	now := s.now()
	var marketplace, key string
	var attempts int
	err := s.db.Write().QueryRowContext(ctx, `UPDATE subscriptions SET activation_after = $1, activation_attempts = activation_attempts + 1
		WHERE id = $2 AND activation = 'wanted' AND (activation_after IS NULL OR activation_after <= $3)
		RETURNING marketplace, agreement_key, activation_attempts`, now.Add(activationLease), subID, now).Scan(&marketplace, &key, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // done, not wanted, or another process is at it
	}
	if err != nil {
		return false, fmt.Errorf("claim activation of subscription %d: %w", subID, err)
	}
	prov, ok := s.cfg.Providers[marketplace]
	if !ok {
		return false, s.activationFailed(ctx, subID, attempts, ErrMarketplaceNotConfigured)
	}
	r, err := prov.Read(ctx, key)
	if err == nil && r.Status == StatusPending {
		if aerr := prov.Activate(ctx, r); aerr != nil {
			// The answer may be lost after the marketplace activated it:
			// what it says now decides.
			r, err = prov.Read(ctx, key)
			if err == nil && r.Status == StatusPending {
				err = aerr
			}
		} else {
			r, err = prov.Read(ctx, key)
		}
	}
	if err != nil {
		return false, s.activationFailed(ctx, subID, attempts, err)
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := s.syncRemote(ctx, tx, subID, r, s.now())
		return err
	})
	if err != nil {
		return false, s.activationFailed(ctx, subID, attempts, err)
	}
	return r.Status == StatusActive || r.Status == StatusSuspended, nil
}

// activationFailed keeps the error for the billing page and the operator,
// and backs off after the claim's attempt: 10 s, doubling, at most 10
// minutes.
func (s *Service) activationFailed(ctx context.Context, subID int64, attempts int, cause error) error {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	wait := min(10*time.Second<<min(attempts-1, 6), 10*time.Minute)
	if _, err := s.db.Write().ExecContext(ctx, `UPDATE subscriptions SET activation_error = $1, activation_after = $2
		WHERE id = $3 AND activation = 'wanted'`, msg, s.now().Add(wait), subID); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// ActivateWanted makes the activations that are due, up to limit, and
// returns how many succeeded.
func (s *Service) ActivateWanted(ctx context.Context, limit int) (int, error) {
	ids, err := s.listIDs(ctx, `SELECT id FROM subscriptions WHERE activation = 'wanted'
		AND (activation_after IS NULL OR activation_after <= $1) ORDER BY id LIMIT $2`, s.now(), limit)
	if err != nil {
		return 0, fmt.Errorf("list wanted activations: %w", err)
	}
	return s.runEach(ctx, ids, "activation not made", s.Activate), nil
}

// runEach runs fn for each id in turn and counts those it did; a failure
// is logged and left for the next pass.
func (s *Service) runEach(ctx context.Context, ids []int64, failed string, fn func(context.Context, int64) (bool, error)) int {
	done := 0
	for _, id := range ids {
		ok, err := fn(ctx, id)
		if err != nil {
			s.cfg.Logger.Warn(failed, "id", id, "err", err)
			continue
		}
		if ok {
			done++
		}
	}
	return done
}

// ReconcileReport is what a reconciliation with a marketplace found.
type ReconcileReport struct {
	Listed  int // subscriptions the marketplace listed
	Known   int // of those, recorded here
	Changed int // of those, whose recorded state changed
}

// Reconcile lists every subscription the marketplace holds for the seller
// and applies what it says to those recorded here: it repairs notices that
// were lost (Microsoft has no "changed since" query, so it reads them all).
// Subscriptions never landed here are left alone: the buyer has not set up
// an account yet.
func (s *Service) Reconcile(ctx context.Context, marketplace string) (ReconcileReport, error) {
	var rep ReconcileReport
	prov, ok := s.cfg.Providers[marketplace]
	if !ok {
		return rep, ErrMarketplaceNotConfigured
	}
	err := prov.List(ctx, func(r Remote) error {
		rep.Listed++
		var id int64
		err := s.db.Read().QueryRowContext(ctx, `SELECT id FROM subscriptions WHERE marketplace = $1 AND agreement_key = $2`,
			marketplace, r.Key).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find subscription %s: %w", r.Key, err)
		}
		rep.Known++
		var changed bool
		err = s.db.InTx(ctx, func(tx *sql.Tx) (err error) {
			changed, err = s.syncRemote(ctx, tx, id, r, s.now())
			return err
		})
		if changed {
			rep.Changed++
		}
		return err
	})
	return rep, err
}
