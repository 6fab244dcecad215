package usage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// dialectSQL writes a round's events and hourly totals. Each engine has the
// statements that are fastest on it: multi-row VALUES on SQLite, arrays
// unnested on PostgreSQL (sql_postgres.go). Keys are each engine's own
// (runs.go, dedup.go).
type dialectSQL interface {
	insertEvents(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) error
	addHourly(ctx context.Context, tx *sql.Tx, rows []hourly, now time.Time) error
	// lockHours makes concurrent writers take turns on the hours (keys
	// sorted), so that the bounds hold across processes.
	lockHours(ctx context.Context, tx *sql.Tx, keys []orgHour) error
	// hourTotals reads usage_meter_hourly's rows of the hours, as meterHour
	// values whose add is the stored total.
	hourTotals(ctx context.Context, tx *sql.Tx, keys []orgHour, hours map[orgHour]*hourState) ([]meterHour, error)
	addMeterHourly(ctx context.Context, tx *sql.Tx, rows []meterHour) error
}

func sqlFor(d store.Dialect, stmts stmtCache) dialectSQL {
	if d == store.DialectPostgres {
		return postgresSQL{}
	}
	return valuesSQL{stmts: stmts}
}

// Rows per multi-row statement. Fewer statements mean fewer trips through
// database/sql and the driver, which is most of the cost of an insert on
// SQLite; the parameters of one statement stay under SQLite's limit
// (32,766).
const (
	keyRows   = 1000
	eventRows = 500
	hourRows  = 100
	meterRows = 100
)

// valuesSQL writes with multi-row INSERT ... VALUES statements.
type valuesSQL struct {
	stmts stmtCache
}

// stmtCache holds the SQLite writer's statements, prepared once when the
// writer starts rather than in every transaction: SQLite parses a multi-row
// INSERT each time it is prepared, which for the small rounds of one-event
// requests cost as much as running it. It holds the statements for chunks
// of up to cachedRows rows and for full chunks; the Ingester's writer alone
// uses it, so it needs no lock.
type stmtCache map[string]*sql.Stmt

// cachedRows is the largest partial chunk whose statement is kept.
const cachedRows = 64

// prepare readies each text on db. It runs outside any transaction: the
// writer pool's one connection is then free.
func (c stmtCache) prepare(ctx context.Context, db *sql.DB, texts ...string) error {
	for _, text := range texts {
		if _, ok := c[text]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, text)
		if err != nil {
			return err
		}
		c[text] = st
	}
	return nil
}

// in returns text's statement bound to tx, or nil if it is not kept.
// database/sql prepares it again by itself should the pool have replaced
// the connection.
func (c stmtCache) in(ctx context.Context, tx *sql.Tx, text string) *sql.Stmt {
	if st, ok := c[text]; ok {
		return tx.StmtContext(ctx, st)
	}
	return nil
}

func (c stmtCache) close() {
	for text, st := range c {
		st.Close()
		delete(c, text)
	}
}

// chunkTexts is every text build makes for the chunk sizes kept.
func chunkTexts(build func(rows int) string, full int) []string {
	out := []string{build(full)}
	for rows := 1; rows <= min(cachedRows, full-1); rows++ {
		out = append(out, build(rows))
	}
	return out
}

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

