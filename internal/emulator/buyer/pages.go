package buyer

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

const accountCookie = "emulator_account"

// current is the account the buyer acts as: the switcher's cookie, or the
// first account when none was picked yet.
func (p *Pages) current(r *http.Request) (market.Account, bool) {
	if c, err := r.Cookie(accountCookie); err == nil {
		if a, err := p.m.Account(c.Value); err == nil {
			return a, true
		}
	}
	accounts := p.m.Accounts()
	if len(accounts) == 0 {
		return market.Account{}, false
	}
	return accounts[0], true
}

// requireAccount answers for pages that act as an account.
func (p *Pages) requireAccount(w http.ResponseWriter, r *http.Request) (market.Account, bool) {
	a, ok := p.current(r)
	if !ok {
		p.fail(w, r, &market.Error{Kind: market.KindConflict, Message: "There is no buyer account yet. Create one with POST /emulator/v1/accounts, then reload."})
	}
	return a, ok
}

func (p *Pages) switchAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("account_id")
	if _, err := p.m.Account(id); err != nil {
		p.fail(w, r, err)
		return
	}
	actAs(w, id)
	redirect(w, r, nextPage(r))
}

// newBuyer starts as a new demo buyer: a new AWS account that holds no
// subscription yet, for walking the flows again.
func (p *Pages) newBuyer(w http.ResponseWriter, r *http.Request) {
	a, err := p.m.NewDemoBuyer(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	actAs(w, a.ID)
	notice := "You are now " + a.Name + ", AWS account " + a.ID + ": no subscriptions yet, and a private offer of its own in Private offers."
	redirect(w, r, "/buyer/?notice="+url.QueryEscape(notice))
}

// actAs makes the browser act as the account from now on.
func actAs(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: accountCookie, Value: id, Path: "/buyer/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// nextPage is where a form asked to go afterwards, when it is a buyer page.
func nextPage(r *http.Request) string {
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/buyer/") || strings.HasPrefix(next, "//") {
		return "/buyer/"
	}
	return next
}

func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "home", "AWS Marketplace", map[string]any{"Products": p.m.Products()})
}

func (p *Pages) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	p.render(w, r, http.StatusOK, "search", "Search results", map[string]any{"Query": q, "Products": p.m.SearchProducts(q)})
}

