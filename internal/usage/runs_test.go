package usage

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

func TestBloom_NoFalseNegativesAndFewFalsePositives(t *testing.T) {
	// An hour that grows from nothing to six million keys: three filters.
	const keys = 6_000_000
	h, hour := grownHour(keys, rand.New(rand.NewPCG(1, 2)))
	rng := rand.New(rand.NewPCG(1, 2)) // the same keys again
	for range keys {
		if s := hour | rng.Int64N(slotHashMask+1); !h.mayHave(s) {
			t.Fatalf("slot %x was added but is reported absent", s)
		}
	}
	const trials = 1_000_000
	fp := 0
	for range trials {
		if h.mayHave(hour | rng.Int64N(slotHashMask+1)) {
			fp++
		}
	}
	// A test asks every filter of the chain, and each answers "perhaps" for
	// its own share of absent keys: this chain, three filters of 24 bits a
	// key, answers about 0.01%. Each "perhaps" costs a lookup in every run.
	// (Before the bits in a block came from their own hash, a chain of five
	// answered 0.8%; at 16 to 20 bits a key, 0.15%.)
	rate := float64(fp) / trials
	t.Logf("false positive rate %.5f with %d filters, %d bytes", rate, len(h.chain), h.bytes())
	if rate > 0.0003 {
		t.Errorf("false positive rate %.4f, want at most 0.0003 (%d filters, %d bytes)", rate, len(h.chain), h.bytes())
	}
}

// runKeysQuery counts the keys in the blocks of runs (16 bytes a key).
const runKeysQuery = "SELECT COALESCE(SUM(length(keys)), 0) / 16 FROM usage_key_blocks"

// grownHour is the filter of an hour that grew from nothing to keys random
// keys, drawn from rng.
func grownHour(keys int, rng *rand.Rand) (*hourFilter, int64) {
	h := &hourFilter{}
	hour := int64(60_000) << slotHashBits
	for range keys {
		h.add(hour | rng.Int64N(slotHashMask+1))
	}
	return h, hour
}

