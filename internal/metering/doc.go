// Package metering reports usage to the marketplace every hour (R10), exactly
// once: metering records are made once per (subscription, dimension, closed
// hour) with a fixed quantity, claimed with row leases so that several
// processes on one database never send one twice at the same time, sent 25 to
// a BatchMeterUsage call at the seller's quota, and their outcome stored.
//
// A crash at any point is safe: an unsent record is claimed again when its
// lease ends, and a record AWS accepted whose outcome was not stored is sent
// again with the same quantity, which AWS answers idempotently with the same
// MeteringRecordId. A record that can no longer be sent inside AWS's
// timestamp window is carried: its quantity moves into the next hour's
// record, never dropped (R11).
package metering
