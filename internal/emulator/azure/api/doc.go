// Package api serves the wire APIs of the Microsoft commercial marketplace
// emulator: the SaaS Fulfillment API v2 under /api/saas/ and the Marketplace
// Metering Service API at /api/usageEvent, /api/batchUsageEvent and
// /api/usageEvents, as ../shared/docs/azure-marketplace-contract.md sections
// 3 and 5 describe them (#15).
//
// Every call goes through one chain (middleware.go): the x-ms-requestid and
// x-ms-correlationid echo, the api-version check, the bearer check through
// an Authenticator (the Entra stand-in), the per-publisher throttle and the
// injected faults. Handlers decode, call one market method and render.
package api
