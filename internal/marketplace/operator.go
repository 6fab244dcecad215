package marketplace

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// StoredNotification is a notification as the operator view lists it.
type StoredNotification struct {
	ID         int64
	Source     string
	MessageID  string
	Action     string
	Product    string
	Account    string
	SentAt     time.Time
	ReceivedAt time.Time
	Status     string
	Attempts   int
	LastError  string
	Payload    string
}

// Notifications lists the newest notifications, for the operator view.
func (s *Service) Notifications(ctx context.Context, limit int) ([]StoredNotification, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, source, message_id, action, product_code, customer_aws_account_id, sent_at,
			received_at, status, attempts, last_error, payload
		FROM notifications ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []StoredNotification
	for rows.Next() {
		var n StoredNotification
		if err := rows.Scan(&n.ID, &n.Source, &n.MessageID, &n.Action, &n.Product, &n.Account, &n.SentAt, &n.ReceivedAt,
			&n.Status, &n.Attempts, &n.LastError, &n.Payload); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Subscriptions lists the newest subscriptions with where they bill.
func (s *Service) Subscriptions(ctx context.Context, limit int) ([]Subscription, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+subscriptionColumns+subscriptionFrom+` ORDER BY s.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		sub, err := s.scanSubscription(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// PurchaseSummary is a set-up as the operator view lists it.
type PurchaseSummary struct {
	ID          int64
	Product     string
	Account     string
	UserEmail   string
	CreatedAt   time.Time
	CompletedAt time.Time
	ExpiresAt   time.Time
}

// Purchases lists the newest purchases (set-ups), linked or not.
func (s *Service) Purchases(ctx context.Context, limit int) ([]PurchaseSummary, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT p.id, s.product_code, s.customer_aws_account_id, COALESCE(u.email, ''), p.created_at,
			p.completed_at, p.expires_at
		FROM purchases p JOIN subscriptions s ON s.id = p.subscription_id LEFT JOIN users u ON u.id = p.user_id
		ORDER BY p.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list purchases: %w", err)
	}
	defer rows.Close()
	var out []PurchaseSummary
	for rows.Next() {
		var p PurchaseSummary
		var completed sql.NullTime
		if err := rows.Scan(&p.ID, &p.Product, &p.Account, &p.UserEmail, &p.CreatedAt, &completed, &p.ExpiresAt); err != nil {
			return nil, err
		}
		p.CompletedAt = completed.Time
		out = append(out, p)
	}
	return out, rows.Err()
}

// ErrNotRetryable is returned for a notification already applied.
var ErrNotRetryable = fault.New(fault.KindConflict, "That notification was already applied; there is nothing to run again.")

// RetryNotification runs a failed or waiting notification again now.
func (s *Service) RetryNotification(ctx context.Context, id int64) error {
	res, err := s.db.Write().ExecContext(ctx, `UPDATE notifications SET status = 'pending', attempts = 0 WHERE id = $1 AND status <> 'applied'`, id)
	if err != nil {
		return fmt.Errorf("retry notification %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotRetryable
	}
	_, err = s.apply(ctx, id)
	return err
}

// Notices lists the newest notices of Provider marketplaces (Microsoft's
// webhook calls), for the operator view; Source is "<marketplace> webhook"
// and Account the marketplace's subscription id.
func (s *Service) Notices(ctx context.Context, limit int) ([]StoredNotification, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, marketplace, notice_id, action, subscription_key, sent_at, received_at,
			status, attempts, last_error, payload
		FROM marketplace_notices ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list marketplace notices: %w", err)
	}
	defer rows.Close()
	var out []StoredNotification
	for rows.Next() {
		var n StoredNotification
		if err := rows.Scan(&n.ID, &n.Source, &n.MessageID, &n.Action, &n.Account, &n.SentAt, &n.ReceivedAt,
			&n.Status, &n.Attempts, &n.LastError, &n.Payload); err != nil {
			return nil, err
		}
		n.Source = Label(n.Source) + " webhook"
		out = append(out, n)
	}
	return out, rows.Err()
}

// RetryNotice runs a failed or waiting notice again now.
func (s *Service) RetryNotice(ctx context.Context, id int64) error {
	res, err := s.db.Write().ExecContext(ctx, `UPDATE marketplace_notices SET status = 'pending', attempts = 0, retry_after = NULL
		WHERE id = $1 AND status <> 'applied'`, id)
	if err != nil {
		return fmt.Errorf("retry notice %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotRetryable
	}
	applied, err := s.ApplyNotice(ctx, id)
	if err == nil && !applied {
		err = fmt.Errorf("notice %d is waiting: its subscription has not been set up here yet", id)
	}
	return err
}
