package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is an open database: a pool for writes and one for reads. On
// PostgreSQL both are the same pool.
type DB struct {
	dialect Dialect
	write   *sql.DB
	read    *sql.DB
	pgpool  *pgxpool.Pool
	logger  *slog.Logger
}

// Open connects to the database named by rawURL ("postgres://...",
// "sqlite:PATH" or "sqlite::memory:") and checks that it answers.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	var db *DB
	switch u.Scheme {
	case "postgres", "postgresql":
		db, err = openPostgres(ctx, rawURL)
	case "sqlite":
		db, err = openSQLite(strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//"))
	default:
		return nil, fmt.Errorf("database URL: scheme %q is not supported (use postgres://... or sqlite:PATH)", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db.logger = logger
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	sqldb := stdlib.OpenDBFromPool(pool)
	return &DB{dialect: DialectPostgres, write: sqldb, read: sqldb, pgpool: pool}, nil
}

// sqlitePragmas are the settings every connection gets; see the package doc.
// synchronous=FULL makes every commit fsync the WAL before it returns, so that
// what marketbridge acknowledged (usage accepted, a link, a metering outcome)
// survives a power loss, not only a crash of the process as NORMAL does. The
// fsync is paid once per transaction, and usage ingest commits a whole round
// of requests in one, so its cost is shared by every event of the round.
const sqlitePragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)&_time_format=sqlite"

// sqliteWriterPragmas are for the one writer connection, which takes every
// write, usage ingest's hundreds of thousands of rows a second included:
//   - a 64 MiB page cache (SQLite's default is 2 MiB), allocated as used,
//     so that the B-tree pages a round of ingest writes into (the newest
//     deduplication run, the hourly totals) stay in memory between rounds;
//   - a checkpoint every 16,000 WAL pages (the default is 1,000): rounds
//     rewrite many of the same pages, and a longer WAL lets one checkpoint
//     copy each page once for many rounds; the WAL grows to about 64 MiB;
//   - temporary data in memory, not in files.
const sqliteWriterPragmas = "&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(16000)&_pragma=temp_store(MEMORY)"

func openSQLite(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("database URL: sqlite: needs a file path")
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return nil, fmt.Errorf("open SQLite %s: %w", path, err)
			}
		}
	}
	write, err := sql.Open("sqlite", "file:"+path+"?"+sqlitePragmas+sqliteWriterPragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	// One writer: SQLite allows one write transaction at a time anyway, and
	// queueing in the pool is cheaper and fairer than spinning on SQLITE_BUSY.
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if path == ":memory:" {
		// An in-memory database lives in one connection: share it.
		return &DB{dialect: DialectSQLite, write: write, read: write}, nil
	}
	read, err := sql.Open("sqlite", "file:"+path+"?"+sqlitePragmas+"&mode=ro")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	// Keep them open: under load a small idle pool opens and closes
	// connections, each one re-reading the schema.
	read.SetMaxIdleConns(8)
	return &DB{dialect: DialectSQLite, write: write, read: read}, nil
}

// Dialect says which engine this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Read is the pool for queries that change nothing.
func (db *DB) Read() *sql.DB { return db.read }

// Write is the pool for statements that change data outside InTx.
func (db *DB) Write() *sql.DB { return db.write }

// Postgres is the PostgreSQL pool behind Write and Read, for a writer that
// needs what database/sql cannot say, such as several statements sent at
// once (a pipeline); nil on SQLite.
func (db *DB) Postgres() *pgxpool.Pool { return db.pgpool }

// Ping checks that the database answers, for start-up and /healthz.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("reach %s database: %w", db.dialect, err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("reach %s database (readers): %w", db.dialect, err)
		}
	}
	return nil
}

// Close releases both pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if db.pgpool != nil {
		db.pgpool.Close()
	}
	return errors.Join(errs...)
}

// InTx runs fn in one write transaction, committed if fn returns nil and
// rolled back otherwise. Keep network calls (AWS, SMTP) out of fn: on SQLite
// the transaction holds the only write lock.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			db.logger.Warn("rollback failed", "err", rbErr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// Pools names each distinct connection pool ("write", and "read" when
// separate), for the metrics that report their figures.
func (db *DB) Pools() map[string]*sql.DB {
	if db.read == db.write {
		return map[string]*sql.DB{"write": db.write}
	}
	return map[string]*sql.DB{"write": db.write, "read": db.read}
}

// Now returns t in the form every table stores: UTC, to the microsecond,
// which is PostgreSQL's precision, so that both engines give back the value
// they were given.
func Now(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
