package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// Event is one message published to the provider's topic.
type Event struct {
	// ID identifies the event in the Source (the payload's eventId is a
	// good choice); the push messageId is derived from it, so it stays the
	// same across redeliveries and restarts.
	ID string
	// Data is the §3.2 JSON payload, sent base64-encoded as message.data.
	Data []byte
	// PublishTime is when the market published it; zero means when the
	// subscription first saw it.
	PublishTime time.Time
}

// Source is the market's side of the topic.
type Source interface {
	// Pending returns up to limit events the subscription is not done with,
	// oldest first.
	Pending(ctx context.Context, limit int) ([]Event, error)
	// Delivered tells the market the subscription is done with an event:
	// acked, dead-lettered or expired (the delivery log says which). It
	// must no longer be returned by Pending.
	Delivered(ctx context.Context, id string) error
}

// Signer mints the OIDC token of a push request (contract §3.4).
type Signer interface {
	PushToken(audience, email string) (string, error)
}

// SignerFunc adapts a function to Signer. googleid.Server's PushToken takes
// extra options, so its method value does not satisfy Signer directly:
//
//	pubsub.SignerFunc(func(aud, email string) (string, error) { return id.PushToken(aud, email) })
type SignerFunc func(audience, email string) (string, error)

// PushToken calls f.
func (f SignerFunc) PushToken(audience, email string) (string, error) { return f(audience, email) }

// Defaults for the zero values of Config. Google does not document the push
// retry policy numbers Marketplace subscriptions get (contract §3.4,
// UNCONFIRMED); these are Pub/Sub's documented defaults for a subscription
// with an exponential retry policy.
const (
	DefaultAckDeadline    = 10 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = 60 * time.Second
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultReorderHold    = 30 * time.Second
	DefaultMaxOutstanding = 1000
	DefaultPoll           = time.Second
)

// Config configures a push subscription. Zero values take the defaults.
type Config struct {
	// Endpoint is the seller's push endpoint URL; nothing else is ever
	// requested, and redirects are not followed.
	Endpoint string
	// Audience is the aud of the push token (default Endpoint).
	Audience string
	// ServiceAccount is the email of the push service account (the token's
	// email claim).
	ServiceAccount string
	// Subscription is "projects/<project>/subscriptions/<name>".
	Subscription string
	// Client sends the requests (http.DefaultClient's transport when nil).
	Client *http.Client
	// AckDeadline is the push request timeout (10 s).
	AckDeadline time.Duration
	// MinBackoff and MaxBackoff bound the wait before a redelivery: it
	// starts at MinBackoff and doubles per failed attempt (1 s to 60 s).
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is the dead-letter policy's maximum delivery attempts;
	// zero means no dead-letter policy (retry until retention ends, and no
	// deliveryAttempt in envelopes). Google accepts 5 to 100; any positive
	// value is allowed here so tests stay short.
	MaxAttempts int
	// Retention is how long an unacked message is kept (7 days); it is
	// also how long finished messages stay in the delivery log.
	Retention time.Duration
	// ReorderHold bounds how long the Reorder fault holds a message when no
	// later one arrives (30 s).
	ReorderHold time.Duration
	// MaxOutstanding is the limit passed to Source.Pending (1000): like
	// Pub/Sub's flow control, at most this many unfinished messages are
	// considered at once.
	MaxOutstanding int
	// Poll is how often Run asks the Source for new events when nobody
	// calls Notify (1 s).
	Poll time.Duration
	// Faults are the faults active from the start.
	Faults Faults
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var subscriptionName = regexp.MustCompile(`^projects/[^/]+/subscriptions/[^/]+$`)

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Endpoint); c.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("pubsub: push endpoint %q: want an absolute http(s) URL", c.Endpoint))
	}
	if _, err := mail.ParseAddress(c.ServiceAccount); err != nil || c.ServiceAccount == "" {
		errs = append(errs, fmt.Errorf("pubsub: push service account %q: want an email address", c.ServiceAccount))
	}
	if !subscriptionName.MatchString(c.Subscription) {
		errs = append(errs, fmt.Errorf("pubsub: subscription %q: want projects/<project>/subscriptions/<name>", c.Subscription))
	}
	if c.AckDeadline < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 || c.Retention < 0 || c.ReorderHold < 0 || c.Poll < 0 {
		errs = append(errs, errors.New("pubsub: durations must not be negative"))
	}
	if lo, hi := orDuration(c.MinBackoff, DefaultMinBackoff), orDuration(c.MaxBackoff, DefaultMaxBackoff); hi < lo {
		errs = append(errs, fmt.Errorf("pubsub: maximum backoff %s is below the minimum %s", hi, lo))
	}
	if c.MaxAttempts < 0 || c.MaxOutstanding < 0 {
		errs = append(errs, errors.New("pubsub: maximum attempts and maximum outstanding must not be negative"))
	}
	return errors.Join(errs...)
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Subscription is one push subscription on the provider's topic.
type Subscription struct {
	cfg    Config
	src    Source
	signer Signer
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}

	// step serializes delivery steps: one request at a time.
	step sync.Mutex

	mu      sync.Mutex
	faults  Faults
	entries map[string]*entry // by event id
	order   []*entry          // publish order (order of first sight)
	held    *entry            // the message the Reorder fault holds back
}

// New returns a push subscription fed by src, signing with signer.
func New(cfg Config, src Source, signer Signer, logger *slog.Logger) (*Subscription, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if src == nil {
		errs = append(errs, errors.New("pubsub: an event source is required"))
	}
	if signer == nil {
		errs = append(errs, errors.New("pubsub: a push token signer is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Endpoint
	}
	cfg.AckDeadline = orDuration(cfg.AckDeadline, DefaultAckDeadline)
	cfg.MinBackoff = orDuration(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = orDuration(cfg.MaxBackoff, DefaultMaxBackoff)
	cfg.Retention = orDuration(cfg.Retention, DefaultRetention)
	cfg.ReorderHold = orDuration(cfg.ReorderHold, DefaultReorderHold)
	cfg.Poll = orDuration(cfg.Poll, DefaultPoll)
	if cfg.MaxOutstanding == 0 {
		cfg.MaxOutstanding = DefaultMaxOutstanding
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// A copy of the client that does not follow redirects: Pub/Sub treats
	// a 3xx as a nack, and the emulator sends nothing to any other URL.
	client := &http.Client{}
	if cfg.Client != nil {
		*client = *cfg.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Subscription{
		cfg: cfg, src: src, signer: signer, client: client, now: cfg.Now, log: logger,
		wake: make(chan struct{}, 1), faults: cfg.Faults, entries: map[string]*entry{},
	}, nil
}

// Name is the subscription's resource name.
func (s *Subscription) Name() string { return s.cfg.Subscription }

// Notify wakes Run so that a newly published event goes out without
// waiting for the next poll. It never blocks.
func (s *Subscription) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
