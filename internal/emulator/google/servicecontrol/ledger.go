package servicecontrol

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// The ledger's tables. operations remembers every accepted operationId, so
// that dedup holds across restarts; usage holds one row per billed metric
// value. Times are Unix nanoseconds (UTC), so intervals compare as integers;
// money is integer micro-dollars.
const schema = `
CREATE TABLE IF NOT EXISTS operations (
	service      TEXT    NOT NULL,
	operation_id TEXT    NOT NULL,
	digest       TEXT    NOT NULL,
	consumer_id  TEXT    NOT NULL,
	received_at  INTEGER NOT NULL,
	PRIMARY KEY (service, operation_id)
);
CREATE TABLE IF NOT EXISTS usage (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	service       TEXT    NOT NULL,
	operation_id  TEXT    NOT NULL,
	consumer_id   TEXT    NOT NULL,
	entitlement   TEXT    NOT NULL,
	account       TEXT    NOT NULL,
	product       TEXT    NOT NULL,
	plan          TEXT    NOT NULL,
	metric        TEXT    NOT NULL,
	start_time    INTEGER NOT NULL,
	end_time      INTEGER NOT NULL,
	quantity      INTEGER NOT NULL,
	price_micros  INTEGER NOT NULL,
	amount_micros INTEGER NOT NULL,
	month         TEXT    NOT NULL,
	received_at   INTEGER NOT NULL,
	late          INTEGER NOT NULL,
	after_end     INTEGER NOT NULL,
	overlaps      TEXT    NOT NULL,
	labels        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_interval ON usage (service, consumer_id, metric, start_time);
CREATE INDEX IF NOT EXISTS usage_invoice ON usage (account, month);
`

// MicrosPerCent is how many micro-dollars make a cent.
const MicrosPerCent = 10_000

// Entry is one recorded metric value of an accepted operation.
type Entry struct {
	Service      string            `json:"service"`
	OperationID  string            `json:"operationId"`
	ConsumerID   string            `json:"consumerId"`
	Entitlement  string            `json:"entitlement"`
	Account      string            `json:"account"`
	Product      string            `json:"product"`
	Plan         string            `json:"plan"`
	Metric       string            `json:"metric"`
	Start        time.Time         `json:"startTime"`
	End          time.Time         `json:"endTime"`
	Quantity     int64             `json:"quantity"`
	PriceMicros  int64             `json:"priceMicros"`
	AmountMicros int64             `json:"amountMicros"`
	Month        string            `json:"month"` // the invoice it falls in, YYYY-MM
	ReceivedAt   time.Time         `json:"receivedAt"`
	Late         bool              `json:"late"`     // received after endTime + the reporting window
	AfterEnd     bool              `json:"afterEnd"` // ends after the entitlement ended (recorded by policy)
	Overlaps     []string          `json:"overlaps,omitempty"`
	Labels       map[string]string `json:"userLabels,omitempty"`
}

// Invoice is an account's bill for a month. Usage is summed in exact
// micro-dollars; only the total is rounded, down, to cents, and the
// sub-cent remainder is carried into the account's next invoice, so that
// nothing is lost or invented over months: CarriedInMicros is the remainder
// of all earlier months' usage, CarriedOutMicros this month's.
type Invoice struct {
	Account          string        `json:"account"`
	Month            string        `json:"month"`
	Lines            []InvoiceLine `json:"lines"`
	UsageMicros      int64         `json:"usageMicros"`
	CarriedInMicros  int64         `json:"carriedInMicros"`
	Cents            int64         `json:"cents"`
	CarriedOutMicros int64         `json:"carriedOutMicros"`
	LateEntries      int           `json:"lateEntries"`
	OverlapEntries   int           `json:"overlapEntries"`
	AfterEndEntries  int           `json:"afterEndEntries"`
}

// InvoiceLine sums the usage of one entitlement, metric and price.
type InvoiceLine struct {
	Entitlement  string `json:"entitlement"`
	Product      string `json:"product"`
	Plan         string `json:"plan"`
	Metric       string `json:"metric"`
	Quantity     int64  `json:"quantity"`
	PriceMicros  int64  `json:"priceMicros"`
	AmountMicros int64  `json:"amountMicros"`
}

type ledger struct {
	db *sql.DB
}

func openLedger(ctx context.Context, path string) (*ledger, error) {
	dsn := "file::memory:?_txlock=immediate"
	if path != ":memory:" {
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)&_txlock=immediate"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open service control ledger %s: %w", path, err)
	}
	// One connection: an in-memory database lives only as long as its
	// connection, and SQLite serialises writes anyway.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open service control ledger %s: create schema: %w", path, err)
	}
	return &ledger{db: db}, nil
}

func (l *ledger) close() error { return l.db.Close() }

// inTx runs fn in one transaction, committed if it returns nil.
func (l *ledger) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// recordedDigest is the digest an operationId was accepted with.
func recordedDigest(ctx context.Context, tx *sql.Tx, service, id string) (string, bool, error) {
	var d string
	err := tx.QueryRowContext(ctx, `SELECT digest FROM operations WHERE service = ? AND operation_id = ?`, service, id).Scan(&d)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return d, err == nil, err
}

