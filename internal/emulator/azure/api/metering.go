package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// usageEventWire is a usage event in a response (§5.1, §5.2).
type usageEventWire struct {
	UsageEventID       string          `json:"usageEventId,omitempty"`
	Status             string          `json:"status"`
	MessageTime        string          `json:"messageTime"`
	ResourceID         string          `json:"resourceId,omitempty"`
	Quantity           json.RawMessage `json:"quantity,omitempty"`
	Dimension          string          `json:"dimension,omitempty"`
	EffectiveStartTime string          `json:"effectiveStartTime,omitempty"`
	PlanID             string          `json:"planId,omitempty"`
	Error              *usageError     `json:"error,omitempty"`
}

type usageError struct {
	AdditionalInfo *additionalInfo `json:"additionalInfo,omitempty"`
	Message        string          `json:"message"`
	Target         string          `json:"target,omitempty"`
	Code           string          `json:"code"`
	Details        []errorDetail   `json:"details,omitempty"`
}

type additionalInfo struct {
	AcceptedMessage usageEventWire `json:"acceptedMessage"`
}

// unsetTime is "no time" in a batch result. Microsoft's examples write
// 0001-01-01T00:00:00 without a zone; its OpenAPI document says date-time,
// which needs one, and a tolerant client reads both: the document wins.
const unsetTime = "0001-01-01T00:00:00Z"

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// acceptedWire renders a ledger event with the given status.
func acceptedWire(e market.UsageEvent, status string) usageEventWire {
	return usageEventWire{UsageEventID: e.ID, Status: status, MessageTime: stamp(e.MessageTime), ResourceID: e.ResourceID,
		Quantity: json.RawMessage(e.Quantity.String()), Dimension: e.Dimension, EffectiveStartTime: stamp(e.EffectiveStartTime),
		PlanID: e.PlanID}
}

// resultWire renders one result of a batch: the event as accepted, or what
// was sent with the reason.
func resultWire(res market.UsageResult, sent usageItem, in market.UsageInput) usageEventWire {
	if res.Status == market.UsageAccepted {
		return acceptedWire(res.Event, market.UsageAccepted)
	}
	// What was sent, as far as it parsed: a time that did not parse is left
	// out rather than echoed in a shape the spec's date-time refuses.
	w := usageEventWire{Status: res.Status, MessageTime: unsetTime, ResourceID: in.ResourceID, Dimension: in.Dimension,
		PlanID: in.PlanID}
	if !res.Echo.EffectiveStartTime.IsZero() {
		w.EffectiveStartTime = stamp(res.Echo.EffectiveStartTime)
	}
	if q := strings.TrimSpace(string(sent.Quantity)); q != "" && json.Valid([]byte(q)) {
		w.Quantity = json.RawMessage(q)
	}
	if res.Status == market.UsageDuplicate {
		w.Error = &usageError{AdditionalInfo: &additionalInfo{AcceptedMessage: acceptedWire(res.Event, market.UsageDuplicate)},
			Message: res.Message, Code: market.CodeConflict}
	} else {
		w.Error = &usageError{Message: res.Message, Target: res.Target, Code: res.Status}
	}
	return w
}

func (a *API) usageEvent(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	in, _, err := parseUsageEvent(b)
	if err != nil {
		a.writeError(w, err)
		return
	}
	res, err := a.m.RecordUsage(r.Context(), caller(r).ID, []market.UsageInput{in})
	if err != nil {
		a.writeError(w, err)
		return
	}
	one := res[0]
	switch one.Status {
	case market.UsageAccepted:
		writeJSON(w, http.StatusOK, acceptedWire(one.Event, market.UsageAccepted))
	case market.UsageDuplicate:
		writeJSON(w, http.StatusConflict, usageError{AdditionalInfo: &additionalInfo{AcceptedMessage: acceptedWire(one.Event, market.UsageDuplicate)},
			Message: one.Message, Code: market.CodeConflict})
	case market.UsageResourceNotAuthorized:
		writeJSON(w, http.StatusForbidden, usageError{Message: one.Message, Code: market.CodeForbidden})
	default:
		writeJSON(w, http.StatusBadRequest, usageError{Message: "One or more errors have occurred.", Target: "usageEventRequest",
			Code: one.Status, Details: []errorDetail{{Message: one.Message, Target: one.Target, Code: one.Status}}})
	}
}

