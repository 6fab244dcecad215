package marketplace

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Actions a notification can carry, normalised across SNS and EventBridge.
const (
	ActionSubscribeSuccess   = "subscribe-success"
	ActionSubscribeFail      = "subscribe-fail"
	ActionUnsubscribePending = "unsubscribe-pending"
	ActionUnsubscribeSuccess = "unsubscribe-success"
	ActionEntitlementUpdated = "entitlement-updated"
	// EventBridge only: License Updated (the grant or a change of
	// entitlements, which also means the subscription is live), and
	// agreement events kept for the record and their offer id.
	ActionLicenseUpdated   = "license-updated"
	ActionAgreementCreated = "agreement-created"
	ActionAgreementAmended = "agreement-amended"
	ActionAgreementEnded   = "agreement-ended"
)

// Subscription statuses.
const (
	StatusActive             = "active"
	StatusFailed             = "failed"
	StatusUnsubscribePending = "unsubscribe-pending"
	StatusCancelled          = "cancelled"
)

// maxNotificationAttempts bounds retries of a notification that fails to
// apply (GetEntitlements unavailable, say) before an operator must look.
const maxNotificationAttempts = 20

// FinalMeteringWindow is how long after unsubscribe-pending AWS still
// accepts the final usage (R18).
const FinalMeteringWindow = time.Hour

// Notification is one marketplace message, as received. ProductCode and
// Customer select the subscription it acts on; an agreement event, which
// names no product, selects it by AgreementID instead (#11).
type Notification struct {
	Source      string // sns or eventbridge
	MessageID   string
	Action      string
	ProductCode string
	AgreementID string // EventBridge only
	Customer    Customer
	OfferID     string
	FreeTrial   bool
	SentAt      time.Time
	Payload     string
}

// Record stores a notification unless one with the same id was stored
// before, and says whether it is new. Storing comes before acting, so that
// a crash between the two loses nothing.
func (s *Service) Record(ctx context.Context, n Notification) (id int64, isNew bool, err error) {
	err = s.db.Write().QueryRowContext(ctx, `INSERT INTO notifications (source, message_id, action, product_code, customer_aws_account_id,
			customer_identifier, license_arn, offer_id, free_trial, sent_at, payload, received_at, agreement_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (source, message_id) DO NOTHING RETURNING id`,
		n.Source, n.MessageID, n.Action, n.ProductCode, n.Customer.AccountID, n.Customer.Identifier, n.Customer.LicenseArn,
		n.OfferID, n.FreeTrial, store.Now(n.SentAt), n.Payload, s.now(), n.AgreementID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("record notification %s: %w", n.MessageID, err)
	}
	return id, true, nil
}

// ApplyPending applies stored notifications not yet applied, oldest event
// first, and returns how many took effect. Notifications for a customer
// whose purchase has not arrived yet wait, and are applied once it does.
func (s *Service) ApplyPending(ctx context.Context, limit int) (int, error) {
	// New notifications first: those waiting for a purchase that may never
	// come must not hold them up.
	ids, err := s.listIDs(ctx, `SELECT id FROM notifications WHERE status = 'pending' ORDER BY sent_at, id LIMIT $1`, limit)
	if err != nil {
		return 0, fmt.Errorf("list pending notifications: %w", err)
	}
	// Then waiting ones, in turn from where the last call stopped: taking
	// the oldest each time, a hundred that wait for purchases that never
	// come would keep a newer one from ever being applied once its
	// purchase arrives.
	if room := limit - len(ids); room > 0 {
		waiting, err := s.nextWaiting(ctx, room)
		if err != nil {
			return 0, fmt.Errorf("list waiting notifications: %w", err)
		}
		ids = append(ids, waiting...)
	}
	applied := 0
	for _, id := range ids {
		ok, err := s.apply(ctx, id)
		if err != nil {
			s.cfg.Logger.Warn("notification not applied", "notification", id, "err", err)
			continue
		}
		if ok {
			applied++
		}
	}
	return applied, nil
}

