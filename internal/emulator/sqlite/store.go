package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/marketbridge/marketbridge/internal/emulator/market"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const schema = `CREATE TABLE IF NOT EXISTS entities (
	kind TEXT NOT NULL,
	id   TEXT NOT NULL,
	body BLOB NOT NULL,
	PRIMARY KEY (kind, id)
)`

// Store is a market.Store on SQLite.
type Store struct {
	db *sql.DB
}

// FileName is the database file inside the data folder.
const FileName = "emulator.db"

// Open opens (creating it if needed) the emulator database in dir. With
// reset, existing state is deleted first.
func Open(ctx context.Context, dir string, reset bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open emulator store: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if reset {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("open emulator store: reset: %w", err)
			}
		}
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	return open(ctx, dsn)
}

// OpenMemory opens a private in-memory database, for tests.
func OpenMemory(ctx context.Context) (*Store, error) {
	return open(ctx, "file::memory:?_txlock=immediate")
}

func open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open emulator store: %w", err)
	}
	// One writer connection: SQLite serialises writes anyway, and an
	// in-memory database lives only as long as its connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open emulator store: create schema: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// LoadAll reads every entity.
func (s *Store) LoadAll(ctx context.Context) ([]market.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, body FROM entities ORDER BY kind, id`)
	if err != nil {
		return nil, fmt.Errorf("load emulator state: %w", err)
	}
	defer rows.Close()
	var out []market.Record
	for rows.Next() {
		var r market.Record
		if err := rows.Scan(&r.Kind, &r.ID, &r.Body); err != nil {
			return nil, fmt.Errorf("load emulator state: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load emulator state: %w", err)
	}
	return out, nil
}

// Apply writes a batch of upserts and deletes in one transaction.
func (s *Store) Apply(ctx context.Context, records []market.Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save emulator state: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, r := range records {
		if r.Body == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM entities WHERE kind = $1 AND id = $2`, r.Kind, r.ID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO entities (kind, id, body) VALUES ($1, $2, $3)
				ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`, r.Kind, r.ID, r.Body)
		}
		if err != nil {
			return fmt.Errorf("save emulator %s %s: %w", r.Kind, r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save emulator state: %w", err)
	}
	return nil
}
