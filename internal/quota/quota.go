package quota

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Config configures a Limiter.
type Config struct {
	DB *store.DB
	// Name is the quota, the same in every process that shares it, such as
	// "aws:BatchMeterUsage".
	Name string
	// Rate is the calls per second all processes together may make.
	Rate float64
	// Burst is how many calls may go at once after a quiet spell; 0 is 1,
	// calls spaced 1/Rate apart, which keeps any one-second span at Rate.
	Burst int
	// MaxBatch is the most slots a process reserves in one round trip to the
	// database; 0 is half a second's worth. A process reserves only for the
	// callers waiting in it, so this bounds how much a process that dies
	// right after a reservation takes with it.
	MaxBatch int
	Logger   *slog.Logger
	// Now, when set, is the clock of the bucket and of the waits, in place of
	// the database's clock and real time: for tests. Without it the slots
	// are on the database's clock, which every process shares whatever the
	// skew of their hosts' clocks, and each process waits for a slot
	// measuring from when the database told it the time.
	Now func() time.Time
	// SleepUntil, when set, waits until t on Now's clock: for tests.
	SleepUntil func(ctx context.Context, t time.Time) error
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.DB == nil || c.Logger == nil {
		errs = append(errs, errors.New("quota: DB and Logger are required"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("quota: Name is required"))
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 1) {
		errs = append(errs, fmt.Errorf("quota %s: Rate must be positive and finite, not %v", c.Name, c.Rate))
	}
	if c.Burst < 0 || c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("quota %s: Burst and MaxBatch must not be negative", c.Name))
	}
	if (c.Now == nil) != (c.SleepUntil == nil) {
		errs = append(errs, fmt.Errorf("quota %s: Now and SleepUntil go together", c.Name))
	}
	return errors.Join(errs...)
}

// maxAhead is how far ahead of the clock a bucket can legitimately be: the
// slots of every caller waiting in every process. A bucket further ahead was
// moved by a database clock since set back (a fail-over to a host whose
// clock ran fast); waiting for it would stop every process for as long, so
// it starts over from the present instead.
const maxAhead = time.Minute

// Limiter is one quota shared by every process on the database. Wait is
// safe for concurrent use.
type Limiter struct {
	cfg       Config
	interval  int64 // µs between slots, rounded up so as never to pass Rate
	tolerance int64 // µs a slot may come before its turn: (Burst-1) intervals
	maxBatch  int
	grace     time.Duration
	created   atomic.Bool
	stats     struct{ reservations, reserved, dropped atomic.Int64 }

	// fetch admits one reservation at a time per process: the callers that
	// arrive meanwhile are counted in waiting and served by the next one.
	fetch   chan struct{}
	mu      sync.Mutex
	slots   []time.Time // reserved and not yet taken, earliest first
	waiting int         // callers in Wait without a slot
}

// New returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	interval := int64(math.Ceil(1e6 / cfg.Rate))
	burst := max(cfg.Burst, 1)
	batch := cfg.MaxBatch
	if batch == 0 {
		batch = max(1, int(cfg.Rate/2))
	}
	return &Limiter{cfg: cfg, interval: max(interval, 1), tolerance: int64(burst-1) * interval, maxBatch: batch,
		grace: time.Duration(interval) * time.Microsecond, fetch: make(chan struct{}, 1)}, nil
}

// Wait blocks until this caller may make one call, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx)
	return err
}

// wait is Wait, returning when the call was let go on the limiter's clock:
// never before its slot, and at most one interval after it. A slot found
// later than that is dropped, not used: a call made late would bunch with
// the next process's, and the slot is spent either way.
func (l *Limiter) wait(ctx context.Context) (time.Time, error) {
	l.mu.Lock()
	l.waiting++
	l.mu.Unlock()
	for {
		if slot, now, ok := l.take(); ok {
			at, err := slot, ctx.Err()
			if now.Before(slot) {
				err = l.sleepUntil(ctx, slot)
			} else {
				at = now // within the grace
			}
			if err != nil {
				l.giveBack(slot)
				return time.Time{}, err
			}
			return at, nil
		}
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.waiting--
			l.mu.Unlock()
			return time.Time{}, ctx.Err()
		case l.fetch <- struct{}{}:
		}
		l.mu.Lock()
		n := min(l.waiting, l.maxBatch)
		if len(l.slots) > 0 {
			n = 0 // the reservation this caller queued behind served it
		}
		l.mu.Unlock()
		var err error
		if n > 0 {
			err = l.reserve(ctx, n)
		}
		<-l.fetch
		if err != nil {
			l.mu.Lock()
			l.waiting--
			l.mu.Unlock()
			return time.Time{}, err
		}
	}
}

// take pops the earliest reserved slot still usable, dropping those whose
// time has passed by more than the grace, and returns it with the time it
// looked.
func (l *Limiter) take() (slot, now time.Time, ok bool) {
	now = l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.slots) > 0 {
		slot = l.slots[0]
		l.slots = l.slots[1:]
		if now.Sub(slot) <= l.grace {
			l.waiting--
			return slot, now, true
		}
		l.stats.dropped.Add(1)
	}
	return time.Time{}, now, false
}

