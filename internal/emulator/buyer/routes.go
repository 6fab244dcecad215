package buyer

import (
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// Pages serves the buyer's console.
type Pages struct {
	m    *market.Market
	log  *slog.Logger
	tmpl *templates
}

// New returns the buyer pages under /buyer/.
func New(m *market.Market, logger *slog.Logger) http.Handler {
	p := &Pages{m: m, log: logger, tmpl: parseTemplates()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /buyer/{$}", p.home)
	mux.HandleFunc("POST /buyer/account", p.switchAccount)
	mux.HandleFunc("POST /buyer/accounts/new", p.newBuyer)
	mux.HandleFunc("GET /buyer/search", p.search)
	mux.HandleFunc("GET /buyer/products/{code}", p.product)
	mux.HandleFunc("GET /buyer/products/{code}/purchase", p.purchaseOptions)
	mux.HandleFunc("POST /buyer/products/{code}/subscribe", p.subscribe)
	mux.HandleFunc("GET /buyer/subscriptions", p.subscriptions)
	mux.HandleFunc("GET /buyer/agreements/{id}", p.agreement)
	mux.HandleFunc("POST /buyer/agreements/{id}/setup", p.setUpAccount)
	mux.HandleFunc("GET /buyer/agreements/{id}/cancel", p.cancelForm)
	mux.HandleFunc("POST /buyer/agreements/{id}/cancel", p.cancel)
	mux.HandleFunc("GET /buyer/offers", p.inbox)
	mux.HandleFunc("GET /buyer/offers/{id}", p.offer)
	mux.HandleFunc("POST /buyer/offers/{id}/accept", p.accept)
	mux.HandleFunc("/buyer/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, &market.Error{Kind: market.KindNotFound, Message: "There is no page at " + r.URL.Path + "."})
	})
	// Cross-site POSTs are refused; the pages post only to themselves.
	return http.NewCrossOriginProtection().Handler(mux)
}