// chunked runs one statement per chunk of at most size rows. The statement
// for full chunks is taken from c or prepared once per transaction; a last,
// shorter chunk uses c's statement of its length, or one built for it.
// Statements with rows go to each; affected, when given, gets the row count
// of each one without.
func (c stmtCache) chunked(ctx context.Context, tx *sql.Tx, n, size int, text func(rows int) string, args func(lo, hi int, buf []any) []any,
	each func(rows *sql.Rows) error, affected ...func(int64)) error {
	var full *sql.Stmt // in this transaction
	defer func() {
		if full != nil {
			full.Close() // the transaction's copy; a cached one stays
		}
	}()
	buf := make([]any, 0, 1024)
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		buf = args(lo, hi, buf[:0])
		var st *sql.Stmt
		var q string
		var err error
		switch {
		case hi-lo == size:
			if full == nil {
				if full = c.in(ctx, tx, text(size)); full == nil {
					if full, err = tx.PrepareContext(ctx, text(size)); err != nil {
						return err
					}
				}
			}
			st = full
		default:
			q = text(hi - lo)
			if st = c.in(ctx, tx, q); st != nil {
				defer st.Close()
			}
		}
		var rows *sql.Rows
		var res sql.Result
		switch {
		case st != nil && each == nil:
			res, err = st.ExecContext(ctx, buf...)
		case st != nil:
			rows, err = st.QueryContext(ctx, buf...)
		case each == nil:
			res, err = tx.ExecContext(ctx, q, buf...)
		default:
			rows, err = tx.QueryContext(ctx, q, buf...)
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

// keyChecks reads the items' slots in usage_keys one chunk at a time; it
// runs only for resends and collisions, so it need not be fast.
// numbered says whether to write $1, $2 (PostgreSQL) or ? (SQLite).
func keyChecks(ctx context.Context, tx *sql.Tx, items []*item, numbered bool) (map[int64]int64, error) {
	out := make(map[int64]int64, len(items))
	return out, stmtCache(nil).chunked(ctx, tx, len(items), keyRows,
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
}

// insertEventsText is SQLite's statement for rows events. OR FAIL rather
// than a plain INSERT: with it no row can abort the statement halfway, so
// SQLite keeps no statement journal (a copy of every page the statement
// touches, in a temporary file); an error still rolls back the whole
// transaction, in InTx.
func insertEventsText(rows int) string {
	return multiValues("INSERT OR FAIL INTO usage_events (org_id, meter, subject, source, event_id, usage_us, quantity, received_us, slot, chk) VALUES ",
		rows, 10, "")
}

// addHourlyText is SQLite's statement for rows hourly totals.
func addHourlyText(rows int) string {
	return multiValues("INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at) VALUES ", rows, 7,
		` ON CONFLICT (org_id, meter, hour, subject) DO UPDATE SET quantity = usage_hourly.quantity + excluded.quantity,
		events = usage_hourly.events + excluded.events, updated_at = excluded.updated_at`)
}

func (v valuesSQL) insertEvents(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) error {
	received := now.UnixMicro()
	return v.stmts.chunked(ctx, tx, len(items), eventRows, insertEventsText,
		func(lo, hi int, buf []any) []any {
			for _, it := range items[lo:hi] {
				ev := &it.ev
				buf = append(buf, ev.OrgID, ev.Meter, ev.Subject, ev.Source, ev.ID, ev.Time.UnixMicro(), int64(ev.Quantity), received,
					it.key.slot, it.key.chk)
			}
			return buf
		}, nil)
}

// addHourly adds the round's sums to usage_hourly, creating rows as needed.
func (v valuesSQL) addHourly(ctx context.Context, tx *sql.Tx, rows []hourly, now time.Time) error {
	return v.stmts.chunked(ctx, tx, len(rows), hourRows, addHourlyText,
		func(lo, hi int, buf []any) []any {
			for _, h := range rows[lo:hi] {
				buf = append(buf, h.orgID, h.meter, h.subject, h.hour, int64(h.quantity), h.events, now)
			}
			return buf
		}, nil)
}

// selectHourTotals is SQLite's read of one hour's totals, one statement per
// hour: a round touches few.
const selectHourTotals = `SELECT meter, quantity FROM usage_meter_hourly WHERE org_id = ? AND hour = ?`

// lockHours needs nothing on SQLite: the writer's IMMEDIATE transaction
// already excludes every other writer, in any process.
func (valuesSQL) lockHours(context.Context, *sql.Tx, []orgHour) error { return nil }

func (v valuesSQL) hourTotals(ctx context.Context, tx *sql.Tx, keys []orgHour, hours map[orgHour]*hourState) ([]meterHour, error) {
	st := v.stmts.in(ctx, tx, selectHourTotals)
	if st == nil {
		var err error
		if st, err = tx.PrepareContext(ctx, selectHourTotals); err != nil {
			return nil, err
		}
	}
	defer st.Close()
	var out []meterHour
	for _, k := range keys {
		hour := hours[k].hour
		rows, err := st.QueryContext(ctx, k.org, hour)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			mh := meterHour{orgID: k.org, hour: hour}
			var q any
			if err := rows.Scan(&mh.meter, &q); err != nil {
				rows.Close()
				return nil, err
			}
			mh.add = storedQuantity(q)
			out = append(out, mh)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// storedQuantity reads a stored total. Anything but an integer within int64
// (a row written by hand, say) reads as past every bound, so that ingest
// adds nothing to it rather than failing every round.
func storedQuantity(v any) Quantity {
	if q, ok := v.(int64); ok && q >= 0 {
		return Quantity(q)
	}
	return Quantity(math.MaxInt64)
}

// addMeterHourlyText is SQLite's statement for rows of usage_meter_hourly.
func addMeterHourlyText(rows int) string {
	return multiValues("INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity) VALUES ", rows, 4,
		` ON CONFLICT (org_id, hour, meter) DO UPDATE SET quantity = usage_meter_hourly.quantity + excluded.quantity`)
}

func (v valuesSQL) addMeterHourly(ctx context.Context, tx *sql.Tx, rows []meterHour) error {
	return v.stmts.chunked(ctx, tx, len(rows), meterRows, addMeterHourlyText,
		func(lo, hi int, buf []any) []any {
			for _, r := range rows[lo:hi] {
				buf = append(buf, r.orgID, r.hour, r.meter, int64(r.add))
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
