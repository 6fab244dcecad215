package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestErrors_11_TransientAndPermanent: what passes and what the same
// statement would meet again are told apart (#11, item 4). The web tests
// check the same on real SQLite and PostgreSQL errors.
func TestErrors_11_TransientAndPermanent(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("insert: %w", &pgconn.PgError{Code: code}) }
	cases := []struct {
		name                 string
		err                  error
		transient, permanent bool
	}{
		{"nil", nil, false, false},
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), true, false},
		{"network", &net.OpError{Op: "read", Err: errors.New("connection reset")}, true, false},
		{"serialization failure", pg("40001"), true, false},
		{"deadlock", pg("40P01"), true, false},
		{"disk full", pg("53100"), true, false},
		{"shutting down", pg("57P01"), true, false},
		{"lock not available", pg("55P03"), true, false},
		{"check violation", pg("23514"), false, true},
		{"unique violation", pg("23505"), false, true},
		{"numeric out of range", pg("22003"), false, true},
		{"NUL in text", pg("22021"), false, true},
		{"syntax error: ours to fix", pg("42601"), false, false},
		{"anything else", errors.New("boom"), false, false},
	}
	for _, c := range cases {
		if got := IsTransient(c.err); got != c.transient {
			t.Errorf("%s: IsTransient = %v, want %v", c.name, got, c.transient)
		}
		if got := IsPermanent(c.err); got != c.permanent {
			t.Errorf("%s: IsPermanent = %v, want %v", c.name, got, c.permanent)
		}
	}
}
