package buyer

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// productCard is a listing on the Marketplace page.
type productCard struct {
	Product
	Public, Private int   // how many public plans and private offers
	First           *Plan // shown with its price, as the console's card does
}

// productNamed finds a product by its service name among those on sale to
// the billing account; another's private listing is as unknown as a typo.
func productNamed(ps []Product, name string) (Product, error) {
	for _, pr := range ps {
		if pr.Name == name {
			return pr, nil
		}
	}
	return Product{}, &Error{Kind: KindNotFound, Message: "No product " + shorten(name) + " is on sale to your billing account. Pick one from the Marketplace page."}
}

// listedProduct is the product the path names, as the signed-in billing
// account may buy it.
func (p *Pages) listedProduct(w http.ResponseWriter, r *http.Request) (session, Product, bool) {
	s, ok := p.requireBuyer(w, r)
	if !ok {
		return s, Product{}, false
	}
	ps, err := p.m.Products(r.Context(), s.BillingAccount)
	if err == nil {
		var pr Product
		if pr, err = productNamed(ps, r.PathValue("product")); err == nil {
			return s, pr, true
		}
	}
	p.fail(w, r, err)
	return s, Product{}, false
}

// home is the Marketplace: every product on sale, with a search box.
func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	s, ok := p.requireBuyer(w, r)
	if !ok {
		return
	}
	ps, err := p.m.Products(r.Context(), s.BillingAccount)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	q := parseQuery(r.URL.Query().Get("q"))
	var cards []productCard
	for _, pr := range ps {
		if q != "" && !matches(pr, q) {
			continue
		}
		c := productCard{Product: pr}
		for i, pl := range pr.Plans {
			if pl.Offer == "" {
				c.Public++
			} else {
				c.Private++
			}
			if c.First == nil {
				c.First = &pr.Plans[i]
			}
		}
		cards = append(cards, c)
	}
	p.render(w, r, http.StatusOK, "home", "Marketplace", map[string]any{"Products": cards, "Query": q, "Total": len(ps)})
}

// matches is the search: every word in the name, display name or
// description, ignoring case.
func matches(pr Product, q string) bool {
	hay := strings.ToLower(pr.Name + " " + pr.DisplayName + " " + pr.Description)
	for _, w := range strings.Fields(strings.ToLower(q)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// split parts a product's plans into public plans and private offers.
func split(plans []Plan) (public, private []Plan) {
	for _, pl := range plans {
		if pl.Offer == "" {
			public = append(public, pl)
		} else {
			private = append(private, pl)
		}
	}
	return public, private
}

// product is the listing: overview, plans and pricing, the billing
// account's private offers, and its orders of the product with "Register
// with <company>" while one waits for sign-up.
func (p *Pages) product(w http.ResponseWriter, r *http.Request) {
	_, a, ok := p.signedIn(w, r)
	if !ok {
		return
	}
	pr, err := productNamed(a.products, r.PathValue("product"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var mine []orderView
	for _, e := range a.orders {
		if e.Product == pr.Name {
			mine = append(mine, viewOrder(e, a.products, a.settings))
		}
	}
	public, private := split(pr.Plans)
	p.render(w, r, http.StatusOK, "product", pr.DisplayName, map[string]any{
		"Product": pr, "Public": public, "Private": private, "Orders": mine, "Settings": a.settings,
	})
}

// orderForm is the order page: plan (or private offer), the billing
// account, the terms, and Subscribe.
func (p *Pages) orderForm(w http.ResponseWriter, r *http.Request) {
	_, pr, ok := p.listedProduct(w, r)
	if !ok {
		return
	}
	if len(pr.Plans) == 0 {
		p.fail(w, r, &Error{Kind: KindConflict, Message: pr.DisplayName + " has no plan your billing account can order."})
		return
	}
	chosen := pr.Plans[0]
	if q := r.URL.Query(); q.Has("choice") {
		var err error
		if chosen, err = pickPlan(pr.Plans, q.Get("choice")); err != nil {
			p.fail(w, r, invalid(err))
			return
		}
	}
	set, err := p.settings(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	public, private := split(pr.Plans)
	p.render(w, r, http.StatusOK, "order", "Order "+pr.DisplayName, map[string]any{
		"Product": pr, "Public": public, "Private": private, "Chosen": chosen, "Settings": set,
	})
}

// order is Subscribe: checked here first (product, plan, terms), so a
// wrong form orders nothing, then one call to the market.
func (p *Pages) order(w http.ResponseWriter, r *http.Request) {
	s, pr, ok := p.listedProduct(w, r)
	if !ok {
		return
	}
	pl, perr := pickPlan(pr.Plans, r.PostFormValue("choice"))
	var terr error
	if r.PostFormValue("terms") != "accepted" {
		terr = errors.New("accept the terms of service to order; Google and the vendor need your agreement")
	}
	if perr != nil || terr != nil {
		p.fail(w, r, &Error{Kind: KindInvalid, Message: sentences(perr, terr) + " Nothing was ordered."})
		return
	}
	o, err := p.m.Order(r.Context(), OrderRequest{BillingAccount: s.BillingAccount, User: s.Email, Product: pr.Name, Plan: pl.ID, Offer: pl.Offer})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, p.path("/products/"+url.PathEscape(pr.Name))+"?done=ordered#order-"+url.PathEscape(o.Entitlement), http.StatusSeeOther)
}
