package api

import (
	"net/http"
	"net/url"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func (a *API) wireSub(s market.Subscription) market.SubscriptionWire {
	return market.NewSubscriptionWire(s, a.m.Settings().LiveQuirks)
}

type resolveResponse struct {
	ID               string                  `json:"id"`
	SubscriptionName string                  `json:"subscriptionName"`
	OfferID          string                  `json:"offerId"`
	PlanID           string                  `json:"planId"`
	Quantity         *int                    `json:"quantity,omitempty"`
	Subscription     market.SubscriptionWire `json:"subscription"`
}

func (a *API) resolve(w http.ResponseWriter, r *http.Request) {
	s, err := a.m.Resolve(caller(r).ID, r.Header.Get("x-ms-marketplace-token"))
	if err != nil {
		a.writeError(w, err)
		return
	}
	sw := a.wireSub(s)
	writeJSON(w, http.StatusOK, resolveResponse{ID: s.ID, SubscriptionName: s.Name, OfferID: s.OfferID, PlanID: s.PlanID,
		Quantity: sw.Quantity, Subscription: sw})
}

func (a *API) activate(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	plan, qty, err := parseActivate(b)
	if err == nil {
		err = a.m.Activate(r.Context(), caller(r).ID, r.PathValue("id"), plan, qty)
	}
	if err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

type listResponse struct {
	Subscriptions []market.SubscriptionWire `json:"subscriptions"`
	NextLink      string                    `json:"@nextLink,omitempty"`
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	page, err := a.m.ListSubscriptions(caller(r).ID, r.URL.Query().Get("continuationToken"))
	if err != nil {
		a.writeError(w, err)
		return
	}
	out := listResponse{Subscriptions: make([]market.SubscriptionWire, 0, len(page.Subscriptions))}
	quirks := a.m.Settings().LiveQuirks // once a page, not once a subscription
	for _, s := range page.Subscriptions {
		out.Subscriptions = append(out.Subscriptions, market.NewSubscriptionWire(s, quirks))
	}
	if page.Next != "" {
		out.NextLink = a.base + "/saas/subscriptions/?" + url.Values{"continuationToken": {page.Next}, "api-version": {APIVersion}}.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	s, err := a.m.GetSubscription(caller(r).ID, r.PathValue("id"))
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.wireSub(s))
}

func (a *API) listAvailablePlans(w http.ResponseWriter, r *http.Request) {
	offer, plans, err := a.m.AvailablePlans(caller(r).ID, r.PathValue("id"), r.URL.Query().Get("planId"))
	if err != nil {
		a.writeError(w, err)
		return
	}
	out := struct {
		Plans []market.PlanWire `json:"plans"`
	}{Plans: []market.PlanWire{}}
	for _, p := range plans {
		out.Plans = append(out.Plans, market.NewPlanWire(offer, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) updateSubscription(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	in, err := parseChange(b)
	if err != nil {
		a.writeError(w, err)
		return
	}
	op, err := a.m.UpdateSubscription(r.Context(), caller(r).ID, r.PathValue("id"), in)
	a.accepted(w, op, err)
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	op, err := a.m.DeleteSubscription(r.Context(), caller(r).ID, r.PathValue("id"))
	a.accepted(w, op, err)
}

// accepted answers 202 with where to poll the operation.
func (a *API) accepted(w http.ResponseWriter, op market.Operation, err error) {
	if err != nil {
		a.writeError(w, err)
		return
	}
	w.Header().Set("Operation-Location", a.operationURL(op))
	w.Header().Set("Operation-Id", op.ID)
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) operationURL(op market.Operation) string {
	return a.base + "/saas/subscriptions/" + url.PathEscape(op.SubscriptionID) + "/operations/" + url.PathEscape(op.ID) +
		"?api-version=" + APIVersion
}
