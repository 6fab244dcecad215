package pubsub

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestAck_StatusCodes: 102, 200, 201, 202 and 204 ack; any other status is
// a nack that schedules a redelivery (contract §3.4).
func TestAck_StatusCodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		acked bool
	}{
		{"200 OK", http.StatusOK, true},
		{"201 Created", http.StatusCreated, true},
		{"202 Accepted", http.StatusAccepted, true},
		{"204 No Content", http.StatusNoContent, true},
		{"203 is a 2xx but not an ack", http.StatusNonAuthoritativeInfo, false},
		{"205", http.StatusResetContent, false},
		{"301 is not followed", http.StatusMovedPermanently, false},
		{"400", http.StatusBadRequest, false},
		{"401", http.StatusUnauthorized, false},
		{"403", http.StatusForbidden, false},
		{"404", http.StatusNotFound, false},
		{"409", http.StatusConflict, false},
		{"429", http.StatusTooManyRequests, false},
		{"500", http.StatusInternalServerError, false},
		{"503", http.StatusServiceUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ int, _ received, w http.ResponseWriter, _ *http.Request) {
				if tc.code/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.code)
			})
			e.publish(t, "ev-1")
			if n := e.step(t); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
			d := e.state(t, "ev-1")
			if d.LastStatus != tc.code || d.Attempts != 1 {
				t.Errorf("last status %d after %d attempts, want %d after 1", d.LastStatus, d.Attempts, tc.code)
			}
			if len(e.rc.Got()) != 1 {
				t.Errorf("endpoint saw %d requests, want 1 (no redirect followed)", len(e.rc.Got()))
			}
			if tc.acked {
				if d.State != StateAcked || d.AckedAt == nil || d.LastError != "" {
					t.Errorf("delivery = %+v, want acked", d)
				}
				if got := e.src.Done(); !slices.Equal(got, []string{"ev-1"}) {
					t.Errorf("market told %v, want [ev-1]", got)
				}
				return
			}
			wantNext := e.clock.Now().Add(DefaultMinBackoff)
			if d.State != StatePending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(wantNext) || d.LastError == "" {
				t.Errorf("delivery = %+v, want pending with the next attempt at %s and an error", d, wantNext)
			}
			if got := e.src.Done(); len(got) != 0 {
				t.Errorf("market told %v of a nacked message", got)
			}
		})
	}
}

// TestAck_102Processing: a 102 is informational in HTTP/1.1, so the
// transport reads on to the final status; an endpoint that sends 102 and
// then finishes normally is acked.
func TestAck_102Processing(t *testing.T) {
	if !acked(http.StatusProcessing) {
		t.Fatal("102 is an ack in §3.4")
	}
	e := newEnv(t, func(_ int, _ received, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusProcessing)
	})
	e.publish(t, "ev-1")
	e.step(t)
	if d := e.state(t, "ev-1"); d.State != StateAcked {
		t.Errorf("delivery = %+v, want acked", d)
	}
}

// TestRedelivery_SameMessageID: a nack (500) or a missed ack deadline
// brings the message back after the backoff with the same messageId, and
// not before.
func TestRedelivery_SameMessageID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(w http.ResponseWriter, req *http.Request)
		wantErr bool
	}{
		{name: "500", fail: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
		{name: "no answer within the ack deadline", fail: func(_ http.ResponseWriter, req *http.Request) {
			<-req.Context().Done() // the emulator gives up and closes the connection
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(n int, _ received, w http.ResponseWriter, req *http.Request) {
				if n <= 2 {
					tc.fail(w, req)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}, func(c *Config) { c.AckDeadline = 200 * time.Millisecond })
			e.publish(t, "ev-1")
			if n := e.step(t); n != 1 {
				t.Fatalf("first delivery: %d requests", n)
			}
			for _, backoff := range []time.Duration{time.Second, 2 * time.Second} {
				e.clock.Advance(backoff - time.Millisecond)
				if n := e.step(t); n != 0 {
					t.Fatalf("%d requests before the %s backoff ended", n, backoff)
				}
				e.clock.Advance(time.Millisecond)
				if n := e.step(t); n != 1 {
					t.Fatalf("%d requests when the %s backoff ended, want 1", n, backoff)
				}
			}
			got := e.rc.Got()
			if len(got) != 3 {
				t.Fatalf("endpoint saw %d requests, want 3", len(got))
			}
			for _, r := range got {
				if r.Env.Message.MessageID != got[0].Env.Message.MessageID || r.Body == nil {
					t.Errorf("messageId changed across redeliveries: %s then %s", got[0].Env.Message.MessageID, r.Env.Message.MessageID)
				}
			}
			if string(got[0].Body) != string(got[2].Body) {
				t.Errorf("redelivered body differs:\n%s\n%s", got[0].Body, got[2].Body)
			}
			if d := e.state(t, "ev-1"); d.State != StateAcked || d.Attempts != 3 {
				t.Errorf("delivery = %+v, want acked after 3 attempts", d)
			}
		})
	}
}

