package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/store"
)

// The vendor API: the vendor's back end, authenticated by a service token,
// ties organizations to the tenants of its product. It acts on any
// organization, without being a member of it; every change it makes is in
// the organization's audit log under the token's name (Token.Actor).

// Tenant is an organization as the vendor's back end sees it.
type Tenant struct {
	ID         int64
	Name       string
	ExternalID string // empty when not set
	CreatedAt  time.Time
	Members    int
}

// ExternalIDMaxLen is the longest external_id.
const ExternalIDMaxLen = 128

// externalIDRule is the field error of an invalid external_id: what to send.
const externalIDRule = "Use 1 to 128 characters, each a letter (A-Z, a-z), a digit, or one of . _ : -"

// ValidExternalID says whether id is a valid external_id: 1 to 128
// characters of [A-Za-z0-9._:-]. The set leaves out '/', '?', '#', '%' and
// spaces, so that an external_id is safe in a URL path (--product-url),
// in logs and in a query string as it is.
func ValidExternalID(id string) bool {
	if len(id) == 0 || len(id) > ExternalIDMaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// ExternalIDError is the field error for an invalid external_id.
func ExternalIDError() error { return fault.Field("external_id", externalIDRule) }

// VendorAPIEmail is the address of the users row that stands for the vendor
// API as creator of the organizations it creates and sender of its
// invitations (migration 0024). It is nobody's address.
const VendorAPIEmail = "vendor-api@marketbridge.invalid"

// ErrExternalIDTaken is a clash on the unique external_id.
var ErrExternalIDTaken = fault.New(fault.KindConflict, "Another organization has this external_id.")

// ErrTenantMismatch answers a create whose external_id exists with another
// name or first admin: it is not a retry of the request that created it.
var ErrTenantMismatch = fault.New(fault.KindConflict,
	"An organization with this external_id exists with another name or first admin; read it with GET /api/v1/organizations?external_id=…")

const tenantColumns = `o.id, o.name, COALESCE(o.external_id, ''), o.created_at,
	(SELECT COUNT(*) FROM memberships m WHERE m.org_id = o.id)`

func scanTenant(row interface{ Scan(...any) error }) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.ExternalID, &t.CreatedAt, &t.Members)
	return t, err
}

// Tenant reads one organization; ErrNotFound when there is none.
func (s *Service) Tenant(ctx context.Context, orgID int64) (Tenant, error) {
	return s.tenant(ctx, s.db.Read(), `o.id = $1`, orgID)
}

// TenantByExternalID finds the organization with that external_id;
// ErrNotFound when there is none.
func (s *Service) TenantByExternalID(ctx context.Context, externalID string) (Tenant, error) {
	if !ValidExternalID(externalID) {
		return Tenant{}, fault.Validation(ExternalIDError())
	}
	return s.tenant(ctx, s.db.Read(), `o.external_id = $1`, externalID)
}

func (s *Service) tenant(ctx context.Context, q querier, where string, arg any) (Tenant, error) {
	t, err := scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM organizations o WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, ErrNotFound
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("read organization: %w", err)
	}
	return t, nil
}

