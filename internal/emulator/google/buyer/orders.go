package buyer

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// orderView is an entitlement as the buyer reads it: names, the state in
// words, and which actions apply.
type orderView struct {
	E               Entitlement
	ProductName     string
	PlanName        string
	PendingPlanName string
	Private         bool
	Status          string // the state in a few words
	Badge           string // ok, pending, warn, ended
	Detail          string // what happens next, and what the buyer can do
	CanRegister     bool
	CanManage       bool
	CanCancel       bool
	CanRevert       bool
	OtherPlans      []Plan // the public plans a change may go to
}

// live is every state in which the order is in use.
func live(state string) bool {
	switch state {
	case StateActive, StatePendingPlanChangeApproval, StatePendingPlanChange, StatePendingCancellation:
		return true
	}
	return false
}

func viewOrder(e Entitlement, ps []Product, set BuyerSettings) orderView {
	company := set.Company
	v := orderView{E: e, ProductName: e.Product, PlanName: e.Plan, PendingPlanName: e.NewPendingPlan, Private: strings.Contains(e.Offer, "/privateOffers/")}
	for _, pr := range ps {
		if pr.Name != e.Product {
			continue
		}
		v.ProductName = pr.DisplayName
		for _, pl := range pr.Plans {
			if pl.Offer != "" {
				continue
			}
			if pl.ID == e.Plan {
				v.PlanName = pl.DisplayName
			} else {
				v.OtherPlans = append(v.OtherPlans, pl)
			}
			if pl.ID == e.NewPendingPlan {
				v.PendingPlanName = pl.DisplayName
			}
		}
	}
	until := "the end of its term"
	if !e.TermEnd.IsZero() {
		until = date(e.TermEnd)
	}
	v.CanRegister = e.State == StateActivationRequested || live(e.State) && !e.AccountApproved
	v.CanManage = e.AccountApproved && live(e.State)
	v.CanCancel = e.State == StateActivationRequested || e.State == StateActive || e.State == StatePendingPlanChangeApproval || e.State == StatePendingPlanChange
	v.CanRevert = e.State == StatePendingCancellation
	if e.State != StateActive {
		v.OtherPlans = nil
	}
	switch e.State {
	case StateActivationRequested:
		v.Status, v.Badge = "Pending approval", "pending"
		v.Detail = "Waiting for " + company + " to approve your order."
		if !e.AccountApproved {
			v.Detail += " Select Register with " + company + " to sign up on their site; they approve the order after that."
		}
	case StateActive:
		v.Status, v.Badge = "Active", "ok"
		if !e.AccountApproved {
			v.Detail = "Select Register with " + company + " to finish signing up on their site."
		}
	case StatePendingPlanChangeApproval:
		v.Status, v.Badge = "Active, plan change requested", "pending"
		v.Detail = "You asked to change to plan " + v.PendingPlanName + "; " + company + " has to approve it. Until then the plan stays " + v.PlanName + "."
	case StatePendingPlanChange:
		v.Status, v.Badge = "Active, plan change approved", "pending"
		v.Detail = "The plan changes to " + v.PendingPlanName + " at the end of the billing cycle."
	case StatePendingCancellation:
		v.Status, v.Badge = "Cancelled, runs until "+until, "warn"
		v.Detail = "You cancelled this order. It runs until " + until + " and does not renew; you can revert the cancellation until then."
	case StateCancelled:
		v.Status, v.Badge = "Ended", "ended"
		v.Detail = "This order has ended. Order the product again to use it."
	case StateSuspended:
		v.Status, v.Badge = "Suspended", "warn"
		v.Detail = "Google or " + company + " suspended this order; contact " + company + "."
	default:
		v.Status, v.Badge = e.State, "ended"
	}
	return v
}

// account is what the pages show of a billing account: its orders, what
// it may buy, and the vendor's settings that word them.
type account struct {
	orders   []Entitlement
	products []Product
	settings BuyerSettings
}

