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

// Register creates an unverified user and mails a verification link.
//
// A sign-up never changes an existing account, its password or its name
// (#11): when the address is taken, its owner is mailed instead, and the
// caller gets the same outcome as for a new address, so that nothing tells
// whether the address is registered.
func (s *Service) Register(ctx context.Context, in RegisterInput) error {
	in.normalize()
	if err := s.validateRegister(in); err != nil {
		return err
	}
	if err := s.limits.allowMail(clientKey(in.ClientAddr), in.Email); err != nil {
		return err
	}
	// Hash before knowing whether the address is taken: both answers then
	// take the same time.
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
			return s.mailExistingOwner(ctx, tx, in.Email)
		}
		if err != nil {
			return fmt.Errorf("register: insert user: %w", err)
		}
		return s.sendVerification(ctx, tx, id, in.Email, in.Name, in.Next)
	})
}

// mailExistingOwner answers a sign-up with an address that already has an
// account: it tells the owner, and changes nothing the second person chose.
//
// A verified owner is told to log in or reset the password. An unverified
// account is marked contested: its password may be the owner's, or that of
// someone who registered the address before its owner did, and only the
// mailbox can tell. So the owner gets a link to choose the password, which
// also verifies the address, and every verification link of the account
// leads there from now on (VerifyEmail), whoever asked for it.
func (s *Service) mailExistingOwner(ctx context.Context, tx *sql.Tx, email string) error {
	var id int64
	var name string
	var verified bool
	err := tx.QueryRowContext(ctx, `SELECT id, name, email_verified_at IS NOT NULL FROM users WHERE email = $1`+s.db.Dialect().ForUpdate(), email).
		Scan(&id, &name, &verified)
	if err != nil {
		return fmt.Errorf("register: read existing user: %w", err)
	}
	if verified {
		_, err = s.cfg.Mailer.Enqueue(ctx, tx, signUpAgainMail(s.cfg.BaseURL, email, name))
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET signup_contested_at = COALESCE(signup_contested_at, $1) WHERE id = $2`, s.now(), id); err != nil {
		return fmt.Errorf("register: mark user %d contested: %w", id, err)
	}
	tok, err := s.issueToken(ctx, tx, id, purposeReset, VerifyLinkTTL)
	if err != nil {
		return err
	}
	_, err = s.cfg.Mailer.Enqueue(ctx, tx, signUpAgainUnverifiedMail(s.cfg.BaseURL, email, name, tok))
	return err
}

// issueToken stores the hash of a new single-use token for user and returns
// the token itself, which only ever goes into a mail.
func (s *Service) issueToken(ctx context.Context, tx *sql.Tx, userID int64, purpose string, ttl time.Duration) (string, error) {
	tok := secret.Token()
	now := s.now()
	_, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, secret.Hash(tok), userID, purpose, now.Add(ttl), now)
	if err != nil {
		return "", fmt.Errorf("issue %s token: %w", purpose, err)
	}
	return tok, nil
}

func (s *Service) sendVerification(ctx context.Context, tx *sql.Tx, userID int64, email, name, next string) error {
	tok, err := s.issueToken(ctx, tx, userID, purposeVerify, VerifyLinkTTL)
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
func (s *Service) useToken(ctx context.Context, tx *sql.Tx, token, purpose string) (userID int64, err error) {
	var expires time.Time
	var used sql.NullTime
	err = tx.QueryRowContext(ctx, `SELECT user_id, expires_at, used_at FROM user_tokens WHERE token_hash = $1 AND purpose = $2`+
		s.db.Dialect().ForUpdate(), secret.Hash(token), purpose).Scan(&userID, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows) || used.Valid:
		return 0, ErrLinkInvalid
	case err != nil:
		return 0, fmt.Errorf("read %s token: %w", purpose, err)
	case !s.now().Before(expires):
		return 0, ErrLinkExpired
	}
	if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE token_hash = $2`, s.now(), secret.Hash(token)); err != nil {
		return 0, fmt.Errorf("use %s token: %w", purpose, err)
	}
	return userID, nil
}

// spendLinks marks every outstanding link of user used, so that an older
// mail cannot undo what a newer link just did.
func (s *Service) spendLinks(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE user_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`, s.now(), userID); err != nil {
		return fmt.Errorf("spend the links of user %d: %w", userID, err)
	}
	return nil
}

// Verified is what following a verification link did.
type Verified struct {
	User User
	// SetPasswordToken, when not empty, is a link token for choosing the
	// account's password (ResetPassword), given instead of verifying:
	// someone else also signed up with this address, so the password on
	// record may not be the owner's. Choosing one verifies the address.
	SetPasswordToken string
}

// VerifyEmail marks the address behind a verification link as verified. It
// sets nothing else: the password is the one the account was created with.
func (s *Service) VerifyEmail(ctx context.Context, token string) (Verified, error) {
	var v Verified
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		userID, err := s.useToken(ctx, tx, token, purposeVerify)
		if err != nil {
			return err
		}
		var verified, contested bool
		if err := tx.QueryRowContext(ctx, `SELECT email_verified_at IS NOT NULL, signup_contested_at IS NOT NULL FROM users WHERE id = $1`, userID).
			Scan(&verified, &contested); err != nil {
			return fmt.Errorf("verify user %d: %w", userID, err)
		}
		if !verified && contested {
			if v.SetPasswordToken, err = s.issueToken(ctx, tx, userID, purposeReset, ResetLinkTTL); err != nil {
				return err
			}
			v.User, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
			if err != nil {
				return fmt.Errorf("verify user %d: %w", userID, err)
			}
			return nil
		}
		v.User, err = scanUser(tx.QueryRowContext(ctx, `UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2
			RETURNING `+userColumns, s.now(), userID))
		if err != nil {
			return fmt.Errorf("verify user %d: %w", userID, err)
		}
		return nil
	})
	return v, err
}

// ResendVerification mails a new link if the address belongs to an
// unverified user, and does nothing visible otherwise. The link verifies
// the account as it is; for a contested account it leads to choosing the
// password instead (VerifyEmail).
func (s *Service) ResendVerification(ctx context.Context, email, clientAddr, next string) error {
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
		err := tx.QueryRowContext(ctx, `SELECT id, name FROM users WHERE email = $1 AND email_verified_at IS NULL`, email).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("resend verification: %w", err)
		}
		return s.sendVerification(ctx, tx, id, email, name, next)
	})
}
