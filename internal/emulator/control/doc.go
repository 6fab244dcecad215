// Package control serves the emulator's control API under /emulator/v1/: JSON
// endpoints that script everything the buyer pages do and more (products,
// accounts, credentials, private offers, agreements and their lifecycle, the
// clock, faults, SNS subscriptions, the EventBridge target, the delivery
// outbox) and read the ledger AWS would invoice from. routes.go lists them all.
package control
