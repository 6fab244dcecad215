package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	if err := s.limits.allowMail(clientKey(clientAddr), email); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id int64
		var name string
		// A user without a password signs in through the vendor's
		// provider only (#12): there is nothing to reset.
		err := tx.QueryRowContext(ctx, `SELECT id, name FROM users WHERE email = $1 AND password_hash <> ''`, email).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("request reset: %w", err)
		}
		tok, err := s.issueToken(ctx, tx, id, purposeReset, ResetLinkTTL)
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
	_, err := s.resetTarget(ctx, token)
	return err
}

// resetTarget is the user a usable reset link is for.
func (s *Service) resetTarget(ctx context.Context, token string) (User, error) {
	var u User
	var used sql.NullTime
	var expires time.Time
	err := s.db.Read().QueryRowContext(ctx, `SELECT u.id, u.email, u.name, u.email_verified_at IS NOT NULL, u.onboarded_at IS NOT NULL, u.created_at,
			t.used_at, t.expires_at
		FROM user_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.purpose = $2 AND u.password_hash <> ''`, secret.Hash(token), purposeReset).
		Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.Onboarded, &u.CreatedAt, &used, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows) || used.Valid:
		return User{}, ErrLinkInvalid
	case err != nil:
		return User{}, fmt.Errorf("check reset link: %w", err)
	case !s.now().Before(expires):
		return User{}, ErrLinkExpired
	}
	return u, nil
}

// ResetPassword sets a new password through a reset link. The link proved
// the mailbox, so the address is verified. A reset spends every other link
// of the account (#11): an older reset or verification mail, which may sit
// in a mailbox someone else could read, can no longer undo it. It ends
// every session of the user, since whoever held them may be who the reset
// is meant to lock out.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (User, error) {
	u, err := s.resetTarget(ctx, token)
	if err != nil {
		return User{}, err
	}
	if msg := s.checkPassword(password, u.Email, u.Name); msg != "" {
		return User{}, fault.Validation(fault.Field("password", msg))
	}
	// Hash outside the transaction: it takes tens of milliseconds, and on
	// SQLite the transaction holds the only write lock. The transaction
	// checks the link again, so two uses of it cannot both succeed.
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		userID, err := s.useToken(ctx, tx, token, purposeReset)
		if err != nil {
			return err
		}
		if err := s.spendLinks(ctx, tx, userID); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET password_hash = $1, email_verified_at = COALESCE(email_verified_at, $2)
			WHERE id = $3 RETURNING `+userColumns, hash, s.now(), userID))
		if err != nil {
			return fmt.Errorf("reset: update password of user %d: %w", userID, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("reset: end sessions: %w", err)
		}
		// Browsers that knew the old password lose their place outside the
		// log-in back-off until they log in with the new one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_devices WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("reset: forget devices: %w", err)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}
