// Package storetest runs a test against every database engine marketbridge
// supports: SQLite always, and PostgreSQL when MARKETBRIDGE_TEST_POSTGRES_URL
// names a server. In CI (CI=true) a missing PostgreSQL fails the test rather
// than skipping it, so that the PostgreSQL half can never silently not run.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// PostgresURLEnv names the variable that points the tests at PostgreSQL.
const PostgresURLEnv = "MARKETBRIDGE_TEST_POSTGRES_URL"

// Engines lists the engines a test runs on: "sqlite", and "postgres".
var Engines = []string{"sqlite", "postgres"}

// Each runs fn once per engine, as a subtest named for the engine, each on a
// fresh, migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) {
			fn(t, Open(t, engine))
		})
	}
}

// Open returns a fresh, migrated database of the engine, closed and removed
// when the test ends.
func Open(t testing.TB, engine string) *store.DB {
	t.Helper()
	return OpenURL(t, URL(t, engine))
}

// OpenURL opens and migrates the database at rawURL, closed when the test
// ends: for tests whose child processes open the same database by URL.
// Closing it earlier is harmless.
func OpenURL(t testing.TB, rawURL string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, rawURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", rawURL, err)
	}
	return db
}

// URL returns the URL of a new, empty database of the engine. For PostgreSQL
// that is a schema of its own in the test server, dropped at the end, so that
// tests run in parallel without seeing each other's rows.
func URL(t testing.TB, engine string) string {
	t.Helper()
	switch engine {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case "postgres":
		return postgresSchemaURL(t)
	}
	t.Fatalf("unknown engine %q", engine)
	return ""
}

func postgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: in CI the PostgreSQL suite must run (.ci/run starts a server)", PostgresURLEnv)
		}
		t.Skipf("PostgreSQL half skipped: set %s=postgres://user:pass@127.0.0.1:5432/db to run it", PostgresURLEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := store.Open(ctx, base, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", PostgresURLEnv, err)
	}
	if _, err := admin.Write().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Write().ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	return withSearchPath(t, base, schema)
}

func withSearchPath(t testing.TB, base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
