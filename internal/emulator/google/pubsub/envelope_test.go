package pubsub

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pubsubv1 "google.golang.org/api/pubsub/v1"
)

var (
	numericID   = regexp.MustCompile(`^[0-9]{16}$`)
	millisRFC39 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// TestEnvelope_Contract34 checks the push body byte for byte against
// contract §3.4's wrapped format, then decodes it as a seller would, with
// the Pub/Sub API's own message types.
func TestEnvelope_Contract34(t *testing.T) {
	published := time.Date(2026, 12, 2, 10, 0, 0, 123_456_789, time.FixedZone("CET", 3600))
	// An account event of §3.2, whose length is not a multiple of 3, so
	// that the padding shows.
	data := []byte(`{"eventId":"ev-1","eventType":"ACCOUNT_ACTIVE","providerId":"example-cloud-provider","account":{"id":"acc-1","updateTime":"2026-12-02T10:00:00Z"}}`)
	for _, tc := range []struct {
		name        string
		maxAttempts int
		wantAttempt string // the deliveryAttempt member, "" when absent
	}{
		{name: "no dead-letter policy: no deliveryAttempt", maxAttempts: 0},
		{name: "dead-letter policy: deliveryAttempt from 1", maxAttempts: 5, wantAttempt: `,"deliveryAttempt":1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, func(c *Config) { c.MaxAttempts = tc.maxAttempts })
			e.src.Publish(Event{ID: "ev-1", Data: data, PublishTime: published})
			if n := e.step(t); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
			r := e.rc.Got()[0]

			b64 := base64.StdEncoding.EncodeToString(data)
			if len(data)%3 == 0 || b64[len(b64)-1] != '=' {
				t.Fatalf("test payload should need padding: %q", b64)
			}
			id := messageIDFor("ev-1")
			want := fmt.Sprintf(`{"message":{"attributes":{},"data":%q,"messageId":%q,"message_id":%q,"publishTime":"2026-12-02T09:00:00.123Z","publish_time":"2026-12-02T09:00:00.123Z"},"subscription":%q%s}`,
				b64, id, id, testSubscription, tc.wantAttempt)
			if diff := cmp.Diff(want, string(r.Body)); diff != "" {
				t.Errorf("push body (-want +got):\n%s", diff)
			}

			// The members, as a seller that reads the raw JSON sees them.
			var top map[string]json.RawMessage
			if err := json.Unmarshal(r.Body, &top); err != nil {
				t.Fatal(err)
			}
			wantTop := []string{"message", "subscription"}
			if tc.wantAttempt != "" {
				wantTop = append(wantTop, "deliveryAttempt")
			}
			if got := slices.Sorted(maps.Keys(top)); !slices.Equal(got, slices.Sorted(slices.Values(wantTop))) {
				t.Errorf("top-level members = %v, want %v", got, wantTop)
			}
			if !numericID.MatchString(r.Env.Message.MessageID) || !millisRFC39.MatchString(r.Env.Message.PublishTime) {
				t.Errorf("messageId %q / publishTime %q: want a numeric string and RFC 3339 with millis", r.Env.Message.MessageID, r.Env.Message.PublishTime)
			}
			if r.Env.Message.Attributes == nil || len(r.Env.Message.Attributes) != 0 {
				t.Errorf("attributes = %v, want {}", r.Env.Message.Attributes)
			}

			// The same body through google.golang.org/api/pubsub/v1's types:
			// ReceivedMessage is the pull shape, whose message and
			// deliveryAttempt members the push body shares.
			var rm pubsubv1.ReceivedMessage
			if err := json.Unmarshal(r.Body, &rm); err != nil {
				t.Fatalf("decode as pubsub/v1 ReceivedMessage: %v", err)
			}
			if rm.Message == nil {
				t.Fatal("pubsub/v1 ReceivedMessage has no message")
			}
			got, err := base64.StdEncoding.DecodeString(rm.Message.Data)
			if err != nil || string(got) != string(data) {
				t.Errorf("pubsub/v1 message data = %q (%v), want the §3.2 payload", got, err)
			}
			pt, err := time.Parse(time.RFC3339Nano, rm.Message.PublishTime)
			if err != nil || !pt.Equal(published.Truncate(time.Millisecond)) {
				t.Errorf("pubsub/v1 publishTime = %q (%v), want %s", rm.Message.PublishTime, err, published.Truncate(time.Millisecond))
			}
			wantAttempt := int64(0)
			if tc.wantAttempt != "" {
				wantAttempt = 1
			}
			if rm.Message.MessageId != id || rm.DeliveryAttempt != wantAttempt || len(rm.Message.Attributes) != 0 || rm.Message.OrderingKey != "" {
				t.Errorf("pubsub/v1 message = %+v, deliveryAttempt %d; want messageId %s, deliveryAttempt %d, no attributes or orderingKey",
					*rm.Message, rm.DeliveryAttempt, id, wantAttempt)
			}

			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if a := r.Header.Get("Authorization"); a != "Bearer test-token" {
				t.Errorf("Authorization = %q, want the signer's token as a bearer", a)
			}
			signer := e.sub.signer.(*staticSigner)
			if want := [2]string{e.sub.cfg.Endpoint, testPushSA}; len(signer.asked) != 1 || signer.asked[0] != want {
				t.Errorf("signer asked for %v, want audience = the push URL and the push service account %v", signer.asked, want)
			}
		})
	}
}

func TestMessageID_NumericStableDistinct(t *testing.T) {
	seen := map[string]string{}
	for i := range 2000 {
		ev := fmt.Sprintf("ev-%d", i)
		id := messageIDFor(ev)
		if !numericID.MatchString(id) {
			t.Fatalf("messageIDFor(%q) = %q, want 16 digits", ev, id)
		}
		if id != messageIDFor(ev) {
			t.Fatalf("messageIDFor(%q) is not stable", ev)
		}
		if other, dup := seen[id]; dup {
			t.Fatalf("%q and %q share messageId %s", ev, other, id)
		}
		seen[id] = ev
	}
}
