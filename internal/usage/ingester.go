package usage

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/store"
)

// Meter is a meter of the catalog, as ingest needs it.
type Meter struct {
	Name string
	// PriceMicros is the price of one unit in micro-dollars, for the bound
	// on an hour's money (MaxHourMicros); zero for a meter not billed.
	PriceMicros int64
}

// Meters says which meters exist; the catalog provides it.
type Meters interface {
	Meter(name string) (Meter, bool)
}

// Config holds an Ingester's dependencies and limits.
type Config struct {
	DB     *store.DB
	Meters Meters
	Logger *slog.Logger
	Now    func() time.Time
	// MaxAge is how far in the past an event's time may be. Older events
	// are rejected, and it is also how long deduplication keys must be
	// kept: an event is deduplicated against every event accepted before
	// it. Zero means 7 days.
	MaxAge time.Duration
	// MaxFuture is how far ahead of the server's clock an event's time may
	// be, for clock skew. Zero means 5 minutes.
	MaxFuture time.Duration
	// MaxCommit is the most events the writer puts in one transaction;
	// zero means 50,000. Bigger transactions amortize the commit, smaller
	// ones shorten the time each request waits.
	MaxCommit int
	// Queue is how many requests may wait for the writer; zero means 256.
	// A request that finds the queue full waits for room or its deadline.
	Queue int
	// Writers is, on PostgreSQL, how many rounds may be written at once,
	// each in its own transaction on its own connection; zero means 2, or
	// 1 when the database pool has fewer than 4 connections
	// (pool_max_conns), so that writers hold at most half of them. The
	// rows of one round go in while another takes its turn on the hours'
	// totals and commits, so the database's work is spread over two of its
	// processes. A round starts beside another only once it is big
	// (bigRound): small rounds wait and grow instead. SQLite has one
	// writer.
	Writers int
	// RunKeys is, on SQLite, how many new deduplication keys wait in the
	// log (and in memory, about 40 bytes each) before they are written to a
	// run (see runIndex); zero means 2,097,152. A lookup asks every run, so
	// fewer, larger runs make lookups cheaper and the memory larger.
	RunKeys int
}

// Validate reports every missing dependency and bad limit at once.
func (c Config) Validate() error {
	var errs []error
	if c.DB == nil {
		errs = append(errs, errors.New("usage: DB is required"))
	}
	if c.Meters == nil {
		errs = append(errs, errors.New("usage: Meters is required"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("usage: Logger is required"))
	}
	if c.Now == nil {
		errs = append(errs, errors.New("usage: Now is required"))
	}
	if c.MaxAge < 0 || c.MaxAge > 366*24*time.Hour {
		errs = append(errs, errors.New("usage: MaxAge must be between 0 and 366 days"))
	}
	if c.MaxFuture < 0 || c.MaxFuture > 24*time.Hour {
		errs = append(errs, errors.New("usage: MaxFuture must be between 0 and 24 hours"))
	}
	if c.MaxCommit < 0 || c.Queue < 0 || c.RunKeys < 0 {
		errs = append(errs, errors.New("usage: MaxCommit, Queue and RunKeys must not be negative"))
	}
	if c.Writers < 0 || c.Writers > 64 {
		errs = append(errs, errors.New("usage: Writers must be between 0 and 64"))
	}
	return errors.Join(errs...)
}

// lingerFor is how long a busy writer waits to fill a round.
const lingerFor = 5 * time.Millisecond

// Ingester validates, deduplicates and stores usage events. Requests call
// Ingest concurrently; one writer, started by Run, commits them.
type Ingester struct {
	cfg    Config
	db     *store.DB
	logger *slog.Logger
	sql    dialectSQL
	// front is SQLite's deduplication index (nil on PostgreSQL), owned by
	// Run, as are stmts, the SQLite writer's statements.
	stmts         stmtCache
	front         *runIndex
	compactFailed time.Time
	// careful is how many more rounds PostgreSQL's writers claim keys
	// before they write (carefulRounds), shared by them.
	careful atomic.Int32
	known   knownTotals   // PostgreSQL's, for writeKnownRound
	now     chan struct{} // closed: a select case that is ready at once
	queue   chan *submission
	stopped chan struct{} // closed when Run returns: no writer any more
}

// New returns an Ingester; call Run to start its writer.
func New(cfg Config) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.MaxFuture == 0 {
		cfg.MaxFuture = 5 * time.Minute
	}
	if cfg.MaxCommit == 0 {
		cfg.MaxCommit = 50_000
	}
	if cfg.Queue == 0 {
		cfg.Queue = 256
	}
	if cfg.RunKeys == 0 {
		cfg.RunKeys = defaultRunKeys
	}
	if cfg.Writers == 0 {
		cfg.Writers = 2
		if pool := cfg.DB.Postgres(); pool != nil {
			// Each writer holds a connection of the pool while it
			// commits; the careful way, pruning and every other request
			// of the application need the rest.
			cfg.Writers = min(cfg.Writers, max(1, int(pool.Config().MaxConns)/2))
		}
	}
	stmts := stmtCache{}
	in := &Ingester{cfg: cfg, db: cfg.DB, logger: cfg.Logger, sql: sqlFor(cfg.DB.Dialect(), stmts), stmts: stmts,
		queue: make(chan *submission, cfg.Queue), stopped: make(chan struct{}), now: make(chan struct{})}
	close(in.now)
	if cfg.DB.Dialect() == store.DialectSQLite {
		in.front = newRunIndex(cfg.RunKeys, cfg.Logger, stmts)
	}
	return in, nil
}

