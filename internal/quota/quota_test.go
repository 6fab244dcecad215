package quota

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
	"github.com/marketbridge/marketbridge/internal/store/storetest"
)

// fakeClock is a clock shared by several limiters, as the database's clock
// is shared by several processes. A sleeper moves it to the time it waits
// for: time runs as fast as the callers use their slots.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// processes opens n handles on one new database of the engine: each
// limiter on its own handle stands for a process of its own.
func processes(t *testing.T, engine string, n int) []*store.DB {
	t.Helper()
	url := storetest.URL(t, engine)
	dbs := make([]*store.DB, n)
	for i := range dbs {
		dbs[i] = storetest.OpenURL(t, url)
	}
	return dbs
}

func newLimiter(t *testing.T, db *store.DB, clock *fakeClock, cfg Config) *Limiter {
	t.Helper()
	cfg.DB, cfg.Logger = db, slog.New(slog.DiscardHandler)
	if cfg.Name == "" {
		cfg.Name = "aws:BatchMeterUsage"
	}
	if clock != nil {
		cfg.Now, cfg.SleepUntil = clock.Now, clock.SleepUntil
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// maxInWindow is the most grants in any closed span of length w.
func maxInWindow(grants []time.Time, w time.Duration) int {
	best := 0
	for i, g := range grants {
		j, _ := slices.BinarySearchFunc(grants, g.Add(w), func(a, b time.Time) int {
			if a.After(b) {
				return 1
			}
			return -1 // find the first grant after g+w
		})
		best = max(best, j-i)
	}
	return best
}

// TestLimiter_13_ProcessesTogetherNeverPassTheQuota: limiters on separate
// handles of one database, with several callers each, never let more calls
// go in any span w than rate×(w+grace) + burst, the grace being the one
// interval a caller may come after its slot. It checks what is granted, not
// how fast: time is the fake clock the callers move as they sleep.
func TestLimiter_13_ProcessesTogetherNeverPassTheQuota(t *testing.T) {
	for _, engine := range storetest.Engines {
		for _, tc := range []struct {
			name           string
			rate           float64
			burst, batch   int
			procs, callers int
		}{
			{"aws-10rps", 10, 1, 0, 3, 4},
			{"burst-5", 10, 5, 0, 3, 4},
			{"one-slot-a-trip", 9.5, 1, 1, 2, 3},
		} {
			t.Run(engine+"/"+tc.name, func(t *testing.T) {
				clock := newFakeClock()
				ctx := context.Background()
				var mu sync.Mutex
				var grants []time.Time
				var wg sync.WaitGroup
				errs := make(chan error, tc.procs*tc.callers)
				var grace time.Duration
				for _, db := range processes(t, engine, tc.procs) {
					l := newLimiter(t, db, clock, Config{Rate: tc.rate, Burst: tc.burst, MaxBatch: tc.batch})
					grace = l.grace
					for range tc.callers {
						wg.Go(func() {
							for range 25 {
								at, err := l.wait(ctx)
								if err != nil {
									errs <- err
									return
								}
								mu.Lock()
								grants = append(grants, at)
								mu.Unlock()
							}
						})
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				slices.SortFunc(grants, func(a, b time.Time) int { return a.Compare(b) })
				for _, w := range []time.Duration{0, grace / 2, time.Second, 5 * time.Second} {
					limit := int(tc.rate*(w+grace).Seconds()+1e-9) + tc.burst
					if got := maxInWindow(grants, w); got > limit {
						t.Errorf("%d calls granted within %s, want at most %d", got, w, limit)
					}
				}
			})
		}
	}
}

// TestLimiter_13_ADeadProcessTakesOnlyItsLastBatch: a process that reserved
// a batch and died leaves the quota to the others at once, short of that
// batch: there is no share of its to expire.
func TestLimiter_13_ADeadProcessTakesOnlyItsLastBatch(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			clock := newFakeClock()
			ctx := context.Background()
			dbs := processes(t, engine, 2)
			dead := newLimiter(t, dbs[0], clock, Config{Rate: 10})
			if err := dead.reserve(ctx, dead.maxBatch); err != nil {
				t.Fatal(err)
			}
			start := clock.Now()
			live := newLimiter(t, dbs[1], clock, Config{Rate: 10})
			var last time.Time
			for i := range 100 {
				at, err := live.wait(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					if want := start.Add(time.Duration(dead.maxBatch) * 100 * time.Millisecond); at.After(want) {
						t.Fatalf("the first call after the dead process's batch of %d went at %s, want by %s", dead.maxBatch, at, want)
					}
				}
				last = at
			}
			// Then the whole quota: 99 intervals after the first call.
			if want := start.Add(time.Duration(dead.maxBatch+99) * 100 * time.Millisecond); last.After(want) {
				t.Fatalf("the 100th call went at %s, want by %s", last, want)
			}
		})
	}
}

// TestLimiter_13_AnIdleProcessHoldsNoSlots: slots go to callers waiting, so
// a process with nothing to send leaves the whole quota to a busy one.
func TestLimiter_13_AnIdleProcessHoldsNoSlots(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			clock := newFakeClock()
			ctx := context.Background()
			dbs := processes(t, engine, 2)
			idle := newLimiter(t, dbs[0], clock, Config{Rate: 10})
			if _, err := idle.wait(ctx); err != nil { // one call, then nothing to do
				t.Fatal(err)
			}
			busy := newLimiter(t, dbs[1], clock, Config{Rate: 10})
			first, err := busy.wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for range 49 {
				if _, err := busy.wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got, want := clock.Now().Sub(first), 49*100*time.Millisecond; got > want {
				t.Fatalf("50 calls of the busy process took %s, want %s: the idle one held slots", got, want)
			}
			if len(idle.slots) != 0 {
				t.Fatalf("the idle process holds %d slots", len(idle.slots))
			}
		})
	}
}

