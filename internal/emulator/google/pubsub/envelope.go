package pubsub

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"
)

// publishTimeLayout is RFC 3339 in UTC with milliseconds, as push bodies
// carry it ("2021-02-26T19:13:55.749Z").
const publishTimeLayout = "2006-01-02T15:04:05.000Z"

// envelope is the wrapped push body of contract §3.4; the field order is
// the one Pub/Sub sends.
type envelope struct {
	Message         message `json:"message"`
	Subscription    string  `json:"subscription"`
	DeliveryAttempt int     `json:"deliveryAttempt,omitempty"`
}

// message is a push message. MessageID2 and PublishTime2 are the legacy
// snake_case duplicates Pub/Sub still sends.
type message struct {
	// Attributes is always present, as {}: Marketplace sets none.
	Attributes   map[string]string `json:"attributes"`
	Data         string            `json:"data"`
	MessageID    string            `json:"messageId"`
	MessageID2   string            `json:"message_id"`
	PublishTime  string            `json:"publishTime"`
	PublishTime2 string            `json:"publish_time"`
}

// encodeEnvelope builds the body of one push request. attempt is the
// deliveryAttempt, sent only when the subscription has a dead-letter policy
// (attempt > 0).
func encodeEnvelope(subscription, messageID string, data []byte, published time.Time, attempt int) ([]byte, error) {
	pt := published.UTC().Format(publishTimeLayout)
	return json.Marshal(envelope{
		Message: message{
			Attributes: map[string]string{},
			Data:       base64.StdEncoding.EncodeToString(data),
			MessageID:  messageID, MessageID2: messageID,
			PublishTime: pt, PublishTime2: pt,
		},
		Subscription:    subscription,
		DeliveryAttempt: attempt,
	})
}

// messageIDFor derives the numeric messageId of an event: Pub/Sub assigns
// one per published message (the same for every subscription and every
// redelivery). Deriving it from the event id keeps it stable across
// emulator restarts without storing it. Real ids are 16-17 digits.
func messageIDFor(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	const span = 9_000_000_000_000_000 // 16-digit ids from 1e15
	return strconv.FormatUint(1_000_000_000_000_000+binary.BigEndian.Uint64(sum[:8])%span, 10)
}