func (p *Pages) product(w http.ResponseWriter, r *http.Request) {
	prod, err := p.m.Product(r.PathValue("code"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "product", prod.Title, map[string]any{"Product": prod})
}

// purchaseOptions shows the public offer, or the subscription the account
// already holds: AWS never lets an account subscribe twice.
func (p *Pages) purchaseOptions(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	prod, err := p.m.Product(r.PathValue("code"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var held *market.Agreement
	for _, a := range p.m.Agreements(acct.ID, prod.Code) {
		if a.Status == market.StatusActive || a.Status == market.StatusUnsubscribePending {
			held = &a
			break
		}
	}
	if prod.ConcurrentAgreements {
		held = nil
	}
	p.render(w, r, http.StatusOK, "purchase", "Purchase options: "+prod.Title, map[string]any{"Product": prod, "Held": held})
}

func (p *Pages) subscribe(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	prod, err := p.m.Product(r.PathValue("code"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	in := market.SubscribeInput{AccountID: acct.ID, ProductCode: prod.Code, PONumber: strings.TrimSpace(r.PostFormValue("po_number"))}
	for _, d := range prod.Dimensions {
		if d.Kind != market.DimensionContract {
			continue
		}
		if v := strings.TrimSpace(r.PostFormValue("qty_" + d.Key)); v != "" {
			q, err := strconv.ParseInt(v, 10, 32)
			if err != nil || q < 0 {
				p.fail(w, r, &market.Error{Kind: market.KindInvalid, Message: "Enter a whole number of units for " + d.Name + "."})
				return
			}
			if in.Entitlements == nil {
				in.Entitlements = map[string]int64{}
			}
			in.Entitlements[d.Key] = q
		}
	}
	res, err := p.m.Subscribe(r.Context(), in)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	notice := "Thank you for subscribing. Set up your account with the seller to start using the product."
	if res.Existing {
		notice = "You already have a subscription to this product; here it is."
	}
	redirect(w, r, "/buyer/agreements/"+res.Agreement.ID+"?notice="+url.QueryEscape(notice))
}

func (p *Pages) subscriptions(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	type row struct {
		Agreement market.Agreement
		Product   market.Product
	}
	var rows []row
	for _, a := range p.m.Agreements(acct.ID, "") {
		prod, _ := p.m.Product(a.ProductCode)
		rows = append(rows, row{a, prod})
	}
	p.render(w, r, http.StatusOK, "subscriptions", "Manage subscriptions", map[string]any{"Rows": rows})
}

// ownAgreement returns an agreement of the acting account; others' are not found.
func (p *Pages) ownAgreement(w http.ResponseWriter, r *http.Request) (market.Agreement, market.Product, bool) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return market.Agreement{}, market.Product{}, false
	}
	a, err := p.m.Agreement(r.PathValue("id"))
	if err == nil && a.AccountID != acct.ID {
		err = &market.Error{Kind: market.KindNotFound, Message: "No such subscription in account " + acct.ID + ". Switch to the account that holds it."}
	}
	if err != nil {
		p.fail(w, r, err)
		return a, market.Product{}, false
	}
	prod, _ := p.m.Product(a.ProductCode)
	return a, prod, true
}

func (p *Pages) agreement(w http.ResponseWriter, r *http.Request) {
	a, prod, ok := p.ownAgreement(w, r)
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "agreement", prod.Title, map[string]any{"Agreement": a, "Product": prod})
}

// setUpAccount mints a token and hands the browser to the seller with a form
// POST, as AWS's "Set up your account" does.
func (p *Pages) setUpAccount(w http.ResponseWriter, r *http.Request) {
	a, _, ok := p.ownAgreement(w, r)
	if !ok {
		return
	}
	reg, err := p.m.SetUpAccount(r.Context(), a.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	p.render(w, r, http.StatusOK, "setup", "Set up your account", reg)
}

// cancelForm asks the buyer to confirm, as AWS's console does before it
// cancels: cancelling stops the product and cannot be undone.
func (p *Pages) cancelForm(w http.ResponseWriter, r *http.Request) {
	a, prod, ok := p.ownAgreement(w, r)
	if !ok {
		return
	}
	if a.Status != market.StatusActive {
		p.fail(w, r, &market.Error{Kind: market.KindConflict, Message: "This subscription is " + a.Status + ", so there is nothing to cancel."})
		return
	}
	p.render(w, r, http.StatusOK, "cancel", "Cancel subscription: "+prod.Title, map[string]any{"Agreement": a, "Product": prod})
}

func (p *Pages) cancel(w http.ResponseWriter, r *http.Request) {
	a, _, ok := p.ownAgreement(w, r)
	if !ok {
		return
	}
	// Only the confirmation page's button cancels.
	if r.PostFormValue("confirm") != "cancel" {
		redirect(w, r, "/buyer/agreements/"+a.ID+"/cancel")
		return
	}
	if _, err := p.m.Cancel(r.Context(), a.ID); err != nil {
		p.fail(w, r, err)
		return
	}
	redirect(w, r, "/buyer/subscriptions?notice="+url.QueryEscape("Your subscription was cancelled. The seller can still report usage for the final hour."))
}

func (p *Pages) inbox(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "inbox", "Private offers", map[string]any{"Offers": p.m.OffersFor(acct.ID)})
}

func (p *Pages) offer(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	o, prod, err := p.m.ViewOffer(acct.ID, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var held *market.Agreement
	for _, a := range p.m.Agreements(acct.ID, prod.Code) {
		if a.OfferID == o.ID && a.Status == market.StatusActive {
			held = &a
			break
		}
	}
	type term struct {
		market.OfferTerm
		Dimension market.Dimension
	}
	var terms []term
	for _, t := range o.Terms {
		d, _ := prod.Dimension(t.Dimension)
		terms = append(terms, term{t, d})
	}
	p.render(w, r, http.StatusOK, "offer", o.Name, map[string]any{"Offer": o, "Product": prod, "Terms": terms, "Held": held})
}

func (p *Pages) accept(w http.ResponseWriter, r *http.Request) {
	acct, ok := p.requireAccount(w, r)
	if !ok {
		return
	}
	res, err := p.m.AcceptOffer(r.Context(), acct.ID, r.PathValue("id"), strings.TrimSpace(r.PostFormValue("po_number")))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	redirect(w, r, "/buyer/agreements/"+res.Agreement.ID+"?notice="+url.QueryEscape("You accepted the private offer. Set up your account with the seller to finish."))
}
