// Package market is the state of the Microsoft commercial marketplace
// emulator: publishers (an Entra tenant and app), SaaS offers with plans and
// metering dimensions, SaaS subscriptions and their lifecycle, purchase
// tokens, the operations of the Fulfillment API v2, the ledger of accepted
// usage events, the webhook outbox, injected faults and a clock that tests
// move forward. It follows ../shared/docs/azure-marketplace-contract.md
// sections 1, 3, 4 and 5 (#15).
//
// Two kinds of caller use it: the wire handlers (package api), which act for
// a publisher found from its bearer token, and the buyer's side (the control
// API and the buyer pages), which act as Microsoft's portal does: Purchase,
// NewLandingToken, BuyerChangePlan, BuyerChangeQuantity, Cancel, Suspend,
// Reinstate, Renew, SetAutoRenew and AdvanceClock.
//
// Money is in integer micro-dollars (Micros); usage quantities are kept as
// the decimal text the seller sent and as an integer count of millionths
// (Quantity), so nothing is ever summed in floating point.
//
// It imports nothing of the seller side nor of the AWS emulator.
package market