// waitingCursor is the id after which ApplyPending looks at waiting
// notifications next. Each process keeps its own: it only spreads the
// looking, so losing it at a restart is harmless.
type waitingCursor struct {
	mu    sync.Mutex
	after int64
}

// nextWaiting returns up to n waiting notifications after the cursor,
// wrapping around to the first once past the last, and moves the cursor.
// They are returned oldest event first, as pending ones are, so that the
// notifications of a purchase that has just arrived apply in order.
func (s *Service) nextWaiting(ctx context.Context, n int) ([]int64, error) {
	s.waiting.mu.Lock()
	defer s.waiting.mu.Unlock()
	found, err := s.listWaiting(ctx, `id > $1`, s.waiting.after, n)
	if err != nil {
		return nil, err
	}
	next := lastID(found)
	if len(found) < n && s.waiting.after > 0 {
		// Past the last: go on from the first, up to where this round
		// started.
		more, err := s.listWaiting(ctx, `id <= $1`, s.waiting.after, n-len(found))
		if err != nil {
			return nil, err
		}
		found, next = append(found, more...), lastID(more)
	}
	s.waiting.after = next
	if len(found) < n {
		s.waiting.after = 0 // every one was seen: start from the first next time
	}
	slices.SortFunc(found, func(a, b waitingNotification) int {
		if c := a.sentAt.Compare(b.sentAt); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	ids := make([]int64, len(found))
	for i, w := range found {
		ids[i] = w.id
	}
	return ids, nil
}

// lastID is the id of the last of ws, listed in id order; 0 for none.
func lastID(ws []waitingNotification) int64 {
	if len(ws) == 0 {
		return 0
	}
	return ws[len(ws)-1].id
}

type waitingNotification struct {
	id     int64
	sentAt time.Time
}

func (s *Service) listWaiting(ctx context.Context, idCond string, id int64, n int) ([]waitingNotification, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, sent_at FROM notifications WHERE status = 'waiting' AND `+idCond+` ORDER BY id LIMIT $2`, id, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []waitingNotification
	for rows.Next() {
		var w waitingNotification
		if err := rows.Scan(&w.id, &w.sentAt); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// listIDs runs a query of ids on the read pool.
func (s *Service) listIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.db.Read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

type storedNotification struct {
	Notification
	id     int64
	status string
}

// apply runs one notification's effect. It is safe to run twice, and from
// two processes at once: the notification row is claimed in the same
// transaction as the effect.
func (s *Service) apply(ctx context.Context, id int64) (bool, error) {
	// entitlement-updated needs GetEntitlements, a network call, which
	// must not run inside the write transaction: read first, apply after.
	// It asks for the entitlements of the subscription the notification
	// selects, as the seller recorded its customer, never of whomever the
	// message names.
	n, err := s.notification(ctx, id)
	if err != nil {
		return false, err
	}
	var ents []Entitlement
	var readFor int64
	if s.refreshesEntitlements(n.Notification) {
		sub, found, err := s.findSubscription(ctx, s.db.Read(), n.Notification)
		if err == nil && found {
			readFor = sub.id
			ents, err = s.cfg.Resolver.Entitlements(ctx, sub.ProductCode, sub.Customer)
		}
		if err != nil {
			s.markFailedAttempt(ctx, id, err)
			return false, err
		}
	}
	applied := false
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM notifications WHERE id = $1`+s.db.Dialect().ForUpdate(), id).Scan(&status); err != nil {
			return fmt.Errorf("lock notification %d: %w", id, err)
		}
		if status == "applied" {
			return nil
		}
		sub, found, err := s.findSubscription(ctx, tx, n.Notification)
		if err != nil {
			return err
		}
		if !found {
			// Kept until the purchase arrives; rewritten only once, since
			// the worker looks again every few seconds.
			_, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'waiting' WHERE id = $1 AND status <> 'waiting'`, id)
			return err
		}
		if s.refreshesEntitlements(n.Notification) && sub.id != readFor {
			return fmt.Errorf("notification %d: its subscription changed while its entitlements were read; tried again later", id)
		}
		if err := s.effect(ctx, tx, sub.id, n.Notification, ents); err != nil {
			return err
		}
		applied = true
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET status = 'applied', applied_at = $1, attempts = attempts + 1, last_error = ''
			WHERE id = $2`, s.now(), id)
		return err
	})
	if err != nil {
		s.markFailedAttempt(ctx, id, err)
	}
	return applied, err
}