// Tenants lists up to limit organizations whose id is above after, by id:
// the stable order that cursor pagination needs.
func (s *Service) Tenants(ctx context.Context, after int64, limit int) ([]Tenant, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+tenantColumns+` FROM organizations o WHERE o.id > $1 ORDER BY o.id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("list organizations: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Grant is what adding someone to an organization did: made an existing
// user a member at once, or mailed an invitation to an address that has no
// account yet.
type Grant struct {
	Email     string
	Role      Role
	UserID    int64     // the member; 0 when invited
	Invited   bool      // an invitation was mailed; they join when they accept it
	ExpiresAt time.Time // the invitation's expiry, when invited
}

// CreateTenantInput is the body of POST /api/v1/organizations.
type CreateTenantInput struct {
	ExternalID string
	Name       string
	AdminEmail string
}

func (in *CreateTenantInput) normalize() {
	in.Name = strings.TrimSpace(in.Name)
	in.AdminEmail = strings.ToLower(strings.TrimSpace(in.AdminEmail))
}

// Validate reports every field error.
func (in CreateTenantInput) Validate() error {
	var errs []error
	if !ValidExternalID(in.ExternalID) {
		errs = append(errs, ExternalIDError())
	}
	if err := (CreateInput{Name: in.Name}).Validate(); err != nil {
		errs = append(errs, fault.Field("name", "Enter a name of at most 100 characters, without control characters."))
	}
	if !validMemberEmail(in.AdminEmail) {
		errs = append(errs, fault.Field("admin_email", "Enter an e-mail address such as name@example.com."))
	}
	return fault.Validation(errs...)
}

func validMemberEmail(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && email != VendorAPIEmail
}

// CreateTenant creates an organization for one of the vendor's tenants,
// with its external_id, its name and its first admin: a user with that
// address becomes admin at once; an address without an account is mailed an
// admin invitation, and the organization has no member until it is
// accepted. It is idempotent on external_id: a retry of the same request
// answers the organization the first one made (created false); the same
// external_id with another name or admin is ErrTenantMismatch.
func (s *Service) CreateTenant(ctx context.Context, tok Token, in CreateTenantInput) (t Tenant, g Grant, created bool, err error) {
	in.normalize()
	if err := in.Validate(); err != nil {
		return Tenant{}, Grant{}, false, err
	}
	// Two creates of one external_id at once on PostgreSQL: the loser's
	// insert breaks the unique index, and its second attempt finds the
	// winner's organization.
	for attempt := 0; ; attempt++ {
		err = s.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			t, g, created, err = s.createTenant(ctx, tx, tok, in)
			return err
		})
		if attempt == 0 && store.IsUniqueViolation(err) {
			continue
		}
		return t, g, created, err
	}
}

func (s *Service) createTenant(ctx context.Context, tx *sql.Tx, tok Token, in CreateTenantInput) (Tenant, Grant, bool, error) {
	existing, err := s.tenant(ctx, tx, `o.external_id = $1`, in.ExternalID)
	switch {
	case err == nil:
		g, ok, err := s.firstAdmin(ctx, tx, existing.ID, in.AdminEmail)
		if err != nil {
			return Tenant{}, Grant{}, false, err
		}
		if !ok || existing.Name != in.Name {
			return Tenant{}, Grant{}, false, ErrTenantMismatch
		}
		return existing, g, false, nil
	case !errors.Is(err, ErrNotFound):
		return Tenant{}, Grant{}, false, err
	}
	api, err := s.vendorAPIUser(ctx, tx)
	if err != nil {
		return Tenant{}, Grant{}, false, err
	}
	t := Tenant{Name: in.Name, ExternalID: in.ExternalID, CreatedAt: s.now()}
	if err := tx.QueryRowContext(ctx, `INSERT INTO organizations (name, created_by, created_at, external_id) VALUES ($1, $2, $3, $4) RETURNING id`,
		t.Name, api, t.CreatedAt, t.ExternalID).Scan(&t.ID); err != nil {
		return Tenant{}, Grant{}, false, fmt.Errorf("create organization for external_id %s: %w", in.ExternalID, err)
	}
	if err := s.auditAs(ctx, tx, t.ID, 0, tok.Actor(), "organization.create", fmt.Sprintf("%s (external_id %s)", t.Name, t.ExternalID)); err != nil {
		return Tenant{}, Grant{}, false, err
	}
	g, err := s.grant(ctx, tx, tok, t.ID, t.Name, in.AdminEmail, RoleAdmin)
	if err != nil {
		return Tenant{}, Grant{}, false, err
	}
	if !g.Invited {
		t.Members = 1
	}
	return t, g, true, nil
}

// firstAdmin says whether email is an admin of the organization or was
// invited as one, which is what a retried create asked for, and how.
func (s *Service) firstAdmin(ctx context.Context, tx *sql.Tx, orgID int64, email string) (Grant, bool, error) {
	g := Grant{Email: email, Role: RoleAdmin}
	err := tx.QueryRowContext(ctx, `SELECT u.id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = $1 AND u.email = $2 AND m.role = $3`, orgID, email, RoleAdmin).Scan(&g.UserID)
	if err == nil {
		return g, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return g, false, fmt.Errorf("read admins of organization %d: %w", orgID, err)
	}
	g.Invited = true
	err = tx.QueryRowContext(ctx, `SELECT expires_at FROM invitations WHERE org_id = $1 AND email = $2 AND role = $3
		ORDER BY id DESC LIMIT 1`, orgID, email, RoleAdmin).Scan(&g.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return g, false, nil
	}
	if err != nil {
		return g, false, fmt.Errorf("read invitations of organization %d: %w", orgID, err)
	}
	return g, true, nil
}

func (s *Service) vendorAPIUser(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email = $1`, VendorAPIEmail).Scan(&id); err != nil {
		return 0, fmt.Errorf("read the vendor API's user (migration 0024): %w", err)
	}
	return id, nil
}

// apiInviter is who an invitation mailed through the vendor API comes from.
const apiInviter = "An administrator"

