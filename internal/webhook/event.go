package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/marketbridge/marketbridge/internal/store"
)

// Type is the type of an event, the body's "type".
type Type string

// The event types a vendor's endpoint may subscribe to.
const (
	// TypeOrganizationLinked: a marketplace subscription now bills the
	// organization.
	TypeOrganizationLinked Type = "organization.linked"
	// TypeOrganizationUnlinked: no marketplace subscription bills it any
	// more.
	TypeOrganizationUnlinked Type = "organization.unlinked"
	// TypeSubscriptionUpdated: the organization's billing state changed
	// (active, cancelling, cancelled, grace, suspended, reinstated).
	TypeSubscriptionUpdated Type = "subscription.updated"
	// TypeEntitlementUpdated: the contract's terms or credits changed.
	TypeEntitlementUpdated Type = "entitlement.updated"
	// TypeCreditsThreshold: committed credits crossed 50, 75, 90 or 100%.
	TypeCreditsThreshold Type = "credits.threshold"
	// TypeUsageUnbilled: an hour closed with usage that no marketplace
	// bills.
	TypeUsageUnbilled Type = "usage.unbilled"
)

// Types lists every event type, in the order the operator view shows them.
var Types = []Type{TypeOrganizationLinked, TypeOrganizationUnlinked, TypeSubscriptionUpdated,
	TypeEntitlementUpdated, TypeCreditsThreshold, TypeUsageUnbilled}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, v := range Types {
		if t == v {
			return true
		}
	}
	return false
}

// Organization names an event's organization, for the receiver to find its
// tenant: ExternalID is the vendor's own id, empty when not set.
type Organization struct {
	ID         int64  `json:"id"`
	ExternalID string `json:"external_id"`
}

// Event is one recorded event.
type Event struct {
	ID           string // webhook-id: "msg_" and 26 base32 characters
	Type         Type
	Organization Organization
	Seq          int64 // the organization's sequence number, from 1
	OccurredAt   time.Time
	Data         json.RawMessage // the body's "data"
}

// Recorder records events in the transaction of the change they report.
type Recorder struct {
	now func() time.Time
}

// NewRecorder returns a Recorder stamping events with now, which must be
// real time, even when the marketplace's clock runs fast (the demo): a
// receiver refuses timestamps minutes off its own.
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

// Record writes an event of type typ for organization orgID in tx. payload
// is marshalled to a JSON object, to which Record adds "organization" and
// "sequence"; its own fields must not use those names. The event is sent
// only if tx commits.
func (r *Recorder) Record(ctx context.Context, tx *sql.Tx, orgID int64, typ Type, payload any) (Event, error) {
	if !typ.Valid() {
		return Event{}, fmt.Errorf("record event: unknown type %q", typ)
	}
	fields := map[string]json.RawMessage{}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return Event{}, fmt.Errorf("record %s event: %w", typ, err)
		}
		if err := json.Unmarshal(b, &fields); err != nil {
			return Event{}, fmt.Errorf("record %s event: payload is not a JSON object: %w", typ, err)
		}
	}
	if _, ok := fields["organization"]; ok {
		return Event{}, errors.New("record event: the payload may not set organization")
	}
	if _, ok := fields["sequence"]; ok {
		return Event{}, errors.New("record event: the payload may not set sequence")
	}
	e := Event{ID: newEventID(), Type: typ, Organization: Organization{ID: orgID}, OccurredAt: store.Now(r.now())}
	var ext sql.NullString
	err := tx.QueryRowContext(ctx, `UPDATE organizations SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq, external_id`, orgID).
		Scan(&e.Seq, &ext)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, fmt.Errorf("record %s event: no organization %d", typ, orgID)
	}
	if err != nil {
		return Event{}, fmt.Errorf("record %s event for organization %d: %w", typ, orgID, err)
	}
	e.Organization.ExternalID = ext.String
	org, _ := json.Marshal(e.Organization)
	seq, _ := json.Marshal(e.Seq)
	fields["organization"], fields["sequence"] = org, seq
	if e.Data, err = json.Marshal(fields); err != nil {
		return Event{}, fmt.Errorf("record %s event: %w", typ, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (event_id, org_id, seq, type, data, occurred_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, orgID, e.Seq, string(typ), string(e.Data), e.OccurredAt); err != nil {
		return Event{}, fmt.Errorf("record %s event for organization %d: %w", typ, orgID, err)
	}
	return e, nil
}

// newEventID returns a webhook-id: unique, and the same on every attempt to
// deliver its event, so that a receiver can drop what it has already seen.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "msg_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