// Result is the outcome of one request: how many events were stored, how
// many had been stored before (or earlier in the same request), and which
// were rejected and why.
type Result struct {
	Accepted   int
	Duplicates int
	Rejected   []Rejection
}

// Rejection is one event that was not stored.
type Rejection struct {
	Index   int    // position in the request, from 0
	ID      string // the event's id, as sent (may be empty)
	Message string // every problem, "attribute: problem", joined by "; "
	Kind    RejectionKind
}

// RejectionKind says why an event was not stored.
type RejectionKind int

const (
	// RejectionInvalid: the event itself is malformed or out of its limits.
	RejectionInvalid RejectionKind = iota
	// RejectionOverBound: a valid event that would take a stored total past
	// a bound (MaxHourQuantity, MaxHourMicros). Sending it again will not
	// help: the hour's totals only grow.
	RejectionOverBound
)

// ErrBatchTooLarge answers a request of more than MaxBatch events.
var ErrBatchTooLarge = fault.New(fault.KindInvalid, "A batch holds at most %d events: split it.", MaxBatch)

// ErrStopped answers requests that arrive while the service shuts down.
var ErrStopped = fault.New(fault.KindUnavailable, "Usage ingestion is stopping; send the events again shortly.")

// Ingest stores the valid events of inputs for the organization orgID and
// returns once they are committed: an event counted as accepted or as a
// duplicate survives any crash that follows. Events always belong to
// orgID, the organization of the caller's API key.
func (in *Ingester) Ingest(ctx context.Context, orgID int64, inputs []Input) (Result, error) {
	if len(inputs) > MaxBatch {
		return Result{}, ErrBatchTooLarge
	}
	c := checker{meters: in.cfg.Meters, now: in.cfg.Now(), maxAge: in.cfg.MaxAge, maxFuture: in.cfg.MaxFuture}
	var res Result
	sub := &submission{ctx: ctx, done: make(chan error, 1)}
	if len(inputs) == 1 {
		checkOne(&c, orgID, &inputs[0], sub, &res)
	} else {
		checkBatch(&c, orgID, inputs, sub, &res)
	}
	if len(sub.items) == 0 {
		return res, nil
	}
	if err := in.submit(ctx, sub); err != nil {
		return Result{}, err
	}
	over := false
	for i := range sub.items {
		it := &sub.items[i]
		switch {
		case it.refused != "":
			res.Rejected = append(res.Rejected, Rejection{Index: it.index, ID: it.id, Message: it.refused, Kind: RejectionOverBound})
			over = true
		case it.dup:
			res.Duplicates++
		default:
			res.Accepted++
		}
	}
	if over {
		slices.SortFunc(res.Rejected, func(a, b Rejection) int { return cmp.Compare(a.Index, b.Index) })
	}
	return res, nil
}

