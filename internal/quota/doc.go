// Package quota paces calls to an outside API whose rate limit is per seller
// account, not per process (#13): AWS allows an account 10 BatchMeterUsage
// calls a second, whatever number of marketbridge processes make them.
//
// A Limiter is one named quota shared through the database by every process
// that uses it: a GCRA token bucket in one row of quota_buckets. A process
// reserves future slots, spaced 1/rate apart on the database's clock, for
// the callers waiting in it at that moment (at most MaxBatch a round trip),
// and each caller waits for its slot. So the processes together never get
// more than rate×w + burst slots in any span w, a process without work takes
// no slots, and a process that dies takes at most its last batch with it:
// there are no shares or leases to hand on.
package quota
