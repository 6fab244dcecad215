package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
)

// Member is a user's membership as the members page lists it.
type Member struct {
	UserID   int64
	Email    string
	Name     string
	Role     Role
	JoinedAt time.Time
}

// Members lists an organization's members; any member may see them.
func (s *Service) Members(ctx context.Context, actor, orgID int64) ([]Member, error) {
	if _, err := s.Authorize(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.members(ctx, orgID)
}

func (s *Service) members(ctx context.Context, orgID int64) ([]Member, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m
		JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list members of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.JoinedAt); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ErrNoSuchMember is returned when the target user is not a member.
var ErrNoSuchMember = fault.New(fault.KindNotFound, "That person is not a member of this organization.")

// lockMembership reads every member's role in tx, locking the
// organization's memberships on PostgreSQL, so that two admins changing each
// other at once cannot leave it with none, and an admin demoted a moment ago
// cannot act as one.
func (s *Service) lockMembership(ctx context.Context, tx *sql.Tx, orgID int64) (roles map[int64]Role, admins int, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT user_id, role FROM memberships WHERE org_id = $1`+s.db.Dialect().ForUpdate(), orgID)
	if err != nil {
		return nil, 0, fmt.Errorf("lock memberships of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	roles = map[int64]Role{}
	for rows.Next() {
		var id int64
		var r Role
		if err := rows.Scan(&id, &r); err != nil {
			return nil, 0, err
		}
		roles[id] = r
		if r == RoleAdmin {
			admins++
		}
	}
	return roles, admins, rows.Err()
}

// ChangeRole sets a member's role; admins only.
func (s *Service) ChangeRole(ctx context.Context, actor, orgID, user int64, role Role) error {
	if !role.Valid() {
		return fault.Validation(fault.Field("role", "Choose Admin, Billing or Developer."))
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin); err != nil {
			return err
		}
		roles, admins, err := s.lockMembership(ctx, tx, orgID)
		if err != nil {
			return err
		}
		current, ok := roles[user]
		switch {
		case roles[actor] != RoleAdmin:
			return ErrForbidden
		case !ok:
			return ErrNoSuchMember
		case current == role:
			return nil
		}
		if current == RoleAdmin && admins <= 1 {
			return ErrLastAdmin
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3`, role, orgID, user); err != nil {
			return fmt.Errorf("change role: %w", err)
		}
		return s.audit(ctx, tx, orgID, actor, "member.role", fmt.Sprintf("user %d: %s → %s", user, current, role))
	})
}

// RemoveMember takes a user out of the organization; admins may remove
// anyone, and any member may remove themselves (leave).
func (s *Service) RemoveMember(ctx context.Context, actor, orgID, user int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if actor == user {
			if _, err := s.authorize(ctx, tx, actor, orgID); err != nil {
				return err
			}
		} else if _, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin); err != nil {
			return err
		}
		roles, admins, err := s.lockMembership(ctx, tx, orgID)
		if err != nil {
			return err
		}
		current, ok := roles[user]
		switch {
		case actor != user && roles[actor] != RoleAdmin:
			return ErrForbidden
		case !ok:
			return ErrNoSuchMember
		case current == RoleAdmin && admins <= 1:
			return ErrLastAdmin
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, user); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET current_org_id = NULL WHERE user_id = $1 AND current_org_id = $2`, user, orgID); err != nil {
			return fmt.Errorf("remove member: clear sessions: %w", err)
		}
		return s.audit(ctx, tx, orgID, actor, "member.remove", fmt.Sprintf("user %d (%s)", user, current))
	})
}

// Admins returns the e-mail addresses of an organization's admins, for mail
// that goes to whoever manages it.
func (s *Service) Admins(ctx context.Context, orgID int64) ([]string, error) {
	return s.admins(ctx, s.db.Read(), orgID)
}

// AdminsTx is Admins inside the caller's transaction.
func (s *Service) AdminsTx(ctx context.Context, tx *sql.Tx, orgID int64) ([]string, error) {
	return s.admins(ctx, tx, orgID)
}

// BillingContactsTx returns, inside the caller's transaction, the e-mail
// addresses of the organization's admins and billing members: whoever is
// told about its bill (credits running low, a subscription ending).
func (s *Service) BillingContactsTx(ctx context.Context, tx *sql.Tx, orgID int64) ([]string, error) {
	return s.emails(ctx, tx, orgID, RoleAdmin, RoleBilling)
}

func (s *Service) admins(ctx context.Context, q rowsQuerier, orgID int64) ([]string, error) {
	return s.emails(ctx, q, orgID, RoleAdmin, RoleAdmin)
}

// rowsQuerier is a *sql.DB or a *sql.Tx.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// emails lists the addresses of the members with either role, sorted.
// Every organization has an admin, so an empty list is an error.
func (s *Service) emails(ctx context.Context, q rowsQuerier, orgID int64, role, orRole Role) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 AND m.role IN ($2, $3) ORDER BY u.email`, orgID, role, orRole)
	if err != nil {
		return nil, fmt.Errorf("list members of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("organization has no admin")
	}
	return out, nil
}