// checkOne and checkBatch check a request's inputs into sub's items, or
// into res's rejections. They are apart, and kept out of Ingest, for the
// one-event request's stack: it runs on a fresh goroutine (the server's
// timeout handler) whose stack starts at the average size, and the
// batch's map of resends, on Ingest's frame, took the deepest call past
// it: a stack copy of 5 µs on every request (#14).
//
//go:noinline
func checkOne(c *checker, orgID int64, raw *Input, sub *submission, res *Result) {
	sub.items = make([]item, 1)
	it := &sub.items[0]
	if err := c.check(orgID, raw, &it.ev); err != nil {
		sub.items = sub.items[:0]
		res.Rejected = append(res.Rejected, Rejection{Index: 0, ID: idOf(raw), Message: joinLines(err)})
		return
	}
	it.key = keyOf(&it.ev)
	it.home, it.id = it.key, idOf(raw)
}

//go:noinline
func checkBatch(c *checker, orgID int64, inputs []Input, sub *submission, res *Result) {
	// seen finds resends within the request before they cost the writer
	// anything; the writer then only compares against other requests.
	seen := make(map[key]struct{}, len(inputs))
	for i := range inputs {
		raw := &inputs[i] // not copied: see check
		var ev Event
		if err := c.check(orgID, raw, &ev); err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, ID: idOf(raw), Message: joinLines(err)})
			continue
		}
		k := keyOf(&ev)
		if _, dup := seen[k]; dup {
			res.Duplicates++
			continue
		}
		seen[k] = struct{}{}
		sub.items = append(sub.items, item{ev: ev, key: k, home: k, index: i, id: idOf(raw)})
	}
}

