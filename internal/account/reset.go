package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/secret"
)

// RequestPasswordReset mails a reset link when the address is registered,
// and does nothing visible otherwise.
func (s *Service) RequestPasswordReset(ctx context.Context, email, clientAddr string) error {
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return fault.Validation(fault.Field("email", "Enter an e-mail address such as name@example.com."))
	}
	if err := s.allow(clientAddr, email); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id int64
		var name string
		err := tx.QueryRowContext(ctx, `SELECT id, name FROM users WHERE email = $1`, email).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("request reset: %w", err)
		}
		tok, err := s.issueToken(ctx, tx, id, purposeReset, ResetLinkTTL, "")
		if err != nil {
			return err
		}
		_, err = s.cfg.Mailer.Enqueue(ctx, tx, resetMail(s.cfg.BaseURL, email, name, tok))
		return err
	})
}

// CheckResetLink says whether a reset link can still be used, so that the
// form is only shown for a link that works.
func (s *Service) CheckResetLink(ctx context.Context, token string) error {
	var used sql.NullTime
	var expires sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT used_at, expires_at FROM user_tokens WHERE token_hash = $1 AND purpose = $2`,
		secret.Hash(token), purposeReset).Scan(&used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows) || used.Valid:
		return ErrLinkInvalid
	case err != nil:
		return fmt.Errorf("check reset link: %w", err)
	case !s.now().Before(expires.Time):
		return ErrLinkExpired
	}
	return nil
}

// ResetPassword sets a new password through a reset link. It ends every
// session of the user, since whoever held them may be who the reset is
// meant to lock out, and marks the address verified: the link proved it.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	if err := s.CheckResetLink(ctx, token); err != nil {
		return User{}, err
	}
	var u User
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		userID, _, err := s.useToken(ctx, tx, token, purposeReset)
		if err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if err != nil {
			return fmt.Errorf("reset: read user %d: %w", userID, err)
		}
		if msg := s.checkPassword(password, u.Email, u.Name); msg != "" {
			return fault.Validation(fault.Field("password", msg))
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	// Hash outside the transaction: it takes tens of milliseconds, and on
	// SQLite the transaction holds the only write lock. The token is already
	// spent, so nobody else can race this update.
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3`,
			hash, s.now(), u.ID); err != nil {
			return fmt.Errorf("reset: update password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, u.ID); err != nil {
			return fmt.Errorf("reset: end sessions: %w", err)
		}
		return nil
	})
	u.EmailVerified = true
	return u, err
}
