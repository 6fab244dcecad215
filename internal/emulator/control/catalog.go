package control

import (
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

type statusResponse struct {
	Now                time.Time `json:"now"`
	RealNow            time.Time `json:"real_now"`
	ClockOffsetSeconds float64   `json:"clock_offset_seconds"`
	Region             string    `json:"region"`
	SellerAccountID    string    `json:"seller_account_id"`
	PublicURL          string    `json:"public_url"`
	SigningCertURL     string    `json:"signing_cert_url"`
	TokenTTLSeconds    float64   `json:"token_ttl_seconds"`
	FinalMeteringSecs  float64   `json:"final_metering_window_seconds"`
	MeteringWindowSecs float64   `json:"metering_window_seconds"`
	ThrottleRate       float64   `json:"throttle_rate"`
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	s := a.m.Settings()
	off := a.m.ClockOffset()
	now := a.m.Now()
	writeJSON(w, http.StatusOK, statusResponse{
		Now: now, RealNow: now.Add(-off), ClockOffsetSeconds: off.Seconds(), Region: s.Region,
		SellerAccountID: s.SellerAccountID, PublicURL: s.PublicURL, SigningCertURL: a.m.SigningCertURL(),
		TokenTTLSeconds: s.TokenTTL.Seconds(), FinalMeteringSecs: s.FinalMeteringWindow.Seconds(),
		MeteringWindowSecs: s.MeteringWindow.Seconds(), ThrottleRate: shownThrottleRate(s),
	})
}

// shownThrottleRate is 0 when throttling is off, as --throttle-rate says it.
func shownThrottleRate(s market.Settings) float64 {
	if s.ThrottleOff {
		return 0
	}
	return s.ThrottleRate
}

func (a *API) reset(w http.ResponseWriter, r *http.Request) {
	err := a.m.Reset(r.Context())
	a.respond(w, http.StatusOK, map[string]bool{"reset": true}, err)
}

func (a *API) seedDemo(w http.ResponseWriter, r *http.Request) {
	var in market.DemoInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	out, err := a.m.SeedDemo(r.Context(), in)
	a.respond(w, http.StatusOK, out, err)
}

// productView adds the product's topic ARNs.
type productView struct {
	market.Product
	SubscriptionTopicArn string `json:"subscription_topic_arn"`
	EntitlementTopicArn  string `json:"entitlement_topic_arn,omitempty"`
}

func (a *API) view(p market.Product) productView {
	v := productView{Product: p, SubscriptionTopicArn: a.m.TopicArn(market.TopicSubscription, p.Code)}
	if p.PricingModel != market.PricingSubscription {
		v.EntitlementTopicArn = a.m.TopicArn(market.TopicEntitlement, p.Code)
	}
	return v
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	out := []productView{}
	for _, p := range a.m.Products() {
		out = append(out, a.view(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": out})
}

func (a *API) createProduct(w http.ResponseWriter, r *http.Request) {
	var in market.ProductInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	p, err := a.m.CreateProduct(r.Context(), in)
	a.respond(w, http.StatusCreated, a.view(p), err)
}

func (a *API) getProduct(w http.ResponseWriter, r *http.Request) {
	p, err := a.m.Product(r.PathValue("code"))
	a.respond(w, http.StatusOK, a.view(p), err)
}

func (a *API) patchProduct(w http.ResponseWriter, r *http.Request) {
	var in struct {
		FulfillmentURL string `json:"fulfillment_url"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	p, err := a.m.SetFulfillmentURL(r.Context(), r.PathValue("code"), in.FulfillmentURL)
	a.respond(w, http.StatusOK, a.view(p), err)
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"accounts": a.m.Accounts()})
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) {
	var in market.AccountInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	acct, err := a.m.CreateAccount(r.Context(), in)
	a.respond(w, http.StatusCreated, acct, err)
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) {
	acct, err := a.m.Account(r.PathValue("id"))
	a.respond(w, http.StatusOK, acct, err)
}

func (a *API) setPermissions(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Permissions []string `json:"permissions"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	acct, err := a.m.SetPermissions(r.Context(), r.PathValue("id"), in.Permissions)
	a.respond(w, http.StatusOK, acct, err)
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"credentials": a.m.Credentials()})
}

func (a *API) createCredential(w http.ResponseWriter, r *http.Request) {
	var in market.CredentialInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	c, err := a.m.CreateCredential(r.Context(), in)
	c.SecretAccessKey = ""
	a.respond(w, http.StatusCreated, c, err)
}

func (a *API) listOffers(w http.ResponseWriter, r *http.Request) {
	offers := a.m.Offers()
	if acct := r.URL.Query().Get("account_id"); acct != "" {
		offers = a.m.OffersFor(acct)
	}
	if offers == nil {
		offers = []market.Offer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"offers": offers})
}

func (a *API) createOffer(w http.ResponseWriter, r *http.Request) {
	var in market.OfferInput
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	o, err := a.m.CreateOffer(r.Context(), in)
	a.respond(w, http.StatusCreated, o, err)
}

func (a *API) getOffer(w http.ResponseWriter, r *http.Request) {
	o, err := a.m.Offer(r.PathValue("id"))
	a.respond(w, http.StatusOK, o, err)
}

func (a *API) acceptOffer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AccountID string `json:"account_id"`
		PONumber  string `json:"po_number,omitempty"`
	}
	if err := decode(r, &in); err != nil {
		writeError(w, a.log, err)
		return
	}
	res, err := a.m.AcceptOffer(r.Context(), in.AccountID, r.PathValue("id"), in.PONumber)
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	a.respond(w, status, res, err)
}