// TestLimiter_13_GiveUpReturnsTheSlot: a caller whose context ends while it
// waits leaves its slot to the next caller of the process.
func TestLimiter_13_GiveUpReturnsTheSlot(t *testing.T) {
	clock := newFakeClock()
	l := newLimiter(t, storetest.Open(t, "sqlite"), clock, Config{Rate: 10})
	ctx := context.Background()
	if err := l.reserve(ctx, 3); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(l.slots)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.wait(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait on an ended context: %v", err)
	}
	if !slices.Equal(l.slots, want) {
		t.Fatalf("slots %v after giving up, want %v", l.slots, want)
	}
	clock.advance(time.Hour) // every slot is now stale: dropped, new ones reserved
	at, err := l.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(clock.Now()) || len(l.slots) != 0 {
		t.Fatalf("granted %s with %d slots left, want now (%s), none", at, len(l.slots), clock.Now())
	}
}

func TestGCRA(t *testing.T) {
	const I = 100
	tests := []struct {
		name      string
		tat, now  int64
		tolerance int64
		n         int
		wantSlots []int64
		wantTAT   int64
	}{
		{"idle bucket: from now", 0, 1000, 0, 3, []int64{1000, 1100, 1200}, 1300},
		{"busy bucket: after the last slot", 1500, 1000, 0, 2, []int64{1500, 1600}, 1700},
		{"burst of 3 after a quiet spell", 0, 1000, 2 * I, 4, []int64{1000, 1000, 1000, 1100}, 1400},
		{"burst spent by the earlier slots", 1200, 1000, 2 * I, 2, []int64{1000, 1100}, 1400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slots, tat := gcra(tc.tat, tc.now, I, tc.tolerance, tc.n)
			if !slices.Equal(slots, tc.wantSlots) || tat != tc.wantTAT {
				t.Fatalf("gcra = %v, %d; want %v, %d", slots, tat, tc.wantSlots, tc.wantTAT)
			}
		})
	}
}

// TestLimiter_13_DatabaseClock runs the limiter as serve does, on the
// database's clock and real time, with three processes: every call it
// lets go was reserved in the shared bucket.
func TestLimiter_13_DatabaseClock(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbs := processes(t, engine, 3)
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			const rate, calls = 500.0, 10
			for _, db := range dbs {
				l := newLimiter(t, db, nil, Config{Rate: rate})
				for range 2 {
					wg.Go(func() {
						for range calls {
							if err := l.Wait(ctx); err != nil {
								errs <- err
								return
							}
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var tat int64
			if err := dbs[0].Read().QueryRow(`SELECT tat_micros FROM quota_buckets WHERE name = 'aws:BatchMeterUsage'`).Scan(&tat); err != nil {
				t.Fatal(err)
			}
			// The bucket is on the database's clock, near real time: a
			// clock query in the wrong unit puts it decades off.
			if got := time.UnixMicro(tat); got.Before(time.Now().Add(-time.Hour)) || got.After(time.Now().Add(time.Hour)) {
				t.Fatalf("the bucket is at %s, not near now", got)
			}
		})
	}
}

// lockChildEnv makes the test binary a process that takes the bucket's row
// in a transaction, moves it an hour ahead, and is killed before it commits.
const lockChildEnv = "MARKETBRIDGE_QUOTA_LOCK_CHILD"

func TestMain(m *testing.M) {
	if url := os.Getenv(lockChildEnv); url != "" {
		os.Exit(lockChild(url))
	}
	os.Exit(m.Run())
}

func lockChild(url string) int {
	ctx := context.Background()
	db, err := store.Open(ctx, url, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE quota_buckets SET tat_micros = tat_micros + 3600000000 WHERE name = 'aws:BatchMeterUsage'`); err != nil {
			return err
		}
		fmt.Println("LOCKED")
		time.Sleep(2 * time.Minute) // killed long before
		return errors.New("not killed")
	})
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// TestLimiter_13_AProcessKilledInItsReservationBlocksNoOne: a process killed
// while it holds the bucket's row, its change not committed, leaves the
// bucket as it was and unlocked: the database ends its transaction with its
// connection.
func TestLimiter_13_AProcessKilledInItsReservationBlocksNoOne(t *testing.T) {
	for _, engine := range storetest.Engines {
		t.Run(engine, func(t *testing.T) {
			url := storetest.URL(t, engine)
			db := storetest.OpenURL(t, url)
			clock := newFakeClock()
			l := newLimiter(t, db, clock, Config{Rate: 10})
			ctx := context.Background()
			if _, err := l.wait(ctx); err != nil { // makes the row
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), lockChildEnv+"="+url)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if strings.TrimSpace(line) != "LOCKED" {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("child: %q %s", line, stderr.String())
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			// Not a timing assertion: a bound so that a lock never released
			// fails the test instead of hanging it.
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			clock.advance(time.Second)
			at, err := l.wait(ctx)
			if err != nil {
				t.Fatalf("wait after the kill: %v", err)
			}
			if !at.Equal(clock.Now()) {
				t.Fatalf("granted at %s, want now (%s): the dead process's hour stayed", at, clock.Now())
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"complete", Config{DB: db, Logger: logger, Name: "q", Rate: 10}, true},
		{"no name", Config{DB: db, Logger: logger, Rate: 10}, false},
		{"zero rate", Config{DB: db, Logger: logger, Name: "q"}, false},
		{"negative burst", Config{DB: db, Logger: logger, Name: "q", Rate: 10, Burst: -1}, false},
		{"Now without SleepUntil", Config{DB: db, Logger: logger, Name: "q", Rate: 10, Now: time.Now}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
