package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change, from migrations/NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, version)
		}
		seen[version] = name
		body, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: version, Name: rest, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies every embedded migration not yet applied, each in its own
// transaction together with its row in schema_migrations, and returns the
// versions it applied. Running it twice, or from two processes at once, is
// safe: each migration is applied once, under a lock, after re-checking.
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if err := db.createMigrationTable(ctx); err != nil {
		return nil, err
	}
	var applied []Migration
	for _, m := range ms {
		done, err := db.apply(ctx, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m)
			db.logger.Info("applied migration", "version", m.Version, "name", m.Name)
		}
	}
	return applied, nil
}

func (db *DB) createMigrationTable(ctx context.Context) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		// The lock also covers this CREATE: two PostgreSQL sessions racing on
		// CREATE TABLE IF NOT EXISTS can otherwise both try to create it.
		if err := db.dialect.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.dialect.expandTypes(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at {{time}} NOT NULL DEFAULT CURRENT_TIMESTAMP
		)`))
		if err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		return nil
	})
}

func (db *DB) apply(ctx context.Context, m Migration) (applied bool, err error) {
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.dialect.lockMigrations(ctx, tx); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, m.Version).Scan(&one)
		if err == nil {
			return nil // another process, or an earlier run, applied it
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check migration %d: %w", m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, db.dialect.expandTypes(m.SQL)); err != nil {
			return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		applied = true
		return nil
	})
	return applied, err
}

// SchemaVersion is the highest applied migration, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}
