package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// LoginInput is the log-in form.
type LoginInput struct {
	Email      string
	Password   string
	ClientAddr string
}

// Log-in outcomes a person may see.
var (
	ErrBadCredentials = fault.New(fault.KindUnauthenticated, "The e-mail address or password is incorrect.")
	// ErrNotVerified is only returned after the password matched, so it
	// tells nothing to someone who does not know the password.
	ErrNotVerified = fault.New(fault.KindForbidden, "Verify your e-mail address before logging in: open the link we sent you.")
)

// LogIn checks an e-mail address and password.
func (s *Service) LogIn(ctx context.Context, in LoginInput) (User, error) {
	email := NormalizeEmail(in.Email)
	if email == "" || in.Password == "" {
		return User{}, fault.Validation(fault.Field("email", "Enter your e-mail address and password."))
	}
	if err := s.allow(in.ClientAddr, email); err != nil {
		return User{}, err
	}
	if len(in.Password) > MaxPasswordLength*4 {
		return User{}, ErrBadCredentials
	}
	var u User
	var hash string
	err := s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE email = $1`, email).
		Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.Onboarded, &u.CreatedAt, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the same time as a wrong password, so timing does not tell
		// whether the address is registered.
		_, _ = s.verifyPassword(ctx, s.dummyHash, in.Password)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("log in: %w", err)
	}
	ok, err := s.verifyPassword(ctx, hash, in.Password)
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
