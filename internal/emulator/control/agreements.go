package control

import (
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

func (a *API) listAgreements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := a.m.Agreements(q.Get("account_id"), q.Get("product_code"))
	if out == nil {
		out = []market.Agreement{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agreements": out})
}

// subscribe answers 201 for a new agreement, 200 with existing=true when the
// account already holds one (AWS shows the existing subscription).
func (a *API) subscribe(w http.ResponseWriter, r *http.Request) {
	var in market.SubscribeInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	res, err := a.m.Subscribe(r.Context(), in)
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	a.respond(w, status, res, err)
}

func (a *API) getAgreement(w http.ResponseWriter, r *http.Request) {
	ag, err := a.m.Agreement(r.PathValue("id"))
	a.respond(w, http.StatusOK, ag, err)
}

func (a *API) registrationToken(w http.ResponseWriter, r *http.Request) {
	reg, err := a.m.SetUpAccount(r.Context(), r.PathValue("id"))
	a.respond(w, http.StatusCreated, reg, err)
}

func (a *API) cancel(w http.ResponseWriter, r *http.Request) {
	ag, err := a.m.Cancel(r.Context(), r.PathValue("id"))
	a.respond(w, http.StatusOK, ag, err)
}

func (a *API) renew(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Months int `json:"months,omitempty"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	ag, err := a.m.Renew(r.Context(), r.PathValue("id"), in.Months)
	a.respond(w, http.StatusOK, ag, err)
}

func (a *API) upgrade(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Entitlements map[string]int64 `json:"entitlements"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	ag, err := a.m.Upgrade(r.Context(), r.PathValue("id"), in.Entitlements)
	a.respond(w, http.StatusOK, ag, err)
}

func (a *API) expire(w http.ResponseWriter, r *http.Request) {
	ag, err := a.m.Expire(r.Context(), r.PathValue("id"))
	a.respond(w, http.StatusOK, ag, err)
}

type clockResponse struct {
	Now           time.Time `json:"now"`
	OffsetSeconds float64   `json:"offset_seconds"`
}

func (a *API) clock() clockResponse {
	return clockResponse{Now: a.m.Now(), OffsetSeconds: a.m.ClockOffset().Seconds()}
}

func (a *API) getClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.clock())
}

// advanceClock takes {"seconds": 3600} or {"duration": "1h30m"}.
func (a *API) advanceClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Seconds  float64 `json:"seconds,omitempty"`
		Duration string  `json:"duration,omitempty"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	d := time.Duration(in.Seconds * float64(time.Second))
	if in.Duration != "" {
		parsed, err := time.ParseDuration(in.Duration)
		if err != nil {
			writeError(w, a.log, &market.Error{Kind: market.KindInvalid, Message: "duration: " + err.Error()})
			return
		}
		d += parsed
	}
	_, err := a.m.AdvanceClock(r.Context(), d)
	a.respond(w, http.StatusOK, a.clock(), err)
}

func (a *API) setClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Now time.Time `json:"now"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	_, err := a.m.SetClock(r.Context(), in.Now)
	a.respond(w, http.StatusOK, a.clock(), err)
}

func (a *API) listFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"faults": a.m.Faults()})
}

func (a *API) addFault(w http.ResponseWriter, r *http.Request) {
	var in market.FaultInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	f, err := a.m.AddFault(r.Context(), in)
	a.respond(w, http.StatusCreated, f, err)
}

func (a *API) clearFaults(w http.ResponseWriter, r *http.Request) {
	err := a.m.RemoveFault(r.Context(), "")
	a.respond(w, http.StatusOK, map[string]any{"faults": []market.Fault{}}, err)
}

func (a *API) removeFault(w http.ResponseWriter, r *http.Request) {
	err := a.m.RemoveFault(r.Context(), r.PathValue("id"))
	a.respond(w, http.StatusOK, map[string]any{"faults": a.m.Faults()}, err)
}

func (a *API) ledgerRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	recs := a.m.Records(market.RecordFilter{ProductCode: q.Get("product_code"), AccountID: q.Get("account_id"), Month: q.Get("month")})
	if recs == nil {
		recs = []market.MeteringRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (a *API) ledgerInvoices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	inv, err := a.m.Invoices(q.Get("account_id"), q.Get("month"))
	a.respond(w, http.StatusOK, map[string]any{"invoices": inv}, err)
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) {
	topics := []map[string]string{}
	for _, p := range a.m.Products() {
		v := a.view(p)
		topics = append(topics, map[string]string{"product_code": p.Code, "topic_arn": v.SubscriptionTopicArn, "topic": market.TopicSubscription})
		if v.EntitlementTopicArn != "" {
			topics = append(topics, map[string]string{"product_code": p.Code, "topic_arn": v.EntitlementTopicArn, "topic": market.TopicEntitlement})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topics": topics})
}

func (a *API) listSNSSubscriptions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": a.m.SNSSubscriptions()})
}

func (a *API) subscribeSNS(w http.ResponseWriter, r *http.Request) {
	var in market.SNSSubscribeInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	s, err := a.m.SubscribeSNS(r.Context(), in)
	a.respond(w, http.StatusCreated, s, err)
}

func (a *API) unsubscribeSNS(w http.ResponseWriter, r *http.Request) {
	err := a.m.Unsubscribe(r.Context(), r.URL.Query().Get("subscription_arn"))
	a.respond(w, http.StatusOK, map[string]bool{"unsubscribed": true}, err)
}

func (a *API) getEventBridge(w http.ResponseWriter, r *http.Request) {
	t, ok := a.m.EventBridgeTarget()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"target": nil})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"target": t})
}

func (a *API) setEventBridge(w http.ResponseWriter, r *http.Request) {
	var in market.EventBridgeTarget
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	t, err := a.m.SetEventBridgeTarget(r.Context(), in)
	a.respond(w, http.StatusOK, map[string]any{"target": t}, err)
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": a.m.Deliveries(q.Get("channel"), q.Get("status"))})
}
