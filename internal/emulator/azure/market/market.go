package market

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Record is one persisted entity: Body nil means deleted.
type Record struct {
	Kind string
	ID   string
	Body []byte
}

// Store persists entities; Apply writes a batch atomically.
type Store interface {
	LoadAll(ctx context.Context) ([]Record, error)
	Apply(ctx context.Context, records []Record) error
}

// Settings are the knobs of Microsoft's behaviour. Zero values take
// Microsoft's documented values (or the emulator's reading of them).
type Settings struct {
	TokenTTL        time.Duration `json:"token_ttl"`        // purchase token lifetime (24h; the spec text says 1h, §1.2)
	OperationDelay  time.Duration `json:"operation_delay"`  // how long a seller's PATCH/DELETE stays InProgress (2s)
	AckWindow       time.Duration `json:"ack_window"`       // wait for the seller's ACK of ChangePlan/ChangeQuantity before auto-Succeeded (10s)
	SuspensionGrace time.Duration `json:"suspension_grace"` // Suspended → Unsubscribed (30 days)
	MeteringWindow  time.Duration `json:"metering_window"`  // how old an effectiveStartTime may be (24h)
	PageSize        int           `json:"page_size"`        // subscriptions per list page (100)
	// ReinstateWithoutAck applies Reinstate at once (the current Learn
	// table's "not applicable"); by default it waits for an ACK like
	// ChangePlan (the 2021 lifecycle doc), §8.5.
	ReinstateWithoutAck bool `json:"reinstate_without_ack"`
	// LiveQuirks answers as Microsoft's emulator saw the live API answer
	// (§3.11) instead of as documented.
	LiveQuirks bool `json:"live_quirks"`
	// AllowMeteredTrials lets a plan have both a free trial and metering
	// dimensions, which the 2020-2021 docs forbid (§1.5).
	AllowMeteredTrials bool `json:"allow_metered_trials"`
	// ThrottleRate is requests per second per publisher; zero means no
	// throttling (Microsoft publishes no limit, §5.5).
	ThrottleRate  float64 `json:"throttle_rate"`
	ThrottleBurst int     `json:"throttle_burst"` // bucket size (ThrottleRate rounded up)
	// Webhook delivery: Microsoft retries 500 times over 8 hours; the
	// schedule is compressed here: RetryInitial doubling up to RetryMax.
	WebhookMaxAttempts  int           `json:"webhook_max_attempts"`  // 500
	WebhookRetryInitial time.Duration `json:"webhook_retry_initial"` // 1s
	WebhookRetryMax     time.Duration `json:"webhook_retry_max"`     // 1m
	// DuplicateWebhooks delivers every webhook twice, to test the seller's
	// de-duplication on the operation id.
	DuplicateWebhooks bool `json:"duplicate_webhooks"`
}

func (s *Settings) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&s.TokenTTL, 24*time.Hour)
	def(&s.OperationDelay, 2*time.Second)
	def(&s.AckWindow, 10*time.Second)
	def(&s.SuspensionGrace, 30*24*time.Hour)
	def(&s.MeteringWindow, 24*time.Hour)
	def(&s.WebhookRetryInitial, time.Second)
	def(&s.WebhookRetryMax, time.Minute)
	if s.PageSize == 0 {
		s.PageSize = 100
	}
	if s.WebhookMaxAttempts == 0 {
		s.WebhookMaxAttempts = 500
	}
	if s.ThrottleRate > 0 && s.ThrottleBurst == 0 {
		s.ThrottleBurst = max(1, int(s.ThrottleRate+0.999))
	}
}

// Validate reports every invalid setting at once.
func (s Settings) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"token_ttl": s.TokenTTL, "operation_delay": s.OperationDelay,
		"ack_window": s.AckWindow, "suspension_grace": s.SuspensionGrace, "metering_window": s.MeteringWindow,
		"webhook_retry_initial": s.WebhookRetryInitial, "webhook_retry_max": s.WebhookRetryMax} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", name, d))
		}
	}
	if s.PageSize < 0 || s.WebhookMaxAttempts < 0 || s.ThrottleBurst < 0 || s.ThrottleRate < 0 {
		errs = append(errs, errors.New("page_size, webhook_max_attempts, throttle_rate and throttle_burst must not be negative"))
	}
	if len(errs) > 0 {
		return &Error{Kind: KindInvalid, Code: CodeBadArgument, Message: errors.Join(errs...).Error()}
	}
	return nil
}

// Config is what Open needs.
type Config struct {
	Settings Settings
	Store    Store            // nil keeps everything in memory
	Now      func() time.Time // real time; the emulator clock adds its offset (time.Now when nil)
	Rand     io.Reader        // ids and tokens (crypto/rand when nil)
	Logger   *slog.Logger
}