// joinLines flattens errors.Join's lines into one line for JSON.
func joinLines(err error) string {
	var out string
	for i, line := range splitLines(err.Error()) {
		if i > 0 {
			out += "; "
		}
		out += line
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// submission is one request's events waiting for the writer.
type submission struct {
	ctx   context.Context
	items []item
	done  chan error // the writer's verdict, after commit or rollback
}

type item struct {
	ev    Event
	key   key    // the slot deduplication probes; moves on past collisions
	home  key    // where probing starts, again on every attempt
	index int    // in the request
	id    string // as the rejection list shows it
	dup   bool   // set by the writer: stored before
	// refused is set by the writer when the event would take a total past
	// a bound (applyBounds): why, for the rejection list.
	refused string
}

// submit hands sub to the writer and waits for its commit.
func (in *Ingester) submit(ctx context.Context, sub *submission) error {
	select {
	case in.queue <- sub:
	case <-in.stopped:
		return ErrStopped
	case <-ctx.Done():
		return fault.Wrap(fault.KindUnavailable, ctx.Err(), "Usage ingestion is busy; send the events again.")
	}
	// Once queued, wait for the verdict even if the client gives up: the
	// writer may be committing these events right now, and returning early
	// would only hide whether it did.
	select {
	case err := <-sub.done:
		return err
	case <-in.stopped:
		select {
		case err := <-sub.done:
			return err
		default:
			return ErrStopped
		}
	}
}

// Run is the writer: it commits queued requests, as many as are waiting
// (up to MaxCommit events), in one transaction each round, until ctx ends;
// once an hour, it prunes expired keys (PruneKeys): between rounds on
// SQLite; on PostgreSQL beside Config.Writers writers, which commit rounds
// at once (gather). Call it once per Ingester.
// Requests already queued when ctx ends are refused with ErrStopped, not
// left waiting. Run returns nil when stopped by ctx.
func (in *Ingester) Run(ctx context.Context) error {
	defer func() {
		close(in.stopped)
		for {
			select {
			case sub := <-in.queue:
				sub.done <- ErrStopped
			default:
				return
			}
		}
	}()
	if in.front == nil {
		in.gather(ctx)
		return nil
	}
	if err := in.prepareStatements(ctx); err != nil && ctx.Err() == nil {
		// Not fatal: each round prepares what it lacks, only slower.
		in.logger.WarnContext(ctx, "prepare the usage writer's statements", "err", err)
	}
	defer in.stmts.close()
	in.write(ctx)
	return nil
}

// write is SQLite's writer: it gathers a round, commits it, and between
// rounds keeps its index (compaction) and prunes, until ctx ends.
func (in *Ingester) write(ctx context.Context) {
	var round []*submission
	var carry *submission // the submission that did not fit the last round
	lastRound := 0
	lastPrune := in.cfg.Now() // pruning waits an hour: a restart loop should not repeat it
	for {
		in.compactOnce(ctx)
		round = round[:0]
		n := 0
		if carry != nil {
			round, n, carry = append(round, carry), len(carry.items), nil
		} else {
			select {
			case sub := <-in.queue:
				round, n = append(round, sub), len(sub.items)
			case <-in.compactPending():
				continue // no request waits: move keys meanwhile
			case <-ctx.Done():
				return
			}
		}
		// Take whatever else waits. Under load, when the last round was
		// large, linger a little for more: a round's cost is mostly the
		// pages of usage_keys it dirties, which grows slower than its size.
		var linger <-chan time.Time
		if lastRound >= in.cfg.MaxCommit/50 {
			linger = time.After(lingerFor)
		}
	gather:
		for n < in.cfg.MaxCommit {
			select {
			case sub := <-in.queue:
				if n+len(sub.items) > in.cfg.MaxCommit {
					carry = sub
					break gather
				}
				round, n = append(round, sub), n+len(sub.items)
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case sub := <-in.queue:
				if n+len(sub.items) > in.cfg.MaxCommit {
					carry = sub
					break gather
				}
				round, n = append(round, sub), n+len(sub.items)
			case <-linger:
				break gather
			}
		}
		lastRound = n
		in.commitRound(ctx, round)
		if in.pruneDue(&lastPrune) {
			in.prune(ctx)
		}
		if ctx.Err() != nil {
			if carry != nil {
				carry.done <- ErrStopped
			}
			return
		}
	}
}

// bigRound is the size of round, in events, that PostgreSQL's gatherer
// hands to a second writer while another is still committing. A smaller
// round waits and grows: a round of single events costs mostly round trips
// and a commit, whatever its size, so two half rounds cost twice one whole.
const bigRound = 1000

// gather is PostgreSQL's writer: it gathers requests into a round while
// the writers (Config.Writers goroutines, each committing a round in its
// own transaction) are busy, and hands the round over as soon as one is
// free, if none is committing or the round is big (bigRound). So single
// events gather into rounds as large as one writer would make, and batches
// keep every writer busy: the rows of one round go in while another takes
// its turn on the hours' totals and commits. Once an hour it starts
// pruning expired keys (PruneKeys) beside the writers.
func (in *Ingester) gather(ctx context.Context) {
	rounds := make(chan []*submission)
	finished := make(chan struct{}, in.cfg.Writers) // a writer's round is done
	var wg sync.WaitGroup
	for range in.cfg.Writers {
		wg.Go(func() {
			for round := range rounds {
				in.commitRound(ctx, round)
				finished <- struct{}{}
			}
		})
	}
	var round []*submission
	var carry *submission // the submission that did not fit the round
	n, busy := 0, 0
	lastPrune := in.cfg.Now() // pruning waits an hour: a restart loop should not repeat it
	// Pruning runs beside the writers: deleting an hour of keys takes
	// seconds, and touches only hours that no event may name any more.
	pruning := make(chan struct{}, 1) // holds a token while a prune runs
	defer func() {
		close(rounds)
		wg.Wait()
		for _, sub := range append(round, carry) {
			if sub != nil {
				sub.done <- ErrStopped
			}
		}
	}()
	for ctx.Err() == nil {
		var queue <-chan *submission // nil, so never ready, while the round is full
		if carry == nil && n < in.cfg.MaxCommit {
			queue = in.queue
		}
		var handOff chan<- []*submission // nil while the round should wait and grow
		if len(round) > 0 && busy < in.cfg.Writers && (busy == 0 || n >= bigRound || queue == nil) {
			handOff = rounds
		}
		select {
		case sub := <-queue:
			if n > 0 && n+len(sub.items) > in.cfg.MaxCommit {
				carry = sub
				continue
			}
			round, n = append(round, sub), n+len(sub.items)
		case handOff <- round:
			busy++
			round, n = nil, 0
			if carry != nil {
				round, n, carry = []*submission{carry}, len(carry.items), nil
			}
			if in.pruneDue(&lastPrune) {
				select {
				case pruning <- struct{}{}:
					wg.Go(func() {
						defer func() { <-pruning }()
						in.prune(ctx)
					})
				default: // the last one still runs: the next is an hour away
				}
			}
		case <-finished:
			busy--
		case <-ctx.Done():
		}
	}
}

// commitRound commits round and tells its requests how it ended.
func (in *Ingester) commitRound(ctx context.Context, round []*submission) {
	if err := in.commit(ctx, round); err == nil || len(round) == 1 {
		in.reply(ctx, round, err)
		return
	}
	// One request may be what fails the round (say, a total that would
	// overflow); commit each alone, so that it fails alone.
	for _, sub := range round {
		in.reply(ctx, []*submission{sub}, in.commit(ctx, []*submission{sub}))
	}
}

// pruneDue says whether an hour has passed since *last, the last pruning,
// and if so moves *last to now.
func (in *Ingester) pruneDue(last *time.Time) bool {
	now := in.cfg.Now()
	if now.Sub(*last) < pruneEvery {
		return false
	}
	*last = now
	return true
}

// prune runs PruneKeys and logs what it did.
func (in *Ingester) prune(ctx context.Context) {
	if n, err := in.PruneKeys(ctx); err != nil {
		in.logger.WarnContext(ctx, "prune usage keys", "err", err)
	} else if n > 0 {
		in.logger.InfoContext(ctx, "pruned expired usage keys", "keys", n)
	}
}

// prepareStatements readies SQLite's statements for the chunk sizes a round
// uses, before the first round holds the writer's only connection.
func (in *Ingester) prepareStatements(ctx context.Context) error {
	var texts []string
	texts = append(texts, chunkTexts(insertEventsText, eventRows)...)
	texts = append(texts, chunkTexts(addHourlyText, hourRows)...)
	texts = append(texts, chunkTexts(addMeterHourlyText, meterRows)...)
	texts = append(texts, selectHourTotals)
	texts = append(texts, chunkTexts(insertBlocksText, blockRows)...)
	texts = append(texts, chunkTexts(lookupBlocksText, lookupRows)...)
	texts = append(texts, selectOwner)
	return in.stmts.prepare(ctx, in.db.Write(), texts...)
}

// reply tells the requests of a round how it ended.
func (in *Ingester) reply(ctx context.Context, round []*submission, err error) {
	if err != nil {
		n := 0
		for _, sub := range round {
			n += len(sub.items)
		}
		err = classify(err)
		level := slog.LevelError
		if fault.KindOf(err) == fault.KindUnavailable {
			level = slog.LevelWarn
		}
		in.logger.Log(ctx, level, "commit usage events", "requests", len(round), "events", n, "err", err)
	}
	for _, sub := range round {
		sub.done <- err
	}
}

// classify gives a failed commit the kind its caller needs (#11): a
// failure that passes (the database busy, a deadline, shutdown) asks for
// the events again; one that the same events would meet again (the
// database refusing a value) says so, and that sending them again will not
// help; anything else is ours to fix.
func classify(err error) error {
	var fe *fault.Error
	switch {
	case errors.As(err, &fe):
		return err
	case store.IsPermanent(err):
		return fault.Wrap(fault.KindInvalid, err, "The usage events cannot be stored: the database refuses a value or total they carry. "+
			"Sending them again will not help; ask the vendor to look at their logs.")
	case errors.Is(err, context.Canceled): // the writer stopping
		return fault.Wrap(fault.KindUnavailable, err, ErrStopped.Message)
	case store.IsTransient(err):
		return fault.Wrap(fault.KindUnavailable, err, "The usage events could not be stored just now; send them again.")
	}
	return fault.Wrap(fault.KindInternal, err, "The usage events could not be stored.")
}

// boundAttempts is how many times a round is tried while its events keep
// meeting bounds: the second try is without the refused events, and meets
// more only if another process filled an hour meanwhile (PostgreSQL).
const boundAttempts = 4

// commit stores one round in one transaction. Items are marked dup when
// their event was stored before, by this round or any earlier one, and
// refused when it would take a total past a bound; refused events store
// nothing, their deduplication keys included: the round is rolled back and
// tried again without them, since which events are new is only known once
// their keys are claimed.
func (in *Ingester) commit(ctx context.Context, round []*submission) error {
	for _, sub := range round {
		for i := range sub.items {
			sub.items[i].refused = ""
		}
	}
	for attempt := 1; ; attempt++ {
		refused, err := in.commitOnce(ctx, round)
		if err != nil || refused == 0 {
			return err
		}
		if attempt == boundAttempts {
			return fault.New(fault.KindUnavailable, "Usage hours near their bounds are busy; send the events again.")
		}
	}
}

// commitOnce tries the round's events not yet refused in one transaction,
// and rolls it back if it refuses more.
func (in *Ingester) commitOnce(ctx context.Context, round []*submission) (refused int, err error) {
	items := make([]*item, 0, 1024)
	for _, sub := range round {
		for i := range sub.items {
			it := &sub.items[i]
			if it.refused == "" {
				items = append(items, it)
			}
		}
	}
	if in.front != nil {
		return in.tryRound(ctx, items)
	}
	// PostgreSQL: a round is first tried as if every key were new, which
	// almost every key is; a key taken after all (a resend, or another
	// process's) fails that try, and the round and the next few are done
	// the careful way, which finds which keys are taken. So does any other
	// value the database refuses: the fast way writes the totals before it
	// checks the bounds, and a total past int64 (a legacy row, a round
	// whose sums wrap) fails the write where the careful way refuses the
	// events that cause it, one by one.
	fast := true
	for c := in.careful.Load(); c > 0 && fast; c = in.careful.Load() {
		fast = !in.careful.CompareAndSwap(c, c-1)
	}
	if !fast {
		return in.tryCareful(ctx, items)
	}
	refused, distinct, err := in.tryFast(ctx, items)
	switch {
	case !distinct:
		return in.tryCareful(ctx, items)
	case store.IsPermanent(err):
		in.careful.Store(carefulRounds)
		return in.tryCareful(ctx, items)
	}
	return refused, err
}

// tryCareful is PostgreSQL's careful way (tryRound), after which the
// totals of the round's hours are no longer known: the next small round
// of them reads them instead of guessing wrong.
func (in *Ingester) tryCareful(ctx context.Context, items []*item) (refused int, err error) {
	refused, err = in.tryRound(ctx, items)
	_, keys := roundHours(items)
	in.known.forget(keys, false)
	return refused, err
}

// tryFast is the fast way (PostgreSQL): writeRound, then the bounds on the
// totals it read. Once writeRound has stored every key, every event is new,
// so the bounds refuse exactly what the careful way would: the round is
// rolled back, and tried again without the refused events. distinct is
// false, and nothing is written, when two events of the round meet on a
// slot with different checks: probing past a collision is the careful
// way's.
func (in *Ingester) tryFast(ctx context.Context, items []*item) (refused int, distinct bool, err error) {
	for _, it := range items {
		it.dup, it.key = false, it.home
	}
	fresh, distinct := distinctKeys(items)
	if !distinct || len(fresh) == 0 {
		return 0, distinct, nil
	}
	now := store.Now(in.cfg.Now())
	hours, keys := roundHours(fresh)
	moved := false
	if len(fresh) < bigRound {
		// A round this small costs mostly its round trips: if the hours'
		// totals are known and every event fits them, one round trip.
		if known, ok := in.known.get(keys, hours); ok {
			if refused, adds := in.checkBounds(fresh, hours, known); refused == 0 {
				err := postgresSQL{}.writeKnownRound(ctx, in.db.Postgres(), fresh, hourlyTotals(fresh), adds, keys, hours, known, now)
				if err == nil {
					in.known.put(hours, now.Unix()/3600)
					return 0, true, nil
				}
				if !isTotalsMoved(err) {
					return 0, true, err
				}
				moved = true
			}
			// The totals moved, or may refuse events of the round, which
			// only the database's totals say: read them.
			in.known.forget(keys, moved)
			for _, it := range fresh {
				it.refused = ""
			}
			hours, keys = roundHours(fresh)
		}
	}
	err = postgresSQL{}.writeRound(ctx, in.db.Postgres(), fresh, hourlyTotals(fresh), meterAdds(fresh, hours), keys, hours,
		now, func(before []meterHour) bool {
			refused, _ = in.checkBounds(fresh, hours, before)
			return refused == 0
		})
	if err == nil && refused == 0 {
		in.known.put(hours, now.Unix()/3600)
	}
	return refused, true, err
}

// carefulRounds is how many rounds the PostgreSQL writer deduplicates the
// careful way after a round's key was found taken: a client resending a
// batch usually resends more than one.
const carefulRounds = 32

// tryRound stores items in one transaction, SQLite's way (its index, runs.go)
// or PostgreSQL's careful way (dedup): the keys first, then the bounds, then
// the events and totals.
func (in *Ingester) tryRound(ctx context.Context, items []*item) (refused int, err error) {
	for _, it := range items {
		it.dup, it.key = false, it.home
	}
	now := store.Now(in.cfg.Now())
	err = in.db.InTx(ctx, func(tx *sql.Tx) error {
		var fresh []*item
		var err error
		if in.front != nil {
			fresh, err = in.front.dedup(ctx, tx, items, in.cfg.Now())
		} else {
			fresh, err = in.dedup(ctx, tx, items)
		}
		if err != nil {
			return err
		}
		var adds []meterHour
		if refused, adds, err = in.applyBounds(ctx, tx, fresh); err != nil {
			return err
		}
		if refused > 0 {
			return errRefused
		}
		if err := in.sql.insertEvents(ctx, tx, fresh, now); err != nil {
			return fmt.Errorf("insert usage events: %w", err)
		}
		if err := in.sql.addHourly(ctx, tx, hourlyTotals(fresh), now); err != nil {
			return fmt.Errorf("add hourly usage: %w", err)
		}
		if err := in.sql.addMeterHourly(ctx, tx, adds); err != nil {
			return fmt.Errorf("add hourly usage per meter: %w", err)
		}
		return nil
	})
	if in.front != nil {
		if err != nil {
			in.front.rolledBack()
		} else {
			in.front.committed()
		}
	}
	if errors.Is(err, errRefused) {
		err = nil
	}
	return refused, err
}

// errRefused rolls back a transaction whose round had events refused.
var errRefused = errors.New("events refused by a bound")

// compactPending is ready when SQLite's index has work between rounds: keys
// of the log to write to a run, or keys of cold hours to move from the runs
// to usage_keys.
func (in *Ingester) compactPending() <-chan struct{} {
	if in.front != nil && in.front.ready && (in.front.compacting || in.front.flushDue()) && time.Since(in.compactFailed) > time.Minute {
		return in.now
	}
	return nil
}

// compactOnce takes one step of that work, writing runs first: the log's
// keys are what each restart would read back.
func (in *Ingester) compactOnce(ctx context.Context) {
	if in.compactPending() == nil {
		return
	}
	what := "move usage keys out of their runs"
	var done func()
	err := in.db.InTx(ctx, func(tx *sql.Tx) error {
		if in.front.flushDue() {
			what = "write a run of usage keys"
			var err error
			done, err = in.front.flushStep(ctx, tx, in.cfg.Now())
			return err
		}
		_, _, err := in.front.compact(ctx, tx)
		return err
	})
	if err == nil {
		in.front.committed()
		if done != nil {
			done()
		}
		return
	}
	in.front.rolledBack()
	if ctx.Err() == nil {
		// The step's view of the runs may not match the database any
		// more: read them again, and leave the work for a minute.
		in.front.ready = false
		in.compactFailed = time.Now()
		in.logger.WarnContext(ctx, what, "err", err)
	}
}
