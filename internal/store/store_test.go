package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func TestMigrate_AppliesAllAndIsSafeToRerun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms, err := store.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := ms[len(ms)-1].Version; v != want {
			t.Fatalf("schema version = %d, want %d", v, want)
		}
		again, err := db.Migrate(ctx)
		if err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if len(again) != 0 {
			t.Fatalf("second migrate applied %d migrations, want none", len(again))
		}
	})
}

// Two processes starting at once (two serve replicas, or serve and migrate)
// must apply each migration exactly once and both succeed.
func TestMigrate_ConcurrentMigratorsApplyEachOnce(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			ctx := context.Background()
			const n = 4
			dbs := make([]*store.DB, n)
			for i := range dbs {
				db, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
			}
			var wg sync.WaitGroup
			applied := make([]int, n)
			errs := make([]error, n)
			for i, db := range dbs {
				wg.Go(func() {
					ms, err := db.Migrate(ctx)
					applied[i], errs[i] = len(ms), err
				})
			}
			wg.Wait()
			total := 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("migrator %d: %v", i, errs[i])
				}
				total += applied[i]
			}
			ms, _ := store.Migrations()
			if total != len(ms) {
				t.Errorf("migrations applied %d times in all, want %d (once each)", total, len(ms))
			}
			var rows int
			if err := dbs[0].Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != len(ms) {
				t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
			}
		})
	}
}

// Read-then-write transactions from many goroutines are what request
// handlers do; on SQLite they must queue, never fail with "database is
// locked", and on both engines no update may be lost.
func TestInTx_ConcurrentReadModifyWriteNeverLocked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Write().ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('counter', '0', $1)`, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		const workers, each = 16, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					errs <- db.InTx(ctx, func(tx *sql.Tx) error {
						var v int
						if err := tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'counter'`+db.Dialect().ForUpdate()).Scan(&v); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE settings SET value = $1 WHERE key = 'counter'`, fmt.Sprint(v+1))
						return err
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("transaction failed: %v", err)
			}
		}
		var got string
		if err := db.Read().QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'counter'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(workers * each); got != want {
			t.Fatalf("counter = %s, want %s: updates were lost", got, want)
		}
	})
}

func TestInTx_RollsBackOnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', $1)`, time.Now().UTC()); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx error = %v, want the callback's error", err)
		}
		var n int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM settings`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d rows after rollback, want 0", n)
		}
	})
}

// Times go in and come back equal on both engines, and compare in SQL in
// time order, which on SQLite depends on the stored text format.
func TestTimes_RoundTripAndOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := store.Now(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
		times := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(1234 * time.Microsecond), base.Add(time.Second)}
		for i, ts := range times {
			if _, err := db.Write().ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, '', $2)`, fmt.Sprint(i), ts); err != nil {
				t.Fatal(err)
			}
		}
		var got time.Time
		if err := db.Read().QueryRowContext(ctx, `SELECT updated_at FROM settings WHERE key = '2'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(times[2]) {
			t.Fatalf("time came back as %v, want %v", got, times[2])
		}
		var later int
		if err := db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE updated_at > $1`, base.Add(time.Millisecond)).Scan(&later); err != nil {
			t.Fatal(err)
		}
		if later != 3 {
			t.Fatalf("%d rows later than base+1ms, want 3", later)
		}
	})
}

func TestOpen_ClearErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, url, want string
	}{
		{"unknown scheme", "mysql://localhost/db", `scheme "mysql" is not supported`},
		{"sqlite without path", "sqlite:", "needs a file path"},
		{"sqlite in missing folder", "sqlite:" + filepath.Join(t.TempDir(), "nope", "x.db"), "no such file or directory"},
		{"postgres refuses", "postgres://u:p@127.0.0.1:1/db?connect_timeout=2", "reach postgres database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(ctx, tt.url, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestOpen_SQLiteWriterSettings: the DSN's pragmas reach the writer (a
// misspelt one would be dropped without a word), and readers keep SQLite's
// defaults.
func TestOpen_SQLiteWriterSettings(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	for _, tc := range []struct {
		pragma       string
		writer, read int64
	}{
		{"cache_size", -65536, -2000},
		{"wal_autocheckpoint", 16000, 1000},
		{"temp_store", 2, 0}, // 2 is MEMORY, 0 DEFAULT
		{"foreign_keys", 1, 1},
		{"synchronous", 2, 2}, // FULL: a commit survives power loss (#11)
	} {
		var w, r int64
		if err := db.Write().QueryRow("PRAGMA " + tc.pragma).Scan(&w); err != nil {
			t.Fatal(err)
		}
		if err := db.Read().QueryRow("PRAGMA " + tc.pragma).Scan(&r); err != nil {
			t.Fatal(err)
		}
		if w != tc.writer || r != tc.read {
			t.Errorf("PRAGMA %s: writer %d, reader %d; want %d and %d", tc.pragma, w, r, tc.writer, tc.read)
		}
	}
}

// TestIsUniqueViolation is checked on each engine's own errors: a taken
// primary key and a taken unique index are unique violations, a check
// constraint is not. The PostgreSQL usage writer tells a resent event from
// other failures by it (#14).
func TestIsUniqueViolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, stmt := range []string{
			`CREATE TABLE uv (id BIGINT PRIMARY KEY, code TEXT NOT NULL UNIQUE, n BIGINT NOT NULL CHECK (n >= 0))`,
			`INSERT INTO uv (id, code, n) VALUES (1, 'a', 1)`,
		} {
			if _, err := db.Write().ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name, stmt string
			want       bool
		}{
			{"primary key taken", `INSERT INTO uv (id, code, n) VALUES (1, 'b', 1)`, true},
			{"unique index taken", `INSERT INTO uv (id, code, n) VALUES (2, 'a', 1)`, true},
			{"check refused", `INSERT INTO uv (id, code, n) VALUES (3, 'c', -1)`, false},
			{"no such table", `INSERT INTO no_such_table (id) VALUES (1)`, false},
		}
		for _, c := range cases {
			_, err := db.Write().ExecContext(ctx, c.stmt)
			if err == nil {
				t.Fatalf("%s: the insert succeeded", c.name)
			}
			if got := store.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)); got != c.want {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", c.name, err, got, c.want)
			}
		}
		if store.IsUniqueViolation(nil) {
			t.Error("IsUniqueViolation(nil) = true")
		}
	})
}
