package pubsub

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	testSubscription = "projects/example-cloud-provider/subscriptions/marketbridge-push"
	testPushSA       = "marketplace-push@example-cloud-provider.iam.gserviceaccount.com"
	testProvider     = "example-cloud-provider"
)

// fakeClock is a settable clock; tests advance it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memSource is a Source over a slice, as the market would keep its outbox.
type memSource struct {
	mu        sync.Mutex
	events    []Event
	delivered []string
	failNext  error
}

func (m *memSource) Publish(ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, ev)
}

func (m *memSource) Pending(_ context.Context, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failNext; err != nil {
		m.failNext = nil
		return nil, err
	}
	var out []Event
	for _, ev := range m.events {
		if len(out) == limit {
			break
		}
		if !slices.Contains(m.delivered, ev.ID) {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (m *memSource) Delivered(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delivered = append(m.delivered, id)
	return nil
}

func (m *memSource) Done() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.delivered)
}

// received is one push request as the endpoint saw it.
type received struct {
	Header http.Header
	Body   []byte
	Env    wireEnvelope
}

// wireEnvelope decodes a push body the way a seller's handler would.
type wireEnvelope struct {
	Message struct {
		Attributes  map[string]string `json:"attributes"`
		Data        string            `json:"data"`
		MessageID   string            `json:"messageId"`
		PublishTime string            `json:"publishTime"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"`
}

// EventID is the eventId in the message's payload.
func (r received) EventID(t *testing.T) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(r.Env.Message.Data)
	if err != nil {
		t.Fatalf("message.data is not standard base64: %v", err)
	}
	var p struct {
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("message.data is not JSON: %v", err)
	}
	return p.EventID
}

// receiver is the seller's push endpoint on loopback. answer decides each
// response from the request count (1-based) and the decoded request; nil
// answers 204.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, r received, w http.ResponseWriter, req *http.Request)
}

func newReceiver(t *testing.T, answer func(n int, r received, w http.ResponseWriter, req *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r := received{Header: req.Header.Clone(), Body: body}
		if err := json.Unmarshal(body, &r.Env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, r)
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.answer(n, r, w, req)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) Got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// EventIDs lists the eventIds received, in order.
func (rc *receiver) EventIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, r := range rc.Got() {
		ids = append(ids, r.EventID(t))
	}
	return ids
}

// staticSigner hands out a fixed token and records what it was asked for.
type staticSigner struct {
	mu    sync.Mutex
	asked [][2]string
}

func (s *staticSigner) PushToken(audience, email string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, [2]string{audience, email})
	return "test-token", nil
}

// env is a subscription pushing to a receiver, on a fake clock.
type env struct {
	sub   *Subscription
	src   *memSource
	rc    *receiver
	clock *fakeClock
}

func newEnv(t *testing.T, answer func(n int, r received, w http.ResponseWriter, req *http.Request), edit ...func(*Config)) *env {
	t.Helper()
	rc := newReceiver(t, answer)
	clock := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	src := &memSource{}
	cfg := Config{
		Endpoint: rc.srv.URL + "/gcp/pubsub/push", ServiceAccount: testPushSA, Subscription: testSubscription,
		Client: rc.srv.Client(), Now: clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	sub, err := New(cfg, src, &staticSigner{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{sub: sub, src: src, rc: rc, clock: clock}
}

// publish adds §3.2 entitlement events with the given ids, a millisecond
// apart.
func (e *env) publish(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		e.src.Publish(Event{ID: id, Data: payload(id, "ENTITLEMENT_ACTIVE"), PublishTime: e.clock.Now()})
		e.clock.Advance(time.Millisecond)
	}
}

func payload(eventID, eventType string) []byte {
	return fmt.Appendf(nil, `{"eventId":%q,"eventType":%q,"providerId":%q,"entitlement":{"id":"ent-%s","updateTime":"2026-12-02T10:00:00Z"}}`,
		eventID, eventType, testProvider, eventID)
}

func (e *env) step(t *testing.T) int {
	t.Helper()
	n, err := e.sub.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

func (e *env) state(t *testing.T, id string) Delivery {
	t.Helper()
	d, ok := e.sub.Lookup(id)
	if !ok {
		t.Fatalf("event %s not in the delivery log", id)
	}
	return d
}

// answerStatus answers every request with one status.
func answerStatus(code int) func(int, received, http.ResponseWriter, *http.Request) {
	return func(_ int, _ received, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}
