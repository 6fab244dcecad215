package pubsub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	pubsubv1 "google.golang.org/api/pubsub/v1"
)

// FuzzDecodeFaults: the control API's faults document is outside input.
func FuzzDecodeFaults(f *testing.F) {
	for _, seed := range []string{
		`{"duplicate":true,"reorder":false,"paused":true}`, `{}`, `{"paused":1}`, `{"x":true}`,
		`{"paused":true} {}`, `null`, ``, `[` + strings.Repeat(" ", maxFaultsBody) + `]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeFaults(bytes.NewReader(in))
		if err != nil {
			if got != (Faults{}) {
				t.Fatalf("error %v with faults %+v", err, got)
			}
			return
		}
		// What was accepted round-trips through the document GET serves.
		out, _ := json.Marshal(got)
		again, err := decodeFaults(bytes.NewReader(out))
		if err != nil || again != got {
			t.Fatalf("round trip of %s: %+v, %v", out, again, err)
		}
	})
}

// FuzzEnvelope: whatever the market publishes arrives intact through a
// Pub/Sub client's decoding.
func FuzzEnvelope(f *testing.F) {
	f.Add("ev-1", []byte(`{"eventId":"ev-1","eventType":"ACCOUNT_ACTIVE"}`), int64(1764669600123), 0)
	f.Add("", []byte{}, int64(0), 3)
	f.Add("\u2028\"</script>", []byte{0xff, 0xfe, 0}, int64(-1), 100)
	f.Fuzz(func(t *testing.T, eventID string, data []byte, millis int64, attempt int) {
		published := time.UnixMilli(millis % 253402300800000) // before year 10000
		if attempt < 0 {
			attempt = -attempt
		}
		body, err := encodeEnvelope(testSubscription, messageIDFor(eventID), data, published, attempt)
		if err != nil {
			t.Fatal(err)
		}
		var rm pubsubv1.ReceivedMessage
		if err := json.Unmarshal(body, &rm); err != nil || rm.Message == nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		got, err := base64.StdEncoding.DecodeString(rm.Message.Data)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("data = %q (%v), want %q", got, err, data)
		}
		if rm.Message.MessageId != messageIDFor(eventID) || rm.DeliveryAttempt != int64(attempt) {
			t.Fatalf("messageId %s deliveryAttempt %d", rm.Message.MessageId, rm.DeliveryAttempt)
		}
		if published.Year() >= 0 {
			pt, err := time.Parse(time.RFC3339Nano, rm.Message.PublishTime)
			if err != nil || !pt.Equal(published.UTC().Truncate(time.Millisecond)) {
				t.Fatalf("publishTime %q (%v), want %s", rm.Message.PublishTime, err, published)
			}
		}
	})
}
