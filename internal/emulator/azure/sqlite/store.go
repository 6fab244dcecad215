// Package sqlite keeps the Microsoft marketplace emulator's state in one
// SQLite file of JSON entities (azure-emulator.db in the data folder), beside
// the AWS emulator's emulator.db and in the same shape, so that a restart
// resumes where the emulator stopped.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data folder.
const FileName = "azure-emulator.db"

// Store is a market.Store on SQLite.
type Store struct{ db *sql.DB }

// Open opens (creating it if needed) the database in dir; reset deletes the
// existing state first.
func Open(ctx context.Context, dir string, reset bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open azure emulator store: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if reset {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("open azure emulator store: reset: %w", err)
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open azure emulator store: %w", err)
	}
	db.SetMaxOpenConns(1) // SQLite serialises writes anyway
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS entities (
		kind TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id))`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open azure emulator store: create schema: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// LoadAll reads every entity.
func (s *Store) LoadAll(ctx context.Context) ([]market.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, body FROM entities ORDER BY kind, id`)
	if err != nil {
		return nil, fmt.Errorf("load azure emulator state: %w", err)
	}
	defer rows.Close()
	var out []market.Record
	for rows.Next() {
		var r market.Record
		if err := rows.Scan(&r.Kind, &r.ID, &r.Body); err != nil {
			return nil, fmt.Errorf("load azure emulator state: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Apply writes upserts and deletes (Body nil) in one transaction.
func (s *Store) Apply(ctx context.Context, records []market.Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save azure emulator state: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, r := range records {
		if r.Body == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM entities WHERE kind = ? AND id = ?`, r.Kind, r.ID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO entities (kind, id, body) VALUES (?, ?, ?)
				ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`, r.Kind, r.ID, r.Body)
		}
		if err != nil {
			return fmt.Errorf("save azure emulator %s %s: %w", r.Kind, r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save azure emulator state: %w", err)
	}
	return nil
}