func insertOperation(ctx context.Context, tx *sql.Tx, service string, op operation, digest string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO operations (service, operation_id, digest, consumer_id, received_at) VALUES (?, ?, ?, ?, ?)`,
		service, op.ID, digest, op.ConsumerID, at.UnixNano())
	return err
}

// overlapping are the other operations whose usage of the metric for the
// consumer shares time with [start, end).
func overlapping(ctx context.Context, tx *sql.Tx, service, consumerID, metric, opID string, start, end time.Time) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT operation_id FROM usage
		WHERE service = ? AND consumer_id = ? AND metric = ? AND operation_id <> ? AND start_time < ? AND end_time > ?
		ORDER BY operation_id`, service, consumerID, metric, opID, end.UnixNano(), start.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func insertUsage(ctx context.Context, tx *sql.Tx, e Entry) error {
	labels, err := json.Marshal(e.Labels)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO usage (service, operation_id, consumer_id, entitlement, account, product, plan, metric,
		start_time, end_time, quantity, price_micros, amount_micros, month, received_at, late, after_end, overlaps, labels)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Service, e.OperationID, e.ConsumerID, e.Entitlement, e.Account, e.Product, e.Plan, e.Metric,
		e.Start.UnixNano(), e.End.UnixNano(), e.Quantity, e.PriceMicros, e.AmountMicros, e.Month, e.ReceivedAt.UnixNano(),
		e.Late, e.AfterEnd, strings.Join(e.Overlaps, ","), string(labels))
	return err
}

// Ledger lists every recorded entry in the order recorded.
func (s *Server) Ledger(ctx context.Context) ([]Entry, error) {
	rows, err := s.ledger.db.QueryContext(ctx, `SELECT service, operation_id, consumer_id, entitlement, account, product, plan, metric,
		start_time, end_time, quantity, price_micros, amount_micros, month, received_at, late, after_end, overlaps, labels
		FROM usage ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read service control ledger: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var start, end, received int64
		var overlaps, labels string
		if err := rows.Scan(&e.Service, &e.OperationID, &e.ConsumerID, &e.Entitlement, &e.Account, &e.Product, &e.Plan, &e.Metric,
			&start, &end, &e.Quantity, &e.PriceMicros, &e.AmountMicros, &e.Month, &received, &e.Late, &e.AfterEnd, &overlaps, &labels); err != nil {
			return nil, fmt.Errorf("read service control ledger: %w", err)
		}
		e.Start, e.End, e.ReceivedAt = time.Unix(0, start).UTC(), time.Unix(0, end).UTC(), time.Unix(0, received).UTC()
		if overlaps != "" {
			e.Overlaps = strings.Split(overlaps, ",")
		}
		if err := json.Unmarshal([]byte(labels), &e.Labels); err != nil {
			return nil, fmt.Errorf("read service control ledger: labels: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read service control ledger: %w", err)
	}
	return out, nil
}

// Invoice is account's invoice for month (YYYY-MM, in the configured
// invoice location). A month without usage still carries its remainder.
func (s *Server) Invoice(ctx context.Context, account, month string) (Invoice, error) {
	if _, err := time.Parse("2006-01", month); err != nil {
		return Invoice{}, fmt.Errorf("invoice month %q: want YYYY-MM", month)
	}
	inv := Invoice{Account: account, Month: month, Lines: []InvoiceLine{}}
	err := s.ledger.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT entitlement, product, plan, metric, price_micros, SUM(quantity), SUM(amount_micros)
			FROM usage WHERE account = ? AND month = ?
			GROUP BY entitlement, product, plan, metric, price_micros ORDER BY entitlement, metric, price_micros`, account, month)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l InvoiceLine
			if err := rows.Scan(&l.Entitlement, &l.Product, &l.Plan, &l.Metric, &l.PriceMicros, &l.Quantity, &l.AmountMicros); err != nil {
				return err
			}
			inv.Lines = append(inv.Lines, l)
			inv.UsageMicros += l.AmountMicros
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var before int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_micros), 0) FROM usage WHERE account = ? AND month < ?`, account, month).Scan(&before); err != nil {
			return err
		}
		// Rounding down every month and carrying the rest makes the carry
		// into a month the remainder of everything billed before it.
		inv.CarriedInMicros = before % MicrosPerCent
		return tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(late), 0), COALESCE(SUM(overlaps <> ''), 0), COALESCE(SUM(after_end), 0)
			FROM usage WHERE account = ? AND month = ?`, account, month).Scan(&inv.LateEntries, &inv.OverlapEntries, &inv.AfterEndEntries)
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("invoice of %s for %s: %w", account, month, err)
	}
	total := inv.UsageMicros + inv.CarriedInMicros
	inv.Cents, inv.CarriedOutMicros = total/MicrosPerCent, total%MicrosPerCent
	return inv, nil
}
