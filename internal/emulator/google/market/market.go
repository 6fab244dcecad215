// Package market keeps the state of Google Cloud Marketplace in the
// emulator (#16): one provider's products and plans, procurement accounts,
// entitlements with the state machine of the contract's §2.5, and the outbox
// of §3.2 events the pubsub package delivers. The HTTP faces (procurement,
// control, buyer pages, service control) are thin layers over it.
package market

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	azuremarket "github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// Record is one persisted entity (Body nil = deleted). It is the Microsoft
// house's record so that its SQLite store serves this house as is.
type Record = azuremarket.Record

// Store persists records; Apply writes a batch atomically.
type Store = azuremarket.Store

// Duration is a time.Duration written in JSON as Go's "2s" form.
type Duration time.Duration

// MarshalJSON writes "1h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "2s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"2s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Settings are the knobs of Google's behaviour. Zero values are the
// contract's reading (§2.5, §6.2).
type Settings struct {
	// ActivationDelay between approval and ENTITLEMENT_ACTIVE (default 2s;
	// negative = at once).
	ActivationDelay Duration `json:"activation_delay"`
	// AllowUnapprovedAccount lets entitlements.approve through while the
	// account's signup approval is not APPROVED (default: 400).
	AllowUnapprovedAccount bool `json:"allow_unapproved_account"`
	// StrictReapproval answers 400 FAILED_PRECONDITION to approving an
	// entitlement already approved (default: 200, idempotent).
	StrictReapproval bool `json:"strict_reapproval"`
	// UsageIDDelay delays the usageReportingId after activation (default 0).
	UsageIDDelay Duration `json:"usage_id_delay"`
	// DeleteAfter is how long a cancelled entitlement stays before it is
	// deleted (default 24h).
	DeleteAfter Duration `json:"delete_after"`
	// BillingCycle is the length of a billing cycle, when end-of-cycle plan
	// changes happen (default 720h, 30 days).
	BillingCycle Duration `json:"billing_cycle"`
	// Term is the length of an offer term, offerEndTime (default 8760h).
	Term Duration `json:"term"`
}

func (s Settings) withDefaults() Settings {
	if s.ActivationDelay == 0 {
		s.ActivationDelay = Duration(2 * time.Second)
	}
	if s.ActivationDelay < 0 {
		s.ActivationDelay = 0
	}
	if s.DeleteAfter <= 0 {
		s.DeleteAfter = Duration(24 * time.Hour)
	}
	if s.BillingCycle <= 0 {
		s.BillingCycle = Duration(720 * time.Hour)
	}
	if s.Term <= 0 {
		s.Term = Duration(8760 * time.Hour)
	}
	if s.UsageIDDelay < 0 {
		s.UsageIDDelay = 0
	}
	return s
}

// Config configures a Market.
type Config struct {
	ProviderID string
	Store      Store            // nil = memory only
	Now        func() time.Time // real clock (default time.Now)
	Random     func(b []byte)   // randomness for ids (default crypto/rand)
}

// Market is the state of one provider's marketplace; safe for concurrent use.
type Market struct {
	provider string
	store    Store
	real     func() time.Time
	random   func([]byte)

	mu       sync.Mutex
	offset   time.Duration
	settings Settings
	seq      int64
	products map[string]*Product
	accounts map[string]*Account
	ents     map[string]*Entitlement
	outbox   map[string]*Delivery // by event id
	frontend Frontend
}

// Kinds of persisted records.
const (
	kindMeta        = "meta"
	kindProduct     = "product"
	kindAccount     = "account"
	kindEntitlement = "entitlement"
	kindEvent       = "event"
)

type meta struct {
	Offset   time.Duration `json:"offset"`
	Seq      int64         `json:"seq"`
	Settings Settings      `json:"settings"`
	Frontend Frontend      `json:"frontend"`
}

// Open loads the state from the store (if any).
func Open(ctx context.Context, cfg Config) (*Market, error) {
	if cfg.ProviderID == "" {
		return nil, errors.New("google market: provider id is required")
	}
	m := &Market{provider: cfg.ProviderID, store: cfg.Store, real: cfg.Now, random: cfg.Random}
	if m.real == nil {
		m.real = time.Now
	}
	if m.random == nil {
		m.random = func(b []byte) { _, _ = rand.Read(b) }
	}
	m.clear()
	if m.store != nil {
		recs, err := m.store.LoadAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("google market: %w", err)
		}
		if err := m.load(recs); err != nil {
			return nil, fmt.Errorf("google market: %w", err)
		}
	}
	return m, nil
}

func (m *Market) clear() {
	m.offset, m.seq, m.settings, m.frontend = 0, 0, Settings{}, Frontend{}
	m.products = map[string]*Product{}
	m.accounts = map[string]*Account{}
	m.ents = map[string]*Entitlement{}
	m.outbox = map[string]*Delivery{}
}

func (m *Market) load(recs []Record) error {
	for _, r := range recs {
		var err error
		switch r.Kind {
		case kindMeta:
			var mt meta
			if err = json.Unmarshal(r.Body, &mt); err == nil {
				m.offset, m.seq, m.settings, m.frontend = mt.Offset, mt.Seq, mt.Settings, mt.Frontend
			}
		case kindProduct:
			err = loadInto(r, m.products)
		case kindAccount:
			err = loadInto(r, m.accounts)
		case kindEntitlement:
			err = loadInto(r, m.ents)
		case kindEvent:
			err = loadInto(r, m.outbox)
		}
		if err != nil {
			return fmt.Errorf("load %s %s: %w", r.Kind, r.ID, err)
		}
	}
	return nil
}

