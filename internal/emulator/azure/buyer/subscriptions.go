package buyer

import (
	"context"
	"net/http"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// subscriptionRow is a subscription with the names the portal shows.
type subscriptionRow struct {
	Sub       market.Subscription
	OfferName string
	PlanName  string
}

func (p *Pages) row(s market.Subscription) subscriptionRow {
	r := subscriptionRow{Sub: s, OfferName: s.OfferID, PlanName: s.PlanID}
	if o, err := p.m.Offer(s.OfferID); err == nil {
		r.OfferName = o.DisplayName
		for _, pl := range o.Plans {
			if pl.ID == s.PlanID {
				r.PlanName = pl.DisplayName
			}
		}
	}
	return r
}

func (p *Pages) subscriptions(w http.ResponseWriter, r *http.Request) {
	b, ok := p.requireBuyer(w, r)
	if !ok {
		return
	}
	var rows []subscriptionRow
	for _, s := range p.m.Subscriptions(market.SubscriptionFilter{TenantID: b.Tenant}) {
		rows = append(rows, p.row(s))
	}
	p.render(w, r, http.StatusOK, "subscriptions", "SaaS subscriptions", map[string]any{"Rows": rows})
}

// own finds a subscription of the signed-in buyer's tenant. Another
// tenant's answers exactly as an unknown one does, so ids do not leak.
func (p *Pages) own(w http.ResponseWriter, r *http.Request) (buyer, market.Subscription, bool) {
	b, ok := p.requireBuyer(w, r)
	if !ok {
		return b, market.Subscription{}, false
	}
	id := r.PathValue("id")
	s, err := p.m.Subscription(strings.ToLower(id))
	if err != nil || !(strings.EqualFold(s.Beneficiary.TenantID, b.Tenant) || strings.EqualFold(s.Purchaser.TenantID, b.Tenant)) {
		p.fail(w, r, &market.Error{Kind: market.KindNotFound, Code: market.CodeEntityNotFound,
			Message: "Your tenant " + b.Tenant + " has no SaaS subscription " + shorten(id) + "."})
		return b, market.Subscription{}, false
	}
	return b, s, true
}

func (p *Pages) subscription(w http.ResponseWriter, r *http.Request) {
	b, s, ok := p.own(w, r)
	if !ok {
		return
	}
	o, err := p.m.Offer(s.OfferID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var current planView
	for _, pl := range o.Plans {
		if pl.ID == s.PlanID {
			current = viewPlan(o, pl)
		}
	}
	// The plans a change may go to: what the market would accept (same
	// pricing model, sold for the current term), so the form offers no
	// choice that can only fail.
	plans, err := p.m.PlansFor(s.OfferID, b.Tenant)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var others []planView
	for _, pl := range plans {
		if pl.ID == s.PlanID || pl.PricePerSeat != current.PricePerSeat || !sells(pl, s.Term.Unit) {
			continue
		}
		others = append(others, viewPlan(o, pl))
	}
	ops := p.m.Operations(s.ID)
	var pending *market.Operation
	for i := range ops {
		if ops[i].Status == market.OpInProgress {
			pending = &ops[i]
		}
	}
	inv, err := p.m.InvoiceFor(s.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "subscription", s.Name, map[string]any{
		"Row": p.row(s), "Sub": s, "Plan": current, "Others": others, "Operations": ops, "Pending": pending,
		"Invoice": inv, "CanUpdate": s.Status == market.StatusSubscribed && pending == nil && allows(s, market.CustomerUpdate),
		"CanDelete": s.Status != market.StatusUnsubscribed && allows(s, market.CustomerDelete),
	})
}

func sells(pl market.Plan, unit string) bool {
	for _, t := range pl.Terms {
		if t.Unit == unit {
			return true
		}
	}
	return false
}

func allows(s market.Subscription, op string) bool {
	for _, o := range s.AllowedCustomerOperations {
		if o == op {
			return true
		}
	}
	return false
}

// landing is "Configure account now" and "Manage account": a fresh purchase
// token, and the browser sent (GET) to the publisher's landing page with it.
// It is a POST because it mints a token; the 303 turns it into the GET
// Microsoft makes.
func (p *Pages) landing(w http.ResponseWriter, r *http.Request) {
	_, s, ok := p.own(w, r)
	if !ok {
		return
	}
	// Check the landing page URL first, so a publisher without one costs no token.
	if _, err := p.m.LandingURL(s.ID, ""); err != nil {
		p.fail(w, r, err)
		return
	}
	tok, err := p.m.NewLandingToken(r.Context(), s.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	to, err := p.m.LandingURL(s.ID, tok.Token)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	// The token must not travel on to third parties as a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// change is a buyer's plan or quantity change: read from the form, then
// an InProgress operation that waits for the publisher's ACK (§4.3).
func (p *Pages) change(read func(*http.Request) (market.ChangeInput, error), done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, s, ok := p.own(w, r)
		if !ok {
			return
		}
		in, err := read(r)
		if err != nil {
			p.fail(w, r, invalid(err))
			return
		}
		if _, err := p.m.BuyerChange(r.Context(), s.ID, in); err != nil {
			p.fail(w, r, err)
			return
		}
		p.seeOther(w, r, "/subscriptions/"+s.ID, done)
	}
}

func planChange(r *http.Request) (market.ChangeInput, error) {
	plan := r.PostFormValue("plan_id")
	if plan == "" {
		return market.ChangeInput{}, errorText("choose the plan to change to")
	}
	return market.ChangeInput{PlanID: plan}, nil
}

func quantityChange(r *http.Request) (market.ChangeInput, error) {
	q, err := parseSeats(r.PostFormValue("quantity"))
	if err != nil {
		return market.ChangeInput{}, err
	}
	return market.ChangeInput{Quantity: &q}, nil
}

func (p *Pages) autoRenew(w http.ResponseWriter, r *http.Request) {
	_, s, ok := p.own(w, r)
	if !ok {
		return
	}
	var on bool
	switch r.PostFormValue("auto_renew") {
	case "on":
		on = true
	case "off":
	default:
		p.fail(w, r, invalid(errorText("choose whether auto-renew is on or off")))
		return
	}
	if _, err := p.m.SetAutoRenew(r.Context(), s.ID, on); err != nil {
		p.fail(w, r, err)
		return
	}
	done := "auto-renew-off"
	if on {
		done = "auto-renew-on"
	}
	p.seeOther(w, r, "/subscriptions/"+s.ID, done)
}

// cancelForm asks first, as the portal does: cancelling cannot be undone.
func (p *Pages) cancelForm(w http.ResponseWriter, r *http.Request) {
	_, s, ok := p.own(w, r)
	if !ok {
		return
	}
	if s.Status == market.StatusUnsubscribed {
		p.fail(w, r, &market.Error{Kind: market.KindConflict, Message: "This SaaS subscription is already cancelled (Unsubscribed); there is nothing to cancel."})
		return
	}
	p.render(w, r, http.StatusOK, "cancel", "Cancel "+s.Name, map[string]any{"Row": p.row(s)})
}

func (p *Pages) cancel(w http.ResponseWriter, r *http.Request) {
	_, s, ok := p.own(w, r)
	if !ok {
		return
	}
	// Only the confirmation page's button cancels.
	if r.PostFormValue("confirm") != "cancel" {
		p.seeOther(w, r, "/subscriptions/"+s.ID+"/cancel", "")
		return
	}
	if _, err := p.m.Cancel(r.Context(), s.ID); err != nil {
		p.fail(w, r, err)
		return
	}
	p.seeOther(w, r, "/subscriptions/"+s.ID, "cancelled")
}

// billingEvent is an emulator control: what Microsoft's billing does on its
// own (a failed payment, a payment received, a renewal), on demand.
func (p *Pages) billingEvent(act func(context.Context, string) (market.Operation, error), done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, s, ok := p.own(w, r)
		if !ok {
			return
		}
		if _, err := act(r.Context(), s.ID); err != nil {
			p.fail(w, r, err)
			return
		}
		p.seeOther(w, r, "/subscriptions/"+s.ID, done)
	}
}

// errorText is a message for invalid().
type errorText string

func (e errorText) Error() string { return string(e) }
