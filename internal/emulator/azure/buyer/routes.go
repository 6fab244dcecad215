package buyer

import (
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// routes is the whole surface, relative to the prefix.
func (p *Pages) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /signin", p.signInForm)
	mux.HandleFunc("POST /signin", p.signIn)
	mux.HandleFunc("POST /signout", p.signOut)

	mux.HandleFunc("GET /offers/{offer}", p.offer)
	mux.HandleFunc("POST /offers/{offer}/subscribe", p.subscribe)

	mux.HandleFunc("GET /subscriptions", p.subscriptions)
	mux.HandleFunc("GET /subscriptions/{id}", p.subscription)
	mux.HandleFunc("POST /subscriptions/{id}/landing", p.landing)
	mux.HandleFunc("POST /subscriptions/{id}/plan", p.change(planChange, "plan-requested"))
	mux.HandleFunc("POST /subscriptions/{id}/quantity", p.change(quantityChange, "qty-requested"))
	mux.HandleFunc("POST /subscriptions/{id}/auto-renew", p.autoRenew)
	mux.HandleFunc("GET /subscriptions/{id}/cancel", p.cancelForm)
	mux.HandleFunc("POST /subscriptions/{id}/cancel", p.cancel)
	// Emulator controls: what Microsoft's billing does on its own.
	mux.HandleFunc("POST /subscriptions/{id}/suspend", p.billingEvent(p.m.Suspend, "suspended"))
	mux.HandleFunc("POST /subscriptions/{id}/reinstate", p.billingEvent(p.m.Reinstate, "reinstated"))
	mux.HandleFunc("POST /subscriptions/{id}/renew", p.billingEvent(p.m.Renew, "renewed"))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, &market.Error{Kind: market.KindNotFound, Message: "There is no page at " + p.path(r.URL.Path) + "."})
	})
	// The pages post only to themselves: a cross-site POST is refused with
	// a page saying so, before any handler runs.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(p.crossSite))
	return cop.Handler(mux)
}
