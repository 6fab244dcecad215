package control

import (
	"context"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"clock": a.m.Now(), "clock_offset": a.m.ClockOffset().String(), "publishers": len(a.m.Publishers()),
		"offers": len(a.m.Offers()), "subscriptions": len(a.m.Subscriptions(market.SubscriptionFilter{})),
		"faults": len(a.m.Faults()),
	})
}

func (a *API) reset(w http.ResponseWriter, r *http.Request) {
	a.respond(w, http.StatusOK, map[string]bool{"reset": true}, a.m.Reset(r.Context()))
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toJSON(a.m.Settings()))
}

// putSettings replaces every setting: absent fields take Microsoft's values.
func (a *API) putSettings(w http.ResponseWriter, r *http.Request) {
	var in settingsJSON
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	s, err := fromJSON(in)
	if err == nil {
		s, err = a.m.SetSettings(s)
	}
	a.respond(w, http.StatusOK, toJSON(s), err)
}

func (a *API) listPublishers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"publishers": a.m.Publishers()})
}

func (a *API) getPublisher(w http.ResponseWriter, r *http.Request) {
	p, err := a.m.Publisher(r.PathValue("id"))
	a.respond(w, http.StatusOK, p, err)
}

func (a *API) putPublisher(w http.ResponseWriter, r *http.Request) {
	var in market.PublisherInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	in.ID = r.PathValue("id")
	p, err := a.m.PutPublisher(r.Context(), in)
	a.respond(w, http.StatusOK, p, err)
}

func (a *API) listOffers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"offers": a.m.Offers()})
}

func (a *API) getOffer(w http.ResponseWriter, r *http.Request) {
	o, err := a.m.Offer(r.PathValue("id"))
	a.respond(w, http.StatusOK, o, err)
}

func (a *API) putOffer(w http.ResponseWriter, r *http.Request) {
	var in market.OfferInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	in.ID = r.PathValue("id")
	o, err := a.m.PutOffer(r.Context(), in)
	a.respond(w, http.StatusOK, o, err)
}

// plansFor lists what a buyer tenant may buy (?tenant=).
func (a *API) plansFor(w http.ResponseWriter, r *http.Request) {
	ps, err := a.m.PlansFor(r.PathValue("id"), r.URL.Query().Get("tenant"))
	a.respond(w, http.StatusOK, map[string]any{"plans": ps}, err)
}

func (a *API) setAudience(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Tenants []string `json:"tenants"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	p, err := a.m.SetAudience(r.Context(), r.PathValue("id"), r.PathValue("plan"), in.Tenants)
	a.respond(w, http.StatusOK, p, err)
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": a.m.Subscriptions(market.SubscriptionFilter{
		PublisherID: q.Get("publisher"), OfferID: q.Get("offer"), TenantID: q.Get("tenant")})})
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	s, err := a.m.Subscription(r.PathValue("id"))
	a.respond(w, http.StatusOK, s, err)
}

// landing is a token and where "Configure account now" sends the browser.
type landing struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	LandingURL string    `json:"landing_url,omitempty"` // empty when the publisher has no landing page URL
}

func (a *API) landing(t market.Token) landing {
	u, _ := a.m.LandingURL(t.SubscriptionID, t.Token) // empty without a landing URL: still a usable token
	return landing{Token: t.Token, ExpiresAt: t.ExpiresAt, LandingURL: u}
}

func (a *API) purchase(w http.ResponseWriter, r *http.Request) {
	var in market.PurchaseInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	s, t, err := a.m.Purchase(r.Context(), in)
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Subscription market.Subscription `json:"subscription"`
		landing
	}{s, a.landing(t)})
}

func (a *API) landingToken(w http.ResponseWriter, r *http.Request) {
	t, err := a.m.NewLandingToken(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.landing(t))
}

func (a *API) changePlan(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PlanID string `json:"plan_id"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	op, err := a.m.BuyerChange(r.Context(), r.PathValue("id"), market.ChangeInput{PlanID: in.PlanID})
	a.respond(w, http.StatusAccepted, op, err)
}

func (a *API) changeQuantity(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Quantity *int `json:"quantity"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	op, err := a.m.BuyerChange(r.Context(), r.PathValue("id"), market.ChangeInput{Quantity: in.Quantity})
	a.respond(w, http.StatusAccepted, op, err)
}

// action serves a buyer or billing action that takes only the subscription.
func (a *API) action(fn func(context.Context, string) (market.Operation, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op, err := fn(r.Context(), r.PathValue("id"))
		a.respond(w, http.StatusOK, op, err)
	}
}

func (a *API) autoRenew(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AutoRenew *bool `json:"auto_renew"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	if in.AutoRenew == nil {
		writeError(w, a.log, &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: "auto_renew (true or false) is required"})
		return
	}
	s, err := a.m.SetAutoRenew(r.Context(), r.PathValue("id"), *in.AutoRenew)
	a.respond(w, http.StatusOK, s, err)
}

func (a *API) operations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.m.Subscription(id); err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"operations": a.m.Operations(id)})
}

func (a *API) invoice(w http.ResponseWriter, r *http.Request) {
	inv, err := a.m.InvoiceFor(r.PathValue("id"))
	a.respond(w, http.StatusOK, inv, err)
}

func (a *API) ledger(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	writeJSON(w, http.StatusOK, map[string]any{"events": a.m.Ledger(market.LedgerFilter{PublisherID: q.Get("publisher"),
		SubscriptionID: q.Get("subscription"), OfferID: q.Get("offer"), PlanID: q.Get("plan"), Dimension: q.Get("dimension")})})
}

func (a *API) webhooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": a.m.Deliveries()})
}

func (a *API) getClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"now": a.m.Now(), "offset": a.m.ClockOffset().String()})
}

// advanceClock moves the clock forward ({"duration":"720h"}) and applies
// renewals, suspensions' ends and operations that came due.
func (a *API) advanceClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Duration string `json:"duration"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil {
		writeError(w, a.log, &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: "duration " + in.Duration + ": want e.g. 24h or 90m"})
		return
	}
	now, err := a.m.AdvanceClock(r.Context(), d)
	a.respond(w, http.StatusOK, map[string]any{"now": now, "offset": a.m.ClockOffset().String()}, err)
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

func (a *API) removeFault(w http.ResponseWriter, r *http.Request) {
	err := a.m.RemoveFault(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
