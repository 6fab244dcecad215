package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/store"
)

// RotationGrace is how long a rotated secret keeps signing beside the new
// one, so that a receiver has a day to take the new secret.
const RotationGrace = 24 * time.Hour

// Endpoint is one of the vendor's receivers.
type Endpoint struct {
	ID  int64
	URL string
	// Types are the event types it takes; none takes every type, also
	// those added later.
	Types   []Type
	Enabled bool
	// FromConfig endpoints are declared by flags or the webhooks file and
	// changed only there.
	FromConfig bool
	CreatedAt  time.Time
	// PreviousUntil is when the secret before the last rotation stops
	// signing; zero when there is none.
	PreviousUntil       time.Time
	LastSuccessAt       time.Time // zero: never
	FailingSince        time.Time // zero: not failing
	ConsecutiveFailures int
	DisabledAt          time.Time // zero unless disabled for failing
	DisabledReason      string
}

// TypesLabel is Types for people.
func (e Endpoint) TypesLabel() string {
	if len(e.Types) == 0 {
		return "every type"
	}
	s := make([]string, len(e.Types))
	for i, t := range e.Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Takes says whether the endpoint subscribes to t.
func (e Endpoint) Takes(t Type) bool { return len(e.Types) == 0 || slices.Contains(e.Types, t) }

// encodeTypes is types as stored: comma-framed, so that one LIKE finds a
// type; empty for every type.
func encodeTypes(types []Type) string {
	if len(types) == 0 {
		return ""
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return "," + strings.Join(s, ",") + ","
}

func decodeTypes(s string) []Type {
	var out []Type
	for _, t := range strings.Split(strings.Trim(s, ","), ",") {
		if t != "" {
			out = append(out, Type(t))
		}
	}
	return out
}

// EndpointInput is what an operator gives for a new endpoint.
type EndpointInput struct {
	URL     string
	Types   []Type
	Enabled bool
}

// Validate reports every field error at once.
func (in EndpointInput) Validate(allowPrivate bool) error {
	var errs []error
	if err := CheckURL(strings.TrimSpace(in.URL), allowPrivate); err != nil {
		errs = append(errs, fault.Field("url", capitalize(err.Error())+"."))
	}
	for _, t := range in.Types {
		if !t.Valid() {
			errs = append(errs, fault.Field("types", fmt.Sprintf("%q is not an event type.", t)))
		}
	}
	return fault.Validation(errs...)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ErrEndpointNotFound is an endpoint or delivery that does not exist.
var ErrEndpointNotFound = fault.New(fault.KindNotFound, "No such webhook endpoint or delivery.")

// errFromConfig refuses changing an endpoint the configuration declares.
var errFromConfig = fault.New(fault.KindConflict, "This endpoint is set by marketbridge's configuration (--webhook-url or --webhooks-file); change it there.")

// EndpointsConfig configures Endpoints.
type EndpointsConfig struct {
	DB  *store.DB
	Now func() time.Time
	// AllowPrivate lets endpoints name private and loopback addresses
	// (--webhooks-allow-private).
	AllowPrivate bool
}

// Endpoints manages the vendor's endpoints and shows their deliveries.
type Endpoints struct {
	db           *store.DB
	now          func() time.Time
	allowPrivate bool
}

// NewEndpoints returns Endpoints.
func NewEndpoints(cfg EndpointsConfig) (*Endpoints, error) {
	if cfg.DB == nil || cfg.Now == nil {
		return nil, errors.New("webhook: DB and Now are required")
	}
	return &Endpoints{db: cfg.DB, now: cfg.Now, allowPrivate: cfg.AllowPrivate}, nil
}

// AllowPrivate says whether endpoints may name private addresses.
func (s *Endpoints) AllowPrivate() bool { return s.allowPrivate }

const endpointColumns = `id, url, types, enabled, from_config, created_at, previous_until, last_success_at, failing_since,
	consecutive_failures, disabled_at, disabled_reason`

type scanner interface{ Scan(dest ...any) error }

func scanEndpoint(r scanner) (Endpoint, error) {
	var e Endpoint
	var types string
	var prev, success, failing, disabled sql.NullTime
	if err := r.Scan(&e.ID, &e.URL, &types, &e.Enabled, &e.FromConfig, &e.CreatedAt, &prev, &success, &failing,
		&e.ConsecutiveFailures, &disabled, &e.DisabledReason); err != nil {
		return Endpoint{}, err
	}
	e.Types = decodeTypes(types)
	e.PreviousUntil, e.LastSuccessAt, e.FailingSince, e.DisabledAt = prev.Time, success.Time, failing.Time, disabled.Time
	return e, nil
}

// List returns every endpoint, configured ones first.
func (s *Endpoints) List(ctx context.Context) ([]Endpoint, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY from_config DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Get returns one endpoint.
func (s *Endpoints) Get(ctx context.Context, id int64) (Endpoint, error) {
	e, err := scanEndpoint(s.db.Read().QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrEndpointNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("read webhook endpoint %d: %w", id, err)
	}
	return e, nil
}

// lastEvent is the id of the newest event: an endpoint made now gets only
// the events after it.
func lastEvent(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM webhook_events`).Scan(&id)
	return id, err
}

// Create makes an endpoint and returns it with its secret, which is shown
// once: the operator view never shows it again.
func (s *Endpoints) Create(ctx context.Context, in EndpointInput) (Endpoint, string, error) {
	in.URL = strings.TrimSpace(in.URL)
	if err := in.Validate(s.allowPrivate); err != nil {
		return Endpoint{}, "", err
	}
	secret := NewSecret()
	var id int64
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		after, err := lastEvent(ctx, tx)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO webhook_endpoints (url, types, enabled, secret, after_event, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			in.URL, encodeTypes(in.Types), in.Enabled, secret, after, store.Now(s.now())).Scan(&id)
	})
	if err != nil {
		return Endpoint{}, "", fmt.Errorf("create webhook endpoint: %w", err)
	}
	e, err := s.Get(ctx, id)
	return e, secret, err
}

// operatorOwned is the endpoint if an operator may change it.
func (s *Endpoints) operatorOwned(ctx context.Context, tx *sql.Tx, id int64) error {
	var fromConfig bool
	err := tx.QueryRowContext(ctx, `SELECT from_config FROM webhook_endpoints WHERE id = $1`+s.db.Dialect().ForUpdate(), id).Scan(&fromConfig)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrEndpointNotFound
	}
	if err != nil {
		return fmt.Errorf("read webhook endpoint %d: %w", id, err)
	}
	if fromConfig {
		return errFromConfig
	}
	return nil
}

// Rotate gives an endpoint a new secret and returns it, to be shown once.
// The previous secret signs too for RotationGrace (a second v1 signature),
// so that deliveries keep verifying while the receiver changes over.
func (s *Endpoints) Rotate(ctx context.Context, id int64) (string, error) {
	secret := NewSecret()
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.operatorOwned(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $1, secret = $2 WHERE id = $3`,
			store.Now(s.now()).Add(RotationGrace), secret, id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("rotate the secret of webhook endpoint %d: %w", id, err)
	}
	return secret, nil
}

// SetEnabled turns an endpoint on or off. A disabled endpoint gets no new
// events, and its pending deliveries wait; enabling it clears its failure
// record and sends them.
func (s *Endpoints) SetEnabled(ctx context.Context, id int64, enabled bool) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.operatorOwned(ctx, tx, id); err != nil {
			return err
		}
		q := `UPDATE webhook_endpoints SET enabled = FALSE WHERE id = $1`
		if enabled {
			q = `UPDATE webhook_endpoints SET enabled = TRUE, failing_since = NULL, consecutive_failures = 0, disabled_at = NULL,
				disabled_reason = '' WHERE id = $1`
		}
		_, err := tx.ExecContext(ctx, q, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("enable webhook endpoint %d: %w", id, err)
	}
	return nil
}

// Delete removes an endpoint with its deliveries and their attempts.
func (s *Endpoints) Delete(ctx context.Context, id int64) error {
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.operatorOwned(ctx, tx, id); err != nil {
			return err
		}
		return deleteEndpoint(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %d: %w", id, err)
	}
	return nil
}

// deleteEndpoint removes its rows child first: SQLite enforces the
// foreign keys, and deleting in order does not rely on the cascade.
func deleteEndpoint(ctx context.Context, tx *sql.Tx, id int64) error {
	for _, q := range []string{
		`DELETE FROM webhook_attempts WHERE endpoint_id = $1`,
		`DELETE FROM webhook_deliveries WHERE endpoint_id = $1`,
		`DELETE FROM webhook_endpoints WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// SyncConfig makes the configured endpoints exist as configured, at
// start-up: new URLs are created (getting events from then on), known ones
// updated and enabled, and configured endpoints no longer declared
// deleted. A changed secret is a rotation: the previous one keeps signing
// for RotationGrace. Endpoints made by operators are left alone.
func (s *Endpoints) SyncConfig(ctx context.Context, eps []ConfigEndpoint) error {
	if err := ValidateConfig(eps, s.allowPrivate); err != nil {
		return err
	}
	now := store.Now(s.now())
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		after, err := lastEvent(ctx, tx)
		if err != nil {
			return err
		}
		keep := map[int64]bool{}
		for _, e := range eps {
			var id int64
			err := tx.QueryRowContext(ctx, `INSERT INTO webhook_endpoints (url, types, enabled, secret, from_config, config_key, after_event, created_at)
				VALUES ($1, $2, TRUE, $3, TRUE, $1, $4, $5) ON CONFLICT (config_key) DO NOTHING RETURNING id`,
				e.URL, encodeTypes(e.Types), e.Secret, after, now).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				err = tx.QueryRowContext(ctx, `UPDATE webhook_endpoints SET types = $1, enabled = TRUE,
						previous_secret = CASE WHEN secret = $2 THEN previous_secret ELSE secret END,
						previous_until = CASE WHEN secret = $2 THEN previous_until ELSE $3 END,
						secret = $2,
						failing_since = CASE WHEN enabled THEN failing_since END,
						consecutive_failures = CASE WHEN enabled THEN consecutive_failures ELSE 0 END,
						disabled_at = NULL, disabled_reason = ''
					WHERE config_key = $4 RETURNING id`, encodeTypes(e.Types), e.Secret, now.Add(RotationGrace), e.URL).Scan(&id)
			}
			if err != nil {
				return fmt.Errorf("configure webhook endpoint %s: %w", e.URL, err)
			}
			keep[id] = true
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_endpoints WHERE from_config`)
		if err != nil {
			return err
		}
		var gone []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !keep[id] {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if err := deleteEndpoint(ctx, tx, id); err != nil {
				return fmt.Errorf("remove webhook endpoint %d, no longer configured: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("configure webhook endpoints: %w", err)
	}
	return nil
}

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID            int64
	EventID       string // the webhook-id
	Type          Type
	OrgID         int64
	Seq           int64
	Status        string // pending, delivered or failed
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	DeliveredAt   time.Time // zero until delivered
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Deliveries returns an endpoint's latest deliveries, newest first.
func (s *Endpoints) Deliveries(ctx context.Context, endpointID int64, limit int) ([]Delivery, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT d.id, e.event_id, e.type, e.org_id, e.seq, d.status, d.attempts, d.next_attempt_at,
			d.last_error, d.created_at, d.delivered_at
		FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
		WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook endpoint %d: %w", endpointID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var delivered sql.NullTime
		if err := rows.Scan(&d.ID, &d.EventID, &d.Type, &d.OrgID, &d.Seq, &d.Status, &d.Attempts, &d.NextAttemptAt,
			&d.LastError, &d.CreatedAt, &delivered); err != nil {
			return nil, err
		}
		d.DeliveredAt = delivered.Time
		out = append(out, d)
	}
	return out, rows.Err()
}

// Attempt is one try at a delivery.
type Attempt struct {
	ID          int64
	DeliveryID  int64
	EventID     string
	Type        Type
	AttemptedAt time.Time
	StatusCode  int // 0: no answer
	Latency     time.Duration
	Response    string // the answer's first KiB
	Error       string
}

// OK says whether the attempt delivered.
func (a Attempt) OK() bool { return a.StatusCode >= 200 && a.StatusCode < 300 }

// Attempts returns an endpoint's latest attempts, newest first.
func (s *Endpoints) Attempts(ctx context.Context, endpointID int64, limit int) ([]Attempt, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT a.id, a.delivery_id, e.event_id, e.type, a.attempted_at, a.status_code,
			a.latency_ms, a.response, a.error
		FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_events e ON e.id = d.event_id
		WHERE a.endpoint_id = $1 ORDER BY a.id DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, fmt.Errorf("list attempts of webhook endpoint %d: %w", endpointID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var ms int64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.Type, &a.AttemptedAt, &a.StatusCode, &ms, &a.Response, &a.Error); err != nil {
			return nil, err
		}
		a.Latency = time.Duration(ms) * time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// Resend makes a delivery of the endpoint due now, whatever its status,
// with a fresh retry schedule; it keeps its webhook-id, so that a receiver
// that had it already can tell.
func (s *Endpoints) Resend(ctx context.Context, endpointID, deliveryID int64) error {
	now := store.Now(s.now())
	res, err := s.db.Write().ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, give_up_at = $2,
			step = 0, lease_until = NULL, claimed_by = ''
		WHERE id = $3 AND endpoint_id = $4`, now, now.Add(RetryFor), deliveryID, endpointID)
	if err != nil {
		return fmt.Errorf("send delivery %d again: %w", deliveryID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrEndpointNotFound
	}
	return nil
}
