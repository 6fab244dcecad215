package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Inbox is the demo's stand-in for the vendor's receiver, as the dev
// mailbox is for mail: it verifies each delivery as a real receiver must
// (signature and timestamp) and keeps the latest in memory, for a page to
// show. The server that routes to it owns it.
type Inbox struct {
	secret    string
	now       func() time.Time
	tolerance time.Duration
	mu        sync.Mutex
	items     []InboxItem // a ring of the latest
	next      int
	count     int64
}

// InboxItem is one delivery the inbox received.
type InboxItem struct {
	N          int64 // its number since the start
	ReceivedAt time.Time
	ID         string // webhook-id
	Type       Type
	OrgID      int64
	ExternalID string
	Seq        int64
	// Problem is why the delivery was refused; empty when it verified.
	Problem string
	Body    string // indented for reading
}

// Verified says whether the delivery's signature and timestamp checked out.
func (i InboxItem) Verified() bool { return i.Problem == "" }

// inboxSize is how many deliveries the inbox keeps.
const inboxSize = 200

// NewInbox returns an inbox that verifies with secret, within 5 minutes of
// now, as the Standard Webhooks libraries do.
func NewInbox(secret string, now func() time.Time) *Inbox {
	return &Inbox{secret: secret, now: now, tolerance: 5 * time.Minute}
}

// Secret is the secret the inbox verifies with, for the endpoint that
// points at it.
func (b *Inbox) Secret() string { return b.secret }

// Receive verifies and keeps one delivery, and returns it: a receiver
// answers 2xx only when Verified.
func (b *Inbox) Receive(h http.Header, body []byte) InboxItem {
	it := InboxItem{ReceivedAt: b.now(), ID: h.Get("webhook-id")}
	if err := Verify(b.secret, it.ID, h.Get("webhook-timestamp"), h.Get("webhook-signature"), body, b.now(), b.tolerance); err != nil {
		it.Problem = err.Error()
	}
	var msg struct {
		Type Type `json:"type"`
		Data struct {
			Organization Organization `json:"organization"`
			Sequence     int64        `json:"sequence"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil && it.Problem == "" {
		it.Problem = "the body is not JSON: " + err.Error()
	}
	it.Type, it.OrgID, it.ExternalID, it.Seq = msg.Type, msg.Data.Organization.ID, msg.Data.Organization.ExternalID, msg.Data.Sequence
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		it.Body = pretty.String()
	} else {
		it.Body = clip(string(bytes.ToValidUTF8(body, []byte("\uFFFD"))), 4096)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count++
	it.N = b.count
	if len(b.items) < inboxSize {
		b.items = append(b.items, it)
	} else {
		b.items[b.next] = it
	}
	b.next = (b.next + 1) % inboxSize
	return it
}

// List returns what the inbox holds, newest first.
func (b *Inbox) List() []InboxItem {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]InboxItem, 0, len(b.items))
	for i := range len(b.items) {
		out = append(out, b.items[(b.next-1-i+inboxSize)%inboxSize])
	}
	return out
}