// Market is the emulated Microsoft side. All methods are safe for concurrent use.
type Market struct {
	store Store
	real  func() time.Time
	rand  io.Reader
	log   *slog.Logger
	wake  chan struct{}

	mu            sync.Mutex
	cfg           Settings
	offset        time.Duration
	seq           int64
	publishers    map[string]*Publisher
	offers        map[string]*Offer
	subscriptions map[string]*Subscription
	tokens        map[string]*Token
	operations    map[string]*Operation
	pending       map[string]*Operation // InProgress operations (settled ones are dropped lazily)
	usage         map[string]*UsageEvent
	dedup         map[string]*UsageEvent // resource|dimension|hour
	charges       map[string]*Charge
	deliveries    map[string]*Delivery
	// outbox is the deliveries still pending, which the sender scans twice
	// a second: deliveries are kept for the control API, never deleted.
	outbox   map[string]*Delivery
	faults   map[string]*Fault
	limiters map[string]*rate.Limiter
	// nextDue is the earliest time a subscription's term ends, a suspension's
	// grace runs out or a token expires; tick scans them only from then on,
	// so that an idle second costs nothing at any number of subscriptions.
	nextDue  time.Time
	dueKnown bool
}

// Open loads the persisted state, or starts empty.
func Open(ctx context.Context, cfg Config) (*Market, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("open azure market: %w", err)
	}
	cfg.Settings.defaults()
	m := &Market{store: cfg.Store, real: cfg.Now, rand: cfg.Rand, log: cfg.Logger, cfg: cfg.Settings,
		wake: make(chan struct{}, 1)}
	if m.real == nil {
		m.real = time.Now
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.clear()
	if m.store != nil {
		recs, err := m.store.LoadAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("open azure market: %w", err)
		}
		if err := m.load(recs); err != nil {
			return nil, fmt.Errorf("open azure market: %w", err)
		}
	}
	return m, nil
}

func (m *Market) clear() {
	m.offset = 0
	m.seq = 0
	m.publishers = map[string]*Publisher{}
	m.offers = map[string]*Offer{}
	m.subscriptions = map[string]*Subscription{}
	m.tokens = map[string]*Token{}
	m.operations = map[string]*Operation{}
	m.pending = map[string]*Operation{}
	m.dueKnown = false
	m.usage = map[string]*UsageEvent{}
	m.dedup = map[string]*UsageEvent{}
	m.charges = map[string]*Charge{}
	m.deliveries = map[string]*Delivery{}
	m.outbox = map[string]*Delivery{}
	m.faults = map[string]*Fault{}
	m.limiters = map[string]*rate.Limiter{}
}

// Settings returns the effective settings.
func (m *Market) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// SetSettings replaces the settings (zero fields take the defaults). They
// are not persisted: a restart takes the configured ones again.
func (m *Market) SetSettings(s Settings) (Settings, error) {
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	s.defaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = s
	m.limiters = map[string]*rate.Limiter{}
	m.dueKnown = false // the grace may have changed
	return s, nil
}

// Wake is signalled when a webhook becomes due, so the sender need not poll fast.
func (m *Market) Wake() <-chan struct{} { return m.wake }

func (m *Market) signalWake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Now is the emulator's clock: real time plus the offset the control API added.
func (m *Market) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now()
}

func (m *Market) now() time.Time { return m.real().Add(m.offset).UTC() }

func (m *Market) nextSeq() int64 {
	m.seq++
	return m.seq
}

// txn collects the entities an operation changed so they are written together.
type txn struct {
	changes []Record
	err     error
}

func (t *txn) put(kind, id string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.err = errors.Join(t.err, fmt.Errorf("encode %s %s: %w", kind, id, err))
		return
	}
	t.changes = append(t.changes, Record{Kind: kind, ID: id, Body: b})
}

func (t *txn) del(kind, id string) { t.changes = append(t.changes, Record{Kind: kind, ID: id}) }

