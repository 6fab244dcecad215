package pubsub

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler: the control API's view of the subscription.
func TestHandler(t *testing.T) {
	e := newEnv(t, answerStatus(http.StatusInternalServerError), func(c *Config) { c.MaxAttempts = 1 })
	e.publish(t, "ev-1", "ev-2")
	e.step(t)
	h := e.sub.Handler()

	for _, tc := range []struct {
		name, method, path, body string
		wantCode                 int
		check                    func(t *testing.T, body []byte)
	}{
		{name: "log", method: "GET", path: "/", wantCode: 200, check: func(t *testing.T, body []byte) {
			var doc LogDocument
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Subscription != testSubscription || doc.Audience != e.sub.cfg.Endpoint || len(doc.Deliveries) != 2 {
				t.Fatalf("log = %+v", doc)
			}
			d := doc.Deliveries[0]
			if d.EventID != "ev-1" || d.State != StateDeadLettered || d.LastStatus != 500 || d.MessageID != messageIDFor("ev-1") || !strings.Contains(string(d.Payload), `"eventType":"ENTITLEMENT_ACTIVE"`) {
				t.Errorf("first delivery = %+v", d)
			}
		}},
		{name: "one delivery", method: "GET", path: "/deliveries/ev-2", wantCode: 200, check: func(t *testing.T, body []byte) {
			var d Delivery
			if err := json.Unmarshal(body, &d); err != nil || d.EventID != "ev-2" || d.Attempts != 1 {
				t.Errorf("delivery = %+v (%v)", d, err)
			}
		}},
		{name: "unknown delivery", method: "GET", path: "/deliveries/nope", wantCode: 404},
		{name: "redeliver", method: "POST", path: "/deliveries/ev-1/redeliver", wantCode: 200, check: func(t *testing.T, body []byte) {
			var d Delivery
			if err := json.Unmarshal(body, &d); err != nil || d.State != StatePending || d.NextAttemptAt == nil {
				t.Errorf("after redeliver = %+v (%v)", d, err)
			}
		}},
		{name: "redeliver unknown", method: "POST", path: "/deliveries/nope/redeliver", wantCode: 404},
		{name: "set faults", method: "PUT", path: "/faults", body: `{"duplicate":true,"paused":true}`, wantCode: 200, check: func(t *testing.T, _ []byte) {
			if f := e.sub.Faults(); f != (Faults{Duplicate: true, Paused: true}) {
				t.Errorf("faults = %+v", f)
			}
		}},
		{name: "faults", method: "GET", path: "/faults", wantCode: 200, check: func(t *testing.T, body []byte) {
			if strings.TrimSpace(string(body)) != `{"duplicate":true,"reorder":false,"paused":true}` {
				t.Errorf("faults = %s", body)
			}
		}},
		{name: "misspelt fault", method: "PUT", path: "/faults", body: `{"duplicates":true}`, wantCode: 400},
		{name: "faults not JSON", method: "PUT", path: "/faults", body: `paused`, wantCode: 400},
		{name: "wrong method", method: "DELETE", path: "/faults", wantCode: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if w.Code != tc.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.wantCode)
			}
			if ct := w.Header().Get("Content-Type"); tc.wantCode != 405 && ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.check != nil {
				tc.check(t, w.Body.Bytes())
			}
		})
	}
}