func TestBackoff_DoublesToMax(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		want     []time.Duration // after the 1st, 2nd, ... nack
	}{
		{"defaults", 0, 0, []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}},
		{"10 s to 600 s", 10 * time.Second, 600 * time.Second, []time.Duration{10, 20, 40, 80, 160, 320, 600, 600}},
		{"fixed", 5 * time.Second, 5 * time.Second, []time.Duration{5, 5, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.MinBackoff, c.MaxBackoff = tc.min, tc.max })
			for i, w := range tc.want {
				if got := e.sub.backoff(i + 1); got != w*time.Second {
					t.Errorf("backoff after nack %d = %s, want %s", i+1, got, w*time.Second)
				}
			}
			if got := e.sub.backoff(1000); got != tc.want[len(tc.want)-1]*time.Second {
				t.Errorf("backoff after many nacks = %s, want the maximum", got)
			}
		})
	}
}

// TestOrder_FailingMessageDoesNotBlock: messages go out in publish order,
// and one waiting for its retry does not hold back the ones behind it.
func TestOrder_FailingMessageDoesNotBlock(t *testing.T) {
	e := newEnv(t, func(_ int, r received, w http.ResponseWriter, _ *http.Request) {
		if r.EventID(t) == "ev-1" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.publish(t, "ev-1", "ev-2", "ev-3")
	e.step(t)
	e.publish(t, "ev-4")
	e.step(t)
	e.clock.Advance(time.Second)
	e.step(t)
	want := []string{"ev-1", "ev-2", "ev-3", "ev-4", "ev-1"}
	if got := e.rc.EventIDs(t); !slices.Equal(got, want) {
		t.Errorf("delivery order = %v, want %v", got, want)
	}
	if got := e.src.Done(); !slices.Equal(got, []string{"ev-2", "ev-3", "ev-4"}) {
		t.Errorf("market told %v, want ev-2..ev-4", got)
	}
}

// TestFault_Duplicate: every message arrives twice with the same messageId.
func TestFault_Duplicate(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Faults.Duplicate = true })
	e.publish(t, "ev-1", "ev-2")
	if n := e.step(t); n != 4 {
		t.Fatalf("requests = %d, want 4", n)
	}
	got := e.rc.Got()
	if ids := e.rc.EventIDs(t); !slices.Equal(ids, []string{"ev-1", "ev-1", "ev-2", "ev-2"}) {
		t.Fatalf("order = %v, want each event twice in a row", ids)
	}
	for i := 0; i < 4; i += 2 {
		if got[i].Env.Message.MessageID != got[i+1].Env.Message.MessageID {
			t.Errorf("duplicate has another messageId: %s vs %s", got[i].Env.Message.MessageID, got[i+1].Env.Message.MessageID)
		}
	}
	for _, id := range []string{"ev-1", "ev-2"} {
		if d := e.state(t, id); d.State != StateAcked || d.Attempts != 2 {
			t.Errorf("%s = %+v, want acked after 2 requests", id, d)
		}
	}
	if done := e.src.Done(); !slices.Equal(done, []string{"ev-1", "ev-2"}) {
		t.Errorf("market told %v, want each event once", done)
	}
}

