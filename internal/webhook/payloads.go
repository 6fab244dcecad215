package webhook

import "time"

// The payloads of the billing events, the body's "data" less the two fields
// Recorder.Record adds to every event: "organization" ({"id", "external_id"})
// and "sequence", the organization's sequence number, which grows by one
// with each event of the organization, in the order of the changes.
//
// Every payload carries the state after the change it reports, so that a
// receiver that missed or reordered events can act on the newest it has
// (the one with the highest sequence) alone. Times inside data are on the
// marketplace's clock, which is real time except in the demo; they are
// RFC 3339 in UTC. Nothing here is a secret or personal data of the buyer
// beyond what the organization's billing page shows its members.

// BillingState fields carry the organization's billing state as its
// billing page shows it (marketplace.BillingOf): none, active,
// cancellation-pending, grace, suspended or contract-expired.

// Subscription is the marketplace subscription an event is about, as the
// organization's billing page shows it.
type Subscription struct {
	// Marketplace is "aws".
	Marketplace string `json:"marketplace"`
	// ProductCode is the marketplace's code of the product.
	ProductCode string `json:"product_code"`
	// CustomerAccountID is the buyer's AWS account id (12 digits).
	CustomerAccountID string `json:"customer_account_id"`
	// OfferType is "payg" (public pay-as-you-go) or "contract".
	OfferType string `json:"offer_type"`
	// OfferID is a private offer's id, once the marketplace named it.
	OfferID string `json:"offer_id,omitempty"`
	// FreeTrial is true for a free trial (R24).
	FreeTrial bool `json:"free_trial"`
	// Status is the marketplace's: "active", "unsubscribe-pending",
	// "cancelled" or "failed".
	Status string `json:"status"`
}

// OrganizationLinked is the data of organization.linked: a marketplace
// subscription now bills the organization, linked by one of its admins, or
// moved to it from another organization (R8), which then gets
// organization.unlinked. A subscription.updated with the state it brings
// (active; reinstated; contract-expired for a contract already over)
// follows at once, with the next sequence number.
type OrganizationLinked struct {
	Subscription Subscription `json:"subscription"`
	LinkedAt     time.Time    `json:"linked_at"`
	// Moved is true when the subscription billed another organization
	// until now.
	Moved bool `json:"moved"`
	// BillingState is the organization's billing state now (active, or
	// contract-expired for a contract whose term is over).
	BillingState string `json:"billing_state"`
}

// Reasons a link ends, in OrganizationUnlinked.Reason.
const (
	UnlinkMoved     = "moved"     // an admin of both moved the subscription to another organization (R8)
	UnlinkCancelled = "cancelled" // the buyer cancelled it on the marketplace (unsubscribe-success)
	UnlinkFailed    = "failed"    // the marketplace could not complete it (subscribe-fail)
)

// OrganizationUnlinked is the data of organization.unlinked: the
// subscription no longer bills the organization. Its usage from now on is
// billed by no marketplace (usage.unbilled) until another subscription is
// linked. A subscription.updated with the state it leaves follows, when
// that state changed.
type OrganizationUnlinked struct {
	Subscription Subscription `json:"subscription"`
	// Reason is "moved", "cancelled" or "failed".
	Reason     string    `json:"reason"`
	UnlinkedAt time.Time `json:"unlinked_at"`
	// BillingState is the organization's billing state now: grace after a
	// cancellation; none after a move or a failure, unless an earlier
	// cancellation's grace still runs or has ended (grace, suspended).
	BillingState string `json:"billing_state"`
}

// State is the "state" of subscription.updated: the organization's billing
// state after the change, in the words of a receiver that turns features on
// and off, with two transitions of their own (cancelled, reinstated).
type State string

// The states of subscription.updated.
const (
	// StateActive: a live subscription bills the organization (billing
	// state active), which was not billed before (none), or whose contract
	// was renewed before anyone was told it expired.
	StateActive State = "active"
	// StateCancelling: the buyer is cancelling on the marketplace
	// (unsubscribe-pending): usage is still billed until the cancellation
	// completes; the final usage is reported by FinalMeteringBy (R18).
	StateCancelling State = "cancelling"
	// StateCancelled: the cancellation completed (unsubscribe-success). It
	// is always followed by organization.unlinked (reason cancelled), then
	// by subscription.updated with state grace, in increasing sequence, all
	// recorded by the same change: its billing state is already grace.
	StateCancelled State = "cancelled"
	// StateGrace: the subscription was cancelled and no other bills the
	// organization; it may go on until GraceUntil, 14 days after the
	// cancellation, for an admin to link another (R19).
	StateGrace State = "grace"
	// StateSuspended: the grace ended with nothing linked: the organization
	// is out of billing compliance; its data is kept (R17, R19). Recorded
	// once, by a periodic pass, soon after GraceUntil.
	StateSuspended State = "suspended"
	// StatePaymentSuspended: the marketplace suspended the subscription
	// for non-payment (Microsoft's commercial marketplace, for up to 30
	// days): usage is not billed through it until the marketplace
	// reinstates it (then reinstated) or cancels it (then cancelled).
	StatePaymentSuspended State = "payment-suspended"
	// StateReinstated: billed by a live subscription again (billing state
	// active) after the receiver was told cancelling, grace, suspended or
	// contract-expired: a cancelling subscription the marketplace made
	// active again, an organization in grace or suspended that an admin
	// linked to a subscription, or an expired contract renewed.
	StateReinstated State = "reinstated"
	// StateContractExpired: every entitlement of the organization's
	// contract has passed its end (the marketplace tells of an expiry only
	// by entitlement-updated): a new contract or another subscription must
	// be linked (R14). Recorded when the entitlements change, or else once
	// by the periodic pass soon after the last entitlement's end.
	StateContractExpired State = "contract-expired"
	// StateNone: no subscription bills the organization any more and no
	// cancellation put it in grace: its subscription moved to another
	// organization, or failed.
	StateNone State = "none"
)

