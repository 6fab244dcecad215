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

// APIKey is an organization's key as lists show it: never the secret.
type APIKey struct {
	ID         int64
	Name       string
	Prefix     string // the first characters of the key, to recognise it
	CreatedAt  time.Time
	LastUsedAt time.Time // zero when never used
	RevokedAt  time.Time // zero while active
}

// keyPrefix marks marketbridge keys, so that secret scanners and people can
// tell what a leaked string is.
const keyPrefix = "mbk_"

// CreateKeyInput is the new-key form.
type CreateKeyInput struct{ Name string }

// Validate reports every field error.
func (in CreateKeyInput) Validate() error {
	if !validName(in.Name, 100) {
		return fault.Validation(fault.Field("name", "Name the key (at most 100 characters), e.g. after the system that uses it."))
	}
	return nil
}

// CreateKey makes an API key; admins only. The returned secret is shown
// once: only its hash is kept.
func (s *Service) CreateKey(ctx context.Context, actor, orgID int64, in CreateKeyInput) (APIKey, string, error) {
	if err := in.Validate(); err != nil {
		return APIKey{}, "", err
	}
	full := keyPrefix + secret.Token()
	k := APIKey{Name: strings.TrimSpace(in.Name), Prefix: full[:len(keyPrefix)+6], CreatedAt: s.now()}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO api_keys (org_id, name, prefix, secret_hash, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, orgID, k.Name, k.Prefix, secret.Hash(full), actor, k.CreatedAt).Scan(&k.ID); err != nil {
			return fmt.Errorf("create API key: %w", err)
		}
		return s.audit(ctx, tx, orgID, actor, "apikey.create", fmt.Sprintf("%s (%s…)", k.Name, k.Prefix))
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, full, nil
}

// Keys lists an organization's keys, newest first; admins only.
func (s *Service) Keys(ctx context.Context, actor, orgID int64) ([]APIKey, error) {
	if _, err := s.Authorize(ctx, actor, orgID, RoleAdmin); err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys
		WHERE org_id = $1 ORDER BY id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list API keys of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		var k APIKey
		var used, revoked sql.NullTime
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &used, &revoked); err != nil {
			return nil, err
		}
		k.LastUsedAt, k.RevokedAt = used.Time, revoked.Time
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey disables a key at once; admins only.
func (s *Service) RevokeKey(ctx context.Context, actor, orgID, keyID int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin); err != nil {
			return err
		}
		var name string
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL RETURNING name`,
			s.now(), keyID, orgID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.New(fault.KindNotFound, "That key does not exist or is already revoked.")
		}
		if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		return s.audit(ctx, tx, orgID, actor, "apikey.revoke", name)
	})
}

// ErrBadKey is the answer to any key that does not authenticate.
var ErrBadKey = fault.New(fault.KindUnauthenticated, "The API key is missing, unknown or revoked.")

// lastUsedGranularity bounds how often a key's last-used time is written:
// the usage API may see thousands of requests a second per key.
const lastUsedGranularity = time.Minute

// AuthenticateKey returns the organization an API key belongs to.
func (s *Service) AuthenticateKey(ctx context.Context, key string) (orgID int64, err error) {
	if !strings.HasPrefix(key, keyPrefix) {
		return 0, ErrBadKey
	}
	var id int64
	var used sql.NullTime
	err = s.db.Read().QueryRowContext(ctx, `SELECT id, org_id, last_used_at FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`,
		secret.Hash(key)).Scan(&id, &orgID, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrBadKey
	}
	if err != nil {
		return 0, fmt.Errorf("authenticate API key: %w", err)
	}
	now := s.now()
	if !used.Valid || now.Sub(used.Time) >= lastUsedGranularity {
		if _, err := s.db.Write().ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, now, id); err != nil {
			return 0, fmt.Errorf("record API key use: %w", err)
		}
	}
	return orgID, nil
}