func (s *Service) markFailedAttempt(ctx context.Context, id int64, cause error) {
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	// After maxNotificationAttempts the notification is failed: the
	// operator view shows it with its error and can run it again. An
	// ambiguous one fails at once, and does not wait to be tried again:
	// once the EventBridge copy of the same change has ended one of the
	// candidates, a retry would find the other the only live one and apply
	// the change to it, the wrong one.
	limit := maxNotificationAttempts
	if errors.Is(cause, errAmbiguous) {
		limit = 0
	}
	if _, err := s.db.Write().ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = $1,
		status = CASE WHEN attempts + 1 >= $2 THEN 'failed' ELSE status END WHERE id = $3 AND status <> 'applied'`,
		msg, limit, id); err != nil {
		s.cfg.Logger.Warn("record notification failure", "notification", id, "err", err)
	}
}

func (s *Service) notification(ctx context.Context, id int64) (storedNotification, error) {
	var n storedNotification
	n.id = id
	err := s.db.Read().QueryRowContext(ctx, `SELECT source, message_id, action, product_code, agreement_id, customer_aws_account_id,
			customer_identifier, license_arn, offer_id, free_trial, sent_at, payload, status FROM notifications WHERE id = $1`, id).
		Scan(&n.Source, &n.MessageID, &n.Action, &n.ProductCode, &n.AgreementID, &n.Customer.AccountID, &n.Customer.Identifier,
			&n.Customer.LicenseArn, &n.OfferID, &n.FreeTrial, &n.SentAt, &n.Payload, &n.status)
	if err != nil {
		return n, fmt.Errorf("read notification %d: %w", id, err)
	}
	return n, nil
}

// matchedSubscription is the subscription a notification acts on, with the
// product and customer the seller recorded for it.
type matchedSubscription struct {
	id          int64
	ProductCode string
	Customer    Customer
}

// errAmbiguous is why a notification matched several subscriptions and was
// applied to none: an SNS message names a product and a customer, never an
// agreement, and one account may hold several agreements of a product
// (Concurrent Agreements, or a resubscription while the old one is still
// ending). Guessing the newest could cancel the wrong one (#13); the
// operator view shows the notification as failed with this reason, and the
// EventBridge events of the same change, which name the license or the
// agreement, settle it.
var errAmbiguous = errors.New("the notification names no license or agreement, and several subscriptions of its product and customer could be the one")

// findSubscription matches a notification to the subscription it is about,
// which must be of the same product and the same customer (#11): a
// subscription of the product whose customer agrees with every field the
// notification names (account, legacy identifier, license). Among several,
// the one with the same license, else the one its agreement was recorded
// for, else the one with its offer; what is left after that must be one
// subscription not yet ended, or errAmbiguous: nothing is guessed (#13). An
// agreement event names no product; it selects the subscription a License
// event of its agreement was matched to, if the customer agrees. Anything
// else matches nothing.
func (s *Service) findSubscription(ctx context.Context, q queryer, n Notification) (matchedSubscription, bool, error) {
	const cols = `SELECT s.id, s.product_code, s.customer_aws_account_id, s.customer_identifier, s.license_arn, s.offer_id, s.status,
		COALESCE(a.agreement_id, '') FROM subscriptions s `
	var rows *sql.Rows
	var err error
	switch c := n.Customer; {
	case n.ProductCode != "" && (c.AccountID != "" || c.Identifier != ""):
		// Candidates share the product and one customer field; which of
		// them agree in every field is decided below, in Go, so that no
		// value from the message is ever a pattern.
		var who []string
		args := []any{s.cfg.Marketplace, n.ProductCode, n.AgreementID}
		if c.AccountID != "" {
			args = append(args, c.AccountID)
			who = append(who, fmt.Sprintf("s.customer_aws_account_id = $%d", len(args)))
		}
		if c.Identifier != "" {
			args = append(args, c.Identifier)
			who = append(who, fmt.Sprintf("s.customer_identifier = $%d", len(args)))
		}
		rows, err = q.QueryContext(ctx, cols+`LEFT JOIN subscription_agreements a ON a.subscription_id = s.id AND a.agreement_id = $3
			WHERE s.marketplace = $1 AND s.product_code = $2 AND (`+strings.Join(who, " OR ")+`)
			ORDER BY s.id LIMIT 100`, args...)
	case n.ProductCode == "" && n.AgreementID != "":
		rows, err = q.QueryContext(ctx, cols+`JOIN subscription_agreements a ON a.subscription_id = s.id
			WHERE a.agreement_id = $1 AND s.marketplace = $2`, n.AgreementID, s.cfg.Marketplace)
	default:
		return matchedSubscription{}, false, nil
	}
	if err != nil {
		return matchedSubscription{}, false, fmt.Errorf("find subscription for notification: %w", err)
	}
	defer rows.Close()
	var agree []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.ProductCode, &c.Customer.AccountID, &c.Customer.Identifier, &c.Customer.LicenseArn,
			&c.offerID, &c.status, &c.agreementID); err != nil {
			return matchedSubscription{}, false, fmt.Errorf("find subscription for notification: %w", err)
		}
		if sameCustomer(c.Customer, n.Customer) {
			agree = append(agree, c)
		}
	}
	if err := rows.Err(); err != nil {
		return matchedSubscription{}, false, fmt.Errorf("find subscription for notification: %w", err)
	}
	return pickCandidate(agree, n)
}

// candidate is a subscription that agrees with every customer field a
// notification names.
type candidate struct {
	matchedSubscription
	offerID, status, agreementID string
}

// pickCandidate narrows the candidates by what the notification names, most
// specific first, and answers the one left; see findSubscription.
func pickCandidate(cs []candidate, n Notification) (matchedSubscription, bool, error) {
	narrow := func(keep func(candidate) bool) {
		var kept []candidate
		for _, c := range cs {
			if keep(c) {
				kept = append(kept, c)
			}
		}
		if len(kept) > 0 {
			cs = kept
		}
	}
	// The same license, or the agreement recorded for it, is this very
	// agreement, whatever its state. (sameCustomer let through only
	// subscriptions of the notification's license or of none recorded.)
	for _, c := range cs {
		if (licenseID(n.Customer.LicenseArn) != "" && licenseID(c.Customer.LicenseArn) != "") ||
			(n.AgreementID != "" && c.agreementID == n.AgreementID) {
			return c.matchedSubscription, true, nil
		}
	}
	if n.OfferID != "" {
		narrow(func(c candidate) bool { return c.offerID == n.OfferID })
	}
	// A cancelled or failed subscription takes no further change: AWS makes
	// a new agreement to subscribe again (R21).
	narrow(func(c candidate) bool { return c.status != StatusCancelled && c.status != StatusFailed })
	switch len(cs) {
	case 0:
		return matchedSubscription{}, false, nil
	case 1:
		return cs[0].matchedSubscription, true, nil
	}
	return matchedSubscription{}, false, errAmbiguous
}

// sameCustomer says whether a notification's customer is the recorded one:
// every field both name agrees, and at least one does.
func sameCustomer(recorded, named Customer) bool {
	agree := 0
	for _, f := range [][2]string{
		{recorded.AccountID, named.AccountID},
		{recorded.Identifier, named.Identifier},
		{licenseID(recorded.LicenseArn), licenseID(named.LicenseArn)},
	} {
		if f[0] == "" || f[1] == "" {
			continue
		}
		if f[0] != f[1] {
			return false
		}
		agree++
	}
	return agree > 0
}

// licenseID is a license ARN's l-… id, by which licenses compare: AWS's
// EventBridge examples omit the ARN's "arn:" prefix. A value with no such
// id has none.
func licenseID(arn string) string {
	id := arn[strings.LastIndexAny(arn, "/:")+1:]
	if !strings.HasPrefix(id, "l-") || len(id) < 3 {
		return ""
	}
	return id
}

// effect changes the subscription as the notification says, unless a
// newer event already decided its status (out-of-order delivery).
func (s *Service) effect(ctx context.Context, tx *sql.Tx, subID int64, n Notification, ents []Entitlement) error {
	sentAt := store.Now(n.SentAt)
	if n.OfferID != "" || n.FreeTrial {
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET offer_id = CASE WHEN $1 <> '' THEN $1 ELSE offer_id END,
			free_trial = free_trial OR $2 WHERE id = $3`, n.OfferID, n.FreeTrial, subID); err != nil {
			return fmt.Errorf("record offer of subscription %d: %w", subID, err)
		}
	}
	// The organization the subscription bills before the change is the one
	// told of it (issue 12).
	link, err := s.eventLink(ctx, tx, subID)
	if err != nil {
		return err
	}
	var status string
	var set []any
	entsChanged := false
	if s.refreshesEntitlements(n) {
		if entsChanged, err = s.replaceEntitlementsTold(ctx, tx, link, subID, ents); err != nil {
			return err
		}
	}
	if n.AgreementID != "" {
		if n.ProductCode != "" {
			// A License event, matched by product and customer: its
			// agreement's events, which name no product, act on this
			// subscription (and only on it).
			if err := s.recordAgreement(ctx, tx, n.AgreementID, subID); err != nil {
				return err
			}
		}
		// Whatever changed, the agreement's status and terms are read
		// again after this (#13).
		if err := s.wantAgreementRead(ctx, tx, n.AgreementID, subID); err != nil {
			return err
		}
	}
	switch n.Action {
	case ActionSubscribeSuccess, ActionLicenseUpdated:
		status = StatusActive
	case ActionSubscribeFail:
		status = StatusFailed
	case ActionUnsubscribePending:
		status, set = StatusUnsubscribePending, []any{sentAt.Add(FinalMeteringWindow)}
	case ActionUnsubscribeSuccess:
		status = StatusCancelled
	default:
		// Recorded; nothing else to do.
		return s.tellChange(ctx, tx, link, subID, "", entsChanged)
	}
	res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = $1, status_at = $2, updated_at = $3,
			final_metering_by = CASE WHEN $1 = 'unsubscribe-pending' THEN $4 ELSE final_metering_by END,
			cancelled_at = CASE WHEN $1 = 'cancelled' THEN $2 ELSE cancelled_at END
		WHERE id = $5 AND status <> $1 AND (status_at IS NULL OR status_at <= $2)`, status, sentAt, s.now(), nullTime(set), subID)
	if err != nil {
		return fmt.Errorf("update subscription %d to %s: %w", subID, status, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// A newer event already set the status, or this is a second copy
		// of the change that set it: AWS sends each agreement change as
		// "- Manufacturer" and "- Proposer" with different ids, and an
		// SNS subscribe-success can repeat a License Updated. The first
		// copy's deadline, mail and audit entry stand (#13); a later copy
		// only says the status held until its time, so that an older
		// event arriving after it does not undo it.
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status_at = $1 WHERE id = $2 AND status = $3
				AND (status_at IS NULL OR status_at < $1)`, sentAt, subID, status); err != nil {
			return fmt.Errorf("confirm status %s of subscription %d: %w", status, subID, err)
		}
		return s.tellChange(ctx, tx, link, subID, "", entsChanged)
	}
	if err := s.tellBilling(ctx, tx, subID, status); err != nil {
		return err
	}
	if status == StatusCancelled || status == StatusFailed {
		if err := s.endLink(ctx, tx, subID, status); err != nil {
			return err
		}
	}
	return s.tellChange(ctx, tx, link, subID, status, entsChanged)
}