// giveBack returns the slot of a caller that gave up, for the next caller.
func (l *Limiter) giveBack(slot time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.slots, slot, func(a, b time.Time) int { return a.Compare(b) })
	l.slots = slices.Insert(l.slots, i, slot)
}

// Stats counts what a Limiter did since it was made.
type Stats struct {
	Reservations int64 // round trips to the database that reserved slots
	Reserved     int64 // slots they reserved
	Dropped      int64 // slots found too late to use, wasted
}

// Stats reports the round trips and slots so far, for benchmarks and
// metrics.
func (l *Limiter) Stats() Stats {
	return Stats{Reservations: l.stats.reservations.Load(), Reserved: l.stats.reserved.Load(), Dropped: l.stats.dropped.Load()}
}

// Name is the quota's name, as configured.
func (l *Limiter) Name() string { return l.cfg.Name }

func (l *Limiter) now() time.Time {
	if l.cfg.Now != nil {
		return l.cfg.Now()
	}
	return time.Now()
}

func (l *Limiter) sleepUntil(ctx context.Context, t time.Time) error {
	if l.cfg.SleepUntil != nil {
		return l.cfg.SleepUntil(ctx, t)
	}
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// reserve takes n slots from the shared bucket, in one short transaction,
// and queues them as times on this process's clock.
func (l *Limiter) reserve(ctx context.Context, n int) error {
	if err := l.create(ctx); err != nil {
		return err
	}
	var slots []int64
	var dbNow int64
	var measured time.Time // this process's time when dbNow was read
	err := l.cfg.DB.InTx(ctx, func(tx *sql.Tx) error {
		var tat int64
		if err := tx.QueryRowContext(ctx, `SELECT tat_micros FROM quota_buckets WHERE name = $1`+l.cfg.DB.Dialect().ForUpdate(),
			l.cfg.Name).Scan(&tat); err != nil {
			return fmt.Errorf("read quota %s: %w", l.cfg.Name, err)
		}
		// The time is read once the row is this transaction's: read with
		// the lock, it could be a wait old, and the slots that early.
		if l.cfg.Now != nil {
			measured = l.cfg.Now()
			dbNow = measured.UnixMicro()
		} else {
			if err := tx.QueryRowContext(ctx, clockQuery(l.cfg.DB.Dialect())).Scan(&dbNow); err != nil {
				return fmt.Errorf("read the database's clock: %w", err)
			}
			measured = time.Now()
		}
		if tat-dbNow > maxAhead.Microseconds() {
			l.cfg.Logger.Warn("quota bucket far ahead of the database's clock: starting it over", "quota", l.cfg.Name,
				"ahead", time.Duration(tat-dbNow)*time.Microsecond)
			tat = dbNow
		}
		var next int64
		slots, next = gcra(tat, dbNow, l.interval, l.tolerance, n)
		if _, err := tx.ExecContext(ctx, `UPDATE quota_buckets SET tat_micros = $1 WHERE name = $2`, next, l.cfg.Name); err != nil {
			return fmt.Errorf("reserve quota %s: %w", l.cfg.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.stats.reservations.Add(1)
	l.stats.reserved.Add(int64(len(slots)))
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range slots {
		// dbNow was read before measured, so this is never before the slot
		// on the database's clock; at most a round trip after it.
		l.slots = append(l.slots, measured.Add(time.Duration(s-dbNow)*time.Microsecond))
	}
	slices.SortFunc(l.slots, func(a, b time.Time) int { return a.Compare(b) })
	return nil
}

// gcra hands out n slots of a bucket whose theoretical arrival time is tat,
// at now: the generic cell rate algorithm, a token bucket of one token per
// interval and a depth of tolerance/interval + 1. Every slot is at or after
// now, and after the last slot handed out less the tolerance; it returns the
// slots and the new tat.
func gcra(tat, now, interval, tolerance int64, n int) ([]int64, int64) {
	base := max(tat, now)
	slots := make([]int64, n)
	for i := range slots {
		slots[i] = max(now, base+int64(i)*interval-tolerance)
	}
	return slots, base + int64(n)*interval
}

// clockQuery reads the database's clock in µs since the Unix epoch. SQLite
// reads the host's clock to the millisecond; its processes share one host.
func clockQuery(d store.Dialect) string {
	if d == store.DialectPostgres {
		return `SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`
	}
	return `SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER)`
}

// create makes the bucket's row once per process; every process tries, the
// first one's row stays.
func (l *Limiter) create(ctx context.Context) error {
	if l.created.Load() {
		return nil
	}
	if _, err := l.cfg.DB.Write().ExecContext(ctx, `INSERT INTO quota_buckets (name, tat_micros) VALUES ($1, 0)
		ON CONFLICT (name) DO NOTHING`, l.cfg.Name); err != nil {
		return fmt.Errorf("create quota %s: %w", l.cfg.Name, err)
	}
	l.created.Store(true)
	return nil
}
