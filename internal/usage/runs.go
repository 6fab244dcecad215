package usage

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"
)

// runIndex is SQLite's deduplication index, in front of usage_keys.
//
// Writing every new key straight into usage_keys is what limited sustained
// ingest: keys are random within their hour, so once the current hour holds a
// few million of them each round dirties pages all over that part of the
// tree, reads back the ones the page cache dropped, and writes them all to the
// WAL at commit. Throughput fell to a third after fifteen million events.
//
// So a new key is written only with its event: usage_events carries each
// event's slot and chk, and the events after usage_key_log.through are the
// log of keys not yet indexed. The writer holds those keys in memory
// (pending) and, once there are RunKeys of them, writes them to a new run in
// slot order, as blocks of usage_key_blocks (blocks.go), a step at a time
// between rounds, and moves through past them. A run is written once, as an
// append, and never again.
// (Writing each round's keys into a run as they came was what it did before:
// random inserts into a B-tree of half a million keys dirtied most of its
// pages every round, and the commit wrote them all to the WAL: half the
// writer's time.) The keys of hours that leave the hot window (the current
// hour and HotHours before it) move from the runs to usage_keys in slot
// order, a step at a time between rounds: for those hours that is an append,
// not a scatter.
//
// A key is then in usage_keys, in one of the runs or pending, and checking
// one would take a lookup in each. In-memory Bloom filters over the hot hours
// answer "certainly new" for all but a few new keys in 1,000, so only
// resends, those few and late events for hours outside the window are looked
// up.
//
// The filters cover what this process wrote. SQLite has one writer at a
// time, and each round first reads usage_key_owner: if another process wrote
// keys since this one's last round, its filters are no longer complete, so it
// stops trusting filters for good and looks every key up. Correct, slower:
// several processes on one SQLite file are not how marketbridge is meant to
// run (PostgreSQL is).
type runIndex struct {
	runKeys  int   // keys pending before a run is written
	stepKeys int   // keys of a run one flushStep writes
	moveKeys int   // about how many keys one compaction step moves
	hotHours int64 // hours before the current one that stay in runs, covered by filters
	budget   int   // bytes the filters may take; the oldest hours lose theirs first
	logger   *slog.Logger
	stmts    stmtCache

	token        int64 // this index's mark in usage_key_owner
	ready        bool  // runs and filters reflect the database
	tokenPending bool  // the open transaction writes token: if it fails, ready is false
	shared       bool  // another writer was seen: no filters at all

	hotFrom     int64 // the first hot hour, since keyEpoch
	filters     map[int64]*hourFilter
	dropped     map[int64]bool // hot hours whose filter went over budget
	filterBytes int
	sink        uint64  // what touchAhead loaded, kept so that the loads are not left out
	runs        []int64 // complete runs that may hold keys, ascending
	lastRun     int64   // usage_key_log.run: the highest complete run
	compacting  bool    // keys of cold hours may still sit in runs

	through int64           // usage_key_log.through: events after it are the log
	pending map[int64]int64 // slot → chk of the log's committed events not in flush
	staged  []key           // keys of the open round: pending once it commits
	flush   *runFlush       // the run being written, nil between runs
}

// runFlush is a run being written from the keys that were pending when it
// began, in slot order, stepKeys keys a transaction. Until its last step
// commits, its keys are looked up here, and a restart drops what was
// written and reads them from the log again.
type runFlush struct {
	run     int64
	through int64 // the last event whose key it holds
	keys    []key // sorted by slot
	written int
}

// find returns the chk of slot, if the run being written (f, which may be
// nil) holds it.
func (f *runFlush) find(slot int64) (int64, bool) {
	if f == nil {
		return 0, false
	}
	i, ok := slices.BinarySearchFunc(f.keys, slot, func(k key, s int64) int { return cmp.Compare(k.slot, s) })
	if !ok {
		return 0, false
	}
	return f.keys[i].chk, true
}

const (
	defaultRunKeys     = 1 << 21
	defaultHotHours    = 2
	defaultFilterBytes = 512 << 20
	// compactStep is about how many keys one compaction step moves: a step
	// holds the writer, so it stays short next to a round.
	compactStep = 50_000
	// flushStep is how many keys of a run one step writes, for the same
	// reason: 2,185 blocks, a few milliseconds.
	flushStep = 1 << 17
)

