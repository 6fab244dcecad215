package usage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockHours takes a transaction-scoped advisory lock per hour, in one order
// (hourLockKeys), so that two processes never both find room under a bound
// and both fill it. The locks are taken in the array's order.
func (postgresSQL) lockHours(ctx context.Context, tx *sql.Tx, keys []orgHour) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int[]) AS k`, int32(hourLockClass), hourLockKeys(keys))
	return err
}

func (postgresSQL) hourTotals(ctx context.Context, tx *sql.Tx, keys []orgHour, hours map[orgHour]*hourState) ([]meterHour, error) {
	rows, err := tx.QueryContext(ctx, `SELECT t.org_id, t.hour, t.meter, t.quantity FROM usage_meter_hourly t
		JOIN unnest($1::bigint[], $2::timestamptz[]) AS k (o, h) ON t.org_id = k.o AND t.hour = k.h`, hourColumns(keys, hours)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanMeterHours(rows)
}

// meterHourRows is what scanMeterHours needs of database/sql's and pgx's
// rows alike.
type meterHourRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanMeterHours reads rows of (org_id, hour, meter, quantity); the caller
// closes them.
func scanMeterHours(rows meterHourRows) ([]meterHour, error) {
	var out []meterHour
	for rows.Next() {
		var mh meterHour
		var q any
		if err := rows.Scan(&mh.orgID, &mh.hour, &mh.meter, &q); err != nil {
			return nil, err
		}
		mh.hour = mh.hour.UTC()
		mh.add = storedQuantity(q)
		out = append(out, mh)
	}
	return out, rows.Err()
}

func (postgresSQL) addMeterHourly(ctx context.Context, tx *sql.Tx, rows []meterHour) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity)
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[])
		ON CONFLICT (org_id, hour, meter) DO UPDATE SET quantity = usage_meter_hourly.quantity + excluded.quantity`, meterColumns(rows)...)
	return err
}

// hourColumns are the organization hours keys as the arrays org_id, hour.
func hourColumns(keys []orgHour, hours map[orgHour]*hourState) []any {
	orgs, hs := make([]int64, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		orgs[i], hs[i] = k.org, hours[k].hour
	}
	return []any{orgs, hs}
}

// meterColumns are rows as the arrays org_id, hour, meter, quantity.
func meterColumns(rows []meterHour) []any {
	n := len(rows)
	orgs, qty, hours, meters := make([]int64, n), make([]int64, n), make([]time.Time, n), make([]string, n)
	for i, r := range rows {
		orgs[i], hours[i], meters[i], qty[i] = r.orgID, r.hour, r.meter, int64(r.add)
	}
	return []any{orgs, hours, meters, qty}
}

// postgresSQL passes each column as one array parameter and unnests it on
// the server: one statement per table per round, whatever its size, and no
// statement text that grows with the batch.
type postgresSQL struct{}

func (postgresSQL) insertKeys(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]struct{}, error) {
	slots := make([]int64, len(items))
	chks := make([]int64, len(items))
	for i, it := range items {
		slots[i], chks[i] = it.key.slot, it.key.chk
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO usage_keys (slot, chk)
		SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT (slot) DO NOTHING RETURNING slot`, slots, chks)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inserted := make(map[int64]struct{}, len(items))
	for rows.Next() {
		var slot int64
		if err := rows.Scan(&slot); err != nil {
			return nil, err
		}
		inserted[slot] = struct{}{}
	}
	return inserted, rows.Err()
}

func (postgresSQL) keyChecks(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]int64, error) {
	return keyChecks(ctx, tx, items, true)
}

func (postgresSQL) insertEvents(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO usage_events (org_id, meter, subject, source, event_id, usage_us, quantity, received_us, slot, chk)
		SELECT o, m, s, src, id, u, q, $10, k, c FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
		$8::bigint[], $9::bigint[]) AS t (o, m, s, src, id, u, q, k, c)`, append(eventColumns(items), now.UnixMicro())...)
	if err != nil {
		return err
	}
	got, err := res.RowsAffected()
	if err != nil {
		return err
	}
	return checkRowCount("usage_events", int(got), len(items))
}

// eventColumns are the items' events as the arrays org_id, meter, subject,
// source, event_id, usage_us, quantity, slot, chk.
func eventColumns(items []*item) []any {
	n := len(items)
	orgs, usage, qty, slots, chks := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	meters, subjects, sources, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, it := range items {
		ev := &it.ev
		orgs[i], meters[i], subjects[i], sources[i], ids[i] = ev.OrgID, ev.Meter, ev.Subject, ev.Source, ev.ID
		usage[i], qty[i], slots[i], chks[i] = ev.Time.UnixMicro(), int64(ev.Quantity), it.key.slot, it.key.chk
	}
	return []any{orgs, meters, subjects, sources, ids, usage, qty, slots, chks}
}