func (p *Pages) account(ctx context.Context, billingAccount string) (account, error) {
	var a account
	var err error
	if a.orders, err = p.m.Entitlements(ctx, billingAccount); err != nil {
		return a, err
	}
	if a.products, err = p.m.Products(ctx, billingAccount); err != nil {
		return a, err
	}
	a.settings, err = p.settings(ctx)
	return a, err
}

// signedIn is the signed-in buyer and their billing account.
func (p *Pages) signedIn(w http.ResponseWriter, r *http.Request) (session, account, bool) {
	s, ok := p.requireBuyer(w, r)
	if !ok {
		return s, account{}, false
	}
	a, err := p.account(r.Context(), s.BillingAccount)
	if err != nil {
		p.fail(w, r, err)
		return s, account{}, false
	}
	return s, a, true
}

// ownOrder is the signed-in billing account's order named in the path,
// with the products and settings that word it. Another billing account's
// order answers exactly as an unknown one does.
func (p *Pages) ownOrder(w http.ResponseWriter, r *http.Request) (session, orderView, BuyerSettings, bool) {
	s, a, ok := p.signedIn(w, r)
	if !ok {
		return s, orderView{}, BuyerSettings{}, false
	}
	id := r.PathValue("id")
	for _, e := range a.orders {
		if e.ID == id {
			return s, viewOrder(e, a.products, a.settings), a.settings, true
		}
	}
	p.fail(w, r, &Error{Kind: KindNotFound, Message: "Your billing account " + s.BillingAccount + " has no order " + shorten(id) + "."})
	return s, orderView{}, BuyerSettings{}, false
}

// orders is "Your orders": every entitlement of the billing account.
func (p *Pages) orders(w http.ResponseWriter, r *http.Request) {
	_, a, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	rows := make([]orderView, 0, len(a.orders))
	for _, e := range a.orders {
		rows = append(rows, viewOrder(e, a.products, a.settings))
	}
	p.render(w, r, http.StatusOK, "orders", "Your orders", map[string]any{"Orders": rows, "Settings": a.settings})
}

// handoff is the page that posts the browser to the vendor with a token,
// by itself, or by its button without script.
type handoff struct {
	URL     string
	Token   string
	Company string
	Heading string
}

// webURL reports whether u is an absolute http(s) URL, the only kind a
// form may post the token to.
func webURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && p.User == nil
}

func (p *Pages) sendToken(w http.ResponseWriter, r *http.Request, to string, h handoff) {
	w.Header().Set("Cache-Control", "no-store")
	// The token is in the body; the vendor needs no address of ours.
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.URL = to
	p.render(w, r, http.StatusOK, "handoff", h.Heading, h)
}

// register is "Register with <company>": a fresh sign-up token for the
// order's account, with google.orders = [the order], posted to the Sign
// up URL (contract §1.1 step 3).
func (p *Pages) register(w http.ResponseWriter, r *http.Request) {
	s, v, set, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	if !v.CanRegister {
		p.fail(w, r, &Error{Kind: KindConflict, Message: "This order is " + lowerFirst(v.Status) + ", so there is nothing to register; nothing was sent to " + set.Company + "."})
		return
	}
	if !webURL(set.SignupURL) {
		p.fail(w, r, &Error{Kind: KindConflict, Message: "The vendor has no valid Sign up URL (" + shorten(set.SignupURL) + "), so you cannot register yet. Set it with the emulator's control API, then try again."})
		return
	}
	tok, err := p.m.SignupToken(r.Context(), v.E.Account, []string{v.E.ID}, userIdentity(s.Email))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.sendToken(w, r, set.SignupURL, handoff{Token: tok, Company: set.Company, Heading: "Register with " + set.Company})
}

