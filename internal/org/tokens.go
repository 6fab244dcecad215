package org

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

// Scope is what a service token may do through the vendor API.
type Scope string

const (
	// ScopeRead reads any organization: GET requests.
	ScopeRead Scope = "read"
	// ScopeWrite also creates and changes organizations, members and
	// external ids: write includes read.
	ScopeWrite Scope = "write"
)

// Valid says whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeRead || s == ScopeWrite }

// Allows says whether a token of scope s may do what need asks.
func (s Scope) Allows(need Scope) bool { return s == ScopeWrite || s == need }

// Token is a service token as lists show it: never the secret. A service
// token is the vendor's back end: it reaches every organization through the
// vendor API, and is created by the vendor's operators, never by an
// organization's members.
type Token struct {
	ID         int64
	Name       string
	Prefix     string // the first characters of the token, to recognise it
	Scope      Scope
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
	RevokedAt  time.Time // zero while active
}

// Actor is how the audit log names the token.
func (t Token) Actor() string { return fmt.Sprintf("service token %q (#%d)", t.Name, t.ID) }

// tokenPrefix marks service tokens, as keyPrefix marks API keys, so that
// secret scanners and people can tell what a leaked string is, and which
// kind of credential a request carries.
const tokenPrefix = "mbt_"

// IsServiceToken says whether a bearer credential is shaped like a service
// token rather than an organization's API key.
func IsServiceToken(credential string) bool { return strings.HasPrefix(credential, tokenPrefix) }

// CreateTokenInput is the new-token form and command.
type CreateTokenInput struct {
	Name  string
	Scope Scope
}

// Validate reports every field error.
func (in CreateTokenInput) Validate() error {
	var errs []error
	if !validName(in.Name, 100) {
		errs = append(errs, fault.Field("name", "Name the token (at most 100 characters, no control characters), e.g. after the system that uses it."))
	}
	if !in.Scope.Valid() {
		errs = append(errs, fault.Field("scope", `Choose the scope "read" or "write" (write includes read).`))
	}
	return fault.Validation(errs...)
}

// CreateToken makes a service token. The caller has checked that whoever
// asks is one of the vendor's operators; createdBy is that operator, 0 for
// the command line. The returned secret is shown once: only its hash is
// kept.
func (s *Service) CreateToken(ctx context.Context, createdBy int64, in CreateTokenInput) (Token, string, error) {
	if err := in.Validate(); err != nil {
		return Token{}, "", err
	}
	full := tokenPrefix + secret.Token()
	t := Token{Name: strings.TrimSpace(in.Name), Prefix: full[:len(tokenPrefix)+6], Scope: in.Scope, CreatedAt: s.now()}
	err := s.db.Write().QueryRowContext(ctx, `INSERT INTO service_tokens (name, prefix, secret_hash, scope, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, t.Name, t.Prefix, secret.Hash(full), t.Scope,
		sql.NullInt64{Int64: createdBy, Valid: createdBy != 0}, t.CreatedAt).Scan(&t.ID)
	if err != nil {
		return Token{}, "", fmt.Errorf("create service token: %w", err)
	}
	s.cfg.Logger.InfoContext(ctx, "service token created", "token_id", t.ID, "name", t.Name, "scope", t.Scope, "by_user", createdBy)
	return t, full, nil
}

// Tokens lists every service token, newest first.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, name, prefix, scope, created_at, last_used_at, revoked_at
		FROM service_tokens ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list service tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var used, revoked sql.NullTime
		if err := rows.Scan(&t.ID, &t.Name, &t.Prefix, &t.Scope, &t.CreatedAt, &used, &revoked); err != nil {
			return nil, fmt.Errorf("list service tokens: %w", err)
		}
		t.LastUsedAt, t.RevokedAt = used.Time, revoked.Time
		out = append(out, t)
	}
	return out, rows.Err()
}

// ErrNoSuchToken is returned when revoking a token that does not exist or
// is already revoked.
var ErrNoSuchToken = fault.New(fault.KindNotFound, "That service token does not exist or is already revoked.")

// RevokeToken disables a service token at once; the caller has checked that
// whoever asks is an operator.
func (s *Service) RevokeToken(ctx context.Context, id int64) (Token, error) {
	var t Token
	t.ID = id
	err := s.db.Write().QueryRowContext(ctx, `UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
		RETURNING name, prefix, scope, created_at, revoked_at`, s.now(), id).Scan(&t.Name, &t.Prefix, &t.Scope, &t.CreatedAt, &t.RevokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNoSuchToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke service token %d: %w", id, err)
	}
	s.cfg.Logger.InfoContext(ctx, "service token revoked", "token_id", t.ID, "name", t.Name)
	return t, nil
}

// ErrBadToken is the answer to any service token that does not
// authenticate.
var ErrBadToken = fault.New(fault.KindUnauthenticated, "The service token is missing, unknown or revoked.")

// AuthenticateToken returns the live service token whose secret is full.
func (s *Service) AuthenticateToken(ctx context.Context, full string) (Token, error) {
	if !IsServiceToken(full) {
		return Token{}, ErrBadToken
	}
	var t Token
	var used sql.NullTime
	err := s.db.Read().QueryRowContext(ctx, `SELECT id, name, prefix, scope, created_at, last_used_at FROM service_tokens
		WHERE secret_hash = $1 AND revoked_at IS NULL`, secret.Hash(full)).Scan(&t.ID, &t.Name, &t.Prefix, &t.Scope, &t.CreatedAt, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrBadToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("authenticate service token: %w", err)
	}
	t.LastUsedAt = used.Time
	now := s.now()
	if !used.Valid || now.Sub(used.Time) >= lastUsedGranularity {
		if _, err := s.db.Write().ExecContext(ctx, `UPDATE service_tokens SET last_used_at = $1 WHERE id = $2`, now, t.ID); err != nil {
			return Token{}, fmt.Errorf("record service token use: %w", err)
		}
		t.LastUsedAt = now
	}
	return t, nil
}
