package mail

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Outbox stores mail durably in the mail_outbox table.
type Outbox struct {
	db  *store.DB
	now func() time.Time
}

// NewOutbox returns the outbox in db; now stamps new mail.
func NewOutbox(db *store.DB, now func() time.Time) *Outbox {
	return &Outbox{db: db, now: now}
}

// Enqueue validates m and stores it as pending inside tx, so that the mail
// exists exactly when the caller's change commits. With a nil tx it runs in a
// transaction of its own, for mail that is the whole change (a resend). Call
// the worker's Kick after the commit to have it delivered without waiting for
// the next poll.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, m Message) (id int64, err error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	if tx == nil {
		err = o.db.InTx(ctx, func(tx *sql.Tx) error {
			id, err = o.Enqueue(ctx, tx, m)
			return err
		})
		return id, err
	}
	to, err := json.Marshal(m.To)
	if err != nil {
		return 0, fmt.Errorf("enqueue mail: encode recipients: %w", err)
	}
	now := store.Now(o.now())
	err = tx.QueryRowContext(ctx, `INSERT INTO mail_outbox
		(recipients, subject, text_body, html_body, status, attempts, last_error, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, 0, '', $6, $6) RETURNING id`,
		string(to), m.Subject, m.Text, m.HTML, StatusPending, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue mail %q: %w", m.Subject, err)
	}
	return id, nil
}

