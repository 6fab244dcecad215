package market

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/marketbridge/marketbridge/internal/emulator/sns"
)

// Record is one persisted entity: Body nil means deleted.
type Record struct {
	Kind string
	ID   string
	Body []byte
}

// Store persists entities. Apply writes a batch atomically.
type Store interface {
	LoadAll(ctx context.Context) ([]Record, error)
	Apply(ctx context.Context, records []Record) error
}

// Settings are the knobs of AWS's behaviour; zero values take AWS's defaults.
type Settings struct {
	Region              string        // region of topics and events (us-east-1)
	SellerAccountID     string        // seller of products created without one, owner of the default credential
	TopicAccountID      string        // AWS-owned account in topic ARNs
	PublicURL           string        // base URL the emulator is reached at, for SNS URLs
	TokenTTL            time.Duration // registration token lifetime (4h)
	FinalMeteringWindow time.Duration // metering accepted after cancel (1h)
	MeteringWindow      time.Duration // how far back a record's timestamp may be (6h)
	FutureTolerance     time.Duration // how far ahead a record's timestamp may be (0)
	ThrottleRate        float64       // requests per second per seller account and operation (10)
	ThrottleBurst       int           // bucket size (ThrottleRate rounded up)
	ThrottleOff         bool          // no throttling at all; a zero ThrottleRate means AWS's 10, not off
	DeprovisionAtCancel bool          // send License Deprovisioned at cancel instead of at the window's end
	DeliveryMaxAttempts int           // attempts before a delivery is given up (10)
	DeliveryBackoff     time.Duration // first retry delay, doubled each time (1s)
	DeliveryMaxBackoff  time.Duration // retry delay cap (5m)
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

func (s *Settings) defaults() {
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if s.SellerAccountID == "" {
		s.SellerAccountID = "111122223333"
	}
	if s.TopicAccountID == "" {
		s.TopicAccountID = "287250355862"
	}
	if s.TokenTTL == 0 {
		s.TokenTTL = 4 * time.Hour
	}
	if s.FinalMeteringWindow == 0 {
		s.FinalMeteringWindow = time.Hour
	}
	if s.MeteringWindow == 0 {
		s.MeteringWindow = 6 * time.Hour
	}
	if s.ThrottleRate == 0 {
		s.ThrottleRate = 10
	}
	if s.ThrottleBurst == 0 {
		s.ThrottleBurst = max(1, int(s.ThrottleRate+0.999))
	}
	if s.DeliveryMaxAttempts == 0 {
		s.DeliveryMaxAttempts = 10
	}
	if s.DeliveryBackoff == 0 {
		s.DeliveryBackoff = time.Second
	}
	if s.DeliveryMaxBackoff == 0 {
		s.DeliveryMaxBackoff = 5 * time.Minute
	}
}

// Validate reports every invalid setting at once.
func (s Settings) Validate() error {
	var errs []error
	if s.SellerAccountID != "" && !accountIDPattern.MatchString(s.SellerAccountID) {
		errs = append(errs, fmt.Errorf("seller account id %q: want 12 digits", s.SellerAccountID))
	}
	if s.PublicURL != "" {
		if u, err := url.Parse(s.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("public url %q: want an absolute http(s) URL", s.PublicURL))
		}
	}
	for name, d := range map[string]time.Duration{"token ttl": s.TokenTTL, "final metering window": s.FinalMeteringWindow,
		"metering window": s.MeteringWindow, "future tolerance": s.FutureTolerance, "delivery backoff": s.DeliveryBackoff,
		"delivery max backoff": s.DeliveryMaxBackoff} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", name, d))
		}
	}
	if s.ThrottleRate < 0 || s.ThrottleBurst < 0 || s.DeliveryMaxAttempts < 0 {
		errs = append(errs, errors.New("throttle rate, throttle burst and delivery attempts must not be negative"))
	}
	return errors.Join(errs...)
}

// Config is what Open needs.
type Config struct {
	Settings Settings
	Store    Store
	Now      func() time.Time // real time; the emulator clock adds its offset
	Rand     io.Reader        // randomness for ids and tokens (crypto/rand when nil)
	Logger   *slog.Logger
	// DefaultCredential is accepted by the AWS API for Settings.SellerAccountID.
	DefaultAccessKeyID, DefaultSecretAccessKey string
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("market config: store is required"))
	}
	if c.DefaultAccessKeyID == "" || c.DefaultSecretAccessKey == "" {
		errs = append(errs, errors.New("market config: default access key id and secret are required"))
	}
	if err := c.Settings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("market config: %w", err))
	}
	return errors.Join(errs...)
}

