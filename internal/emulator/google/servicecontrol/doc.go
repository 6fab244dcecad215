// Package servicecontrol is the Service Control API v1 of the Google Cloud
// Marketplace emulator, as a SaaS partner's usage reporting calls it
// through google.golang.org/api/servicecontrol/v1: services.check and
// services.report (contract §4), served as one http.Handler the emulator
// mounts at /google/servicecontrol/.
//
// It checks callers through the house's Authorizer and consumers through
// the house's Consumers (the entitlements' usageReportingIds), validates
// requests as Google documents (times, int64 values as strings, duplicate
// metric values, 1 MB), answers partial failures in reportErrors, dedupes
// on operationId, and records accepted usage in a ledger of its own
// (SQLite): quantity × the plan's price in micro-dollars, exact integers,
// rounded to cents only at the end of each account's monthly invoice. It
// flags, without refusing, what Google would bill but a correct seller never
// sends: reports later than the reporting window and intervals that overlap
// another operation's for the same consumer and metric.
//
// Fault injection (429/503 for the next calls, and an answer lost after the
// report was applied) exercises the seller's retries, which the generated
// client does not do for it.
//
// It shares no code with the seller side and imports nothing of the rest of
// the emulator.
package servicecontrol
