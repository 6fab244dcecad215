package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

const (
	pubTenant   = "11111111-1111-4111-8111-111111111111"
	pubApp      = "22222222-2222-4222-8222-222222222222"
	buyerTenant = "33333333-3333-4333-8333-333333333333"
)

type fakeTokens struct{}

func (fakeTokens) WebhookToken(tenant, audience string, _ time.Time) (string, error) {
	return "jwt-for-" + tenant + "-" + audience, nil
}

// seller records webhooks and answers with the next queued status (200
// when the queue is empty).
type seller struct {
	mu      sync.Mutex
	answers []int
	got     []market.WebhookPayload
	auth    []string
}

func (s *seller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p market.WebhookPayload
	json.Unmarshal(b, &p) //nolint:errcheck // a bad body shows as an empty payload
	s.mu.Lock()
	s.got = append(s.got, p)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	status := 200
	if len(s.answers) > 0 {
		status, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(status)
}

func (s *seller) received() []market.WebhookPayload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]market.WebhookPayload(nil), s.got...)
}

// setup runs a market on real time and a sender against a fake seller.
func setup(t *testing.T, st market.Settings, answers ...int) (*market.Market, *seller, market.Subscription) {
	t.Helper()
	ctx := context.Background()
	if st.WebhookRetryInitial == 0 {
		st.WebhookRetryInitial = time.Millisecond
	}
	st.WebhookRetryMax = 5 * time.Millisecond
	if st.AckWindow == 0 {
		st.AckWindow = time.Hour // no auto-Succeeded unless a test moves the clock
	}
	m, err := market.Open(ctx, market.Config{Settings: st})
	if err != nil {
		t.Fatal(err)
	}
	sel := &seller{answers: answers}
	srv := httptest.NewServer(sel)
	t.Cleanup(srv.Close)
	if _, err := m.PutPublisher(ctx, market.PublisherInput{ID: "contoso", TenantID: pubTenant, AppID: pubApp, WebhookURL: srv.URL + "/hook"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutOffer(ctx, market.OfferInput{ID: "cloud", PublisherID: "contoso", Plans: []market.Plan{
		{ID: "a", Terms: []market.TermPrice{{Unit: "P1M"}}}, {ID: "b", Terms: []market.TermPrice{{Unit: "P1M"}}}}}); err != nil {
		t.Fatal(err)
	}
	s, _, err := m.Purchase(ctx, market.PurchaseInput{OfferID: "cloud", PlanID: "a", Name: "x",
		Beneficiary: market.Identity{TenantID: buyerTenant, EmailID: "a@b.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Activate(ctx, "contoso", s.ID, "a", nil); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	snd := New(m, fakeTokens{}, srv.Client(), nil, nil)
	snd.Poll = 5 * time.Millisecond
	go func() { defer close(done); snd.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, sel, s
}

// waitFor polls a condition; the deadline only stops a hung test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func opStatus(m *market.Market, s market.Subscription, id string) string {
	op, _ := m.GetOperation("contoso", s.ID, id)
	return op.Status
}

func TestChangePlanWebhook(t *testing.T) {
	cases := []struct {
		name     string
		answers  []int
		attempts int
		ack      string // the seller's PATCH after the webhook
		status   string
		wantPlan string
	}{
		{"ack success", nil, 1, "Success", market.OpSucceeded, "b"},
		{"ack failure", nil, 1, "Failure", market.OpFailed, "a"},
		{"reject with 4xx", []int{400}, 1, "", market.OpFailed, "a"},
		{"retried after 5xx, then acked", []int{500, 503}, 3, "Success", market.OpSucceeded, "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, sel, s := setup(t, market.Settings{}, c.answers...)
			op, err := m.BuyerChange(context.Background(), s.ID, market.ChangeInput{PlanID: "b"})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the webhook's last attempt", func() bool { return len(sel.received()) == c.attempts })
			waitFor(t, "the outcome", func() bool {
				d := m.Deliveries()
				return d[0].Status != market.DeliveryPending
			})
			got := sel.received()[0]
			if got.ID != op.ID || got.Action != "ChangePlan" || got.Status != "InProgress" || got.PlanID != "b" ||
				got.OperationRequestSource != "Azure" || got.Subscription.ID != s.ID || got.Subscription.PlanID != "a" {
				t.Fatalf("payload %+v", got)
			}
			if sel.auth[0] != "Bearer jwt-for-"+pubTenant+"-"+pubApp {
				t.Fatalf("authorization %q", sel.auth[0])
			}
			if c.ack != "" {
				if _, err := m.AckOperation(context.Background(), "contoso", s.ID, op.ID, c.ack); err != nil {
					t.Fatal(err)
				}
			}
			if st := opStatus(m, s, op.ID); st != c.status {
				t.Fatalf("operation %s, want %s", st, c.status)
			}
			if sub, _ := m.Subscription(s.ID); sub.PlanID != c.wantPlan {
				t.Fatalf("plan %s, want %s", sub.PlanID, c.wantPlan)
			}
		})
	}
}

// TestAutoSucceed: without an ACK, the change succeeds AckWindow after the
// webhook was delivered.
func TestAutoSucceed(t *testing.T) {
	m, sel, s := setup(t, market.Settings{AckWindow: 10 * time.Second})
	op, _ := m.BuyerChange(context.Background(), s.ID, market.ChangeInput{PlanID: "b"})
	waitFor(t, "the webhook", func() bool { return len(m.Deliveries()) == 1 && m.Deliveries()[0].Status == market.DeliveryDelivered })
	if st := opStatus(m, s, op.ID); st != market.OpInProgress {
		t.Fatalf("before the window: %s", st)
	}
	if _, err := m.AdvanceClock(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := opStatus(m, s, op.ID); st != market.OpSucceeded {
		t.Fatalf("after the window: %s", st)
	}
	_ = sel
}

// TestNoticesAppliedFirst: Suspend, Reinstate, Renew and Unsubscribe; the
// notices arrive with the subscription already changed; Partner operations
// arrive once they succeeded.
func TestNoticesAppliedFirst(t *testing.T) {
	m, sel, s := setup(t, market.Settings{ReinstateWithoutAck: true, OperationDelay: time.Millisecond, DuplicateWebhooks: true})
	ctx := context.Background()
	steps := []func() (market.Operation, error){
		func() (market.Operation, error) { return m.Suspend(ctx, s.ID) },
		func() (market.Operation, error) { return m.Reinstate(ctx, s.ID) },
		func() (market.Operation, error) { return m.Renew(ctx, s.ID) },
		func() (market.Operation, error) {
			op, err := m.UpdateSubscription(ctx, "contoso", s.ID, market.ChangeInput{PlanID: "b"})
			if err == nil {
				waitFor(t, "the partner change", func() bool { m.Tick(ctx); return opStatus(m, s, op.ID) == market.OpSucceeded }) //nolint:errcheck // a failed tick shows as a timeout
			}
			return op, err
		},
		func() (market.Operation, error) { return m.Cancel(ctx, s.ID) },
	}
	for i, step := range steps {
		if _, err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	waitFor(t, "ten webhooks (each twice)", func() bool { return len(sel.received()) == 10 })
	want := []struct{ action, source, subStatus string }{
		{"Suspend", "Azure", "Suspended"}, {"Reinstate", "Azure", "Subscribed"}, {"Renew", "Azure", "Subscribed"},
		{"ChangePlan", "Partner", "Subscribed"}, {"Unsubscribe", "Azure", "Unsubscribed"},
	}
	got := sel.received()
	for i, w := range want {
		for _, p := range got[2*i : 2*i+2] {
			if p.Action != w.action || p.OperationRequestSource != w.source || p.Status != "Succeeded" || p.Subscription.SaasSubscriptionStatus != w.subStatus {
				t.Errorf("webhook %d: %s %s %s %s, want %+v", i, p.Action, p.OperationRequestSource, p.Status, p.Subscription.SaasSubscriptionStatus, w)
			}
		}
		if got[2*i].ID != got[2*i+1].ID {
			t.Errorf("duplicate delivery %d has another id", i)
		}
	}
}

// TestGiveUp: a seller that never accepts fails a change waiting for it.
func TestGiveUp(t *testing.T) {
	m, _, s := setup(t, market.Settings{WebhookMaxAttempts: 3}, 500, 500, 500)
	op, _ := m.BuyerChange(context.Background(), s.ID, market.ChangeInput{PlanID: "b"})
	waitFor(t, "giving up", func() bool { return m.Deliveries()[0].Status == market.DeliveryFailed })
	if st := opStatus(m, s, op.ID); st != market.OpFailed {
		t.Fatalf("operation %s", st)
	}
	if d := m.Deliveries()[0]; d.Attempts != 3 || d.LastStatus != 500 {
		t.Fatalf("delivery %+v", d)
	}
}