// grant makes the user with email a member with role, or mails them an
// invitation when they have no account, in tx; ErrAlreadyMember when they
// are a member.
func (s *Service) grant(ctx context.Context, tx *sql.Tx, tok Token, orgID int64, orgName, email string, role Role) (Grant, error) {
	g := Grant{Email: email, Role: role}
	var member sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT u.id, m.role FROM users u LEFT JOIN memberships m ON m.user_id = u.id AND m.org_id = $1
		WHERE u.email = $2`, orgID, email).Scan(&g.UserID, &member)
	switch {
	case err == nil && member.Valid:
		return Grant{}, ErrAlreadyMember
	case err == nil:
		_, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			orgID, g.UserID, role, s.now())
		if store.IsUniqueViolation(err) {
			return Grant{}, ErrAlreadyMember // a concurrent request added them
		}
		if err != nil {
			return Grant{}, fmt.Errorf("add member to organization %d: %w", orgID, err)
		}
		return g, s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "member.add", fmt.Sprintf("%s as %s", email, role))
	case !errors.Is(err, sql.ErrNoRows):
		return Grant{}, fmt.Errorf("find user to add to organization %d: %w", orgID, err)
	}
	api, err := s.vendorAPIUser(ctx, tx)
	if err != nil {
		return Grant{}, err
	}
	inv, err := s.sendInvitation(ctx, tx, orgID, orgName, api, apiInviter, InviteInput{Email: email, Role: role})
	if err != nil {
		return Grant{}, err
	}
	g.UserID, g.Invited, g.ExpiresAt = 0, true, inv.ExpiresAt
	return g, s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "member.invite", fmt.Sprintf("%s as %s", email, role))
}

// readTenant reads the organization's name and external_id in tx.
func (s *Service) readTenant(ctx context.Context, tx *sql.Tx, orgID int64) (Tenant, error) {
	return s.scanTenantRow(tx.QueryRowContext(ctx, `SELECT id, name, COALESCE(external_id, '') FROM organizations WHERE id = $1`, orgID), orgID)
}

// lockTenant is readTenant that also locks the organization's row against
// a concurrent change of its external_id. It locks by a no-op update rather
// than SELECT … FOR UPDATE: PostgreSQL's FOR UPDATE would also block the
// key-share locks that inserting any row referencing the organization takes
// (an audit entry), and so could deadlock with a member change that holds
// the memberships' locks.
func (s *Service) lockTenant(ctx context.Context, tx *sql.Tx, orgID int64) (Tenant, error) {
	return s.scanTenantRow(tx.QueryRowContext(ctx, `UPDATE organizations SET external_id = external_id WHERE id = $1
		RETURNING id, name, COALESCE(external_id, '')`, orgID), orgID)
}

func (s *Service) scanTenantRow(row *sql.Row, orgID int64) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.ExternalID)
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, ErrNotFound
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("read organization %d: %w", orgID, err)
	}
	return t, nil
}

// SetExternalID ties the organization to the vendor's tenant externalID
// (empty clears it); ErrExternalIDTaken when another organization has it.
func (s *Service) SetExternalID(ctx context.Context, tok Token, orgID int64, externalID string) (Tenant, error) {
	if externalID != "" && !ValidExternalID(externalID) {
		return Tenant{}, fault.Validation(ExternalIDError())
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		t, err := s.lockTenant(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if t.ExternalID == externalID {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE organizations SET external_id = $1 WHERE id = $2`,
			sql.NullString{String: externalID, Valid: externalID != ""}, orgID)
		if store.IsUniqueViolation(err) {
			return ErrExternalIDTaken
		}
		if err != nil {
			return fmt.Errorf("set external_id of organization %d: %w", orgID, err)
		}
		detail := fmt.Sprintf("%s → %s", orNone(t.ExternalID), orNone(externalID))
		return s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "organization.external_id", detail)
	})
	if store.IsUniqueViolation(err) {
		err = ErrExternalIDTaken
	}
	if err != nil {
		return Tenant{}, err
	}
	return s.Tenant(ctx, orgID)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// TenantMembers lists an organization's members, by e-mail, and its pending
// invitations.
func (s *Service) TenantMembers(ctx context.Context, orgID int64) ([]Member, []Invitation, error) {
	if _, err := s.Tenant(ctx, orgID); err != nil {
		return nil, nil, err
	}
	members, err := s.members(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	invs, err := s.pendingInvitations(ctx, orgID)
	return members, invs, err
}

// AddTenantMember makes the user with in.Email a member with in.Role, or
// mails them an invitation when they have no account.
func (s *Service) AddTenantMember(ctx context.Context, tok Token, orgID int64, in InviteInput) (Grant, error) {
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	var errs []error
	if !validMemberEmail(in.Email) {
		errs = append(errs, fault.Field("email", "Enter an e-mail address such as name@example.com."))
	}
	if !in.Role.Valid() {
		errs = append(errs, fault.Field("role", `Choose the role "admin", "billing" or "developer".`))
	}
	if err := fault.Validation(errs...); err != nil {
		return Grant{}, err
	}
	var g Grant
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		t, err := s.readTenant(ctx, tx, orgID)
		if err != nil {
			return err
		}
		g, err = s.grant(ctx, tx, tok, orgID, t.Name, in.Email, in.Role)
		return err
	})
	return g, err
}