// SubscriptionUpdated is the data of subscription.updated, recorded each
// time the organization's billing state changes from the one its last
// subscription.updated told, and on every completed cancellation (state
// cancelled, then grace). Two in a row never tell the same state.
//
// The life of a subscription is told as, in increasing sequence:
// organization.linked, subscription.updated active (reinstated if the
// organization was in grace or suspended), subscription.updated cancelling
// (unsubscribe-pending), subscription.updated cancelled,
// organization.unlinked (reason cancelled), subscription.updated grace (the
// last three recorded together by unsubscribe-success), and, 14 days later
// with nothing linked, subscription.updated suspended.
type SubscriptionUpdated struct {
	// State is what changed, see State; BillingState is the organization's
	// billing state after it (for cancelled and grace: grace).
	State        State  `json:"state"`
	BillingState string `json:"billing_state"`
	// Subscription is the subscription that bills the organization, or,
	// in grace, suspended and cancelled, the one whose cancellation ended
	// its billing; null for state none.
	Subscription *Subscription `json:"subscription"`
	// FinalMeteringBy is the deadline of the final usage report, while
	// cancelling (R18).
	FinalMeteringBy *time.Time `json:"final_metering_by,omitempty"`
	// GraceUntil is when the grace ends or ended: with cancelled, grace and
	// suspended.
	GraceUntil *time.Time `json:"grace_until,omitempty"`
}

// Entitlement is one dimension of a contract, as the marketplace lists it.
type Entitlement struct {
	Dimension string `json:"dimension"`
	// Kind is "integer", "double", "boolean" or "string".
	Kind string `json:"kind"`
	// Quantity is an integer entitlement's value (committed credits are in
	// whole dollars, 1 credit = $1); Value any other's, as the marketplace
	// wrote it.
	Quantity  *int64     `json:"quantity,omitempty"`
	Value     string     `json:"value,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Credits are the committed credits of one term of a contract, in
// micro-dollars (1 credit = $1 = 1,000,000).
type Credits struct {
	// TermStart is absent for the first term, which runs from the link;
	// TermEnd when the marketplace gave no end.
	TermStart   *time.Time `json:"term_start,omitempty"`
	TermEnd     *time.Time `json:"term_end,omitempty"`
	TotalMicros int64      `json:"total_micros"`
	// UsedMicros and RemainingMicros are the use of the term's credits that
	// metering counted (at most TotalMicros); absent from
	// entitlement.updated, which the marketplace, not usage, brings about:
	// read them from the entitlement endpoint.
	UsedMicros      *int64 `json:"used_micros,omitempty"`
	RemainingMicros *int64 `json:"remaining_micros,omitempty"`
}

// EntitlementUpdated is the data of entitlement.updated: the contract's
// entitlements changed (a new contract, an upgrade, a renewal, an expiry:
// the marketplace tells them all alike, R22). A subscription.updated
// follows when the change moves the billing state (contract-expired, or
// reinstated by a renewal).
type EntitlementUpdated struct {
	Subscription Subscription `json:"subscription"`
	BillingState string       `json:"billing_state"`
	// Entitlements are those the marketplace lists now, by dimension;
	// empty once the contract expired.
	Entitlements []Entitlement `json:"entitlements"`
	// Credits is the current term of the committed dimension; absent when
	// the contract commits no credits or none is current.
	Credits *Credits `json:"credits,omitempty"`
}

// CreditsThreshold is the data of credits.threshold: the use of a contract
// term's committed credits reached Threshold percent (50, 75, 90, or 100:
// used up; usage goes on as overage on the same contract, R14). Each
// threshold of a term is recorded once, with the mail of R15 (50, 75 and
// 90 only); an upgrade that raises the commitment within a term has
// thresholds of its own, of which those standing for more credits than
// already told are recorded.
type CreditsThreshold struct {
	Threshold    int          `json:"threshold"`
	Subscription Subscription `json:"subscription"`
	BillingState string       `json:"billing_state"`
	Credits      Credits      `json:"credits"`
}
