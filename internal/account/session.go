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

// Session is a logged-in browser.
type Session struct {
	User         User
	CurrentOrgID int64 // 0 when none is chosen
	ExpiresAt    time.Time
}

// ErrNoSession means the cookie names no live session: log in again.
var ErrNoSession = fault.New(fault.KindUnauthenticated, "Please log in.")

// StartSession opens a session for user and returns its token, the cookie
// value. A log-in always gets a new token, so that a token planted before
// log-in (session fixation) is worth nothing after it.
func (s *Service) StartSession(ctx context.Context, userID int64) (string, error) {
	return s.StartSessionWithIDToken(ctx, userID, "")
}

// StartSessionWithIDToken opens a session for a sign-in through an OpenID
// provider, keeping the ID token it came with for logging out there too
// (EndSession returns it).
func (s *Service) StartSessionWithIDToken(ctx context.Context, userID int64, idToken string) (string, error) {
	tok := secret.Token()
	now := s.now()
	_, err := s.db.Write().ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at, id_token) VALUES ($1, $2, $3, $4, $5)`,
		secret.Hash(tok), userID, now, now.Add(SessionTTL), idToken)
	if err != nil {
		return "", fmt.Errorf("start session for user %d: %w", userID, err)
	}
	return tok, nil
}

// SessionByToken returns the live session a cookie names.
func (s *Service) SessionByToken(ctx context.Context, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNoSession
	}
	var sess Session
	var org sql.NullInt64
	err := s.db.Read().QueryRowContext(ctx, `SELECT u.id, u.email, u.name, u.email_verified_at IS NOT NULL, u.onboarded_at IS NOT NULL, u.created_at,
			s.current_org_id, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`, secret.Hash(token), s.now()).
		Scan(&sess.User.ID, &sess.User.Email, &sess.User.Name, &sess.User.EmailVerified, &sess.User.Onboarded, &sess.User.CreatedAt,
			&org, &sess.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.CurrentOrgID = org.Int64
	return sess, nil
}

// EndSession logs a browser out.
func (s *Service) EndSession(ctx context.Context, token string) error {
	_, err := s.LogOut(ctx, token)
	return err
}

// LogOut ends a session and returns the ID token it was opened with, ""
// for a password log-in, so that the caller can end the provider's session
// too.
func (s *Service) LogOut(ctx context.Context, token string) (idToken string, err error) {
	err = s.db.Write().QueryRowContext(ctx, `DELETE FROM sessions WHERE token_hash = $1 RETURNING id_token`, secret.Hash(token)).Scan(&idToken)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("end session: %w", err)
	}
	return idToken, nil
}

// SetCurrentOrg remembers which organization the session works in. The
// caller checks membership first.
func (s *Service) SetCurrentOrg(ctx context.Context, token string, orgID int64) error {
	if _, err := s.db.Write().ExecContext(ctx, `UPDATE sessions SET current_org_id = $1 WHERE token_hash = $2`, orgID, secret.Hash(token)); err != nil {
		return fmt.Errorf("set current organization: %w", err)
	}
	return nil
}
