package control

import (
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// API is the control API.
type API struct {
	m   *market.Market
	log *slog.Logger
}

// New returns the control API handler; it serves full /emulator/v1/ paths.
func New(m *market.Market, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{m: m, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /emulator/v1/status", a.status)
	mux.HandleFunc("POST /emulator/v1/reset", a.reset)
	mux.HandleFunc("GET /emulator/v1/settings", a.getSettings)
	mux.HandleFunc("PUT /emulator/v1/settings", a.putSettings)

	mux.HandleFunc("GET /emulator/v1/publishers", a.listPublishers)
	mux.HandleFunc("GET /emulator/v1/publishers/{id}", a.getPublisher)
	mux.HandleFunc("PUT /emulator/v1/publishers/{id}", a.putPublisher)

	mux.HandleFunc("GET /emulator/v1/offers", a.listOffers)
	mux.HandleFunc("GET /emulator/v1/offers/{id}", a.getOffer)
	mux.HandleFunc("PUT /emulator/v1/offers/{id}", a.putOffer)
	mux.HandleFunc("GET /emulator/v1/offers/{id}/plans", a.plansFor)
	mux.HandleFunc("PUT /emulator/v1/offers/{id}/plans/{plan}/audience", a.setAudience)

	mux.HandleFunc("GET /emulator/v1/subscriptions", a.listSubscriptions)
	mux.HandleFunc("POST /emulator/v1/subscriptions", a.purchase)
	mux.HandleFunc("GET /emulator/v1/subscriptions/{id}", a.getSubscription)
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/landing-token", a.landingToken)
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/change-plan", a.changePlan)
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/change-quantity", a.changeQuantity)
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/cancel", a.action(a.m.Cancel))
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/suspend", a.action(a.m.Suspend))
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/reinstate", a.action(a.m.Reinstate))
	mux.HandleFunc("POST /emulator/v1/subscriptions/{id}/renew", a.action(a.m.Renew))
	mux.HandleFunc("PUT /emulator/v1/subscriptions/{id}/auto-renew", a.autoRenew)
	mux.HandleFunc("GET /emulator/v1/subscriptions/{id}/operations", a.operations)
	mux.HandleFunc("GET /emulator/v1/subscriptions/{id}/invoice", a.invoice)

	mux.HandleFunc("GET /emulator/v1/ledger", a.ledger)
	mux.HandleFunc("GET /emulator/v1/webhooks", a.webhooks)

	mux.HandleFunc("GET /emulator/v1/clock", a.getClock)
	mux.HandleFunc("POST /emulator/v1/clock/advance", a.advanceClock)

	mux.HandleFunc("GET /emulator/v1/faults", a.listFaults)
	mux.HandleFunc("POST /emulator/v1/faults", a.addFault)
	mux.HandleFunc("DELETE /emulator/v1/faults", a.removeFault)
	mux.HandleFunc("DELETE /emulator/v1/faults/{id}", a.removeFault)
	return mux
}
