// Package ratelimit limits attempts per key (a client address, an e-mail
// address, a pair of both) so that guessing passwords or flooding sign-ups
// is slow whichever key an attacker varies. A Limiter is a token bucket per
// key; a Backoff slows one key down more and more as failures pile up, which
// is how an account is protected from many clients at once without letting
// a few of them lock its owner out.
//
// Neither ever sleeps: a refused attempt is told how long to wait, so that a
// flood of attempts costs the server no goroutines. State lives in memory:
// each replica limits on its own, which bounds an attacker's rate by the
// number of replicas, an accepted trade for not writing to the database on
// every failed log-in. Idle keys are forgotten, and the number of keys is
// capped, so that memory stays bounded however many keys an attacker makes
// up.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the keys a Limiter or Backoff remembers when its
// config leaves it zero: about 100 bytes each.
const DefaultMaxKeys = 200_000

// Limiter hands out one token bucket per key.
type Limiter struct {
	every   time.Duration
	burst   float64
	now     func() time.Time
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// New allows burst attempts per key at once, refilled one per every.
func New(burst int, every time.Duration, now func() time.Time) *Limiter {
	return &Limiter{every: every, burst: float64(burst), now: now, maxKeys: DefaultMaxKeys, buckets: map[string]*bucket{}}
}

// Allow takes one attempt for key and says whether it is within the limit.
func (l *Limiter) Allow(key string) bool {
	ok, _ := l.Take(key)
	return ok
}

// Take takes one attempt for key. When none is left it takes nothing and
// says how long until one is.
func (l *Limiter) Take(key string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b := l.refill(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.every))
}

// Refund gives back an attempt taken for key, one that turned out not to
// count against it (a log-in with the right password).
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
}

// refill returns key's bucket, brought up to now.
func (l *Limiter) refill(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		evictOne(l.buckets, l.maxKeys)
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
	return b
}

// sweep forgets keys whose bucket has refilled, so memory stays bounded by
// the keys active in the last refill period.
func (l *Limiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	if now.Sub(l.swept) < full {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.at) > full {
			delete(l.buckets, k)
		}
	}
	l.swept = now
}

// evictOne makes room for one more key when m is full, by forgetting an
// arbitrary one (Go's map order is random, so an attacker cannot choose
// which). Forgetting a key only ever lets its holder try sooner; the cap is
// reached only by a flood of made-up keys, far beyond what the other limits
// let through.
func evictOne[V any](m map[string]V, maxKeys int) {
	if len(m) < maxKeys {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

// BackoffConfig sets how a Backoff slows a key down.
type BackoffConfig struct {
	// Free is how many failures a key may pile up before it is slowed.
	Free int
	// Base is the wait after the first failure beyond Free; each further
	// one doubles it, up to Max.
	Base, Max time.Duration
	// Leak is how often one failure is forgotten: the rate the key can
	// keep up for ever, however many clients try it.
	Leak time.Duration
	// MaxKeys bounds the keys remembered; zero means DefaultMaxKeys.
	MaxKeys int
}

// Backoff slows the attempts at one key, from all clients together, once
// its failures pile up: past Free, every attempt makes the next one wait,
// twice as long each time up to Max. It never locks a key out: an attempt
// is always possible again after at most Max. Failures are forgotten at one
// per Leak.
type Backoff struct {
	cfg BackoffConfig
	now func() time.Time

	mu    sync.Mutex
	keys  map[string]*backoffState
	swept time.Time
}

type backoffState struct {
	level float64   // failures remembered, in-flight attempts included
	at    time.Time // when level was last brought up to date
	next  time.Time // no attempt before this
}

// NewBackoff returns a Backoff.
func NewBackoff(cfg BackoffConfig, now func() time.Time) *Backoff {
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Backoff{cfg: cfg, now: now, keys: map[string]*backoffState{}}
}

// Reserve takes an attempt at key, counted as a failure until Release says
// it was not one: counting it at once means that attempts made at the same
// moment cannot all slip in before the first has failed. While key is
// slowed down it takes nothing and says how long to wait.
func (b *Backoff) Reserve(key string) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweep(now)
	st := b.state(key, now)
	if now.Before(st.next) {
		return false, st.next.Sub(now)
	}
	st.level++
	if over := st.level - float64(b.cfg.Free); over > 0 {
		st.next = now.Add(b.delay(over))
	}
	return true, 0
}

// Release takes back an attempt reserved at key that did not fail.
func (b *Backoff) Release(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.keys[key]; ok {
		st.level = math.Max(0, st.level-1)
	}
}

// delay is the wait after the over-th failure beyond Free: Base, doubling,
// at most Max.
func (b *Backoff) delay(over float64) time.Duration {
	exp := math.Ceil(over) - 1
	d := float64(b.cfg.Base) * math.Pow(2, math.Min(exp, 62))
	if d > float64(b.cfg.Max) {
		return b.cfg.Max
	}
	return time.Duration(d)
}

// state returns key's state, its failures leaked up to now.
func (b *Backoff) state(key string, now time.Time) *backoffState {
	st, ok := b.keys[key]
	if !ok {
		evictOne(b.keys, b.cfg.MaxKeys)
		st = &backoffState{at: now}
		b.keys[key] = st
		return st
	}
	if elapsed := now.Sub(st.at); elapsed > 0 {
		st.level = math.Max(0, st.level-float64(elapsed)/float64(b.cfg.Leak))
		st.at = now
	}
	return st
}

// sweep forgets keys that have leaked every failure and wait for nothing.
func (b *Backoff) sweep(now time.Time) {
	if now.Sub(b.swept) < b.cfg.Leak {
		return
	}
	for k, st := range b.keys {
		idle := float64(now.Sub(st.at)) / float64(b.cfg.Leak)
		if idle >= st.level && !now.Before(st.next) {
			delete(b.keys, k)
		}
	}
	b.swept = now
}