func (a *API) batchUsageEvent(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	ins, items, err := parseBatch(b)
	if err != nil {
		a.writeError(w, err)
		return
	}
	res, err := a.m.RecordUsage(r.Context(), caller(r).ID, ins)
	if err != nil {
		a.writeError(w, err)
		return
	}
	out := struct {
		Count  int              `json:"count"`
		Result []usageEventWire `json:"result"`
	}{Count: len(res)}
	for i, one := range res {
		out.Result = append(out.Result, resultWire(one, items[i], ins[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// usageQuery is GET /usageEvents' query.
type usageQuery struct {
	filter      market.LedgerFilter
	reconStatus string
}

// parseUsageDate reads 2020-12-03, 2020-12-03T15:00 or a full RFC 3339 time;
// dateOnly says which.
func parseUsageDate(s string) (t time.Time, dateOnly bool, ok bool) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, true, true
	}
	t, ok = market.ParseEffectiveStartTime(s)
	return t, false, ok
}

// parseUsageQuery reads usageStartDate (required), UsageEndDate (the spec's
// capital U; usageEndDate also works; a date is inclusive, default today),
// offerId, planId, dimension, azureSubscriptionId and reconStatus.
func parseUsageQuery(q url.Values, now time.Time) (usageQuery, error) {
	bad := func(target, msg string) error {
		return &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Target: target, Message: msg}
	}
	var out usageQuery
	start := q.Get("usageStartDate")
	if start == "" {
		return out, bad("usageStartDate", "usageStartDate is required.")
	}
	from, _, ok := parseUsageDate(start)
	if !ok {
		return out, bad("usageStartDate", "usageStartDate "+start+" is not an ISO 8601 date or time.")
	}
	end := q.Get("UsageEndDate")
	if end == "" {
		end = q.Get("usageEndDate")
	}
	to := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	if end != "" {
		t, dateOnly, ok := parseUsageDate(end)
		if !ok {
			return out, bad("UsageEndDate", "UsageEndDate "+end+" is not an ISO 8601 date or time.")
		}
		to = t
		if dateOnly {
			to = t.AddDate(0, 0, 1)
		}
	}
	if !from.Before(to) {
		return out, bad("UsageEndDate", "UsageEndDate is before usageStartDate.")
	}
	switch rs := q.Get("reconStatus"); rs {
	case "", "Submitted", "Accepted", "Rejected", "Mismatch", "TestHeaders", "DryRun":
		out.reconStatus = rs
	default:
		return out, bad("reconStatus", "reconStatus "+rs+" is not one of Submitted, Accepted, Rejected, Mismatch, TestHeaders, DryRun.")
	}
	if az := q.Get("azureSubscriptionId"); az != "" && !market.IsGUID(az) {
		return out, bad("azureSubscriptionId", "azureSubscriptionId is not a GUID.")
	}
	out.filter = market.LedgerFilter{OfferID: q.Get("offerId"), PlanID: q.Get("planId"), Dimension: q.Get("dimension"), From: from, To: to}
	return out, nil
}

type dailyUsageWire struct {
	UsageDate       string `json:"usageDate"`
	UsageResourceID string `json:"usageResourceId"`
	Dimension       string `json:"dimension"`
	PlanID          string `json:"planId"`
	PlanName        string `json:"planName"`
	OfferID         string `json:"offerId"`
	OfferName       string `json:"offerName"`
	OfferType       string `json:"offerType"`
	// AzureSubscriptionID is left out: SaaS usage has no Azure
	// subscription, and the document's uuid format refuses "".
	AzureSubscriptionID string          `json:"azureSubscriptionId,omitempty"`
	ReconStatus         string          `json:"reconStatus"`
	SubmittedQuantity   json.RawMessage `json:"submittedQuantity"`
	ProcessedQuantity   json.RawMessage `json:"processedQuantity"`
	SubmittedCount      int             `json:"submittedCount"`
}

func (a *API) getUsageEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseUsageQuery(r.URL.Query(), a.m.Now())
	if err != nil {
		a.writeError(w, err)
		return
	}
	q.filter.PublisherID = caller(r).ID
	out := []dailyUsageWire{}
	if r.URL.Query().Get("azureSubscriptionId") == "" { // SaaS usage has no Azure subscription: such a filter matches nothing
		for _, d := range a.m.DailyUsageFor(q.filter, q.reconStatus) {
			qty := json.RawMessage(d.Quantity.String())
			out = append(out, dailyUsageWire{UsageDate: stamp(d.Day), UsageResourceID: d.ResourceID, Dimension: d.Dimension,
				PlanID: d.PlanID, PlanName: d.PlanName, OfferID: d.OfferID, OfferName: d.OfferName, OfferType: "SaaS",
				ReconStatus: d.ReconStatus, SubmittedQuantity: qty, ProcessedQuantity: qty, SubmittedCount: d.Count})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