func (postgresSQL) addHourly(ctx context.Context, tx *sql.Tx, rows []hourly, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at)
		SELECT o, m, s, h, q, e, $7 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[])
		AS t (o, m, s, h, q, e)
		ON CONFLICT (org_id, meter, hour, subject) DO UPDATE SET quantity = usage_hourly.quantity + excluded.quantity,
		events = usage_hourly.events + excluded.events, updated_at = excluded.updated_at`, append(hourlyColumns(rows), now)...)
	return err
}

// hourlyColumns are rows as the arrays org_id, meter, subject, hour,
// quantity, events.
func hourlyColumns(rows []hourly) []any {
	n := len(rows)
	orgs, qty, events := make([]int64, n), make([]int64, n), make([]int64, n)
	meters, subjects, hours := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, h := range rows {
		orgs[i], meters[i], subjects[i], hours[i], qty[i], events[i] = h.orgID, h.meter, h.subject, h.hour, int64(h.quantity), h.events
	}
	return []any{orgs, meters, subjects, hours, qty, events}
}

// writeRound stores a round whose keys were all new to the writer, in two
// statements sent at once, after BEGIN, in one round trip: the keys (a
// plain insert, in slot order) and the events, which then take the hours'
// locks; and the increments of usage_hourly and usage_meter_hourly, which
// return the hours' per-meter totals from before the round, for the bounds.
// commit sees those totals and says whether to commit, a second round trip.
// The careful way takes six: a round of single events is mostly round
// trips, each a wake-up of the writer and of PostgreSQL's process. And a
// plain insert where ON CONFLICT writes a speculative index entry and its
// WAL for every key: at 10,000 keys a statement, 3.2 s a million instead of
// 5.5 (docs/performance.md). A key that is taken after all fails the first
// statement with a unique violation, which the writer answers by trying the
// round the careful way.
//
// The locks come after the keys and the events, on both ways (dedup), so
// that the rows, the bulk of a round, are written while another writer
// holds the hours: only the totals and the commit take turns. The second
// statement's snapshot is taken once the locks are granted, so it holds
// every other writer's totals of those hours; the bounds are checked after
// the write, which is rolled back if they refuse anything.
func (postgresSQL) writeRound(ctx context.Context, pool *pgxpool.Pool, items []*item, hours []hourly, adds []meterHour,
	keys []orgHour, states map[orgHour]*hourState, now time.Time, commit func(before []meterHour) bool) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release drops a connection left inside a transaction (a failed
	// ROLLBACK) instead of pooling it.
	defer c.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(insertRoundText, roundRowArgs(items, keys, now)...)
	// The totals it returns are of the statement's snapshot, which none of
	// its own writes are in.
	b.Queue(addTotalsText+`
		SELECT b.org_id, b.hour, b.meter, b.quantity FROM usage_meter_hourly b
			JOIN unnest($12::bigint[], $13::timestamptz[]) AS h (o, hr) ON b.org_id = h.o AND b.hour = h.hr`,
		roundTotalsArgs(hours, adds, keys, states, now)...)
	br := c.SendBatch(ctx, b)
	before, err := readRound(br, len(items))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && commit(before) {
		// PostgreSQL answers COMMIT in a failed transaction with the tag
		// ROLLBACK, not an error: only COMMIT's own tag means stored.
		tag, err := c.Exec(ctx, "COMMIT")
		if err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("usage round: COMMIT answered %q", tag)
		}
		return err
	}
	if _, rerr := c.Exec(ctx, "ROLLBACK"); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// readRound reads writeRound's answers: BEGIN's, the count of events
// stored, and the totals from before the round.
func readRound(br pgx.BatchResults, events int) ([]meterHour, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	var stored, locks int64
	if err := br.QueryRow().Scan(&stored, &locks); err != nil {
		return nil, fmt.Errorf("store usage events: %w", err)
	}
	if err := checkRowCount("usage_events", int(stored), events); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("add hourly usage: %w", err)
	}
	defer rows.Close()
	before, err := scanMeterHours(rows)
	if err != nil {
		return nil, fmt.Errorf("add hourly usage: %w", err)
	}
	return before, nil
}

// insertRoundText stores a round's keys and events, then takes its hours'
// locks. t is referenced twice, so PostgreSQL materializes it: the arrays
// are unnested once. The keys go in in slot order, as dedup's do, so that
// writers that meet on a key wait for each other in one order. The locks
// are taken in the outer query, whose condition reads every row that both
// inserts return: a condition without a row of its own, which PostgreSQL
// settles before the first lock. It answers the count of events stored.
const insertRoundText = `WITH t AS (
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
		AS t (o, m, s, src, id, u, q, k, c)),
	keys AS (INSERT INTO usage_keys (slot, chk) SELECT k, c FROM t ORDER BY k RETURNING 1),
	events AS (INSERT INTO usage_events (org_id, meter, subject, source, event_id, usage_us, quantity, received_us, slot, chk)
		SELECT o, m, s, src, id, u, q, $10, k, c FROM t RETURNING 1)
	SELECT (SELECT count(*) FROM events), count(pg_advisory_xact_lock($11, l)) FROM unnest($12::int[]) AS l
	WHERE (SELECT count(*) FROM keys) + (SELECT count(*) FROM events) >= 0`

func roundRowArgs(items []*item, keys []orgHour, now time.Time) []any {
	return slices.Concat(eventColumns(items), []any{now.UnixMicro(), int32(hourLockClass), hourLockKeys(keys)})
}

// addTotalsText is the head of a statement that adds a round to
// usage_hourly and usage_meter_hourly ($1 to $11); its hours are $12, $13.
const addTotalsText = `WITH hourly AS (INSERT INTO usage_hourly (org_id, meter, subject, hour, quantity, events, updated_at)
		SELECT o, m, s, hr, q, e, $1 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::bigint[])
		AS x (o, m, s, hr, q, e)
		ON CONFLICT (org_id, meter, hour, subject) DO UPDATE SET quantity = usage_hourly.quantity + excluded.quantity,
		events = usage_hourly.events + excluded.events, updated_at = excluded.updated_at),
	meters AS (INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity)
		SELECT * FROM unnest($8::bigint[], $9::timestamptz[], $10::text[], $11::bigint[])
		ON CONFLICT (org_id, hour, meter) DO UPDATE SET quantity = usage_meter_hourly.quantity + excluded.quantity)`

func roundTotalsArgs(hours []hourly, adds []meterHour, keys []orgHour, states map[orgHour]*hourState, now time.Time) []any {
	return slices.Concat([]any{now}, hourlyColumns(hours), meterColumns(adds), hourColumns(keys, states))
}

// totalsMoved is the start of the error writeKnownRound's statement raises
// when the hours' totals are not the ones it was given.
const totalsMoved = "usage totals moved since this process read them"

// writeKnownRound is writeRound in one round trip, for a round whose hours'
// totals this process believes it knows (knownTotals) and whose events all
// fit the bounds given those totals: its two statements, sent at once
// without BEGIN, are one implicit transaction that PostgreSQL commits at
// their Sync, if neither fails. The second checks, under the hours' locks,
// that every total of those hours is the one given (known, every meter of
// each hour), and fails the transaction if not: the bounds were checked
// against the totals of the database, so they hold. Another writer's round
// (of this process or another) fails it with totalsMoved, and the writer
// goes the way of two round trips, which reads the totals.
func (postgresSQL) writeKnownRound(ctx context.Context, pool *pgxpool.Pool, items []*item, hours []hourly, adds []meterHour,
	keys []orgHour, states map[orgHour]*hourState, known []meterHour, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(insertRoundText, roundRowArgs(items, keys, now)...)
	// The cast of a text that holds the count cannot be evaluated before
	// the count is known, so it fails only when a total moved.
	b.Queue(addTotalsText+`,
	stored AS (SELECT b.org_id, b.hour, b.meter, b.quantity FROM usage_meter_hourly b
		JOIN unnest($12::bigint[], $13::timestamptz[]) AS h (o, hr) ON b.org_id = h.o AND b.hour = h.hr),
	known AS (SELECT * FROM unnest($14::bigint[], $15::timestamptz[], $16::text[], $17::bigint[]) AS k (o, hr, m, q)),
	moved AS (SELECT count(*) AS n FROM stored s FULL JOIN known k ON s.org_id = k.o AND s.hour = k.hr AND s.meter = k.m
		WHERE s.quantity IS DISTINCT FROM k.q)
	SELECT CASE WHEN n = 0 THEN 0 ELSE CAST('`+totalsMoved+`: ' || n AS int) END FROM moved`,
		slices.Concat(roundTotalsArgs(hours, adds, keys, states, now), meterColumns(known))...)
	// The answers are read after the Sync that commits both statements,
	// so nothing read here can undo them: unlike writeRound, this does not
	// check the count of events stored, which a plain INSERT ... SELECT of
	// every row of t cannot make other than len(items) without failing.
	br := pool.SendBatch(ctx, b)
	var stored, locks, moved int64
	err := br.QueryRow().Scan(&stored, &locks)
	if err == nil {
		err = br.QueryRow().Scan(&moved)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// isTotalsMoved reports whether err is writeKnownRound's totalsMoved.
func isTotalsMoved(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02" && strings.Contains(pe.Message, totalsMoved)
}
