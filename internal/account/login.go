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

// LoginInput is the log-in form.
type LoginInput struct {
	Email      string
	Password   string
	ClientAddr string
	// Device is the browser's device token (RememberDevice), if it has one.
	Device string
}

// Log-in outcomes a person may see.
var (
	ErrBadCredentials = fault.New(fault.KindUnauthenticated, "The e-mail address or password is incorrect.")
	// ErrNotVerified is only returned after the password matched, so it
	// tells nothing to someone who does not know the password.
	ErrNotVerified = fault.New(fault.KindForbidden, "Verify your e-mail address before logging in: open the link we sent you.")
)

// DeviceTTL is how long a browser stays known to an account after its
// last log-in.
const DeviceTTL = 180 * 24 * time.Hour

// LogIn checks an e-mail address and password, within the log-in limits
// (see limits.go).
func (s *Service) LogIn(ctx context.Context, in LoginInput) (User, error) {
	email := NormalizeEmail(in.Email)
	if email == "" || in.Password == "" {
		return User{}, fault.Validation(fault.Field("email", "Enter your e-mail address and password."))
	}
	device, err := s.knownDevice(ctx, in.Device, email)
	if err != nil {
		return User{}, err
	}
	passwordRight, err := s.limits.beginLogIn(email, clientKey(in.ClientAddr), device)
	if err != nil {
		return User{}, err
	}
	u, err := s.checkCredentials(ctx, email, in.Password)
	if err == nil || errors.Is(err, ErrNotVerified) {
		passwordRight()
	}
	return u, err
}

func (s *Service) checkCredentials(ctx context.Context, email, password string) (User, error) {
	if len(password) > MaxPasswordLength*4 {
		return User{}, ErrBadCredentials
	}
	var u User
	var hash string
	err := s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.Onboarded, &u.CreatedAt, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the same time as a wrong password, so timing does not tell
		// whether the address is registered.
		_, _ = s.verifyPassword(ctx, s.dummyHash, password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("log in: %w", err)
	}
	if hash == "" {
		// A user created by a sign-in through the vendor's provider has no
		// password: nothing typed here opens it. Same time as a wrong one.
		_, _ = s.verifyPassword(ctx, s.dummyHash, password)
		return User{}, ErrBadCredentials
	}
	ok, err := s.verifyPassword(ctx, hash, password)
	if err != nil {
		return User{}, fmt.Errorf("log in user %d: %w", u.ID, err)
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	if !u.EmailVerified {
		return User{}, ErrNotVerified
	}
	return u, nil
}

// knownDevice returns the hash of device when it is a live device token of
// the account at email, and "" otherwise (no token, a made-up one, or
// another account's), in which case the attempt is an unknown client's.
func (s *Service) knownDevice(ctx context.Context, device, email string) (string, error) {
	if device == "" || len(device) > 128 {
		return "", nil
	}
	h := secret.Hash(device)
	var one int
	err := s.db.Read().QueryRowContext(ctx, `SELECT 1 FROM login_devices d JOIN users u ON u.id = d.user_id
		WHERE d.token_hash = $1 AND u.email = $2 AND d.expires_at > $3`, h, email, s.now()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("log in: read device: %w", err)
	}
	return h, nil
}

// RememberDevice records that the browser holding current (its device
// token, or "") has just logged in as user, and returns the token it should
// hold from now on: current when it already belongs to user, a new one
// otherwise. Its log-in attempts at this account are then counted on their
// own, outside the back-off that strangers can drive up (limits.go).
func (s *Service) RememberDevice(ctx context.Context, userID int64, current string) (string, error) {
	now := s.now()
	if current != "" && len(current) <= 128 {
		res, err := s.db.Write().ExecContext(ctx, `UPDATE login_devices SET expires_at = $1 WHERE token_hash = $2 AND user_id = $3 AND expires_at > $4`,
			now.Add(DeviceTTL), secret.Hash(current), userID, now)
		if err != nil {
			return "", fmt.Errorf("remember device of user %d: %w", userID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", fmt.Errorf("remember device of user %d: %w", userID, err)
		} else if n == 1 {
			return current, nil
		}
	}
	tok := secret.Token()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_devices WHERE user_id = $1 AND expires_at <= $2`, userID, now); err != nil {
			return fmt.Errorf("forget expired devices of user %d: %w", userID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_devices (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			secret.Hash(tok), userID, now, now.Add(DeviceTTL)); err != nil {
			return fmt.Errorf("remember device of user %d: %w", userID, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}