// Market is the emulated AWS side. All methods are safe for concurrent use.
type Market struct {
	cfg   Settings
	store Store
	real  func() time.Time
	rand  io.Reader
	log   *slog.Logger

	mu          sync.Mutex
	offset      time.Duration
	signer      *sns.Signer
	products    map[string]*Product
	accounts    map[string]*Account
	credentials map[string]*Credential
	offers      map[string]*Offer
	agreements  map[string]*Agreement
	byLicense   map[string]*Agreement // cache of agreementByLicense
	tokens      map[string]*Token
	records     map[string]*MeteringRecord
	dedup       map[string]*MeteringRecord
	charges     map[string]*Charge
	snsSubs     map[string]*SNSSubscription
	eventBridge *EventBridgeTarget
	deliveries  map[string]*Delivery
	faults      map[string]*Fault
	limiters    map[string]*rate.Limiter
	wake        chan struct{}
	defaultCred Credential
	deliverySeq int64
}

// Open loads the persisted state, or starts empty.
func Open(ctx context.Context, cfg Config) (*Market, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Settings.defaults()
	m := &Market{
		cfg: cfg.Settings, store: cfg.Store, real: cfg.Now, rand: cfg.Rand, log: cfg.Logger,
		wake: make(chan struct{}, 1),
	}
	if m.real == nil {
		m.real = time.Now
	}
	if m.rand == nil {
		m.rand = rand.Reader
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.defaultCred = Credential{AccessKeyID: cfg.DefaultAccessKeyID, SecretAccessKey: cfg.DefaultSecretAccessKey, AccountID: m.cfg.SellerAccountID}
	m.clear()
	recs, err := m.store.LoadAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("open market: %w", err)
	}
	if err := m.load(recs); err != nil {
		return nil, fmt.Errorf("open market: %w", err)
	}
	if err := m.loadSigner(ctx); err != nil {
		return nil, fmt.Errorf("open market: %w", err)
	}
	return m, nil
}

func (m *Market) clear() {
	m.offset = 0
	m.products = map[string]*Product{}
	m.accounts = map[string]*Account{}
	m.credentials = map[string]*Credential{}
	m.offers = map[string]*Offer{}
	m.agreements = map[string]*Agreement{}
	m.byLicense = map[string]*Agreement{}
	m.tokens = map[string]*Token{}
	m.records = map[string]*MeteringRecord{}
	m.dedup = map[string]*MeteringRecord{}
	m.charges = map[string]*Charge{}
	m.snsSubs = map[string]*SNSSubscription{}
	m.eventBridge = nil
	m.deliveries = map[string]*Delivery{}
	m.faults = map[string]*Fault{}
	m.limiters = map[string]*rate.Limiter{}
}

// Settings returns the effective settings.
func (m *Market) Settings() Settings { return m.cfg }

// Wake is signalled when a delivery becomes due, so the sender need not poll fast.
func (m *Market) Wake() <-chan struct{} { return m.wake }

func (m *Market) signalWake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Now is the emulator's clock.
func (m *Market) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now()
}

func (m *Market) now() time.Time { return m.real().Add(m.offset).UTC() }

