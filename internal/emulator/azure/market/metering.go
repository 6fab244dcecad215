package market

import (
	"context"
	"strings"
	"time"
)

// Usage event statuses (§5.2).
const (
	UsageAccepted              = "Accepted"
	UsageDuplicate             = "Duplicate"
	UsageExpired               = "Expired"
	UsageResourceNotFound      = "ResourceNotFound"
	UsageResourceNotAuthorized = "ResourceNotAuthorized"
	UsageResourceNotActive     = "ResourceNotActive"
	UsageInvalidDimension      = "InvalidDimension"
	UsageInvalidQuantity       = "InvalidQuantity"
	UsageBadArgument           = "BadArgument"
)

// UsageInput is one usage event as the seller sent it, still text: the
// market does every check, so single and batch calls agree.
type UsageInput struct {
	ResourceID         string
	ResourceURI        string
	Quantity           string // the JSON number's text
	Dimension          string
	EffectiveStartTime string
	PlanID             string
}

// UsageResult is the outcome of one event. Event is the accepted event, or
// for Duplicate the original one; Echo is what the seller sent, for the
// response's fields.
type UsageResult struct {
	Status  string
	Message string
	Target  string
	Event   UsageEvent
	Echo    UsageEcho
}

// UsageEcho is the parsed part of the input the response repeats.
type UsageEcho struct {
	ResourceID         string
	Quantity           Quantity
	Dimension          string
	EffectiveStartTime time.Time
	PlanID             string
}

func dedupKey(resourceID, dimension string, hour time.Time) string {
	return strings.ToLower(resourceID) + "|" + dimension + "|" + hour.UTC().Format(time.RFC3339)
}

// ParseEffectiveStartTime accepts RFC 3339 with or without a zone (no zone
// is UTC, as the docs' examples are) and with any fraction of a second.
func ParseEffectiveStartTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// RecordUsage checks and records events in order (a later event of the same
// batch sees the earlier ones). It never fails as a whole.
func (m *Market) RecordUsage(ctx context.Context, publisherID string, in []UsageInput) ([]UsageResult, error) {
	out := make([]UsageResult, len(in))
	err := m.update(ctx, func(tx *txn) error {
		now := m.now()
		for i, e := range in {
			out[i] = m.recordOne(tx, publisherID, e, now)
		}
		return nil
	})
	return out, err
}

func (m *Market) recordOne(tx *txn, publisherID string, in UsageInput, now time.Time) UsageResult {
	r := UsageResult{Echo: UsageEcho{ResourceID: in.ResourceID, Dimension: in.Dimension, PlanID: in.PlanID}}
	fail := func(status, target, msg string) UsageResult {
		r.Status, r.Target, r.Message = status, target, msg
		return r
	}
	q, qerr := ParseQuantity(in.Quantity)
	r.Echo.Quantity = q
	t, tok := ParseEffectiveStartTime(in.EffectiveStartTime)
	r.Echo.EffectiveStartTime = t
	switch {
	case in.ResourceID != "" && in.ResourceURI != "":
		return fail(UsageBadArgument, "resourceUri", "Send resourceId or resourceUri, not both.")
	case in.ResourceID == "" && in.ResourceURI != "":
		return fail(UsageBadArgument, "resourceUri", "resourceUri is for managed applications; SaaS usage names the resourceId.")
	case in.ResourceID == "":
		return fail(UsageBadArgument, "resourceId", "The resourceId is required.")
	case !IsGUID(in.ResourceID):
		return fail(UsageBadArgument, "resourceId", "The resourceId is not a GUID.")
	case in.Dimension == "":
		return fail(UsageBadArgument, "dimension", "The dimension is required.")
	case in.PlanID == "":
		return fail(UsageBadArgument, "planId", "The planId is required.")
	case in.EffectiveStartTime == "" || !tok:
		return fail(UsageBadArgument, "effectiveStartTime", "The effectiveStartTime is required, as an ISO 8601 UTC time.")
	case in.Quantity == "":
		return fail(UsageBadArgument, "quantity", "The quantity is required.")
	case qerr != nil:
		return fail(UsageBadArgument, "quantity", qerr.Error())
	case q.Millionths <= 0:
		return fail(UsageInvalidQuantity, "quantity", "The quantity must be greater than 0.")
	}
	s := m.subscriptions[strings.ToLower(in.ResourceID)]
	if s == nil {
		return fail(UsageResourceNotFound, "resourceId", "The resource "+in.ResourceID+" is not found.")
	}
	if s.PublisherID != publisherID {
		return fail(UsageResourceNotAuthorized, "resourceId", "Client is not authorized for this usage resource.")
	}
	if t.Before(now.Add(-m.cfg.MeteringWindow)) {
		return fail(UsageExpired, "effectiveStartTime", "The effectiveStartTime is more than "+m.cfg.MeteringWindow.String()+" in the past.")
	}
	if t.After(now) {
		return fail(UsageBadArgument, "effectiveStartTime", "The effectiveStartTime is in the future.")
	}
	hour := t.Truncate(time.Hour)
	switch {
	case s.Status == StatusUnsubscribed && (s.ActivatedAt.IsZero() || !t.Before(s.UnsubscribedAt)):
		return fail(UsageResourceNotActive, "resourceId", "The resource is unsubscribed; only usage before the cancellation is accepted.")
	case s.Status == StatusPending || s.Status == StatusSuspended || s.Status == "NotStarted":
		return fail(UsageResourceNotActive, "resourceId", "The resource is "+s.Status+".")
	case hour.Before(s.ActivatedAt.Truncate(time.Hour)):
		return fail(UsageResourceNotActive, "effectiveStartTime", "The effectiveStartTime is before the subscription was activated.")
	}
	if in.PlanID != s.PlanID && in.PlanID != s.planAt(t) {
		return fail(UsageBadArgument, "planId", "The planId "+in.PlanID+" is not the subscription's plan.")
	}
	p := m.offers[s.OfferID].plan(in.PlanID)
	if mt, ok := p.meter(in.Dimension); !ok || mt.Unlimited {
		return fail(UsageInvalidDimension, "dimension", "The dimension "+in.Dimension+" is not a metered dimension of plan "+in.PlanID+".")
	}
	key := dedupKey(s.ID, in.Dimension, hour)
	if orig, ok := m.dedup[key]; ok {
		r.Status, r.Event, r.Message = UsageDuplicate, *orig, "This usage event already exist."
		return r
	}
	ev := &UsageEvent{ID: m.uuid(), PublisherID: s.PublisherID, OfferID: s.OfferID, ResourceID: s.ID, PlanID: in.PlanID,
		Dimension: in.Dimension, Quantity: q, EffectiveStartTime: t, Hour: hour, MessageTime: now,
		DryRun: s.SessionMode == "DryRun"}
	m.usage[ev.ID] = ev
	m.dedup[key] = ev
	tx.put(kindUsage, ev.ID, ev)
	r.Status, r.Event = UsageAccepted, *ev
	return r
}