// TestFault_Reorder: a fresh message is held until the next one went out.
func TestFault_Reorder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		publish []string
		want    []string // after one step
		held    string   // still held after it
		after   []string // after the hold ended
	}{
		{name: "pair swapped", publish: []string{"ev-1", "ev-2"}, want: []string{"ev-2", "ev-1"}},
		{name: "pairs swapped", publish: []string{"ev-1", "ev-2", "ev-3", "ev-4"}, want: []string{"ev-2", "ev-1", "ev-4", "ev-3"}},
		{name: "last one waits for the hold", publish: []string{"ev-1", "ev-2", "ev-3"}, want: []string{"ev-2", "ev-1"}, held: "ev-3",
			after: []string{"ev-2", "ev-1", "ev-3"}},
		{name: "single message", publish: []string{"ev-1"}, held: "ev-1", after: []string{"ev-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.Faults.Reorder = true })
			e.publish(t, tc.publish...)
			e.step(t)
			if got := e.rc.EventIDs(t); !slices.Equal(got, tc.want) {
				t.Fatalf("order = %v, want %v", got, tc.want)
			}
			if tc.held == "" {
				return
			}
			if d := e.state(t, tc.held); !d.Held || d.State != StatePending {
				t.Fatalf("%s = %+v, want held", tc.held, d)
			}
			e.clock.Advance(DefaultReorderHold)
			e.step(t)
			if got := e.rc.EventIDs(t); !slices.Equal(got, tc.after) {
				t.Errorf("order after the hold = %v, want %v", got, tc.after)
			}
		})
	}
}

func TestFault_ReorderOffReleasesHeld(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Faults.Reorder = true })
	e.publish(t, "ev-1")
	if n := e.step(t); n != 0 {
		t.Fatalf("requests = %d, want the only message held", n)
	}
	e.sub.SetFaults(Faults{})
	if n := e.step(t); n != 1 {
		t.Fatalf("requests = %d after the fault was lifted, want 1", n)
	}
}

func TestFault_Paused(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Faults.Paused = true })
	e.publish(t, "ev-1", "ev-2")
	if n := e.step(t); n != 0 {
		t.Fatalf("requests while paused = %d", n)
	}
	if log := e.sub.Log(); len(log) != 2 || log[0].State != StatePending {
		t.Fatalf("log while paused = %+v, want both pending", log)
	}
	e.sub.SetFaults(Faults{})
	if n := e.step(t); n != 2 {
		t.Fatalf("requests after resuming = %d, want 2", n)
	}
}

// TestDeadLetter: with MaxAttempts, a message that is never acked stops
// after that many attempts, stays visible, and can be redelivered.
func TestDeadLetter(t *testing.T) {
	var healthy atomic.Bool
	e := newEnv(t, func(_ int, _ received, w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}, func(c *Config) { c.MaxAttempts = 3 })
	e.publish(t, "ev-1")
	for _, d := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, time.Hour} {
		e.clock.Advance(d)
		e.step(t)
	}
	var attempts []int
	for _, r := range e.rc.Got() {
		attempts = append(attempts, r.Env.DeliveryAttempt)
	}
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Fatalf("deliveryAttempt of the requests = %v, want [1 2 3] and no more", attempts)
	}
	d := e.state(t, "ev-1")
	if d.State != StateDeadLettered || d.Attempts != 3 || d.LastStatus != 500 || d.FinishedAt == nil || d.NextAttemptAt != nil {
		t.Errorf("delivery = %+v, want dead-lettered after 3 attempts", d)
	}
	if done := e.src.Done(); !slices.Equal(done, []string{"ev-1"}) {
		t.Errorf("market told %v, want ev-1 finished", done)
	}

	if err := e.sub.Redeliver("ev-1"); err != nil {
		t.Fatal(err)
	}
	healthy.Store(true)
	e.step(t)
	got := e.rc.Got()
	if len(got) != 4 || got[3].Env.DeliveryAttempt != 4 {
		t.Fatalf("redelivery: %d requests, want a 4th attempt", len(got))
	}
	if d := e.state(t, "ev-1"); d.State != StateAcked {
		t.Errorf("after redelivery = %+v, want acked", d)
	}
	if err := e.sub.Redeliver("nope"); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("Redeliver(unknown) = %v, want ErrUnknownEvent", err)
	}
}

