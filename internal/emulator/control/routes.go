package control

import (
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// API is the control API.
type API struct {
	m   *market.Market
	log *slog.Logger
}

// New returns the control API handler; it serves full /emulator/v1/ paths.
func New(m *market.Market, logger *slog.Logger) http.Handler {
	a := &API{m: m, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /emulator/v1/status", a.status)
	mux.HandleFunc("POST /emulator/v1/reset", a.reset)
	mux.HandleFunc("POST /emulator/v1/seed/demo", a.seedDemo)

	mux.HandleFunc("GET /emulator/v1/products", a.listProducts)
	mux.HandleFunc("POST /emulator/v1/products", a.createProduct)
	mux.HandleFunc("GET /emulator/v1/products/{code}", a.getProduct)
	mux.HandleFunc("PATCH /emulator/v1/products/{code}", a.patchProduct)

	mux.HandleFunc("GET /emulator/v1/accounts", a.listAccounts)
	mux.HandleFunc("POST /emulator/v1/accounts", a.createAccount)
	mux.HandleFunc("GET /emulator/v1/accounts/{id}", a.getAccount)
	mux.HandleFunc("PUT /emulator/v1/accounts/{id}/permissions", a.setPermissions)

	mux.HandleFunc("GET /emulator/v1/credentials", a.listCredentials)
	mux.HandleFunc("POST /emulator/v1/credentials", a.createCredential)

	mux.HandleFunc("GET /emulator/v1/offers", a.listOffers)
	mux.HandleFunc("POST /emulator/v1/offers", a.createOffer)
	mux.HandleFunc("GET /emulator/v1/offers/{id}", a.getOffer)
	mux.HandleFunc("POST /emulator/v1/offers/{id}/accept", a.acceptOffer)

	mux.HandleFunc("GET /emulator/v1/agreements", a.listAgreements)
	mux.HandleFunc("POST /emulator/v1/agreements", a.subscribe)
	mux.HandleFunc("GET /emulator/v1/agreements/{id}", a.getAgreement)
	mux.HandleFunc("POST /emulator/v1/agreements/{id}/registration-token", a.registrationToken)
	mux.HandleFunc("POST /emulator/v1/agreements/{id}/cancel", a.cancel)
	mux.HandleFunc("POST /emulator/v1/agreements/{id}/renew", a.renew)
	mux.HandleFunc("POST /emulator/v1/agreements/{id}/upgrade", a.upgrade)
	mux.HandleFunc("POST /emulator/v1/agreements/{id}/expire", a.expire)

	mux.HandleFunc("GET /emulator/v1/clock", a.getClock)
	mux.HandleFunc("POST /emulator/v1/clock/advance", a.advanceClock)
	mux.HandleFunc("PUT /emulator/v1/clock", a.setClock)

	mux.HandleFunc("GET /emulator/v1/faults", a.listFaults)
	mux.HandleFunc("POST /emulator/v1/faults", a.addFault)
	mux.HandleFunc("DELETE /emulator/v1/faults", a.clearFaults)
	mux.HandleFunc("DELETE /emulator/v1/faults/{id}", a.removeFault)

	mux.HandleFunc("GET /emulator/v1/ledger/records", a.ledgerRecords)
	mux.HandleFunc("GET /emulator/v1/ledger/invoices", a.ledgerInvoices)

	mux.HandleFunc("GET /emulator/v1/sns/topics", a.listTopics)
	mux.HandleFunc("GET /emulator/v1/sns/subscriptions", a.listSNSSubscriptions)
	mux.HandleFunc("POST /emulator/v1/sns/subscriptions", a.subscribeSNS)
	mux.HandleFunc("DELETE /emulator/v1/sns/subscriptions", a.unsubscribeSNS)

	mux.HandleFunc("GET /emulator/v1/eventbridge", a.getEventBridge)
	mux.HandleFunc("PUT /emulator/v1/eventbridge", a.setEventBridge)

	mux.HandleFunc("GET /emulator/v1/deliveries", a.listDeliveries)

	mux.HandleFunc("/emulator/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, a.log, &market.Error{Kind: market.KindNotFound, Message: "no control endpoint " + r.Method + " " + r.URL.Path})
	})
	return mux
}
