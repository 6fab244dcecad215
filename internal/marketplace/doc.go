// Package marketplace is the provider-neutral side of selling through a
// marketplace: the catalog of products, purchases resolved from "Set up your
// account", subscriptions, their billing links to organizations, and
// contract entitlements.
//
// It implements the linking rules of docs/flows-and-rules.md: R1 (one
// subscription per account and product, linked to one organization), R2
// (only admins link), R3 (one subscription per organization), R4 (the
// purchase survives registration and log-in), R5 (clear token errors), R6
// (idempotent, race-free linking, enforced by unique indexes), R7 (re-running
// set-up shows where a subscription is linked), R8 (moving needs admin rights
// in both organizations), R9 (confirmation mail, billing state) and R24
// (free trials).
//
// The marketplace itself is reached through the Resolver interface, which
// package awsmp implements with the AWS SDK.
//
// Every change of an organization's billing records, in its own
// transaction, the webhook events the vendor's product learns it by
// (issue 12), through the EventRecorder interface (package webhook): see
// events.go for when each is recorded and webhook/payloads.go for what it
// says. A cancellation completes as subscription.updated cancelled,
// organization.unlinked, subscription.updated grace; the suspension at the
// end of the grace (R19) and a contract's expiry by time (R14) are recorded
// by TellElapsed, which RunNotifications runs.
package marketplace
