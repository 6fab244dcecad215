// Package mail moves mail: a durable outbox in the database, a worker that
// delivers it over SMTP, and the dev mailbox that keeps it for display when no
// SMTP server is configured (the demo). What a mail says is the business of
// the package that enqueues it.
//
// The rules it implements:
//   - A mail exists exactly when the change that caused it committed: Enqueue
//     writes the row inside the caller's transaction.
//   - Nothing is lost across restarts: a worker claims rows with a lease, and a
//     crashed worker's rows become due again when the lease passes.
//   - One mail is not sent twice while a lease holds, even with several
//     replicas on one PostgreSQL (claims skip locked rows; outcomes are fenced
//     by a per-claim token). Delivery is at least once: a send that outlives
//     its lease may be repeated, so the lease must exceed the send timeout.
//   - SMTP is never called inside a transaction.
//   - Leases are compared with the workers' clocks, not the database's, so
//     replicas need clocks in step to well within a lease (NTP suffices).
//   - Failures are retried with exponential backoff; after MaxAttempts, or at
//     once when the server rejects the mail permanently (5xx), it is failed
//     with the last error kept.
package mail
