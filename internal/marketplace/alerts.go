package marketplace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/money"
	"github.com/marketbridge/marketbridge/internal/store"
)

// creditAlertThresholds are the shares of committed credits whose crossing
// is mailed to the organization's admins and billing members (R15), and
// told to the vendor's product as credits.threshold (issue 12), which is
// also told of creditsUsedUp.
var creditAlertThresholds = []int64{50, 75, 90, creditsUsedUp}

// creditsUsedUp is the threshold of committed credits used up: recorded in
// credit_alerts and told to the vendor's product, never mailed (R15 mails
// at 50, 75 and 90%; the billing page shows the overage, R14).
const creditsUsedUp = 100

// CreditUse is how much of one contract term's committed credits usage has
// drawn.
type CreditUse struct {
	SubscriptionID int64
	// Term is the term whose credits were drawn: its start names it, its
	// credits are the commitment now, after any upgrade.
	Term       Term
	UsedMicros int64
}

// RecordCreditUse mails the linked organization's admins when the usage of
// a term reaches 50%, 75% or 90% of the term's committed credits, and
// records credits.threshold events for these and 100%, once per term and
// threshold: a renewal's term alerts again as its fresh credits
// are used, and an old term's last hours alert against its own credits
// (R13, R15, R22). The unique index of credit_alerts makes the mail go
// once even when two processes notice at the same time.
//
// An upgrade that raises the commitment within a term recomputes the
// share against the new commitment. A threshold of the new commitment is
// mailed again only when it stands for more credits than the admins have
// already been told are used: after 90% of 100 credits, an upgrade to 200
// alerts at 50% (100 credits), 75% and 90% of 200, because they bought
// more credits precisely to keep using them and need the new warnings
// before overage starts; an upgrade to 110 alerts at 90% of 110 only, as
// 50% and 75% of it (55 and 82.5 credits) are below the 90 credits they
// know of and would be noise.
func (s *Service) RecordCreditUse(ctx context.Context, in CreditUse) error {
	committed := in.Term.Credits * 1_000_000
	if committed <= 0 {
		return nil
	}
	if err := s.keepCreditUse(ctx, in); err != nil {
		return err
	}
	percent := in.UsedMicros * 100 / committed
	if percent < creditAlertThresholds[0] {
		return nil
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		told, err := s.creditsToldUsed(ctx, tx, in.SubscriptionID, in.Term)
		if err != nil {
			return err
		}
		for _, th := range creditAlertThresholds {
			if percent < th {
				break
			}
			if th*in.Term.Credits <= told {
				continue // this threshold, or a larger share, was mailed
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO credit_alerts (subscription_id, term_start, credits, threshold, sent_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				in.SubscriptionID, termStart(in.Term), in.Term.Credits, th, s.now())
			if err != nil {
				return fmt.Errorf("record credit alert: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // another process sent it
			}
			if err := s.tellCredits(ctx, tx, in, th); err != nil {
				return err
			}
			if th == creditsUsedUp {
				continue
			}
			told = th * in.Term.Credits
			if err := s.mailCreditAlert(ctx, tx, in, th); err != nil {
				return err
			}
		}
		return nil
	})
}

// creditsToldUsed is the most a term's alerts have told the admins is used,
// in hundredths of a credit (percent times whole credits). The alerts of
// before migration 0015 did not keep their commitment: they count against
// the term's commitment now. Credits used up (100%) were not mailed, so
// they do not count: an upgrade after them mails its thresholds as it
// would after 90%.
func (s *Service) creditsToldUsed(ctx context.Context, tx *sql.Tx, subID int64, t Term) (int64, error) {
	where, args := `term_start IS NULL`, []any{subID, t.Credits}
	if !t.Start.IsZero() {
		where, args = `term_start = $3`, append(args, store.Now(t.Start))
	}
	var told sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT MAX(threshold * COALESCE(credits, $2)) FROM credit_alerts
		WHERE subscription_id = $1 AND threshold < 100 AND `+where, args...).Scan(&told)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read credit alerts of subscription %d: %w", subID, err)
	}
	return told.Int64, nil
}

// termStart is how credit_alerts names a term: NULL for the first.
func termStart(t Term) sql.NullTime {
	if t.Start.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: store.Now(t.Start), Valid: true}
}

// mailCreditAlert mails the linked organization's admins and billing members that usage of a
// term reached th% of its committed credits, and notes it in the audit log.
func (s *Service) mailCreditAlert(ctx context.Context, tx *sql.Tx, in CreditUse, th int64) error {
	link, err := s.activeLink(ctx, tx, `subscription_id = $1`, in.SubscriptionID)
	if err != nil || link == nil {
		return err
	}
	to, err := s.cfg.Orgs.BillingContactsTx(ctx, tx, link.OrgID)
	if err != nil {
		return err
	}
	term, ends := "its AWS Marketplace contract", ""
	if !in.Term.End.IsZero() {
		ends = in.Term.End.UTC().Format(time.DateOnly)
		term = "the term of its AWS Marketplace contract that ends on " + ends
	}
	msg := mailbox.Message{To: to, Subject: fmt.Sprintf("%d%% of %s's committed credits are used", th, link.OrgName),
		Text: fmt.Sprintf("The organization %q has used %d%% of the %s committed credits of %s.\n\n"+
			"When they are used up, further usage is billed as pay-as-you-go on the same contract, through AWS Marketplace.\n\n"+
			"Billing page: %s/orgs/%d/billing\n", link.OrgName, th, money.Dollars(in.Term.Credits), term, s.cfg.BaseURL, link.OrgID)}
	if _, err := s.cfg.Mailer.Enqueue(ctx, tx, msg); err != nil {
		return err
	}
	note := fmt.Sprintf("%d%% of committed credits used (%s)", th, money.Dollars(in.Term.Credits))
	if ends != "" {
		note = fmt.Sprintf("%d%% of committed credits used (%s, term ending %s)", th, money.Dollars(in.Term.Credits), ends)
	}
	return s.cfg.Orgs.AuditTx(ctx, tx, link.OrgID, 0, "billing.credits", note)
}

// keepCreditUse stores how much of the term's credits is used, for the
// entitlement endpoint (Standing): the newest term metered wins, so that a
// round that catches up across a renewal leaves the new term's.
func (s *Service) keepCreditUse(ctx context.Context, in CreditUse) error {
	if _, err := s.db.Write().ExecContext(ctx, `INSERT INTO credit_use (subscription_id, term_start, credits, used_micros, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (subscription_id) DO UPDATE SET term_start = excluded.term_start, credits = excluded.credits,
			used_micros = excluded.used_micros, updated_at = excluded.updated_at
		WHERE (excluded.term_start IS NULL AND credit_use.term_start IS NULL)
			OR (excluded.term_start IS NOT NULL AND (credit_use.term_start IS NULL OR excluded.term_start >= credit_use.term_start))`,
		in.SubscriptionID, termStart(in.Term), in.Term.Credits, in.UsedMicros, s.now()); err != nil {
		return fmt.Errorf("keep credit use of subscription %d: %w", in.SubscriptionID, err)
	}
	return nil
}
