package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsTransient says whether err is a database failure that passes by itself,
// so that the same statement may well succeed if tried again: the database
// busy or locked, short of memory or disk, an I/O error, a lost connection,
// a serialization failure or deadlock, the server shutting down, a deadline.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgClass(pgErr) {
		case "08", // connection exception
			"40", // transaction rollback: serialization failure, deadlock
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57": // operator intervention: query canceled, shutting down
			return true
		}
		return pgErr.Code == "55P03" || pgErr.Code == "55006" // lock not available, object in use
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	if pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// IsPermanent says whether the database refused err's statement for the
// data it carries, so that trying it again unchanged fails the same way: a
// constraint, a value out of range or invalid for its type (PostgreSQL's
// classes 22 and 23; SQLite's constraint, size and type errors, and the
// "integer overflow" of SUM).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgClass(pgErr)
		return c == "22" || c == "23"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			return true
		case sqlite3.SQLITE_ERROR:
			return strings.Contains(sqErr.Error(), "integer overflow")
		}
	}
	return false
}

// pgClass is the class of a PostgreSQL error code: its first two characters.
func pgClass(e *pgconn.PgError) string {
	if len(e.Code) < 2 {
		return ""
	}
	return e.Code[:2]
}
