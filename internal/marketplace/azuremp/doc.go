// Package azuremp is marketbridge's side of Microsoft's commercial
// marketplace (Azure Marketplace and AppSource): a hand-written net/http
// client of the SaaS Fulfillment API v2 and the Marketplace Metering
// Service API (api-version 2018-08-31), since Microsoft publishes no Go
// client, and the checks of the webhook Microsoft sends (#15).
//
// It speaks the wire contract of ../shared/docs/azure-marketplace-contract.md
// with types of its own, read tolerantly (§3.1: quantities as numbers or
// strings, statuses padded with spaces, dates without a zone, unknown
// fields), and turns Microsoft's answers into a closed set of errors
// (ErrTokenInvalid, ErrForbidden, ErrNotFound, ErrConflict, ErrThrottled,
// ErrUnavailable, ...) that keep the request and correlation ids support
// asks for. Money is read into exact micro-units and usage quantities are
// exact decimals: no float ever carries an amount.
//
// It talks to two hosts only, the API's and Entra ID's, both from Config, so
// the same code runs against Microsoft and against an emulator whose CA the
// caller trusts. It imports nothing of marketbridge's core: an adapter maps
// its types to the core's ports.
package azuremp
