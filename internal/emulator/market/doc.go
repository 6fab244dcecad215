// Package market is the emulated AWS Marketplace: the catalog (products,
// dimensions, public and private offers), buyer accounts and their IAM
// permissions, agreements with their licenses and lifecycle, registration
// tokens, the metering ledger, and the notifications all of these produce;
// and the Agreement API's view of agreements (agreementview.go): AWS's
// statuses, the accepted terms, the proposer's search (#13).
//
// It implements AWS's side of the rules: one subscription per account and
// product unless the product allows concurrent agreements; tokens resolvable
// repeatedly for four hours and only by the seller account that owns the
// product; cancellation leaves a final-metering window; contracts expire at
// their end date; metering deduplicates on (customer, license, dimension,
// hour) with the first write winning.
//
// State lives in memory behind one mutex and every change is written through
// a Store in the same call, so a restart loads exactly what was acknowledged.
// Time is the emulator's clock: real time plus an offset that tests and demos
// move forward; throttling and delivery retries run on real time, which is
// what SDK retryers and HTTP endpoints experience.
package market