// usageKeys reads usage_keys: chk by slot.
func usageKeys(t *testing.T, db *store.DB) map[int64]int64 {
	t.Helper()
	keys := map[int64]int64{}
	rows, err := db.Read().Query(`SELECT slot, chk FROM usage_keys`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var slot, chk int64
		if err := rows.Scan(&slot, &chk); err != nil {
			t.Fatal(err)
		}
		keys[slot] = chk
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// frontClock is a clock the test moves.
type frontClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *frontClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *frontClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// runningIngester is an Ingester with its writer, stopped by stop.
type runningIngester struct {
	*Ingester
	stop func()
}

func startFront(t *testing.T, db *store.DB, clk *frontClock, runKeys int) runningIngester {
	// Runs written in several steps, so that restarts and rounds fall
	// between them; one block of each run a compaction step, so that steps
	// stop inside other runs' blocks.
	return startFrontSteps(t, db, clk, runKeys, frontSteps{write: 16, move: 1})
}

// frontSteps sizes the steps of writing a run (keys) and of compaction
// (about how many keys a step moves).
type frontSteps struct{ write, move int }

func startFrontSteps(t *testing.T, db *store.DB, clk *frontClock, runKeys int, steps frontSteps) runningIngester {
	t.Helper()
	ing, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: clk.Now, RunKeys: runKeys})
	if err != nil {
		t.Fatal(err)
	}
	if ing.front != nil {
		ing.front.stepKeys, ing.front.moveKeys = steps.write, steps.move
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ing.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return runningIngester{ing, stop}
}

// poolEvent is event n of a fixed pool: its time is fixed, so a resend is
// the same event whatever the clock says.
func poolEvent(n int, base time.Time) Input {
	at := base.Add(-time.Duration(n%360) * time.Minute) // six hours back
	return Input{SpecVersion: "1.0", ID: fmt.Sprintf("e%d", n), Source: "s", Type: "api-calls",
		Time: at.Format(time.RFC3339), Data: []byte(`{"quantity":1}`)}
}

// storedKeys counts the keys in usage_keys, in runs and in SQLite's log,
// and the events.
func storedKeys(t *testing.T, db *store.DB) (keys, runKeys, logged, events int64) {
	t.Helper()
	// One statement, so that the counts are of one moment. A run being
	// written (above usage_key_log's run) does not count yet: its keys are
	// still the log's.
	logQuery, runQuery := "0", runKeysQuery
	if db.Dialect() == store.DialectSQLite {
		logQuery = "SELECT COUNT(*) FROM usage_events WHERE id > (SELECT through FROM usage_key_log)"
		runQuery += " WHERE run <= (SELECT run FROM usage_key_log)"
	}
	err := db.Read().QueryRow(`SELECT (SELECT COUNT(*) FROM usage_keys), (`+runQuery+`),
		(`+logQuery+`), (SELECT COUNT(*) FROM usage_events)`).Scan(&keys, &runKeys, &logged, &events)
	if err != nil {
		t.Fatal(err)
	}
	return keys, runKeys, logged, events
}

// TestRunIndex_RandomSendsRestartsAndClockCountEachEventOnce drives the
// deduplication index through random batches with resends, clock moves
// across the hot window (keys move from runs to usage_keys), restarts (the
// filters are read back) and a second process writing the same database
// (filters no longer trusted), checking every answer against a model.
func TestRunIndex_RandomSendsRestartsAndClockCountEachEventOnce(t *testing.T) {
	// Each seed writes and compacts in steps of its own size: small steps
	// that stop between rounds and restarts, whole runs of full blocks, and
	// compaction steps of several blocks a run, as in production.
	for seed, steps := range map[uint64]frontSteps{1: {write: 16, move: 1}, 2: {write: 200, move: 600}, 3: {write: 100, move: 180}} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				rng := rand.New(rand.NewPCG(seed, 99))
				base := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
				clk := &frontClock{now: base}
				const pool = 4000
				stored := map[int]bool{}
				start := func() runningIngester { return startFrontSteps(t, db, clk, 64, steps) }
				ingesters := []runningIngester{start()}
				ctx := context.Background()
				for step := range 120 {
					switch roll := rng.IntN(10); {
					case roll < 7:
						ing := ingesters[rng.IntN(len(ingesters))]
						n := 1 + rng.IntN(300)
						var in []Input
						picked := map[int]bool{}
						want := Result{}
						for range n {
							e := rng.IntN(pool)
							if picked[e] {
								continue
							}
							picked[e] = true
							in = append(in, poolEvent(e, base))
							if stored[e] {
								want.Duplicates++
							} else {
								want.Accepted++
								stored[e] = true
							}
						}
						got, err := ing.Ingest(ctx, 1, in)
						if err != nil {
							t.Fatalf("step %d: %v", step, err)
						}
						if got.Accepted != want.Accepted || got.Duplicates != want.Duplicates || len(got.Rejected) > 0 {
							t.Fatalf("step %d: %+v, want %d accepted and %d duplicates", step, got, want.Accepted, want.Duplicates)
						}
					case roll == 7:
						clk.add(time.Duration(rng.IntN(100)) * time.Minute)
					case roll == 8:
						// A restart: the new writer reads the runs and filters back.
						i := rng.IntN(len(ingesters))
						ingesters[i].stop()
						ingesters[i] = start()
					default:
						if len(ingesters) == 1 {
							ingesters = append(ingesters, start())
						}
					}
				}
				for _, ing := range ingesters {
					ing.stop()
				}
				keys, runKeys, logged, events := storedKeys(t, db)
				if keys+runKeys+logged != int64(len(stored)) || events != int64(len(stored)) {
					t.Errorf("%d keys in usage_keys, %d in runs, %d in the log and %d events; want %d of each",
						keys, runKeys, logged, events, len(stored))
				}
			})
		})
	}
}

// TestRunIndex_ColdKeysMoveToUsageKeys: once the clock leaves an
// hour's keys behind the hot window, the writer moves them out of the runs
// while idle, and they still find their resends.
func TestRunIndex_ColdKeysMoveToUsageKeys(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	base := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	clk := &frontClock{now: base}
	ing := startFront(t, db, clk, 100)
	ctx := context.Background()
	var in []Input
	for n := range 1000 {
		ev := poolEvent(n, base)
		// Within the hot window (this hour and the two before), so that
		// nothing is moved before the clock says so.
		ev.Time = base.Add(-time.Duration(n%120) * time.Minute).Format(time.RFC3339)
		in = append(in, ev)
	}
	if res, err := ing.Ingest(ctx, 1, in); err != nil || res.Accepted != 1000 {
		t.Fatalf("%+v %v", res, err)
	}
	// The keys go from the log to a run (100 keys a run at most) while the
	// writer is idle.
	waitKeys(t, db, func(keys, runKeys, logged int64) bool { return keys == 0 && runKeys == 1000 && logged == 0 })
	clk.add(10 * time.Hour) // every hour of the pool is cold now
	// The window moves at the next round; an event of the current hour makes one.
	fresh := Input{SpecVersion: "1.0", ID: "now", Source: "s", Type: "api-calls", Time: clk.Now().Format(time.RFC3339), Data: []byte(`{"quantity":1}`)}
	if res, err := ing.Ingest(ctx, 1, []Input{fresh}); err != nil || res.Accepted != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	waitKeys(t, db, func(keys, runKeys, logged int64) bool { return keys == 1000 && runKeys == 0 && logged == 1 })
	if res, err := ing.Ingest(ctx, 1, in); err != nil || res.Duplicates != 1000 {
		t.Errorf("resend after the move: %+v %v, want 1000 duplicates", res, err)
	}
}