// manage is "Manage on <company>": with SSO, a fresh token (no orders: it
// signs the buyer in, it orders nothing) posted to the SSO URL (§1.5);
// without, the login URL.
func (p *Pages) manage(w http.ResponseWriter, r *http.Request) {
	s, v, set, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	if !v.CanManage {
		p.fail(w, r, &Error{Kind: KindConflict, Message: "This order is " + lowerFirst(v.Status) + ": you can manage it on " + set.Company + " once they have approved your registration."})
		return
	}
	switch {
	case webURL(set.SSOURL):
		tok, err := p.m.SignupToken(r.Context(), v.E.Account, nil, userIdentity(s.Email))
		if err != nil {
			p.fail(w, r, err)
			return
		}
		p.sendToken(w, r, set.SSOURL, handoff{Token: tok, Company: set.Company, Heading: "Manage on " + set.Company})
	case webURL(set.LoginURL):
		http.Redirect(w, r, set.LoginURL, http.StatusSeeOther)
	default:
		p.fail(w, r, &Error{Kind: KindConflict, Message: "The vendor has set neither an SSO URL nor a login URL. Set one with the emulator's control API, then try again."})
	}
}

// changePlan requests a plan change: only to another public plan of the
// product, and only while the order is active.
func (p *Pages) changePlan(w http.ResponseWriter, r *http.Request) {
	s, v, _, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	if v.E.State != StateActive {
		p.refuseState(w, r, v, "; a plan change can be requested only while it is active.")
		return
	}
	plan := strings.TrimSpace(r.PostFormValue("plan"))
	if _, err := pickPlan(v.OtherPlans, choicePlan+plan); err != nil {
		p.fail(w, r, &Error{Kind: KindInvalid, Message: sentence(err) + " (It must differ from the current plan.) Nothing was changed."})
		return
	}
	p.changed(w, r, p.m.RequestPlanChange(r.Context(), s.BillingAccount, v.E.ID, plan), "plan-requested")
}

// cancelForm asks first, and says until when the order runs.
func (p *Pages) cancelForm(w http.ResponseWriter, r *http.Request) {
	_, v, _, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	if !v.CanCancel {
		p.refuseState(w, r, v, ", so there is nothing to cancel.")
		return
	}
	p.render(w, r, http.StatusOK, "cancel", "Cancel order", v)
}

func (p *Pages) cancel(w http.ResponseWriter, r *http.Request) {
	s, v, _, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	// Only the confirmation page's button cancels.
	if r.PostFormValue("confirm") != "cancel" {
		p.seeOther(w, r, "/orders/"+url.PathEscape(v.E.ID)+"/cancel", "")
		return
	}
	if !v.CanCancel {
		p.refuseState(w, r, v, ", so there is nothing to cancel.")
		return
	}
	done := "cancelled"
	if v.E.State == StateActivationRequested {
		done = "withdrawn" // it never started, so it has no term to run
	}
	p.changed(w, r, p.m.Cancel(r.Context(), s.BillingAccount, v.E.ID), done)
}

func (p *Pages) revert(w http.ResponseWriter, r *http.Request) {
	s, v, _, ok := p.ownOrder(w, r)
	if !ok {
		return
	}
	if !v.CanRevert {
		p.refuseState(w, r, v, ", not cancelled, so there is no cancellation to revert.")
		return
	}
	p.changed(w, r, p.m.RevertCancellation(r.Context(), s.BillingAccount, v.E.ID), "reverted")
}

// refuseState is the page for an action the order's state does not allow,
// before the market is asked.
func (p *Pages) refuseState(w http.ResponseWriter, r *http.Request, v orderView, why string) {
	p.fail(w, r, &Error{Kind: KindConflict, Message: "This order is " + lowerFirst(v.Status) + why + " Nothing was changed."})
}

// changed ends an action on an order: the market's refusal as a page, or
// Your orders with the notice done.
func (p *Pages) changed(w http.ResponseWriter, r *http.Request, err error, done string) {
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.seeOther(w, r, "/orders", done)
}