func newRunIndex(runKeys int, logger *slog.Logger, stmts stmtCache) *runIndex {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return &runIndex{runKeys: runKeys, stepKeys: flushStep, moveKeys: compactStep, hotHours: defaultHotHours, budget: defaultFilterBytes, logger: logger, stmts: stmts,
		token: int64(binary.LittleEndian.Uint64(b[:]) >> 1)}
}

func hourOf(t time.Time) int64 { return int64(t.Sub(keyEpoch) / time.Hour) }

// distinctRuns lists the runs present in usage_key_blocks with one index seek
// per run (a skip scan), not a scan of every key.
const distinctRuns = `WITH RECURSIVE r(run) AS (
	SELECT MIN(run) FROM usage_key_blocks
	UNION ALL
	SELECT (SELECT MIN(run) FROM usage_key_blocks WHERE run > r.run) FROM r WHERE r.run IS NOT NULL)
SELECT run FROM r WHERE run IS NOT NULL`

const selectOwner = `SELECT token FROM usage_key_owner WHERE id = 1`

// prepare brings the index up to date at the start of a round, inside its
// transaction, which holds SQLite's write lock.
func (x *runIndex) prepare(ctx context.Context, tx *sql.Tx, now time.Time) error {
	var token int64
	var err error
	if st := x.stmts.in(ctx, tx, selectOwner); st != nil {
		err = st.QueryRowContext(ctx).Scan(&token)
		st.Close()
	} else {
		err = tx.QueryRowContext(ctx, selectOwner).Scan(&token)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read usage_key_owner: %w", err)
	}
	if !x.ready || token != x.token {
		if x.ready && !x.shared {
			x.logger.WarnContext(ctx, "another process writes usage events to this SQLite database: "+
				"deduplication now looks up every key, which is slower; run one process per SQLite file, or use PostgreSQL")
			x.shared = true
		}
		if err := x.load(ctx, tx, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO usage_key_owner (id, token) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET token = excluded.token`, x.token); err != nil {
			return fmt.Errorf("write usage_key_owner: %w", err)
		}
		x.ready, x.tokenPending = true, true
	}
	if from := hourOf(now) - x.hotHours; from > x.hotFrom {
		x.hotFrom = from
		for h, f := range x.filters {
			if h < from {
				x.filterBytes -= f.bytes()
				delete(x.filters, h)
			}
		}
		for h := range x.dropped {
			if h < from {
				delete(x.dropped, h)
			}
		}
		x.compacting = true
	}
	return nil
}

// committed and rolledBack tell the index how the round's transaction ended:
// the round's keys are pending once their events are committed, and
// forgotten with them.
func (x *runIndex) committed() {
	x.tokenPending = false
	for _, k := range x.staged {
		x.pending[k.slot] = k.chk
	}
	x.staged = x.staged[:0]
}

func (x *runIndex) rolledBack() {
	x.staged = x.staged[:0]
	if x.tokenPending {
		x.ready, x.tokenPending = false, false
	}
}

// load reads the runs and, unless shared, fills the filters with every key
// of the hot hours.
func (x *runIndex) load(ctx context.Context, tx *sql.Tx, now time.Time) error {
	start := time.Now()
	if err := tx.QueryRowContext(ctx, `SELECT through, run FROM usage_key_log WHERE id = 1`).Scan(&x.through, &x.lastRun); err != nil {
		return fmt.Errorf("read usage_key_log: %w", err)
	}
	// A run above the last complete one is a write cut short: its keys are
	// still in the log, and it is written again from there.
	if _, err := tx.ExecContext(ctx, `DELETE FROM usage_key_blocks WHERE run > ?`, x.lastRun); err != nil {
		return fmt.Errorf("drop a usage key run cut short: %w", err)
	}
	runs, err := queryInts(ctx, tx, distinctRuns)
	if err != nil {
		return fmt.Errorf("list usage key runs: %w", err)
	}
	x.runs, x.flush, x.staged = runs, nil, x.staged[:0]
	x.hotFrom = hourOf(now) - x.hotHours
	x.filters, x.dropped, x.filterBytes = map[int64]*hourFilter{}, map[int64]bool{}, 0
	x.compacting = true
	x.pending = map[int64]int64{}
	lo := x.hotFrom << slotHashBits
	keys := 0
	add := func(query string, args ...any) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var slot int64
			if err := rows.Scan(&slot); err != nil {
				return err
			}
			x.remember(slot)
			keys++
		}
		return rows.Err()
	}
	if !x.shared {
		if err := add(`SELECT slot FROM usage_keys WHERE slot >= ?`, lo); err != nil {
			return fmt.Errorf("read usage keys: %w", err)
		}
		for _, r := range runs {
			err := eachBlock(ctx, tx, `SELECT keys FROM usage_key_blocks WHERE run = ? AND last_slot >= ?`, []any{r, lo},
				func(ks []key) {
					for _, k := range ks {
						if k.slot >= lo {
							x.remember(k.slot)
							keys++
						}
					}
				})
			if err != nil {
				return fmt.Errorf("read usage key run %d: %w", r, err)
			}
		}
	}
	// The log, shared or not: its keys are nowhere else.
	rows, err := tx.QueryContext(ctx, `SELECT slot, chk FROM usage_events WHERE id > ?`, x.through)
	if err != nil {
		return fmt.Errorf("read the usage key log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var slot, chk int64
		if err := rows.Scan(&slot, &chk); err != nil {
			return fmt.Errorf("read the usage key log: %w", err)
		}
		x.pending[slot] = chk
		x.remember(slot)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the usage key log: %w", err)
	}
	x.logger.InfoContext(ctx, "usage deduplication filters loaded", "keys", keys, "runs", len(runs), "pending", len(x.pending),
		"bytes", x.filterBytes, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (x *runIndex) covered(hour int64) bool {
	return !x.shared && hour >= x.hotFrom && !x.dropped[hour]
}

// surelyFree says that no key holds slot, in usage_keys or any run.
func (x *runIndex) surelyFree(slot int64) bool {
	h := slot >> slotHashBits
	if !x.covered(h) {
		return false
	}
	f := x.filters[h]
	return f == nil || !f.mayHave(slot)
}

// touchWindow is how many keys' filter blocks dedup fetches before testing
// them: enough to keep the processor's misses in flight, few enough that
// their blocks are still in cache when tested.
const touchWindow = 32

// touchAhead fetches the filter blocks of the items' slots (hourFilter.touch).
func (x *runIndex) touchAhead(items []*item) {
	for _, it := range items {
		if f := x.filters[it.key.slot>>slotHashBits]; f != nil {
			x.sink ^= f.touch(it.key.slot)
		}
	}
}

// remember adds slot to its hour's filter; when the filters go over budget
// the oldest hour's is dropped, and its keys are looked up from then on.
func (x *runIndex) remember(slot int64) {
	h := slot >> slotHashBits
	if !x.covered(h) {
		return
	}
	f := x.filters[h]
	if f == nil {
		// Sized like the busiest hour before it, up to an eighth of
		// the budget.
		hint := 0
		for _, g := range x.filters {
			hint = max(hint, g.keys())
		}
		f = &hourFilter{hint: min(hint, x.budget/8*8/bloomBitsPerKey)}
		x.filters[h] = f
	}
	x.filterBytes += f.add(slot)
	for x.filterBytes > x.budget && len(x.filters) > 0 {
		oldest := int64(math.MaxInt64)
		for hh := range x.filters {
			oldest = min(oldest, hh)
		}
		x.filterBytes -= x.filters[oldest].bytes()
		delete(x.filters, oldest)
		x.dropped[oldest] = true
		x.logger.Warn("usage deduplication filter over its memory budget: keys of this hour are looked up from now on",
			"hour", keyEpoch.Add(time.Duration(oldest)*time.Hour), "budget_bytes", x.budget)
	}
}

// dedup is Ingester.dedup for SQLite: it marks the round's resends dup,
// writes the other items' keys to the current run and returns those items.
func (x *runIndex) dedup(ctx context.Context, tx *sql.Tx, items []*item, now time.Time) ([]*item, error) {
	if err := x.prepare(ctx, tx, now); err != nil {
		return nil, err
	}
	x.staged = x.staged[:0]
	// occupied is every slot known to be taken, by this round or (learnt by
	// a lookup) an earlier one, with its chk.
	occupied := make(map[int64]int64, len(items))
	claims := make([]*item, 0, len(items))
	pending := items
	for len(pending) > 0 {
		var check []*item
		for i, it := range pending {
			if i%touchWindow == 0 {
				x.touchAhead(pending[i:min(i+touchWindow, len(pending))])
			}
			for {
				if chk, taken := occupied[it.key.slot]; taken {
					if chk == it.key.chk {
						it.dup = true
						break
					}
					it.key = it.key.next() // another event's slot: probe on
					continue
				}
				if x.surelyFree(it.key.slot) {
					occupied[it.key.slot] = it.key.chk
					claims = append(claims, it)
				} else {
					check = append(check, it)
				}
				break
			}
		}
		if len(check) == 0 {
			break
		}
		found, err := x.lookup(ctx, tx, check)
		if err != nil {
			return nil, err
		}
		pending = pending[:0:0]
		for _, it := range check {
			if chk, ok := found[it.key.slot]; ok {
				occupied[it.key.slot] = chk
				pending = append(pending, it) // the next pass tells resend from collision
			} else if _, taken := occupied[it.key.slot]; taken {
				pending = append(pending, it) // claimed by this round meanwhile
			} else {
				occupied[it.key.slot] = it.key.chk
				claims = append(claims, it)
			}
		}
	}
	// The claims' keys are written with their events (insertEvents); they
	// are pending once the round commits.
	for _, it := range claims {
		x.staged = append(x.staged, it.key)
		x.remember(it.key.slot)
	}
	fresh := make([]*item, 0, len(items))
	for _, it := range items {
		if !it.dup {
			fresh = append(fresh, it)
		}
	}
	return fresh, nil
}

// lookup returns the chk stored at each item's slot: in the keys held in
// memory (pending, or the run being written), in usage_keys or in a run. A
// key is stored in one place only, so a slot found is not asked again, and
// the runs are asked newest first, as many at a time as one statement asks
// for the slots left: a client resending a batch usually resends one it
// sent lately, whose keys are in memory or the newest runs, and the few
// false positives of the filters are asked of every run at once. Asking
// every run for every slot made a resent batch cost twenty seeks a key in
// an hour of twenty runs (BenchmarkResend).
func (x *runIndex) lookup(ctx context.Context, tx *sql.Tx, items []*item) (map[int64]int64, error) {
	found := make(map[int64]int64, len(items))
	rest := make([]*item, 0, len(items))
	for _, it := range items {
		slot := it.key.slot
		if chk, ok := x.pending[slot]; ok {
			found[slot] = chk
		} else if chk, ok := x.flush.find(slot); ok {
			found[slot] = chk
		} else {
			rest = append(rest, it)
		}
	}
	if len(rest) == 0 {
		return found, nil
	}
	stored, err := keyChecks(ctx, tx, rest, false)
	if err != nil {
		return nil, fmt.Errorf("read usage keys: %w", err)
	}
	maps.Copy(found, stored)
	for hi := len(x.runs); hi > 0 && len(rest) > 0; {
		group := max(1, lookupRows/len(rest)) // as many runs as one statement asks
		if err := x.blockChecks(ctx, tx, rest, x.runs[max(0, hi-group):hi], found); err != nil {
			return nil, fmt.Errorf("read usage key runs: %w", err)
		}
		hi -= group
		rest = slices.DeleteFunc(rest, func(it *item) bool { _, ok := found[it.key.slot]; return ok })
	}
	return found, nil
}

// lookupRows is how many (run, slot) pairs one lookup statement asks.
const lookupRows = 500

// lookupBlocksText is the statement for rows (run, slot) pairs: each slot
// with the block of the run that would hold it, the one whose first slot is
// the highest at or below it (NULL if there is none, or if it ends below
// the slot): one seek of the primary key a pair.
func lookupBlocksText(rows int) string {
	return multiValues("WITH q(run, slot) AS (VALUES ", rows, 2, ") SELECT q.slot, "+
		"(SELECT CASE WHEN b.last_slot >= q.slot THEN b.keys END FROM usage_key_blocks b "+
		"WHERE b.run = q.run AND b.first_slot <= q.slot ORDER BY b.first_slot DESC LIMIT 1) FROM q")
}

// blockChecks adds to found the chk of each item's slot held by one of runs.
func (x *runIndex) blockChecks(ctx context.Context, tx *sql.Tx, items []*item, runs []int64, found map[int64]int64) error {
	n := len(runs)
	return x.stmts.chunked(ctx, tx, len(items)*n, lookupRows, lookupBlocksText,
		func(lo, hi int, buf []any) []any {
			for p := lo; p < hi; p++ {
				buf = append(buf, runs[p%n], items[p/n].key.slot)
			}
			return buf
		},
		func(rows *sql.Rows) error {
			for rows.Next() {
				var slot int64
				var b sql.RawBytes // most pairs find no key: no copy of the block is kept
				if err := rows.Scan(&slot, &b); err != nil {
					return err
				}
				if len(b)%blockKeyBytes != 0 {
					// A wrong length would shift every key after the first
					// and hide them: an event counted twice.
					return fmt.Errorf("a usage key block of %d bytes, not a multiple of %d", len(b), blockKeyBytes)
				}
				if chk, ok := blockFind(b, slot); ok {
					found[slot] = chk
				}
			}
			return rows.Err()
		})
}

// eachBlock runs query, whose one column is a block, and gives fn each
// block's keys, valid until fn returns.
func eachBlock(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(keys []key)) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ks []key
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if ks, err = decodeBlock(ks[:0], b); err != nil {
			return err
		}
		fn(ks)
	}
	return rows.Err()
}

// insertBlocksText is the statement for rows blocks of a run. OR IGNORE
// keeps SQLite from writing a statement journal (see insertEventsText); no
// row is expected to be ignored, and insertBlocks checks that none was.
func insertBlocksText(rows int) string {
	return multiValues("INSERT OR IGNORE INTO usage_key_blocks (run, first_slot, last_slot, keys) VALUES ", rows, 4, "")
}

// blockRows is how many blocks one insert writes.
const blockRows = 250

// insertBlocks writes keys, in slot order, as blocks of run. A block that
// was there already (OR IGNORE skipped it) is an error: its keys would be
// lost.
func insertBlocks(ctx context.Context, stmts stmtCache, tx *sql.Tx, run int64, keys []key) error {
	n := (len(keys) + blockKeys - 1) / blockKeys
	var written int64
	err := stmts.chunked(ctx, tx, n, blockRows, insertBlocksText,
		func(lo, hi int, buf []any) []any {
			for b := lo; b < hi; b++ {
				ks := keys[b*blockKeys : min((b+1)*blockKeys, len(keys))]
				buf = append(buf, run, ks[0].slot, ks[len(ks)-1].slot, encodeBlock(ks))
			}
			return buf
		}, nil, func(rows int64) { written += rows })
	if err == nil && written != int64(n) {
		err = fmt.Errorf("%d of %d blocks were there already", int64(n)-written, n)
	}
	return err
}

// flushDue says whether a run is being written or enough keys wait for one.
func (x *runIndex) flushDue() bool {
	return x.flush != nil || len(x.pending) >= x.runKeys
}

// flushStep writes the next stepKeys keys of a run, first beginning one
// from the pending keys if none is being written, and on the last step moves
// usage_key_log past the run's events. It runs between rounds, in its own
// transaction; done says the step committed what it wrote, for afterFlush.
func (x *runIndex) flushStep(ctx context.Context, tx *sql.Tx, now time.Time) (done func(), err error) {
	if err := x.prepare(ctx, tx, now); err != nil {
		return nil, err
	}
	if x.flush == nil {
		if len(x.pending) < x.runKeys {
			return func() {}, nil
		}
		f := &runFlush{run: x.lastRun + 1, keys: make([]key, 0, len(x.pending))}
		if len(x.runs) > 0 {
			f.run = max(f.run, x.runs[len(x.runs)-1]+1)
		}
		// Every event up to the newest holds a pending key or one already
		// in usage_keys or a run: the writer that commits them is this one.
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM usage_events`).Scan(&f.through); err != nil {
			return nil, fmt.Errorf("read the newest usage event: %w", err)
		}
		for slot, chk := range x.pending {
			f.keys = append(f.keys, key{slot: slot, chk: chk})
		}
		sortBySlot(f.keys)
		// The keys move to the run being written now: a failed step makes
		// the writer read them all back (ready = false).
		x.flush, x.pending = f, map[int64]int64{}
	}
	f := x.flush
	part := f.keys[f.written:min(f.written+x.stepKeys, len(f.keys))]
	if err := insertBlocks(ctx, x.stmts, tx, f.run, part); err != nil {
		return nil, fmt.Errorf("write usage key run %d: %w", f.run, err)
	}
	last := f.written+len(part) == len(f.keys)
	if last {
		if _, err := tx.ExecContext(ctx, `UPDATE usage_key_log SET through = ?, run = ? WHERE id = 1`, f.through, f.run); err != nil {
			return nil, fmt.Errorf("write usage_key_log: %w", err)
		}
	}
	return func() {
		f.written += len(part)
		if last {
			x.runs = append(x.runs, f.run)
			x.lastRun, x.through, x.flush = f.run, f.through, nil
		}
	}, nil
}