// transitionNotes are what an organization's admins are told when its
// subscription changes, and what the audit log records.
var transitionNotes = map[string]struct{ subject, text string }{
	StatusUnsubscribePending: {"Your AWS Marketplace subscription is being cancelled",
		"The AWS Marketplace subscription that bills %q is being cancelled. Usage up to now is reported to AWS within the hour. " +
			"Link another subscription or billing method within 14 days of the cancellation to keep using the service.\n\nBilling page: %s\n"},
	StatusCancelled: {"Your AWS Marketplace subscription was cancelled",
		"The AWS Marketplace subscription that billed %q was cancelled. The organization and its data are kept. " +
			"Link a new subscription or billing method within 14 days; after that the organization is suspended.\n\nBilling page: %s\n"},
	StatusFailed: {"Your AWS Marketplace subscription failed",
		"AWS Marketplace could not complete the subscription that was to bill %q. Nothing is billed through it.\n\nBilling page: %s\n"},
}

// remoteTransitionNotes are transitionNotes for a Provider's marketplace,
// whose name replaces %s in the subject and {marketplace} in the text.
var remoteTransitionNotes = map[string]struct{ subject, text string }{
	StatusCancelled: {"Your %s subscription was cancelled",
		"The {marketplace} subscription that billed %q was cancelled. Usage up to the cancellation is still reported within {final}. " +
			"The organization and its data are kept. Link a new subscription or billing method within 14 days; after that the organization is suspended.\n\nBilling page: %s\n"},
	StatusSuspended: {"Your %s subscription is suspended",
		"The {marketplace} subscription that bills %q is suspended: the marketplace could not collect its payment. " +
			"Nothing of the organization is lost. Update the payment method on the marketplace within 30 days, or it cancels the subscription.\n\nBilling page: %s\n"},
	StatusActive: {"Your %s subscription is reinstated",
		"The {marketplace} subscription that bills %q is active again: the marketplace received its payment, and usage is billed through it.\n\nBilling page: %s\n"},
	// Google's pending cancellation runs to the end of the term, and the
	// buyer may withdraw it until then.
	StatusUnsubscribePending: {"Your %s subscription is being cancelled",
		"The {marketplace} subscription that bills %q is being cancelled: it is not renewed, and ends with its current term. " +
			"Until then usage is billed through it as before, and the buyer can withdraw the cancellation on the marketplace. " +
			"Link another subscription or billing method within 14 days of the end to keep using the service.\n\nBilling page: %s\n"},
	noteCancellationReverted: {"Your %s subscription is no longer being cancelled",
		"The cancellation of the {marketplace} subscription that bills %q was withdrawn: it renews as before, and usage is billed through it.\n\nBilling page: %s\n"},
}

