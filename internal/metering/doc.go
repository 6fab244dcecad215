// Package metering reports usage to the marketplace every hour (R10), exactly
// once: metering records are made once per (subscription, dimension, closed
// hour) with a fixed quantity, claimed with row leases so that several
// processes on one database never send one twice at the same time, sent 25 to
// a BatchMeterUsage call at the seller's quota, which every process shares
// (a Pacer: package quota in serve), and their outcome stored.
//
// A crash at any point is safe: an unsent record is claimed again when its
// lease ends, and a record AWS accepted whose outcome was not stored is sent
// again with the same quantity, which AWS answers idempotently with the same
// MeteringRecordId. A record that can no longer be sent inside AWS's
// timestamp window is carried: its quantity moves into the next hour's
// record, never dropped (R11).
//
// When the quota cannot send every hour's records inside the window, as with
// zero-quantity hours of about a million subscriptions, records that carry
// money are claimed first and zero records fill what is left; a zero record
// the window closes on is skipped, never a record with money (#14).
//
// Which hours of an organization a marketplace bills is said in one place,
// coverage (coverage.go): the records metering makes, the usage report that
// splits rated usage into what a marketplace bills and what it does not
// (R12, R20, R23), and the usage.unbilled events (unbilled.go) all follow it.
package metering
