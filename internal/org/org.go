package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/fault"
	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Role is a member's role in an organization.
type Role string

const (
	RoleAdmin     Role = "admin"
	RoleBilling   Role = "billing"
	RoleDeveloper Role = "developer"
)

// Roles lists the roles in the order forms offer them.
var Roles = []Role{RoleAdmin, RoleBilling, RoleDeveloper}

// Valid says whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleBilling || r == RoleDeveloper }

// Label is the role's name as people read it.
func (r Role) Label() string {
	switch r {
	case RoleAdmin:
		return "Admin"
	case RoleBilling:
		return "Billing"
	case RoleDeveloper:
		return "Developer"
	}
	return string(r)
}

// Mailer queues a message in the caller's transaction.
type Mailer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, m mailbox.Message) (int64, error)
}

// Config holds a Service's dependencies.
type Config struct {
	DB      *store.DB
	Mailer  Mailer
	Logger  *slog.Logger
	Now     func() time.Time
	BaseURL string
}

// Validate reports every missing dependency.
func (c Config) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("org: DB is required"))
	}
	if c.Mailer == nil {
		errs = append(errs, errors.New("org: Mailer is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("org: Logger is required"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("org: Now is required"))
	}
	if c.BaseURL == "" {
		errs = append(errs, errors.New("org: BaseURL is required"))
	}
	return errors.Join(errs...)
}

// Service is the organization operations.
type Service struct {
	cfg Config
	db  *store.DB
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Service{cfg: cfg, db: cfg.DB}, nil
}

func (s *Service) now() time.Time { return store.Now(s.cfg.Now()) }

// Org is an organization as one of its members sees it.
type Org struct {
	ID        int64
	Name      string
	Role      Role // the viewing member's role
	CreatedAt time.Time
	// ExternalID is the vendor's id of the tenant the organization bills
	// for, set through the vendor API; empty when not set.
	ExternalID string
}

// Authorization outcomes.
var (
	ErrNotFound  = fault.New(fault.KindNotFound, "This organization does not exist, or you are not a member of it.")
	ErrForbidden = fault.New(fault.KindForbidden, "Your role in this organization does not allow this. Ask an admin.")
	ErrLastAdmin = fault.New(fault.KindConflict, "An organization needs at least one admin: make another member admin first.")
)

// Authorize returns the organization as actor sees it, provided actor is a
// member with one of the roles (any role when none are given).
func (s *Service) Authorize(ctx context.Context, actor, orgID int64, roles ...Role) (Org, error) {
	return s.authorize(ctx, s.db.Read(), actor, orgID, roles...)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Service) authorize(ctx context.Context, q querier, actor, orgID int64, roles ...Role) (Org, error) {
	var o Org
	err := q.QueryRowContext(ctx, `SELECT o.id, o.name, m.role, o.created_at, COALESCE(o.external_id, '') FROM organizations o
		JOIN memberships m ON m.org_id = o.id AND m.user_id = $1 WHERE o.id = $2`, actor, orgID).
		Scan(&o.ID, &o.Name, &o.Role, &o.CreatedAt, &o.ExternalID)
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, ErrNotFound
	}
	if err != nil {
		return Org{}, fmt.Errorf("authorize user %d in organization %d: %w", actor, orgID, err)
	}
	if len(roles) > 0 && !hasRole(o.Role, roles) {
		return o, ErrForbidden
	}
	return o, nil
}

func hasRole(r Role, roles []Role) bool {
	for _, want := range roles {
		if r == want {
			return true
		}
	}
	return false
}

// CreateInput is the new-organization form.
type CreateInput struct{ Name string }

// Validate reports every field error.
func (in CreateInput) Validate() error {
	if !validName(in.Name, 100) {
		return fault.Validation(fault.Field("name", "Enter a name of at most 100 characters, without control characters."))
	}
	return nil
}

// validName says whether a name of an organization, key or token is 1 to
// max bytes once trimmed, of valid UTF-8 without control characters, which
// PostgreSQL refuses (NUL) or no page can show.
func validName(name string, max int) bool {
	name = strings.TrimSpace(name)
	if len(name) == 0 || len(name) > max || !utf8.ValidString(name) {
		return false
	}
	return !strings.ContainsFunc(name, unicode.IsControl)
}