// txn collects the entities an operation changed so they are written together.
type txn struct {
	m       *Market
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

// update runs fn under the lock and writes what it changed. fn must validate
// before it mutates: an error from fn means nothing changed.
func (m *Market) update(ctx context.Context, fn func(tx *txn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updateLocked(ctx, fn)
}

func (m *Market) updateLocked(ctx context.Context, fn func(tx *txn) error) error {
	tx := &txn{m: m}
	if err := fn(tx); err != nil {
		return err
	}
	if tx.err != nil {
		return tx.err
	}
	if len(tx.changes) == 0 {
		return nil
	}
	if err := m.store.Apply(ctx, tx.changes); err != nil {
		// Memory is now ahead of disk; the next write of the same entities
		// catches up. Good enough for an emulator, and said loudly.
		m.log.Error("persist emulator state", "err", err)
		return fmt.Errorf("persist: %w", err)
	}
	return nil
}

// Entity kinds in the store.
const (
	kindProduct     = "product"
	kindAccount     = "account"
	kindCredential  = "credential"
	kindOffer       = "offer"
	kindAgreement   = "agreement"
	kindToken       = "token"
	kindRecord      = "record"
	kindCharge      = "charge"
	kindSNSSub      = "sns_subscription"
	kindEventBridge = "eventbridge"
	kindDelivery    = "delivery"
	kindFault       = "fault"
	kindClock       = "clock"
	kindSigningKey  = "signing_key"
)

type clockState struct {
	OffsetNanos int64 `json:"offset_nanos"`
}

type signingKey struct {
	KeyPEM  []byte `json:"key_pem"`
	CertPEM []byte `json:"cert_pem"`
}

func (m *Market) load(recs []Record) error {
	for _, r := range recs {
		var err error
		switch r.Kind {
		case kindProduct:
			err = loadInto(r, m.products, func(v *Product) string { return v.Code })
		case kindAccount:
			err = loadInto(r, m.accounts, func(v *Account) string { return v.ID })
		case kindCredential:
			err = loadInto(r, m.credentials, func(v *Credential) string { return v.AccessKeyID })
		case kindOffer:
			err = loadInto(r, m.offers, func(v *Offer) string { return v.ID })
		case kindAgreement:
			err = loadInto(r, m.agreements, func(v *Agreement) string { return v.ID })
		case kindToken:
			err = loadInto(r, m.tokens, func(v *Token) string { return v.Token })
		case kindRecord:
			err = loadInto(r, m.records, func(v *MeteringRecord) string { return v.ID })
		case kindCharge:
			err = loadInto(r, m.charges, func(v *Charge) string { return v.ID })
		case kindSNSSub:
			err = loadInto(r, m.snsSubs, func(v *SNSSubscription) string { return v.ARN })
		case kindDelivery:
			err = loadInto(r, m.deliveries, func(v *Delivery) string { return v.ID })
		case kindFault:
			err = loadInto(r, m.faults, func(v *Fault) string { return v.ID })
		case kindEventBridge:
			var t EventBridgeTarget
			err = json.Unmarshal(r.Body, &t)
			m.eventBridge = &t
		case kindClock:
			var c clockState
			err = json.Unmarshal(r.Body, &c)
			m.offset = time.Duration(c.OffsetNanos)
		case kindSigningKey:
			// read by loadSigner
		default:
			m.log.Warn("unknown entity kind in emulator store", "kind", r.Kind, "id", r.ID)
		}
		if err != nil {
			return fmt.Errorf("decode %s %s: %w", r.Kind, r.ID, err)
		}
	}
	for _, rec := range m.records {
		m.dedup[dedupKey(rec.AgreementID, rec.Dimension, rec.Hour)] = rec
	}
	for _, d := range m.deliveries {
		m.deliverySeq = max(m.deliverySeq, d.Seq)
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

// loadSigner reads the SNS signing key, making one on first start.
func (m *Market) loadSigner(ctx context.Context) error {
	recs, err := m.store.LoadAll(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Kind == kindSigningKey {
			var k signingKey
			if err := json.Unmarshal(r.Body, &k); err != nil {
				return fmt.Errorf("decode signing key: %w", err)
			}
			m.signer, err = sns.NewSigner(k.KeyPEM, k.CertPEM)
			return err
		}
	}
	keyPEM, certPEM, err := sns.NewKeyPair(nil, m.real())
	if err != nil {
		return err
	}
	if m.signer, err = sns.NewSigner(keyPEM, certPEM); err != nil {
		return err
	}
	return m.update(ctx, func(tx *txn) error {
		tx.put(kindSigningKey, "sns", signingKey{KeyPEM: keyPEM, CertPEM: certPEM})
		return nil
	})
}

// SigningCertificatePEM is served at SigningCertURL.
func (m *Market) SigningCertificatePEM() []byte { return m.signer.CertificatePEM() }

// Reset wipes all state except the signing key, for CI runs that share one
// emulator between tests.
func (m *Market) Reset(ctx context.Context) error {
	return m.update(ctx, func(tx *txn) error {
		for _, kind := range []struct {
			kind string
			ids  []string
		}{
			{kindProduct, keys(m.products)}, {kindAccount, keys(m.accounts)}, {kindCredential, keys(m.credentials)},
			{kindOffer, keys(m.offers)}, {kindAgreement, keys(m.agreements)}, {kindToken, keys(m.tokens)},
			{kindRecord, keys(m.records)}, {kindCharge, keys(m.charges)}, {kindSNSSub, keys(m.snsSubs)},
			{kindDelivery, keys(m.deliveries)}, {kindFault, keys(m.faults)},
			{kindEventBridge, []string{"target"}}, {kindClock, []string{"clock"}},
		} {
			for _, id := range kind.ids {
				tx.del(kind.kind, id)
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