// update runs fn under the lock and writes what it changed. fn validates
// before it mutates: an error from fn means nothing changed.
func (m *Market) update(ctx context.Context, fn func(tx *txn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(ctx, fn)
}

func (m *Market) updateLocked(ctx context.Context, fn func(tx *txn) error) error {
	tx := &txn{}
	if err := fn(tx); err != nil {
		return err
	}
	if tx.err != nil {
		return tx.err
	}
	if len(tx.changes) == 0 || m.store == nil {
		return nil
	}
	if err := m.store.Apply(ctx, tx.changes); err != nil {
		// Memory is now ahead of disk; the next write of the same entities
		// catches up. Good enough for an emulator, and said loudly.
		m.log.Error("persist azure emulator state", "err", err)
		return fmt.Errorf("persist: %w", err)
	}
	return nil
}

// Entity kinds in the store.
const (
	kindPublisher    = "publisher"
	kindOffer        = "offer"
	kindSubscription = "subscription"
	kindToken        = "token"
	kindOperation    = "operation"
	kindUsage        = "usage"
	kindCharge       = "charge"
	kindDelivery     = "delivery"
	kindFault        = "fault"
	kindClock        = "clock"
)

type clockState struct {
	OffsetNanos int64 `json:"offset_nanos"`
}

func (m *Market) load(recs []Record) error {
	for _, r := range recs {
		var err error
		switch r.Kind {
		case kindPublisher:
			err = loadInto(r, m.publishers, func(v *Publisher) string { return v.ID })
		case kindOffer:
			err = loadInto(r, m.offers, func(v *Offer) string { return v.ID })
		case kindSubscription:
			err = loadInto(r, m.subscriptions, func(v *Subscription) string { return v.ID })
		case kindToken:
			err = loadInto(r, m.tokens, func(v *Token) string { return v.Token })
		case kindOperation:
			err = loadInto(r, m.operations, func(v *Operation) string { return v.ID })
		case kindUsage:
			err = loadInto(r, m.usage, func(v *UsageEvent) string { return v.ID })
		case kindCharge:
			err = loadInto(r, m.charges, func(v *Charge) string { return v.ID })
		case kindDelivery:
			err = loadInto(r, m.deliveries, func(v *Delivery) string { return v.ID })
		case kindFault:
			err = loadInto(r, m.faults, func(v *Fault) string { return v.ID })
		case kindClock:
			var c clockState
			err = json.Unmarshal(r.Body, &c)
			m.offset = time.Duration(c.OffsetNanos)
		default:
			m.log.Warn("unknown entity kind in azure emulator store", "kind", r.Kind, "id", r.ID)
		}
		if err != nil {
			return fmt.Errorf("decode %s %s: %w", r.Kind, r.ID, err)
		}
	}
	for _, u := range m.usage {
		m.dedup[dedupKey(u.ResourceID, u.Dimension, u.Hour)] = u
	}
	for _, s := range m.subscriptions {
		m.seq = max(m.seq, s.Seq)
	}
	for _, o := range m.operations {
		m.seq = max(m.seq, o.Seq)
		if o.Status == OpInProgress {
			m.pending[o.ID] = o
		}
	}
	for _, d := range m.deliveries {
		m.seq = max(m.seq, d.Seq)
		if d.Status == DeliveryPending {
			m.outbox[d.ID] = d
		}
	}
	return nil
}

func loadInto[T any](r Record, into map[string]*T, key func(*T) string) error {
	v := new(T)
	if err := json.Unmarshal(r.Body, v); err != nil {
		return err
	}
	into[key(v)] = v
	return nil
}

// Reset wipes all state, for test runs that share one emulator.
func (m *Market) Reset(ctx context.Context) error {
	return m.update(ctx, func(tx *txn) error {
		for _, k := range []struct {
			kind string
			ids  []string
		}{
			{kindPublisher, keys(m.publishers)}, {kindOffer, keys(m.offers)}, {kindSubscription, keys(m.subscriptions)},
			{kindToken, keys(m.tokens)}, {kindOperation, keys(m.operations)}, {kindUsage, keys(m.usage)},
			{kindCharge, keys(m.charges)}, {kindDelivery, keys(m.deliveries)}, {kindFault, keys(m.faults)},
			{kindClock, []string{"clock"}},
		} {
			for _, id := range k.ids {
				tx.del(k.kind, id)
			}
		}
		m.clear()
		return nil
	})
}

func keys[T any](mm map[string]*T) []string {
	out := make([]string, 0, len(mm))
	for k := range mm {
		out = append(out, k)
	}
	return out
}

// uuid returns a version-4 UUID: the shape of every Microsoft id.
func (m *Market) uuid() string {
	b := make([]byte, 16)
	if _, err := io.ReadFull(m.rand, b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err)) // crypto/rand does not fail
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// NewRequestID is an x-ms-requestid for a request that came without one.
// It takes the lock because a configured Rand need not be safe for
// concurrent use.
func (m *Market) NewRequestID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uuid()
}

// newToken is an opaque purchase token. Standard base64 on purpose: its '+'
// and '/' test that the seller URL-decodes the landing parameter once (§1.2).
func (m *Market) newToken() string {
	b := make([]byte, 36)
	if _, err := io.ReadFull(m.rand, b); err != nil {
		panic(fmt.Sprintf("emulator randomness failed: %v", err))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// AdvanceClock moves the emulator's clock forward and applies what became
// due (renewals, the end of suspensions, operations).
func (m *Market) AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, invalidf("duration", "the clock only moves forward; got %s", d)
	}
	var now time.Time
	err := m.update(ctx, func(tx *txn) error {
		m.offset += d
		tx.put(kindClock, "clock", clockState{OffsetNanos: int64(m.offset)})
		now = m.now()
		m.tick(tx)
		return nil
	})
	m.signalWake()
	return now, err
}

// ClockOffset is how far the emulator's clock is ahead of real time.
func (m *Market) ClockOffset() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offset
}

// Tick applies what the clock made due; the house calls it every second.
func (m *Market) Tick(ctx context.Context) error {
	err := m.update(ctx, func(tx *txn) error {
		m.tick(tx)
		return nil
	})
	m.signalWake()
	return err
}