// Limits of List: a page of the dev mailbox, not an export.
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// List returns up to limit mails, newest first, whatever their status: what
// the dev mailbox page shows. A limit of 0 or less means 50.
func (o *Outbox) List(ctx context.Context, limit int) ([]Stored, error) {
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	rows, err := o.db.Read().QueryContext(ctx, `SELECT `+storedColumns+` FROM mail_outbox ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	ms, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	return ms, nil
}

// Get returns one mail, or ErrNotFound.
func (o *Outbox) Get(ctx context.Context, id int64) (Stored, error) {
	row := o.db.Read().QueryRowContext(ctx, `SELECT `+storedColumns+` FROM mail_outbox WHERE id = $1`, id)
	s, err := scanStored(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Stored{}, fmt.Errorf("get mail %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("get mail %d: %w", id, err)
	}
	return s, nil
}

// claimed is a mail a worker holds until leaseUntil under its claim token.
type claimed struct {
	Stored
	token      string
	leaseUntil time.Time
}

// claim takes up to limit due mails for one worker: pending, due, and not
// under a live lease. On PostgreSQL rows locked by another worker's claim are
// skipped; on SQLite the transaction is the only writer. A due mail whose
// attempts are used up lost its worker during its last attempt and is given
// up rather than tried once more.
func (o *Outbox) claim(ctx context.Context, now time.Time, token string, lease time.Duration, limit, maxAttempts int) ([]claimed, error) {
	now = store.Now(now)
	leaseUntil := store.Now(now.Add(lease))
	var out []claimed
	err := o.db.InTx(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT `+storedColumns+` FROM mail_outbox
			WHERE status = $1 AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
			ORDER BY id LIMIT $3`+o.db.Dialect().SkipLocked(), StatusPending, now, limit)
		if err != nil {
			return err
		}
		due, err := scanAll(rows)
		if err != nil {
			return err
		}
		var ids []any
		for _, s := range due {
			if s.Attempts >= maxAttempts {
				if _, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET status = $1, last_error = $2,
					lease_until = NULL, claimed_by = NULL WHERE id = $3`,
					StatusFailed, clip(joinErrors(lostLeaseError, s.LastError)), s.ID); err != nil {
					return fmt.Errorf("give up mail %d: %w", s.ID, err)
				}
				continue
			}
			s.Attempts++
			ids = append(ids, s.ID)
			out = append(out, claimed{Stored: s, token: token, leaseUntil: leaseUntil})
		}
		if len(ids) == 0 {
			return nil
		}
		// One UPDATE for the batch; the rows are already ours (locked on
		// PostgreSQL, the only writer on SQLite), so nothing is re-checked.
		_, err = tx.ExecContext(ctx, `UPDATE mail_outbox SET lease_until = $1, claimed_by = $2, attempts = attempts + 1
			WHERE id IN (`+placeholders(3, len(ids))+`)`, append([]any{leaseUntil, token}, ids...)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due mail: %w", err)
	}
	return out, nil
}

// lostLeaseError is kept when a mail is given up because its last attempt
// never reported back.
const lostLeaseError = "gave up: the worker of the last attempt stopped before reporting (crash or lease expired)"

// finish records the outcome of a claim: delivered (sent or kept for the dev
// mailbox), retry at next, or failed. It changes nothing if the claim is no
// longer the row's latest (the lease expired and another worker took the
// row), and reports that with ok false.
func (o *Outbox) finish(ctx context.Context, c claimed, status Status, lastError string, at, next time.Time) (ok bool, err error) {
	var sentAt any
	if status == StatusSent || status == StatusDevMailbox {
		sentAt = store.Now(at)
	}
	res, err := o.db.Write().ExecContext(ctx, `UPDATE mail_outbox SET status = $1, last_error = $2, sent_at = $3,
		next_attempt_at = $4, lease_until = NULL, claimed_by = NULL
		WHERE id = $5 AND claimed_by = $6`,
		status, clip(lastError), sentAt, store.Now(next), c.ID, c.token)
	if err != nil {
		return false, fmt.Errorf("record mail %d as %s: %w", c.ID, status, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record mail %d as %s: %w", c.ID, status, err)
	}
	return n == 1, nil
}

// release hands back a claim that was not attempted (shutdown, or its lease
// ran out before its turn), so that it is due at once and the attempt is not
// counted.
func (o *Outbox) release(ctx context.Context, c claimed) error {
	_, err := o.db.Write().ExecContext(ctx, `UPDATE mail_outbox SET lease_until = NULL, claimed_by = NULL,
		attempts = attempts - 1 WHERE id = $1 AND claimed_by = $2`, c.ID, c.token)
	if err != nil {
		return fmt.Errorf("release mail %d: %w", c.ID, err)
	}
	return nil
}

const storedColumns = `id, recipients, subject, text_body, html_body, status, attempts, last_error,
	created_at, next_attempt_at, sent_at`

type scanner interface{ Scan(dest ...any) error }

func scanStored(r scanner) (Stored, error) {
	var (
		s      Stored
		to     string
		sentAt sql.NullTime
	)
	if err := r.Scan(&s.ID, &to, &s.Subject, &s.Text, &s.HTML, &s.Status, &s.Attempts, &s.LastError,
		&s.CreatedAt, &s.NextAttemptAt, &sentAt); err != nil {
		return Stored{}, err
	}
	if err := json.Unmarshal([]byte(to), &s.To); err != nil {
		return Stored{}, fmt.Errorf("mail %d: decode recipients: %w", s.ID, err)
	}
	s.CreatedAt, s.NextAttemptAt = s.CreatedAt.UTC(), s.NextAttemptAt.UTC()
	if sentAt.Valid {
		s.SentAt = sentAt.Time.UTC()
	}
	return s, nil
}

func scanAll(rows *sql.Rows) ([]Stored, error) {
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		s, err := scanStored(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// placeholders returns "$first, $first+1, ..." for n parameters.
func placeholders(first, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("$%d", first+i)
	}
	return strings.Join(ps, ", ")
}

// maxErrorLen keeps a chatty server's error from bloating the row.
const maxErrorLen = 2000

// clip shortens s to maxErrorLen bytes, keeping it valid UTF-8, which
// PostgreSQL insists on.
func clip(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrorLen], "") + "..."
}

// joinErrors keeps the earlier error after the reason for giving up, since
// the earlier one is usually what the operator needs.
func joinErrors(reason, earlier string) string {
	if earlier == "" {
		return reason
	}
	return reason + "; the attempt before: " + earlier
}