// waitKeys waits until done says the keys are where they should be,
// checking meanwhile that every key is somewhere, once.
func waitKeys(t *testing.T, db *store.DB, done func(keys, runKeys, logged int64) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		keys, runKeys, logged, events := storedKeys(t, db)
		if done(keys, runKeys, logged) {
			return
		}
		if keys+runKeys+logged != events {
			t.Fatalf("%d keys in usage_keys, %d in runs and %d in the log for %d events", keys, runKeys, logged, events)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %d keys in usage_keys, %d in runs, %d in the log", keys, runKeys, logged)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunIndex_OverBudgetHoursAreLookedUp: when the filters would outgrow
// their memory budget the oldest hour loses its filter, and its resends are
// found by lookup instead.
func TestRunIndex_OverBudgetHoursAreLookedUp(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	base := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	clk := &frontClock{now: base}
	ing := startFront(t, db, clk, 1000)
	ing.front.budget = 1 // no filter fits: every hour is dropped as soon as it has one
	ctx := context.Background()
	var in []Input
	for n := range 500 {
		in = append(in, poolEvent(n, base))
	}
	for i, want := range []Result{{Accepted: 500}, {Duplicates: 500}} {
		res, err := ing.Ingest(ctx, 1, in)
		if err != nil || res.Accepted != want.Accepted || res.Duplicates != want.Duplicates {
			t.Errorf("send %d: %+v %v, want %+v", i, res, err, want)
		}
	}
}

// TestRunIndex_CollisionsInRunsAndUsageKeysMoveOn: a slot taken by another
// event, in a closed run or in usage_keys, sends the event to the next one,
// and its resend walks the same path.
func TestRunIndex_CollisionsInRunsAndUsageKeysMoveOn(t *testing.T) {
	for _, where := range []string{"usage_keys", "run"} {
		t.Run(where, func(t *testing.T) {
			db := storetest.Open(t, "sqlite")
			now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
			clk := &frontClock{now: now}
			in := Input{SpecVersion: "1.0", ID: "e1", Source: "s", Type: "api-calls", Time: "2026-11-23T09:00:00Z", Data: []byte(`{"quantity":1}`)}
			_, k := checkedKey(t, now, in)
			for i, slot := range []int64{k.slot, k.next().slot} {
				other := key{slot: slot, chk: k.chk + 1 + int64(i)}
				var err error
				if where == "run" {
					_, err = db.Write().Exec(`INSERT INTO usage_key_blocks (run, first_slot, last_slot, keys) VALUES (7, $1, $1, $2)`,
						slot, encodeBlock([]key{other}))
				} else {
					_, err = db.Write().Exec(`INSERT INTO usage_keys (slot, chk) VALUES ($1, $2)`, other.slot, other.chk)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.Write().Exec(`UPDATE usage_key_log SET run = 7`); err != nil { // run 7 is complete
				t.Fatal(err)
			}
			ing := startFront(t, db, clk, 0) // started after the keys: it reads them
			for i, want := range []Result{{Accepted: 1}, {Duplicates: 1}} {
				res, err := ing.Ingest(context.Background(), 1, []Input{in})
				if err != nil || res.Accepted != want.Accepted || res.Duplicates != want.Duplicates {
					t.Errorf("send %d: %+v %v, want %+v", i, res, err, want)
				}
			}
			var chk int64
			if err := db.Read().QueryRow(`SELECT chk FROM usage_events WHERE slot = $1`, k.next().next().slot).Scan(&chk); err != nil || chk != k.chk {
				t.Errorf("third slot holds %d (%v), want the event's chk %d", chk, err, k.chk)
			}
		})
	}
}

// TestRunIndex_RunCutShortIsWrittenAgain: a writer stopped in the middle of
// writing a run (kill -9 between two steps) leaves part of it in
// usage_key_blocks and usage_key_log before it. The next writer drops the
// part, reads the keys back from the log, writes the run whole, and every
// resend is still a duplicate.
func TestRunIndex_RunCutShortIsWrittenAgain(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	base := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	clk := &frontClock{now: base}
	ctx := context.Background()
	var in []Input
	for n := range 50 {
		in = append(in, poolEvent(n%120, base))
	}
	first := startFront(t, db, clk, 1000) // no run yet: all 50 keys in the log
	if res, err := first.Ingest(ctx, 1, in); err != nil || res.Accepted != 50 {
		t.Fatalf("%+v %v", res, err)
	}
	first.stop()
	// What a cut-short write leaves: 20 of the keys in run 1, the log not moved.
	var cut []key
	rows, err := db.Read().Query(`SELECT slot, chk FROM usage_events ORDER BY slot LIMIT 20`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.slot, &k.chk); err != nil {
			t.Fatal(err)
		}
		cut = append(cut, k)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(cut); lo += 7 { // blocks of 7, 7 and 6 keys
		part := cut[lo:min(lo+7, len(cut))]
		if _, err := db.Write().Exec(`INSERT INTO usage_key_blocks (run, first_slot, last_slot, keys) VALUES (1, $1, $2, $3)`,
			part[0].slot, part[len(part)-1].slot, encodeBlock(part)); err != nil {
			t.Fatal(err)
		}
	}
	var partial int
	if err := db.Read().QueryRow(runKeysQuery + ` WHERE run > (SELECT run FROM usage_key_log)`).Scan(&partial); err != nil || partial != 20 {
		t.Fatalf("set-up: %d keys in a run being written (%v), want 20", partial, err)
	}
	second := startFront(t, db, clk, 10)
	if res, err := second.Ingest(ctx, 1, in); err != nil || res.Duplicates != 50 {
		t.Fatalf("resend after the cut: %+v %v, want 50 duplicates", res, err)
	}
	waitKeys(t, db, func(keys, runKeys, logged int64) bool { return keys == 0 && runKeys == 50 && logged == 0 })
	var runs int
	if err := db.Read().QueryRow(`SELECT COUNT(DISTINCT run) FROM usage_key_blocks`).Scan(&runs); err != nil || runs != 1 {
		t.Errorf("%d runs (%v), want the one run written again", runs, err)
	}
	if res, err := second.Ingest(ctx, 1, in); err != nil || res.Duplicates != 50 {
		t.Errorf("resend after the run is written: %+v %v, want 50 duplicates", res, err)
	}
}

// BenchmarkHourFilter tests absent keys against the chain of an hour that
// grew from nothing to forty million keys (four filters, 130 MB): one key
// at a time, and as dedup does, a window of keys touched before testing.
// go test -run '^$' -bench HourFilter ./internal/usage
func BenchmarkHourFilter(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	h, hour := grownHour(40_000_000, rng)
	probe := make([]int64, 1<<16)
	for i := range probe {
		probe[i] = hour | rng.Int64N(slotHashMask+1)
	}
	b.Run(fmt.Sprintf("one-at-a-time/%d-filters", len(h.chain)), func(b *testing.B) {
		hits := 0
		for i := 0; b.Loop(); i++ {
			if h.mayHave(probe[i&(len(probe)-1)]) {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "positives/op")
	})
	b.Run(fmt.Sprintf("touched-ahead/%d-filters", len(h.chain)), func(b *testing.B) {
		hits, sink := 0, uint64(0)
		for i := 0; b.Loop(); i++ {
			j := i & (len(probe) - 1)
			if j%touchWindow == 0 {
				for _, s := range probe[j : j+touchWindow] {
					sink ^= h.touch(s)
				}
			}
			if h.mayHave(probe[j]) {
				hits++
			}
		}
		b.ReportMetric(float64(hits)/float64(b.N), "positives/op")
		_ = sink
	})
}

// TestMigration0031_KeysOfCompleteRunsMoveToUsageKeys: runs stored a row a
// key before migration 0031. Its keys of complete runs go to usage_keys, a
// key already there is kept once, and a run cut short is left to the log,
// whose keys the writer writes to a run again. A writer started after it
// still finds a moved key: the event's resend is a duplicate.
func TestMigration0031_KeysOfCompleteRunsMoveToUsageKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		types := map[store.Dialect]*strings.Replacer{
			store.DialectSQLite:   strings.NewReplacer("{{bytes}}", "BLOB", "{{without_rowid}}", "WITHOUT ROWID"),
			store.DialectPostgres: strings.NewReplacer("{{bytes}}", "BYTEA", "{{without_rowid}}", ""),
		}[db.Dialect()]
		now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		in := Input{SpecVersion: "1.0", ID: "e1", Source: "s", Type: "api-calls", Time: "2026-11-23T09:00:00Z", Data: []byte(`{"quantity":1}`)}
		_, k := checkedKey(t, now, in) // the event's key, in a complete run
		hour := k.slot &^ slotHashMask
		before := []string{
			`DROP TABLE usage_key_blocks`,
			types.Replace(`CREATE TABLE usage_key_runs (run BIGINT NOT NULL, slot BIGINT NOT NULL, chk BIGINT NOT NULL,
				PRIMARY KEY (run, slot)) {{without_rowid}}`),
			fmt.Sprintf(`INSERT INTO usage_key_runs (run, slot, chk) VALUES (1, %d, %d), (1, %d, 12), (2, %d, 13), (2, %d, 14)`,
				k.slot, k.chk, hour+2, hour+3, hour+4),
			fmt.Sprintf(`INSERT INTO usage_keys (slot, chk) VALUES (%d, 12)`, hour+2), // in usage_keys and a run
			`UPDATE usage_key_log SET run = 1`,                                        // run 2 was cut short
		}
		for _, q := range before {
			if _, err := db.Write().Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		ms, err := store.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		m := ms[slices.IndexFunc(ms, func(m store.Migration) bool { return m.Version == 31 })]
		if _, err := db.Write().Exec(types.Replace(m.SQL)); err != nil {
			t.Fatal(err)
		}
		if got, want := usageKeys(t, db), map[int64]int64{k.slot: k.chk, hour + 2: 12}; !maps.Equal(got, want) {
			t.Errorf("usage_keys after the migration: %v, want %v", got, want)
		}
		var blocks int
		if err := db.Read().QueryRow(`SELECT COUNT(*) FROM usage_key_blocks`).Scan(&blocks); err != nil || blocks != 0 {
			t.Errorf("usage_key_blocks: %d rows (%v), want an empty table", blocks, err)
		}
		if _, err := db.Read().Exec(`SELECT 1 FROM usage_key_runs`); err == nil {
			t.Error("usage_key_runs is still there")
		}
		ing := startFront(t, db, &frontClock{now: now}, 0)
		if res, err := ing.Ingest(context.Background(), 1, []Input{in}); err != nil || res.Duplicates != 1 {
			t.Errorf("the event whose key moved, sent again: %+v %v, want a duplicate", res, err)
		}
	})
}

// TestPruneKeys_BlocksOfRuns: a block of a run goes when all its keys are
// of expired hours; a block that reaches into a younger hour stays whole
// (compaction moves its keys), and PruneKeys counts keys, not blocks.
func TestPruneKeys_BlocksOfRuns(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	now := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	ing, err := New(Config{DB: db, Meters: oneMeter{}, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Hours wholly before the window end before 07:00.
	expired, young := hourOf(now.Add(-3*time.Hour))<<slotHashBits, hourOf(now)<<slotHashBits
	blocks := [][]key{
		{{expired + 1, 1}, {expired + 2, 2}, {expired + 3, 3}}, // expired
		{{expired + 9, 4}, {young + 1, 5}},                     // reaches into a young hour
		{{young + 2, 6}},
	}
	for _, b := range blocks {
		if _, err := db.Write().Exec(`INSERT INTO usage_key_blocks (run, first_slot, last_slot, keys) VALUES (1, $1, $2, $3)`,
			b[0].slot, b[len(b)-1].slot, encodeBlock(b)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := ing.PruneKeys(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("PruneKeys = %d, %v; want the 3 keys of the expired block", n, err)
	}
	var left []int64
	rows, err := db.Read().Query(`SELECT first_slot FROM usage_key_blocks ORDER BY first_slot`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		left = append(left, s)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{expired + 9, young + 2}; !slices.Equal(left, want) {
		t.Errorf("blocks left begin at %v, want %v", left, want)
	}
}
