package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/secret"
)

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation is a pending invitation as the members page lists it.
type Invitation struct {
	ID        int64
	Email     string
	Role      Role
	ExpiresAt time.Time
}

// InviteInput is the invite form.
type InviteInput struct {
	Email string
	Role  Role
}

// Validate reports every field error.
func (in InviteInput) Validate() error {
	var errs []error
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		errs = append(errs, fault.Field("email", "Enter an e-mail address such as name@example.com."))
	}
	if !in.Role.Valid() {
		errs = append(errs, fault.Field("role", "Choose Admin, Billing or Developer."))
	}
	return fault.Validation(errs...)
}

// ErrAlreadyMember is returned when inviting someone who is a member.
var ErrAlreadyMember = fault.New(fault.KindConflict, "That person is already a member of this organization.")

// Invite mails an invitation link; admins only. The link is accepted by
// whoever is logged in with the invited address, after log-in or
// registration.
func (s *Service) Invite(ctx context.Context, actor, orgID int64, in InviteInput) error {
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	if err := in.Validate(); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		o, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND u.email = $2`,
			orgID, in.Email).Scan(&one)
		if err == nil {
			return ErrAlreadyMember
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("invite: check membership: %w", err)
		}
		var inviter string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE id = $1`, actor).Scan(&inviter); err != nil {
			return fmt.Errorf("invite: read inviter: %w", err)
		}
		if _, err := s.sendInvitation(ctx, tx, o.ID, o.Name, actor, inviter, in); err != nil {
			return err
		}
		return s.audit(ctx, tx, orgID, actor, "member.invite", fmt.Sprintf("%s as %s", in.Email, in.Role))
	})
}

// sendInvitation records an invitation from invitedBy, whose name the mail
// gives as inviter, and queues its mail, in tx.
func (s *Service) sendInvitation(ctx context.Context, tx *sql.Tx, orgID int64, orgName string, invitedBy int64, inviter string, in InviteInput) (Invitation, error) {
	tok := secret.Token()
	now := s.now()
	inv := Invitation{Email: in.Email, Role: in.Role, ExpiresAt: now.Add(InvitationTTL)}
	if err := tx.QueryRowContext(ctx, `INSERT INTO invitations (org_id, email, role, token_hash, invited_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, orgID, in.Email, in.Role, secret.Hash(tok), invitedBy, now, inv.ExpiresAt).Scan(&inv.ID); err != nil {
		return Invitation{}, fmt.Errorf("invite: %w", err)
	}
	link := s.cfg.BaseURL + "/invitations/accept?" + url.Values{"token": {tok}}.Encode()
	msg := mailbox.Message{
		To:      []string{in.Email},
		Subject: fmt.Sprintf("%s invited you to %s", inviter, orgName),
		Text: fmt.Sprintf("%s invited you to join the organization %q as %s.\n\nTo accept, open this link and log in or register "+
			"with this e-mail address (%s):\n\n%s\n\nThe invitation expires in 7 days.\n", inviter, orgName, in.Role.Label(), in.Email, link),
	}
	if _, err := s.cfg.Mailer.Enqueue(ctx, tx, msg); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// PendingInvitations lists invitations not yet accepted, revoked or expired.
func (s *Service) PendingInvitations(ctx context.Context, actor, orgID int64) ([]Invitation, error) {
	if _, err := s.Authorize(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.pendingInvitations(ctx, orgID)
}

func (s *Service) pendingInvitations(ctx context.Context, orgID int64) ([]Invitation, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, email, role, expires_at FROM invitations
		WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY id`, orgID, s.now())
	if err != nil {
		return nil, fmt.Errorf("list invitations of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		var inv Invitation
		if err := rows.Scan(&inv.ID, &inv.Email, &inv.Role, &inv.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// RevokeInvitation withdraws a pending invitation; admins only.
func (s *Service) RevokeInvitation(ctx context.Context, actor, orgID, invitationID int64) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.authorize(ctx, tx, actor, orgID, RoleAdmin); err != nil {
			return err
		}
		var email string
		err := tx.QueryRowContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND accepted_at IS NULL
			AND revoked_at IS NULL RETURNING email`, s.now(), invitationID, orgID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.New(fault.KindNotFound, "That invitation is no longer pending.")
		}
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		return s.audit(ctx, tx, orgID, actor, "member.invite.revoke", email)
	})
}

// Invitation errors a person following a link may meet.
var (
	ErrInvitationInvalid  = fault.New(fault.KindInvalid, "This invitation link is not valid, was withdrawn, or has already been used.")
	ErrInvitationExpired  = fault.New(fault.KindInvalid, "This invitation has expired. Ask an admin of the organization to invite you again.")
	ErrInvitationForOther = fault.New(fault.KindForbidden, "This invitation was sent to another e-mail address. Log in with that address to accept it.")
)

// Accept makes the logged-in user a member through an invitation link sent
// to their address, and returns the organization.
func (s *Service) Accept(ctx context.Context, user int64, userEmail, token string) (Org, error) {
	var o Org
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id, orgID int64
		var email string
		var role Role
		var expires time.Time
		var accepted, revoked sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT id, org_id, email, role, expires_at, accepted_at, revoked_at FROM invitations
			WHERE token_hash = $1`+s.db.Dialect().ForUpdate(), secret.Hash(token)).
			Scan(&id, &orgID, &email, &role, &expires, &accepted, &revoked)
		switch {
		case errors.Is(err, sql.ErrNoRows) || accepted.Valid || revoked.Valid:
			return ErrInvitationInvalid
		case err != nil:
			return fmt.Errorf("accept invitation: %w", err)
		case !s.now().Before(expires):
			return ErrInvitationExpired
		case !strings.EqualFold(email, userEmail):
			return ErrInvitationForOther
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3`, s.now(), user, id); err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		// Someone already a member keeps their role: an invitation never
		// demotes.
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, user_id) DO NOTHING`, orgID, user, role, s.now()); err != nil {
			return fmt.Errorf("accept invitation: add member: %w", err)
		}
		if err := s.audit(ctx, tx, orgID, user, "member.join", fmt.Sprintf("%s as %s", email, role)); err != nil {
			return err
		}
		o, err = s.authorize(ctx, tx, user, orgID)
		return err
	})
	return o, err
}
