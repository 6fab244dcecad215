package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	mailbox "github.com/marketbridge/marketbridge/internal/mail"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Mailer queues a message in the caller's transaction, so that the mail
// exists exactly when the change that caused it is committed.
type Mailer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, m mailbox.Message) (int64, error)
}

// Lifetimes of what this package hands out.
const (
	VerifyLinkTTL = 24 * time.Hour
	ResetLinkTTL  = time.Hour
	SessionTTL    = 14 * 24 * time.Hour
)

// Config holds a Service's dependencies.
type Config struct {
	DB      *store.DB
	Mailer  Mailer
	Logger  *slog.Logger
	Now     func() time.Time
	BaseURL string // the console's public URL, for links in mail
}

// Validate reports every missing dependency.
func (c Config) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("account: DB is required"))
	}
	if c.Mailer == nil {
		errs = append(errs, errors.New("account: Mailer is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("account: Logger is required"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("account: Now is required"))
	}
	if c.BaseURL == "" {
		errs = append(errs, errors.New("account: BaseURL is required"))
	}
	return errors.Join(errs...)
}

// Service is the account operations.
type Service struct {
	cfg       Config
	db        *store.DB
	logger    *slog.Logger
	common    map[string]bool
	hashSlots chan struct{}
	limits    limits
	dummyHash string // verified against when the e-mail is unknown, to keep timing flat
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Service{
		cfg:       cfg,
		db:        cfg.DB,
		logger:    cfg.Logger,
		common:    parseCommonPasswords(),
		hashSlots: make(chan struct{}, 2),
		limits:    newLimits(cfg.Now),
	}
	h, err := s.hashPassword(context.Background(), "not a real password, only for timing")
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	return s, nil
}

func (s *Service) now() time.Time { return store.Now(s.cfg.Now()) }

// User is a person with a console log-in.
type User struct {
	ID            int64
	Email         string
	Name          string
	EmailVerified bool
	Onboarded     bool
	CreatedAt     time.Time
}

// NormalizeEmail is the form addresses are stored and compared in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// validEmail accepts a bare address (no display name), as a form field
// should hold.
func validEmail(email string) bool {
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && a.Name == "" && len(email) <= 254
}

const userColumns = `id, email, name, email_verified_at IS NOT NULL, onboarded_at IS NOT NULL, created_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.EmailVerified, &u.Onboarded, &u.CreatedAt)
	return u, err
}

// ErrUserNotFound is returned for an unknown user id or address.
var ErrUserNotFound = fault.New(fault.KindNotFound, "No such user.")

// UserByID returns one user.
func (s *Service) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user registered with email.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.db.Read().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, NormalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("read user by e-mail: %w", err)
	}
	return u, nil
}
