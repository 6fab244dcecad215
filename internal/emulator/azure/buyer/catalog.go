package buyer

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// meterView is a plan's metering dimension with the offer's name and unit.
type meterView struct {
	market.PlanMeter
	Dimension market.Dimension
}

// planView is a plan as the buyer sees it.
type planView struct {
	market.Plan
	Meters   []meterView
	MinSeats int
	MaxSeats int // 0: no limit
}

// offerView is an offer with the plans one tenant may buy.
type offerView struct {
	Offer     market.Offer
	Publisher string
	Plans     []planView
	Units     []string // every term any plan is sold for, shortest first
	HasTrial  bool
	HasSeats  bool
}

func (p *Pages) offerFor(o market.Offer, tenant string) (offerView, error) {
	plans, err := p.m.PlansFor(o.ID, tenant)
	if err != nil {
		return offerView{}, err
	}
	v := offerView{Offer: o, Publisher: o.PublisherID}
	units := map[string]bool{}
	for _, pl := range plans {
		v.Plans = append(v.Plans, viewPlan(o, pl))
		for _, t := range pl.Terms {
			units[t.Unit] = true
		}
		v.HasTrial = v.HasTrial || pl.FreeTrial
		v.HasSeats = v.HasSeats || pl.PricePerSeat
	}
	for _, u := range market.TermUnits {
		if units[u] {
			v.Units = append(v.Units, u)
		}
	}
	return v, nil
}

func viewPlan(o market.Offer, pl market.Plan) planView {
	v := planView{Plan: pl}
	for _, mt := range pl.Meters {
		d := market.Dimension{ID: mt.DimensionID, DisplayName: mt.DimensionID}
		for _, od := range o.Dimensions {
			if od.ID == mt.DimensionID {
				d = od
			}
		}
		v.Meters = append(v.Meters, meterView{PlanMeter: mt, Dimension: d})
	}
	if pl.PricePerSeat {
		v.MinSeats, v.MaxSeats = max(pl.MinQuantity, 1), pl.MaxQuantity
	}
	return v
}

// home is "find the offer": every offer with the plans this tenant may buy.
func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	b, ok := p.requireBuyer(w, r)
	if !ok {
		return
	}
	var offers []offerView
	for _, o := range p.m.Offers() {
		v, err := p.offerFor(o, b.Tenant)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if len(v.Plans) > 0 {
			offers = append(offers, v)
		}
	}
	p.render(w, r, http.StatusOK, "home", "Marketplace", map[string]any{"Offers": offers})
}

// offer is "choose a plan": plan, term, seats, free trial and a name.
func (p *Pages) offer(w http.ResponseWriter, r *http.Request) {
	b, ok := p.requireBuyer(w, r)
	if !ok {
		return
	}
	o, err := p.m.Offer(r.PathValue("offer"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v, err := p.offerFor(o, b.Tenant)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	chosen := r.URL.Query().Get("plan")
	if len(v.Plans) > 0 && !hasPlan(v.Plans, chosen) {
		chosen = v.Plans[0].ID
	}
	term := ""
	for _, pl := range v.Plans {
		if pl.ID == chosen {
			term = pl.Terms[0].Unit // the market requires at least one term
		}
	}
	p.render(w, r, http.StatusOK, "offer", o.DisplayName, map[string]any{
		"Offer": v, "Chosen": chosen, "Term": term, "Name": o.DisplayName + " subscription",
	})
}

func hasPlan(plans []planView, id string) bool {
	for _, pl := range plans {
		if pl.ID == id {
			return true
		}
	}
	return false
}

// subscribe is the buyer's Subscribe: a SaaS subscription in
// PendingFulfillmentStart, then its page with "Configure account now".
func (p *Pages) subscribe(w http.ResponseWriter, r *http.Request) {
	b, ok := p.requireBuyer(w, r)
	if !ok {
		return
	}
	offerID := r.PathValue("offer")
	plans, err := p.m.PlansFor(offerID, b.Tenant)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	planID := r.PostFormValue("plan_id")
	var plan *market.Plan
	for i := range plans {
		if plans[i].ID == planID {
			plan = &plans[i]
		}
	}
	if plan == nil {
		p.fail(w, r, &market.Error{Kind: market.KindInvalid, Message: fmt.Sprintf("Choose one of the plans the offer lists for your tenant; %q is not one of them.", shorten(planID))})
		return
	}
	in := market.PurchaseInput{
		OfferID: offerID, PlanID: plan.ID, TermUnit: r.PostFormValue("term"),
		Name:        strings.TrimSpace(r.PostFormValue("name")),
		Beneficiary: market.Identity{TenantID: b.Tenant, EmailID: b.Email},
	}
	if plan.PricePerSeat {
		if in.Quantity, err = parseSeats(r.PostFormValue("seats")); err != nil {
			p.fail(w, r, invalid(err))
			return
		}
	}
	autoRenew := r.PostFormValue("auto_renew") == "on"
	in.AutoRenew = &autoRenew
	if plan.FreeTrial {
		trial := r.PostFormValue("free_trial") == "on"
		in.FreeTrial = &trial
	}
	if in.Name == "" {
		p.fail(w, r, invalid(fmt.Errorf("name your SaaS subscription, so you can tell it from others in the portal")))
		return
	}
	sub, _, err := p.m.Purchase(r.Context(), in)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.seeOther(w, r, "/subscriptions/"+sub.ID, "purchased")
}