// Create makes an organization with actor as its admin.
func (s *Service) Create(ctx context.Context, actor int64, in CreateInput) (Org, error) {
	if err := in.Validate(); err != nil {
		return Org{}, err
	}
	var o Org
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = s.CreateTx(ctx, tx, actor, in.Name)
		return err
	})
	return o, err
}

// CreateTx is Create inside the caller's transaction, for flows that create
// an organization together with something else (a marketplace link).
func (s *Service) CreateTx(ctx context.Context, tx *sql.Tx, actor int64, name string) (Org, error) {
	now := s.now()
	o := Org{Name: strings.TrimSpace(name), Role: RoleAdmin, CreatedAt: now}
	if err := tx.QueryRowContext(ctx, `INSERT INTO organizations (name, created_by, created_at) VALUES ($1, $2, $3) RETURNING id`,
		o.Name, actor, now).Scan(&o.ID); err != nil {
		return Org{}, fmt.Errorf("create organization: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		o.ID, actor, RoleAdmin, now); err != nil {
		return Org{}, fmt.Errorf("add creator to organization %d: %w", o.ID, err)
	}
	if err := s.audit(ctx, tx, o.ID, actor, "organization.create", o.Name); err != nil {
		return Org{}, err
	}
	return o, nil
}

// ListForUser returns the organizations user belongs to, by name.
func (s *Service) ListForUser(ctx context.Context, user int64) ([]Org, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT o.id, o.name, m.role, o.created_at, COALESCE(o.external_id, '') FROM organizations o
		JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 ORDER BY o.name, o.id`, user)
	if err != nil {
		return nil, fmt.Errorf("list organizations of user %d: %w", user, err)
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		var o Org
		if err := rows.Scan(&o.ID, &o.Name, &o.Role, &o.CreatedAt, &o.ExternalID); err != nil {
			return nil, fmt.Errorf("list organizations of user %d: %w", user, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// audit records that actor did action in the organization, in tx, so the
// record exists exactly when the change does.
func (s *Service) audit(ctx context.Context, tx *sql.Tx, orgID, actor int64, action, detail string) error {
	// Actor 0 is the system (a marketplace notification), stored as NULL.
	return s.auditAs(ctx, tx, orgID, actor, "", action, detail)
}

// auditAs is audit with an actor that is not a user, such as a service
// token, named by actorName (actor 0).
func (s *Service) auditAs(ctx context.Context, tx *sql.Tx, orgID, actor int64, actorName, action, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (org_id, actor_user_id, actor_name, action, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		orgID, sql.NullInt64{Int64: actor, Valid: actor != 0}, sql.NullString{String: actorName, Valid: actorName != ""}, action, detail, s.now())
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AuditEntry is one line of an organization's audit log.
type AuditEntry struct {
	ID int64
	// ActorEmail is the acting user's address, or the name of the service
	// token that acted; empty when the user was removed, or the system acted.
	ActorEmail string
	Action     string
	Detail     string
	At         time.Time
}

// AuditLog returns the newest entries first; admins only.
func (s *Service) AuditLog(ctx context.Context, actor, orgID int64, limit int) ([]AuditEntry, error) {
	if _, err := s.Authorize(ctx, actor, orgID, RoleAdmin); err != nil {
		return nil, err
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT a.id, COALESCE(u.email, a.actor_name, ''), a.action, a.detail, a.created_at
		FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id WHERE a.org_id = $1 ORDER BY a.id DESC LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log of organization %d: %w", orgID, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.ActorEmail, &e.Action, &e.Detail, &e.At); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuthorizeTx is Authorize inside the caller's transaction, for flows such
// as linking a subscription that must see the membership they change with.
func (s *Service) AuthorizeTx(ctx context.Context, tx *sql.Tx, actor, orgID int64, roles ...Role) (Org, error) {
	return s.authorize(ctx, tx, actor, orgID, roles...)
}

// AuditTx records an action of another package (billing) in the
// organization's audit log, inside the caller's transaction.
func (s *Service) AuditTx(ctx context.Context, tx *sql.Tx, orgID, actor int64, action, detail string) error {
	return s.audit(ctx, tx, orgID, actor, action, detail)
}
