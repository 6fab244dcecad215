// Package usage takes in the usage events that a vendor's product sends to
// POST /api/v1/events (issue 7): CloudEvents 1.0 JSON, one event or a batch,
// each naming a meter (type), a resource (subject), a usage time and an
// exact quantity.
//
// It validates each event on its own, so a batch with bad events rejects only
// those; deduplicates on (organization, source, id), so a resend is counted
// once; and acknowledges an event only after the transaction that stores it
// has committed. Alongside the events it keeps hourly totals per
// organization, meter and subject, which rating and hourly metering read.
//
// Speed comes from two choices, measured in docs/performance.md: the
// deduplication index holds compact integer keys grouped by hour (see
// 0007_usage.sql) instead of the text of (organization, source, id); and one
// writer goroutine commits the events of every request waiting at that moment
// in one transaction (group commit), while requests decode and validate their
// JSON in parallel. On PostgreSQL two such writers (Config.Writers) commit
// rounds at once: each writes its rows while the other takes its turn on the
// hours' totals and commits.
package usage
