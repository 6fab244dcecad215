package marketplace

import (
	"context"
	"database/sql"
	"fmt"

	mailbox "github.com/marketbridge/marketbridge/internal/mail"
)

// CreditAlertThresholds are the shares of committed credits whose crossing
// is mailed to the organization's admins (R15).
var creditAlertThresholds = []int64{50, 75, 90}

// RecordCreditUse mails the linked organization's admins once per threshold
// of committed credits that usage has reached. used and committed are in
// micro-dollars.
func (s *Service) RecordCreditUse(ctx context.Context, subscriptionID, used, committed int64) error {
	if committed <= 0 {
		return nil
	}
	percent := used * 100 / committed
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, th := range creditAlertThresholds {
			if percent < th {
				break
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO credit_alerts (subscription_id, threshold, sent_at) VALUES ($1, $2, $3)
				ON CONFLICT (subscription_id, threshold) DO NOTHING`, subscriptionID, th, s.now())
			if err != nil {
				return fmt.Errorf("record credit alert: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // already sent
			}
			link, err := s.activeLink(ctx, tx, `subscription_id = $1`, subscriptionID)
			if err != nil || link == nil {
				return err
			}
			admins, err := s.cfg.Orgs.AdminsTx(ctx, tx, link.OrgID)
			if err != nil {
				return err
			}
			msg := mailbox.Message{To: admins, Subject: fmt.Sprintf("%d%% of %s's committed credits are used", th, link.OrgName),
				Text: fmt.Sprintf("The organization %q has used %d%% of the committed credits of its AWS Marketplace contract.\n\n"+
					"When they are used up, further usage is billed as pay-as-you-go on the same contract, through AWS Marketplace.\n\n"+
					"Billing page: %s/orgs/%d/billing\n", link.OrgName, th, s.cfg.BaseURL, link.OrgID)}
			if _, err := s.cfg.Mailer.Enqueue(ctx, tx, msg); err != nil {
				return err
			}
			if err := s.cfg.Orgs.AuditTx(ctx, tx, link.OrgID, 0, "billing.credits", fmt.Sprintf("%d%% of committed credits used", th)); err != nil {
				return err
			}
		}
		return nil
	})
}