// MemberRef names a member in a vendor API path: a user id (digits) or an
// e-mail address.
type MemberRef string

// valid says whether ref could name anyone: text PostgreSQL refuses (a
// NUL byte) or no address has (control characters, bytes that are not
// UTF-8) names no member, rather than failing the request.
func (ref MemberRef) valid() bool { return validName(string(ref), 320) }

func (ref MemberRef) where() (string, any) {
	if id, err := strconv.ParseInt(string(ref), 10, 64); err == nil {
		return `u.id = $2`, id
	}
	return `u.email = $2`, strings.ToLower(strings.TrimSpace(string(ref)))
}

// memberOf finds the member ref names in tx, ErrNoSuchMember when none.
func (s *Service) memberOf(ctx context.Context, tx *sql.Tx, orgID int64, ref MemberRef) (Member, error) {
	if !ref.valid() {
		return Member{}, ErrNoSuchMember
	}
	where, arg := ref.where()
	var m Member
	err := tx.QueryRowContext(ctx, `SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m
		JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND `+where, orgID, arg).Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.JoinedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, ErrNoSuchMember
	}
	if err != nil {
		return Member{}, fmt.Errorf("find member of organization %d: %w", orgID, err)
	}
	return m, nil
}

// ChangeTenantRole sets a member's role. The last admin cannot be demoted.
func (s *Service) ChangeTenantRole(ctx context.Context, tok Token, orgID int64, ref MemberRef, role Role) (Member, error) {
	if !role.Valid() {
		return Member{}, fault.Validation(fault.Field("role", `Choose the role "admin", "billing" or "developer".`))
	}
	var m Member
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.readTenant(ctx, tx, orgID); err != nil {
			return err
		}
		_, admins, err := s.lockMembership(ctx, tx, orgID)
		if err != nil {
			return err
		}
		if m, err = s.memberOf(ctx, tx, orgID, ref); err != nil {
			return err
		}
		current := m.Role
		switch {
		case current == role:
			return nil
		case current == RoleAdmin && admins <= 1:
			return ErrLastAdmin
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3`, role, orgID, m.UserID); err != nil {
			return fmt.Errorf("change role: %w", err)
		}
		m.Role = role
		return s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "member.role", fmt.Sprintf("user %d: %s → %s", m.UserID, current, role))
	})
	return m, err
}

// RemoveTenantMember takes a member out of the organization, or withdraws
// the pending invitations of an address that is not a member yet. The last
// admin cannot be removed.
func (s *Service) RemoveTenantMember(ctx context.Context, tok Token, orgID int64, ref MemberRef) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.readTenant(ctx, tx, orgID); err != nil {
			return err
		}
		_, admins, err := s.lockMembership(ctx, tx, orgID)
		if err != nil {
			return err
		}
		m, err := s.memberOf(ctx, tx, orgID, ref)
		if errors.Is(err, ErrNoSuchMember) && ref.valid() && strings.Contains(string(ref), "@") {
			return s.withdrawInvitations(ctx, tx, tok, orgID, strings.ToLower(strings.TrimSpace(string(ref))))
		}
		if err != nil {
			return err
		}
		if m.Role == RoleAdmin && admins <= 1 {
			return ErrLastAdmin
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgID, m.UserID); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET current_org_id = NULL WHERE user_id = $1 AND current_org_id = $2`, m.UserID, orgID); err != nil {
			return fmt.Errorf("remove member: clear sessions: %w", err)
		}
		return s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "member.remove", fmt.Sprintf("user %d (%s)", m.UserID, m.Role))
	})
}

func (s *Service) withdrawInvitations(ctx context.Context, tx *sql.Tx, tok Token, orgID int64, email string) error {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1 WHERE org_id = $2 AND email = $3 AND accepted_at IS NULL
		AND revoked_at IS NULL AND expires_at > $1`, s.now(), orgID, email)
	if err != nil {
		return fmt.Errorf("withdraw invitations: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrNoSuchMember
	}
	return s.auditAs(ctx, tx, orgID, 0, tok.Actor(), "member.invite.revoke", email)
}

// Exists says whether the organization exists: the check of a request a
// service token makes on one organization's behalf, cheaper than Tenant.
func (s *Service) Exists(ctx context.Context, orgID int64) (bool, error) {
	var one int
	err := s.db.Read().QueryRowContext(ctx, `SELECT 1 FROM organizations WHERE id = $1`, orgID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check organization %d: %w", orgID, err)
	}
	return true, nil
}