func loadInto[T any](r Record, into map[string]*T) error {
	v := new(T)
	if err := json.Unmarshal(r.Body, v); err != nil {
		return err
	}
	into[r.ID] = v
	return nil
}

// ProviderID is the provider's id.
func (m *Market) ProviderID() string { return m.provider }

// txn collects the records one change writes.
type txn struct{ changes []Record }

func (t *txn) put(kind, id string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("google market: marshal %s: %v", kind, err)) // our own types always marshal
	}
	t.changes = append(t.changes, Record{Kind: kind, ID: id, Body: b})
}

func (t *txn) del(kind, id string) { t.changes = append(t.changes, Record{Kind: kind, ID: id}) }

// update runs fn under the lock, then persists its changes. On a store
// error the in-memory state is reloaded from the store so that both agree.
func (m *Market) update(ctx context.Context, fn func(tx *txn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(ctx, fn)
}

func (m *Market) updateLocked(ctx context.Context, fn func(tx *txn) error) error {
	tx := &txn{}
	if err := fn(tx); err != nil {
		if len(tx.changes) > 0 {
			m.persist(ctx, tx) // a failed operation may still have done due work
		}
		return err
	}
	return m.persist(ctx, tx)
}

func (m *Market) persist(ctx context.Context, tx *txn) error {
	if m.store == nil || len(tx.changes) == 0 {
		return nil
	}
	tx.put(kindMeta, "meta", m.meta())
	if err := m.store.Apply(ctx, tx.changes); err != nil {
		recs, lerr := m.store.LoadAll(ctx)
		if lerr == nil {
			m.clear()
			_ = m.load(recs)
		}
		return fmt.Errorf("google market: save: %w", err)
	}
	return nil
}

// Now is the emulator's time: the real clock plus the offset.
func (m *Market) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now()
}

func (m *Market) now() time.Time { return m.real().Add(m.offset).UTC() }

// ClockOffset is how far the clock has been advanced.
func (m *Market) ClockOffset() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.offset
}

// AdvanceClock moves the clock forward by d and performs what fell due.
func (m *Market) AdvanceClock(ctx context.Context, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, Errorf(InvalidArgument, "the clock only moves forward (got %s)", d)
	}
	var now time.Time
	err := m.update(ctx, func(tx *txn) error {
		m.offset += d
		tx.put(kindMeta, "meta", m.meta())
		m.tick(tx)
		now = m.now()
		return nil
	})
	return now, err
}

// Settings returns the settings as set (zero = default).
func (m *Market) Settings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings
}

// EffectiveSettings returns the settings with defaults filled in.
func (m *Market) EffectiveSettings() Settings {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings.withDefaults()
}

// SetSettings replaces the settings.
func (m *Market) SetSettings(ctx context.Context, s Settings) error {
	return m.update(ctx, func(tx *txn) error {
		m.settings = s
		tx.put(kindMeta, "meta", m.meta())
		return nil
	})
}

// Reset forgets everything (catalog, accounts, entitlements, outbox, clock).
func (m *Market) Reset(ctx context.Context) error {
	return m.update(ctx, func(tx *txn) error {
		for _, kind := range []struct {
			k   string
			ids []string
		}{{kindProduct, keys(m.products)}, {kindAccount, keys(m.accounts)}, {kindEntitlement, keys(m.ents)}, {kindEvent, keys(m.outbox)}} {
			for _, id := range kind.ids {
				tx.del(kind.k, id)
			}
		}
		m.clear()
		tx.put(kindMeta, "meta", meta{})
		return nil
	})
}

func keys[T any](mm map[string]*T) []string {
	out := make([]string, 0, len(mm))
	for k := range mm {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Market) randUint64() uint64 {
	var b [8]byte
	m.random(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// newUUID is a random RFC 4122 version 4 id.
func (m *Market) newUUID() string {
	var b [16]byte
	m.random(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// newAccountID looks like Google's "E-XXXX-XXXX-XXXX-XXXX".
func (m *Market) newAccountID() string {
	const hexd = "0123456789ABCDEF"
	for {
		var b [16]byte
		m.random(b[:])
		id := []byte("E-XXXX-XXXX-XXXX-XXXX")
		j := 0
		for i := range id {
			if id[i] == 'X' {
				id[i] = hexd[b[j]&0x0f]
				j++
			}
		}
		if _, taken := m.accounts[string(id)]; !taken {
			return string(id)
		}
	}
}

func (m *Market) newProjectNumber() string {
	return fmt.Sprintf("%012d", 100000000000+m.randUint64()%900000000000)
}

func (m *Market) meta() meta {
	return meta{Offset: m.offset, Seq: m.seq, Settings: m.settings, Frontend: m.frontend}
}

// Frontend is the vendor's frontend integration.
func (m *Market) Frontend() Frontend {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.frontend
}

// SetFrontend replaces the vendor's frontend integration.
func (m *Market) SetFrontend(ctx context.Context, f Frontend) error {
	return m.update(ctx, func(tx *txn) error {
		m.frontend = f
		tx.put(kindMeta, "meta", m.meta())
		return nil
	})
}