// noteCancellationReverted stands for a pending cancellation withdrawn
// (Google's ENTITLEMENT_CANCELLATION_REVERTED): active again, but not a
// reinstatement after a failed payment.
const noteCancellationReverted = "cancellation-reverted"

// tellBilling records a status change in the linked organization's audit
// log and mails its admins and billing members, in the same transaction as
// the change.
func (s *Service) tellBilling(ctx context.Context, tx *sql.Tx, subID int64, status string) error {
	var marketplace string
	if err := tx.QueryRowContext(ctx, `SELECT marketplace FROM subscriptions WHERE id = $1`, subID).Scan(&marketplace); err != nil {
		return fmt.Errorf("read marketplace of subscription %d: %w", subID, err)
	}
	note, ok := transitionNotes[status]
	if marketplace != AWS {
		note, ok = remoteTransitionNotes[status]
		note.subject = fmt.Sprintf(note.subject, Label(marketplace))
		note.text = strings.NewReplacer("{marketplace}", Label(marketplace),
			"{final}", finalWindowWords(FinalMeteringWindowOf(marketplace))).Replace(note.text)
		if status == noteCancellationReverted {
			status = StatusActive // for the audit log
		}
	}
	if !ok {
		return nil
	}
	link, err := s.activeLink(ctx, tx, `subscription_id = $1`, subID)
	if err != nil || link == nil {
		return err
	}
	if err := s.cfg.Orgs.AuditTx(ctx, tx, link.OrgID, 0, "billing.status", Label(marketplace)+" subscription "+status); err != nil {
		return err
	}
	to, err := s.cfg.Orgs.BillingContactsTx(ctx, tx, link.OrgID)
	if err != nil {
		return err
	}
	page := fmt.Sprintf("%s/orgs/%d/billing", s.cfg.BaseURL, link.OrgID)
	_, err = s.cfg.Mailer.Enqueue(ctx, tx, mailbox.Message{To: to, Subject: note.subject, Text: fmt.Sprintf(note.text, link.OrgName, page)})
	return err
}