// TestRetention: an unacked message expires after the retention and the
// log forgets finished ones a retention later.
func TestRetention(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.Retention = time.Hour; c.Faults.Paused = true })
	e.publish(t, "ev-1")
	e.step(t)
	e.clock.Advance(time.Hour)
	e.step(t)
	if d := e.state(t, "ev-1"); d.State != StateExpired {
		t.Fatalf("after the retention = %+v, want expired", d)
	}
	if done := e.src.Done(); !slices.Equal(done, []string{"ev-1"}) {
		t.Errorf("market told %v, want ev-1 finished", done)
	}
	e.clock.Advance(time.Hour)
	e.step(t)
	if log := e.sub.Log(); len(log) != 0 {
		t.Errorf("log = %+v, want the expired message forgotten", log)
	}
	if len(e.rc.Got()) != 0 {
		t.Errorf("an expired message was pushed")
	}
}

func TestSourceError_KnownMessagesStillGo(t *testing.T) {
	e := newEnv(t, nil)
	e.publish(t, "ev-1")
	e.step(t)
	e.sub.SetFaults(Faults{Duplicate: true})
	if err := e.sub.Redeliver("ev-1"); err != nil {
		t.Fatal(err)
	}
	e.src.failNext = errors.New("database is locked")
	n, err := e.sub.DeliverDue(context.Background())
	if err == nil || n != 2 {
		t.Errorf("DeliverDue = %d, %v; want the 2 requests of the known message and the source's error", n, err)
	}
}

// TestRun_DeliversUntilCancelled drives the real loop on the real clock.
func TestRun_DeliversUntilCancelled(t *testing.T) {
	got := make(chan string, 10)
	e := newEnv(t, func(_ int, r received, w http.ResponseWriter, _ *http.Request) {
		got <- r.EventID(t)
		w.WriteHeader(http.StatusNoContent)
	}, func(c *Config) { c.Now = nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.sub.Run(ctx) }()
	for i := range 3 {
		id := "ev-" + strconv.Itoa(i)
		e.src.Publish(Event{ID: id, Data: payload(id, "ENTITLEMENT_ACTIVE")})
		e.sub.Notify()
		if r := <-got; r != id {
			t.Fatalf("received %s, want %s", r, id)
		}
	}
	cancel()
	<-done
}

func TestConfig_Validate(t *testing.T) {
	ok := Config{Endpoint: "https://seller.example/gcp/pubsub/push", ServiceAccount: testPushSA, Subscription: testSubscription}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"valid", func(*Config) {}, true},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, false},
		{"relative endpoint", func(c *Config) { c.Endpoint = "/push" }, false},
		{"ftp endpoint", func(c *Config) { c.Endpoint = "ftp://seller.example/push" }, false},
		{"no service account", func(c *Config) { c.ServiceAccount = "" }, false},
		{"service account not an email", func(c *Config) { c.ServiceAccount = "push" }, false},
		{"bare subscription name", func(c *Config) { c.Subscription = "marketbridge-push" }, false},
		{"topic instead of subscription", func(c *Config) { c.Subscription = "projects/p/topics/t" }, false},
		{"negative ack deadline", func(c *Config) { c.AckDeadline = -time.Second }, false},
		{"max backoff under min", func(c *Config) { c.MinBackoff, c.MaxBackoff = 10*time.Second, time.Second }, false},
		{"max backoff under default min", func(c *Config) { c.MaxBackoff = time.Millisecond }, false},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := New(ok, nil, nil, nil); err == nil {
		t.Error("New without source and signer succeeded")
	}
}