// compact moves one step of keys of hours before the hot window from the runs
// to usage_keys, in one transaction, and says whether more remain. It runs
// between rounds, so that a move never holds the writer long.
func (x *runIndex) compact(ctx context.Context, tx *sql.Tx) (moved int, more bool, err error) {
	if !x.ready || !x.compacting {
		return 0, false, nil
	}
	if len(x.runs) == 0 {
		x.compacting = false
		return 0, false, nil
	}
	cut := x.hotFrom << slotHashBits
	per := max(1, x.moveKeys/blockKeys/len(x.runs)) // blocks read from each run
	read := make([][][]key, len(x.runs))            // each run's blocks that begin below cut, in order
	bound := cut - 1                                // the highest slot this step moves
	for i, r := range x.runs {
		err := eachBlock(ctx, tx, `SELECT keys FROM usage_key_blocks WHERE run = ? AND first_slot < ? ORDER BY first_slot LIMIT ?`,
			[]any{r, cut, per}, func(ks []key) { read[i] = append(read[i], slices.Clone(ks)) })
		if err != nil {
			return 0, false, fmt.Errorf("read usage key run %d: %w", r, err)
		}
		if b := read[i]; len(b) == per {
			if last := b[per-1][len(b[per-1])-1].slot; last < cut {
				// This run may have more below cut: move only what every
				// run has read up to, so that the keys go to usage_keys in
				// order.
				bound = min(bound, last)
				more = true
			}
		}
	}
	var batch []key
	for _, blocks := range read {
		for _, b := range blocks {
			for _, k := range b {
				if k.slot <= bound {
					batch = append(batch, k)
				}
			}
		}
	}
	sortBySlot(batch)
	var written int64
	err = stmtCache(nil).chunked(ctx, tx, len(batch), keyRows,
		func(rows int) string {
			return multiValues("INSERT OR IGNORE INTO usage_keys (slot, chk) VALUES ", rows, 2, "")
		},
		func(lo, hi int, buf []any) []any {
			for _, k := range batch[lo:hi] {
				buf = append(buf, k.slot, k.chk)
			}
			return buf
		}, nil, func(n int64) { written += n })
	if err != nil {
		return 0, false, fmt.Errorf("move usage keys: %w", err)
	}
	if written != int64(len(batch)) {
		x.logger.ErrorContext(ctx, "usage keys found in both a run and usage_keys; the older one is kept", "keys", int64(len(batch))-written)
	}
	for i, r := range x.runs {
		// The blocks that begin at or below bound go; the keys above bound
		// of the last of them (it may reach past bound) stay, as a block
		// of their own.
		var rest []key
		gone := false
		for _, b := range read[i] {
			if b[0].slot > bound {
				break
			}
			gone = true
			rest = rest[:0]
			for _, k := range b {
				if k.slot > bound {
					rest = append(rest, k)
				}
			}
		}
		if !gone {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM usage_key_blocks WHERE run = ? AND first_slot <= ?`, r, bound); err != nil {
			return 0, false, fmt.Errorf("delete moved usage keys of run %d: %w", r, err)
		}
		if len(rest) > 0 {
			if err := insertBlocks(ctx, nil, tx, r, rest); err != nil {
				return 0, false, fmt.Errorf("keep usage keys of run %d: %w", r, err)
			}
		}
	}
	if !more {
		// Forget runs left empty, so that lookups stop asking them.
		kept := x.runs[:0]
		for _, r := range x.runs {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM usage_key_blocks WHERE run = ? LIMIT 1`, r).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return 0, false, err
			}
			kept = append(kept, r)
		}
		x.runs = kept
		x.compacting = false
	}
	return len(batch), more, nil
}

func queryInts(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