// finalWindowWords says a final-metering window in words: "an hour",
// "24 hours".
func finalWindowWords(d time.Duration) string {
	if d == time.Hour {
		return "an hour"
	}
	return fmt.Sprintf("%d hours", int(d.Hours()))
}

// refreshesEntitlements says whether the notification means re-reading the
// contract's entitlements: AWS's message is the same for a new contract, an
// upgrade, a renewal and an expiry, so GetEntitlements is the truth (R22).
func (s *Service) refreshesEntitlements(n Notification) bool {
	p, ok := s.cfg.Catalog.Product(n.ProductCode)
	return ok && p.OfferType == OfferContract && (n.Action == ActionEntitlementUpdated || n.Action == ActionLicenseUpdated)
}

func nullTime(v []any) sql.NullTime {
	if len(v) == 0 {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: v[0].(time.Time), Valid: true}
}

// endLink removes the billing link of a cancelled subscription: only the
// link, never the organization or its data (R17). The organization's audit
// log records it.
func (s *Service) endLink(ctx context.Context, tx *sql.Tx, subID int64, reason string) error {
	var orgID int64
	err := tx.QueryRowContext(ctx, `UPDATE billing_links SET ended_at = $1, end_reason = $2 WHERE subscription_id = $3 AND ended_at IS NULL
		RETURNING org_id`, s.now(), reason, subID).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end billing link of subscription %d: %w", subID, err)
	}
	var marketplace string
	if err := tx.QueryRowContext(ctx, `SELECT marketplace FROM subscriptions WHERE id = $1`, subID).Scan(&marketplace); err != nil {
		return fmt.Errorf("read marketplace of subscription %d: %w", subID, err)
	}
	return s.cfg.Orgs.AuditTx(ctx, tx, orgID, 0, "billing.unlink", Label(marketplace)+" subscription "+reason)
}

// RunNotifications applies stored notifications every interval until ctx
// ends: those that failed (AWS unavailable for GetEntitlements) and those
// waiting for their purchase. Each time it also records the billing states
// that time brings about (TellElapsed), on the marketplace's clock.
func (s *Service) RunNotifications(ctx context.Context, every time.Duration) {
	runEvery(ctx, every, func() {
		if _, err := s.ApplyPending(ctx, 100); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("apply notifications", "err", err)
		}
		if _, err := s.TellElapsed(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("record elapsed billing states", "err", err)
		}
	})
}

// runEvery calls fn every interval until ctx ends.
func runEvery(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
