package buyer

import "net/http"

// maxForm bounds a form post: the largest holds a few ids.
const maxForm = 64 << 10

// routes is the whole surface, relative to the prefix.
func (p *Pages) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /signin", p.signInForm)
	mux.HandleFunc("POST /signin", p.signIn)
	mux.HandleFunc("POST /signout", p.signOut)

	mux.HandleFunc("GET /products/{product}", p.product)
	mux.HandleFunc("GET /products/{product}/order", p.orderForm)
	mux.HandleFunc("POST /products/{product}/order", p.order)

	mux.HandleFunc("GET /orders", p.orders)
	mux.HandleFunc("POST /orders/{id}/register", p.register)
	mux.HandleFunc("POST /orders/{id}/manage", p.manage)
	mux.HandleFunc("POST /orders/{id}/plan", p.changePlan)
	mux.HandleFunc("GET /orders/{id}/cancel", p.cancelForm)
	mux.HandleFunc("POST /orders/{id}/cancel", p.cancel)
	mux.HandleFunc("POST /orders/{id}/revert", p.revert)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, &Error{Kind: KindNotFound, Message: "There is no page at " + shorten(p.path(r.URL.Path)) + "."})
	})
	// Two guards before any handler runs: a POST from another site is
	// refused by its browser's headers, and every POST must carry the CSRF
	// token of the form this browser was given.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(p.crossSite))
	return cop.Handler(p.requireCSRF(mux))
}
