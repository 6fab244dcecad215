package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/secret"
)

// RegisterInput is the registration form.
type RegisterInput struct {
	Email      string
	Name       string
	Password   string
	ClientAddr string // for rate limiting
	Next       string // a console path to return to after verification, kept in the link
}

func (in *RegisterInput) normalize() {
	in.Email = NormalizeEmail(in.Email)
	in.Name = strings.TrimSpace(in.Name)
}

func (s *Service) validateRegister(in RegisterInput) error {
	var errs []error
	if !validEmail(in.Email) {
		errs = append(errs, fault.Field("email", "Enter an e-mail address such as name@example.com."))
	}
	if in.Name == "" {
		errs = append(errs, fault.Field("name", "Enter your name."))
	} else if len(in.Name) > 200 {
		errs = append(errs, fault.Field("name", "Use at most 200 characters."))
	}
	if msg := s.checkPassword(in.Password, in.Email, in.Name); msg != "" {
		errs = append(errs, fault.Field("password", msg))
	}
	return fault.Validation(errs...)
}

// Register creates an unverified user and mails a verification link. When the
// address is already registered it changes nothing and mails its owner
// instead (a new link if still unverified, a note otherwise), so the answer
// on screen is the same either way.
func (s *Service) Register(ctx context.Context, in RegisterInput) error {
	in.normalize()
	if err := s.validateRegister(in); err != nil {
		return err
	}
	if err := s.allow(in.ClientAddr, in.Email); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	now := s.now()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (email) DO NOTHING RETURNING id`, in.Email, in.Name, hash, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return s.mailExistingOwner(ctx, tx, in.Email, in.Next, hash)
		}
		if err != nil {
			return fmt.Errorf("register: insert user: %w", err)
		}
		return s.sendVerification(ctx, tx, id, in.Email, in.Name, in.Next, hash)
	})
}

// mailExistingOwner answers a registration of an address already
// registered. An unverified account gets a new link that will apply the
// password just chosen; the account itself is not changed until a link is
// followed from the mailbox.
func (s *Service) mailExistingOwner(ctx context.Context, tx *sql.Tx, email, next, passwordHash string) error {
	var id int64
	var name string
	var verified bool
	err := tx.QueryRowContext(ctx, `SELECT id, name, email_verified_at IS NOT NULL FROM users WHERE email = $1`, email).
		Scan(&id, &name, &verified)
	if err != nil {
		return fmt.Errorf("register: read existing user: %w", err)
	}
	if !verified {
		return s.sendVerification(ctx, tx, id, email, name, next, passwordHash)
	}
	_, err = s.cfg.Mailer.Enqueue(ctx, tx, alreadyRegisteredMail(s.cfg.BaseURL, email, name))
	return err
}

// issueToken stores the hash of a new single-use token for user and returns
// the token itself, which only ever goes into a mail.
func (s *Service) issueToken(ctx context.Context, tx *sql.Tx, userID int64, purpose string, ttl time.Duration, passwordHash string) (string, error) {
	tok := secret.Token()
	now := s.now()
	_, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, created_at, password_hash)
		VALUES ($1, $2, $3, $4, $5, $6)`, secret.Hash(tok), userID, purpose, now.Add(ttl), now, sql.NullString{String: passwordHash, Valid: passwordHash != ""})
	if err != nil {
		return "", fmt.Errorf("issue %s token: %w", purpose, err)
	}
	return tok, nil
}

func (s *Service) sendVerification(ctx context.Context, tx *sql.Tx, userID int64, email, name, next, passwordHash string) error {
	tok, err := s.issueToken(ctx, tx, userID, purposeVerify, VerifyLinkTTL, passwordHash)
	if err != nil {
		return err
	}
	_, err = s.cfg.Mailer.Enqueue(ctx, tx, verifyMail(s.cfg.BaseURL, email, name, tok, next))
	return err
}

const (
	purposeVerify = "verify-email"
	purposeReset  = "reset-password"
)

// Link errors: what a person who follows an old or mangled link is told.
var (
	ErrLinkInvalid = fault.New(fault.KindInvalid, "This link is not valid or has already been used.")
	ErrLinkExpired = fault.New(fault.KindInvalid, "This link has expired. Request a new one below.")
)

// useToken marks a single-use token used and returns its user, inside tx, so
// that two clicks on one link cannot both succeed.
func (s *Service) useToken(ctx context.Context, tx *sql.Tx, token, purpose string) (userID int64, passwordHash string, err error) {
	var expires time.Time
	var used sql.NullTime
	var hash sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT user_id, expires_at, used_at, password_hash FROM user_tokens WHERE token_hash = $1 AND purpose = $2`+
		s.db.Dialect().ForUpdate(), secret.Hash(token), purpose).Scan(&userID, &expires, &used, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows) || used.Valid:
		return 0, "", ErrLinkInvalid
	case err != nil:
		return 0, "", fmt.Errorf("read %s token: %w", purpose, err)
	case !s.now().Before(expires):
		return 0, "", ErrLinkExpired
	}
	if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE token_hash = $2`, s.now(), secret.Hash(token)); err != nil {
		return 0, "", fmt.Errorf("use %s token: %w", purpose, err)
	}
	return userID, hash.String, nil
}

// VerifyEmail marks the address behind a verification link as verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) (User, error) {
	var u User
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		userID, hash, err := s.useToken(ctx, tx, token, purposeVerify)
		if err != nil {
			return err
		}
		// The first verification sets the password of the registration
		// whose link this is, and spends every other link: an earlier
		// registration by someone else keeps nothing.
		var verified bool
		if err := tx.QueryRowContext(ctx, `SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&verified); err != nil {
			return fmt.Errorf("verify user %d: %w", userID, err)
		}
		if !verified && hash != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID); err != nil {
				return fmt.Errorf("verify user %d: set password: %w", userID, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL`,
				s.now(), userID, purposeVerify); err != nil {
				return fmt.Errorf("verify user %d: spend other links: %w", userID, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
				return fmt.Errorf("verify user %d: end sessions: %w", userID, err)
			}
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2
			RETURNING `+userColumns, s.now(), userID))
		if err != nil {
			return fmt.Errorf("verify user %d: %w", userID, err)
		}
		return nil
	})
	return u, err
}

// ResendVerification mails a new link if the address belongs to an
// unverified user, and does nothing visible otherwise.
func (s *Service) ResendVerification(ctx context.Context, email, clientAddr, next string) error {
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
		err := tx.QueryRowContext(ctx, `SELECT id, name FROM users WHERE email = $1 AND email_verified_at IS NULL`, email).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("resend verification: %w", err)
		}
		// The new link applies the password of the latest registration, as
		// that registration's own link would.
		var hash sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT password_hash FROM user_tokens WHERE user_id = $1 AND purpose = $2
			ORDER BY created_at DESC LIMIT 1`, id, purposeVerify).Scan(&hash); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("resend verification: %w", err)
		}
		return s.sendVerification(ctx, tx, id, email, name, next, hash.String)
	})
}
