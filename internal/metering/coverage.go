package metering

import (
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Reason says why an hour's usage is not billed by any marketplace.
type Reason string

// Why no marketplace bills an hour (R12, R14, R19, R20, R23).
const (
	// ReasonNoLink: no subscription billed the organization then: before
	// its first link, or after a link moved to another organization or
	// whose subscription failed, with no cancellation before.
	ReasonNoLink Reason = "no_link"
	// ReasonCancelled: after the last hour the cancelled subscription bills
	// (the hour of the cancellation, R18) but before marketbridge ended
	// the link, which starts the grace period: a cancellation that arrived
	// late.
	ReasonCancelled Reason = "cancelled"
	// ReasonGrace: within the 14 days after a link ended by a cancellation
	// (R19).
	ReasonGrace Reason = "grace"
	// ReasonSuspended: after those 14 days.
	ReasonSuspended Reason = "suspended"
	// ReasonContractExpired: a contract's link stands but no term covers
	// the hour: after its last term, or between two terms (R13, R14).
	ReasonContractExpired Reason = "contract_expired"
)

// coverage is the hours of a subscription's link that metering bills: those
// that start in one of spans and before last. It is the one place that
// says so, for the records metering makes (makeFor) and for what the
// vendor is told no marketplace bills (Coverage).
func coverage(sub marketplace.Metered, now time.Time) ([]span, time.Time) {
	spans := termSpans(sub.LinkedAt, sub.Terms)
	return spans, lastHour(sub, spans, now)
}

// covers says whether the hour is one that metering bills (coverage).
func covers(spans []span, last, hour time.Time) bool {
	if !hour.Before(last) {
		return false
	}
	for _, sp := range spans {
		if !hour.Before(sp.from) && (sp.to.IsZero() || hour.Before(sp.to)) {
			return true
		}
	}
	return false
}

// linkCover is one link with the hours metering bills of it.
type linkCover struct {
	sub   marketplace.Metered
	spans []span
	last  time.Time
}

// attribution tells, hour by hour, whether a marketplace bills an
// organization's usage, from every link it has had (LinkHistory).
type attribution struct {
	links []linkCover
}

// newAttribution lays out an organization's links as metering bills them
// as things stand: a live link bills every hour from its start, those
// under way or to come included, as metering will when they close; only
// its end (a cancellation, a move) or a contract's last term stops it.
// For closed hours that is exactly what metering has billed or will.
func newAttribution(links []marketplace.Metered) attribution {
	a := attribution{links: make([]linkCover, len(links))}
	for i, l := range links {
		spans, last := coverage(l, endOfTime)
		a.links[i] = linkCover{sub: l, spans: spans, last: last}
	}
	return a
}

// endOfTime is a now after every hour that has usage.
var endOfTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// at says whether a marketplace bills the hour and, if none does, why.
// Two links may bill one hour (a relink within the hour of a cancellation):
// it is billed, once here, and once to the marketplace too, the new link's
// record carrying what the cancelled one's did not (makeOne).
func (a attribution) at(hour time.Time) (bool, Reason) {
	var latest *linkCover
	var cancelEnd time.Time
	for i := range a.links {
		l := &a.links[i]
		if covers(l.spans, l.last, hour) {
			return true, ""
		}
		if !hour.Before(l.sub.LinkedAt.UTC().Truncate(time.Hour)) {
			latest = l
		}
		if l.sub.EndReason == marketplace.StatusCancelled && !l.sub.EndedAt.After(hour) && l.sub.EndedAt.After(cancelEnd) {
			cancelEnd = l.sub.EndedAt
		}
	}
	if l := latest; l != nil && (l.sub.EndedAt.IsZero() || hour.Before(l.sub.EndedAt)) &&
		(l.sub.EndReason == "" || l.sub.EndReason == marketplace.StatusCancelled) {
		// The link stood in this hour, yet metering does not bill it:
		// after the hour of its cancellation, or outside the contract's
		// terms. (A link that moved away or failed is no link from its
		// end's hour on.)
		if l.sub.Status == marketplace.StatusCancelled {
			return false, ReasonCancelled
		}
		return false, ReasonContractExpired
	}
	if !cancelEnd.IsZero() {
		if hour.Before(cancelEnd.Add(marketplace.GracePeriod)) {
			return false, ReasonGrace
		}
		return false, ReasonSuspended
	}
	return false, ReasonNoLink
}
