package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/marketbridge/marketbridge/internal/store"
)

// fakeClock is the deliverer's time in tests: they advance it instead of
// sleeping. It starts at real time so that receivers' timestamp checks
// pass on the first attempts.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// lockedRand is a seeded, goroutine-safe source for the jitter.
func lockedRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() float64 { mu.Lock(); defer mu.Unlock(); return r.Float64() }
}

// record records an event for orgID in a transaction of its own, as the
// domain packages do in theirs.
func record(t testing.TB, db *store.DB, r *Recorder, orgID int64, typ Type, payload any) Event {
	t.Helper()
	ctx := context.Background()
	var e Event
	if err := db.InTx(ctx, func(tx *sql.Tx) (err error) {
		e, err = r.Record(ctx, tx, orgID, typ, payload)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// testClient is NewClient's, with a short timeout so that a receiver that
// hangs costs the test a fraction of a second. Tests reach loopback only.
func testClient() *http.Client {
	c := NewClient(true, nil)
	c.Timeout = 300 * time.Millisecond
	return c
}

type delivererOption func(*DelivererConfig)

func newDeliverer(t testing.TB, db *store.DB, clock *fakeClock, opts ...delivererOption) *Deliverer {
	t.Helper()
	cfg := DelivererConfig{DB: db, Client: testClient(), Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Rand: lockedRand(1)}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newEndpoints(t testing.TB, db *store.DB, clock *fakeClock) *Endpoints {
	t.Helper()
	s, err := NewEndpoints(EndpointsConfig{DB: db, Now: clock.Now, AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// received is one request as the receiver saw it.
type received struct {
	id, timestamp, signature, contentType string
	body                                  []byte
	// verified is the Standard Webhooks library's verdict with each of the
	// receiver's secrets, nil when it verified.
	verified []error
	status   int // what the receiver answered
}

// parsed is a received body.
type parsed struct {
	Type      Type   `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		Organization Organization `json:"organization"`
		Sequence     int64        `json:"sequence"`
		State        string       `json:"state"`
	} `json:"data"`
}

func (r received) parse(t testing.TB) parsed {
	t.Helper()
	var p parsed
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return p
}

// receiver is a vendor's endpoint on loopback that verifies every request
// with the official Standard Webhooks library, as a vendor would, and
// answers what behave says (200 when nil). checkTime, when set, is the
// deliverer's clock: the timestamp must be its time, and the library
// checks the signature without its own clock (tests move theirs by days);
// when nil the library checks the timestamp against real time too.
type receiver struct {
	t         testing.TB
	srv       *httptest.Server
	mu        sync.Mutex
	secrets   []string
	got       []received
	behave    func(n int, r *http.Request) int
	checkTime func() time.Time
}

func newReceiver(t testing.TB, secrets ...string) *receiver {
	rc := &receiver{t: t, secrets: secrets}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecrets(secrets ...string) { rc.mu.Lock(); rc.secrets = secrets; rc.mu.Unlock() }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	secrets, behave, checkTime, n := rc.secrets, rc.behave, rc.checkTime, len(rc.got)
	rc.mu.Unlock()
	got := received{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"),
		signature: r.Header.Get("webhook-signature"), contentType: r.Header.Get("Content-Type"), body: b, status: http.StatusOK}
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			rc.t.Errorf("receiver secret %q: %v", s, err)
			return
		}
		if checkTime != nil {
			err = wh.VerifyIgnoringTimestamp(b, r.Header)
			if err == nil && got.timestamp != strconv.FormatInt(checkTime().Unix(), 10) {
				err = errStaleTimestamp{got.timestamp, checkTime().Unix()}
			}
		} else {
			err = wh.Verify(b, r.Header)
		}
		got.verified = append(got.verified, err)
	}
	if behave != nil {
		got.status = behave(n, r)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, got)
	rc.mu.Unlock()
	if got.status < 0 {
		// Hang until the client gives up, as a stuck receiver does.
		<-r.Context().Done()
		return
	}
	w.WriteHeader(got.status)
	io.WriteString(w, "answer "+strconv.Itoa(got.status))
}

type errStaleTimestamp struct {
	got  string
	want int64
}

func (e errStaleTimestamp) Error() string {
	return "webhook-timestamp " + e.got + ", want the attempt's time " + strconv.FormatInt(e.want, 10)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// createEndpoint makes an operator's endpoint for the receiver.
func createEndpoint(t testing.TB, eps *Endpoints, url string, types ...Type) (Endpoint, string) {
	t.Helper()
	e, secret, err := eps.Create(context.Background(), EndpointInput{URL: url, Types: types, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	return e, secret
}

// deliverAll runs passes, moving the clock to the next attempt due, until
// nothing is pending or limit passes were made.
func deliverAll(t testing.TB, db *store.DB, clock *fakeClock, limit int, ds ...*Deliverer) {
	t.Helper()
	ctx := context.Background()
	for range limit {
		for _, d := range ds {
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var next sql.NullTime
		err := db.Read().QueryRow(`SELECT d.next_attempt_at FROM webhook_deliveries d JOIN webhook_endpoints p ON p.id = d.endpoint_id
			WHERE d.status = 'pending' AND p.enabled ORDER BY d.next_attempt_at LIMIT 1`).Scan(&next)
		if err == sql.ErrNoRows {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(next.Time)
	}
	var n int
	var na, lu any
	db.Read().QueryRow(`SELECT attempts, next_attempt_at, lease_until FROM webhook_deliveries`).Scan(&n, &na, &lu)
	t.Fatalf("deliveries still pending after %d passes: %d attempts, next %v lease %v now %v", limit, n, na, lu, clock.Now())
}

func deliveryStatuses(t testing.TB, db *store.DB) map[string]int {
	t.Helper()
	rows, err := db.Read().Query(`SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	return out
}
