package usage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// dialectSQL writes a round's rows. Both engines take the same multi-row
// statements; what differs is how fast each is, so each engine may have its
// own implementation (see sql_postgres.go).
type dialectSQL interface {
	// insertKeys inserts the items' keys, skipping slots already taken,
	// and returns the slots it inserted.
	insertKeys(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]struct{}, error)
	// keyChecks returns the chk stored in each item's slot.
	keyChecks(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]int64, error)
	insertEvents(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) error
	addHourly(ctx context.Context, tx *sql.Tx, rows []hourly, now time.Time) error
}

func sqlFor(d store.Dialect) dialectSQL {
	if d == store.DialectPostgres {
		return postgresSQL{}
	}
	return valuesSQL{}
}

// Rows per multi-row statement. Fewer statements mean fewer trips through
// database/sql and the driver, which is most of the cost of an insert on
// SQLite; the parameters of one statement stay under SQLite's limit
// (32,766).
const (
	keyRows   = 1000
	eventRows = 500
	hourRows  = 100
)

// valuesSQL writes with multi-row INSERT ... VALUES statements.
type valuesSQL struct{}

// multiValues builds "prefix (?,?),(?,?) suffix" for rows of cols. These
// statements run only on SQLite (PostgreSQL has its own, in
// sql_postgres.go), where anonymous parameters matter: modernc.org/sqlite
// looks up the name of every numbered parameter ($1) it binds in a list that
// is itself linear, so binding the 2,000 parameters of a $N statement costs
// quadratic time, most of the insert's.
func multiValues(prefix string, rows, cols int, suffix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(suffix) + rows*cols*7)
	b.WriteString(prefix)
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	return b.String()
}

// chunked runs one statement per chunk of at most size rows: the statement
// for full chunks is prepared once per transaction, the last shorter one
// built for its length. Statements with rows go to each; affected, when not
// nil, gets the row count of each one without.
func chunked(ctx context.Context, tx *sql.Tx, n, size int, text func(rows int) string, args func(lo, hi int, buf []any) []any,
	each func(rows *sql.Rows) error, affected ...func(int64)) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	buf := make([]any, 0, 1024)
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		buf = args(lo, hi, buf[:0])
		var err error
		var rows *sql.Rows
		var res sql.Result
		switch {
		case hi-lo == size:
			if full == nil {
				if full, err = tx.PrepareContext(ctx, text(size)); err != nil {
					return err
				}
			}
			if each == nil {
				res, err = full.ExecContext(ctx, buf...)
			} else {
				rows, err = full.QueryContext(ctx, buf...)
			}
		case each == nil:
			res, err = tx.ExecContext(ctx, text(hi-lo), buf...)
		default:
			rows, err = tx.QueryContext(ctx, text(hi-lo), buf...)
		}
		if err != nil {
			return err
		}
		if res != nil {
			for _, f := range affected {
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				f(n)
			}
		}
		if rows != nil {
			err = each(rows)
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (valuesSQL) insertKeys(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]struct{}, error) {
	inserted := make(map[int64]struct{}, len(items))
	err := chunked(ctx, tx, len(items), keyRows,
		func(rows int) string {
			// OR IGNORE, not ON CONFLICT DO NOTHING: with it no row can
			// abort the statement, so SQLite keeps no statement journal,
			// which for random keys meant writing a copy of most pages the
			// insert touched to a temporary file.
			return multiValues("INSERT OR IGNORE INTO usage_keys (slot, chk) VALUES ", rows, 2, " RETURNING slot")
		},
		func(lo, hi int, buf []any) []any {
			for _, it := range items[lo:hi] {
				buf = append(buf, it.key.slot, it.key.chk)
			}
			return buf
		},
		func(rows *sql.Rows) error {
			for rows.Next() {
				var slot int64
				if err := rows.Scan(&slot); err != nil {
					return err
				}
				inserted[slot] = struct{}{}
			}
			return rows.Err()
		})
	return inserted, err
}

func (valuesSQL) keyChecks(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]int64, error) {
	return keyChecks(ctx, tx, items, false)
}

// keyChecks reads slots one chunk at a time; it runs only for resends and
// collisions, so it need not be fast.
// numbered says whether to write $1, $2 (PostgreSQL) or ? (SQLite).
func keyChecks(ctx context.Context, tx *sql.Tx, items []*item, numbered bool) (map[int64]int64, error) {
	out := make(map[int64]int64, len(items))
	err := chunked(ctx, tx, len(items), keyRows,
		func(rows int) string {
			var b strings.Builder
			b.WriteString("SELECT slot, chk FROM usage_keys WHERE slot IN (")
			for i := range rows {
				if i > 0 {
					b.WriteByte(',')
				}
				if numbered {
					b.WriteString("$" + strconv.Itoa(i+1))
				} else {
					b.WriteByte('?')
				}
			}
			b.WriteByte(')')
			return b.String()
		},
		func(lo, hi int, buf []any) []any {
			for _, it := range items[lo:hi] {
				buf = append(buf, it.key.slot)
			}
			return buf
		},
		func(rows *sql.Rows) error {
			for rows.Next() {
				var slot, chk int64
				if err := rows.Scan(&slot, &chk); err != nil {
					return err
				}
				out[slot] = chk
			}
			return rows.Err()
		})
	return out, err
}

func (valuesSQL) insertEvents(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) error {
	received := now.UnixMicro()
	return chunked(ctx, tx, len(items), eventRows,
		func(rows int) string {
			// OR FAIL for the same reason as OR IGNORE in insertKeys: an
			// error still rolls back the whole transaction, in InTx.
			return multiValues("INSERT OR FAIL INTO usage_events (org_id, meter, subject, source, event_id, usage_us, quantity, received_us) VALUES ",
				rows, 8, "")
		},
		func(lo, hi int, buf []any) []any {
			for _, it := range items[lo:hi] {
				ev := &it.ev
				buf = append(buf, ev.OrgID, ev.Meter, ev.Subject, ev.Source, ev.ID, ev.Time.UnixMicro(), int64(ev.Quantity), received)
			}
			return buf
		}, nil)
}

// addHourly adds the round's sums to usage_hourly, creating rows as needed.
func (valuesSQL) addHourly(ctx context.Context, tx *sql.Tx, rows []hourly, now time.Time) error {
	return chunked(ctx, tx, len(rows), hourRows,
		func(n int) string {
			return multiValues("INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at) VALUES ", n, 7,
				` ON CONFLICT (org_id, meter, hour, subject) DO UPDATE SET quantity = usage_hourly.quantity + excluded.quantity,
				events = usage_hourly.events + excluded.events, updated_at = excluded.updated_at`)
		},
		func(lo, hi int, buf []any) []any {
			for _, h := range rows[lo:hi] {
				buf = append(buf, h.orgID, h.meter, h.subject, h.hour, int64(h.quantity), h.events, now)
			}
			return buf
		}, nil)
}

// checkRowCount guards against a driver returning fewer rows than sent.
func checkRowCount(what string, got, want int) error {
	if got != want {
		return fmt.Errorf("%s: %d rows written, %d expected", what, got, want)
	}
	return nil
}
