package metering

import (
	"errors"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Record is one metering record as it is sent.
type Record struct {
	ID             int64
	SubscriptionID int64
	ProductCode    string
	Dimension      string
	Hour           time.Time
	Quantity       int64 // in the dimension's units (for credits, $0.01)
	Customer       marketplace.Customer
	// Key and Plan are the marketplace's subscription id and its current
	// plan, which Microsoft's metering names (#15); Plan is empty on AWS.
	Key  string
	Plan string
}

// Record statuses.
const (
	StatusPending       = "pending"
	StatusAccepted      = "accepted"
	StatusNotSubscribed = "not-subscribed"
	StatusCarried       = "carried"
	StatusConflict      = "conflict"
	StatusRejected      = "rejected"
)

// OutcomeStatus is what the marketplace said of one record.
type OutcomeStatus int

const (
	OutcomeUnprocessed   OutcomeStatus = iota // not processed: send again
	OutcomeAccepted                           // metered (or the identical record was, before)
	OutcomeDuplicate                          // another quantity is metered for that hour
	OutcomeNotSubscribed                      // the customer is not subscribed: final
	// OutcomeConflict: the marketplace holds another quantity for the
	// hour (Microsoft's Duplicate carrying a different original): final,
	// for an operator.
	OutcomeConflict
	// OutcomeRejected: the marketplace refused the record for what it
	// says (its subscription, dimension or quantity): final.
	OutcomeRejected
)

// Outcome is the marketplace's answer for one record.
type Outcome struct {
	Status           OutcomeStatus
	MeteringRecordID string
	// Detail says why, for a conflict or a rejection: the operator reads it.
	Detail string
	// NotHeld, with OutcomeNotSubscribed, says the marketplace cannot hold
	// the record even from a send whose answer was lost (Microsoft refuses
	// a cancelled subscription's usage only for hours after the
	// cancellation, which it never took): not a conflict.
	NotHeld bool
}

// Errors of a whole call that the sender handles.
var (
	// ErrTimestampOutOfBounds: a record of the call is too old (or in the
	// future) for AWS; the whole call was refused.
	ErrTimestampOutOfBounds = errors.New("a record's timestamp is outside the marketplace's window")
	// ErrThrottled: the call was throttled after the SDK's own retries.
	ErrThrottled = errors.New("throttled by the marketplace")
	// ErrRejected: the marketplace refused the call for what a record says
	// (its license, customer, dimension or product): resending it unchanged
	// cannot succeed.
	ErrRejected = errors.New("the marketplace rejected a record")
)

// Uncertain is the failure of a call, err, that came after an attempt of
// it which may have reached the marketplace (a 5xx, an answer lost): the
// sender keeps its records as maybe sent, whatever err says of the last
// attempt (throttled, refused, no connection). Only err's text is kept, so
// that nothing in it reads as one of those. Adapters whose clients retry
// inside a call use it (R10: such records carried later would be billed
// twice).
func Uncertain(err error) error { return uncertainError(err.Error()) }

type uncertainError string

func (e uncertainError) Error() string { return string(e) }
