// Package control is the JSON control API of Google's house in the emulator
// (#16), served at /emulator/v1/ (the emulator mounts it under /google/):
// settings, the clock, the catalog, what the market holds, and the buyer's
// actions, so that tests and the demo drive the house without its pages.
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

// maxBody bounds control requests; a catalog of many plans fits easily.
const maxBody = 1 << 20

// API is the control API.
type API struct {
	m   *market.Market
	log *slog.Logger
}

// New returns the handler; it serves full /emulator/v1/ paths.
func New(m *market.Market, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{m: m, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /emulator/v1/settings", a.getSettings)
	mux.HandleFunc("PUT /emulator/v1/settings", a.putSettings)
	mux.HandleFunc("GET /emulator/v1/frontend", a.getFrontend)
	mux.HandleFunc("PUT /emulator/v1/frontend", a.putFrontend)
	mux.HandleFunc("GET /emulator/v1/clock", a.getClock)
	mux.HandleFunc("POST /emulator/v1/clock/advance", a.advanceClock)
	mux.HandleFunc("GET /emulator/v1/products", a.listProducts)
	mux.HandleFunc("PUT /emulator/v1/products/{service}", a.putProduct)
	mux.HandleFunc("GET /emulator/v1/accounts", a.listAccounts)
	mux.HandleFunc("DELETE /emulator/v1/accounts/{id}", a.deleteAccount)
	mux.HandleFunc("GET /emulator/v1/entitlements", a.listEntitlements)
	mux.HandleFunc("POST /emulator/v1/entitlements", a.order)
	mux.HandleFunc("POST /emulator/v1/entitlements/{id}/change-plan", a.changePlan)
	mux.HandleFunc("POST /emulator/v1/entitlements/{id}/cancel", a.entAction("cancel"))
	mux.HandleFunc("POST /emulator/v1/entitlements/{id}/revert-cancellation", a.entAction("revert"))
	mux.HandleFunc("POST /emulator/v1/entitlements/{id}/end-term", a.entAction("end-term"))
	mux.HandleFunc("GET /emulator/v1/events", a.listEvents)
	mux.HandleFunc("POST /emulator/v1/reset", a.reset)
	return mux
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var statusOf = map[string]int{
	market.InvalidArgument:    http.StatusBadRequest,
	market.FailedPrecondition: http.StatusConflict,
	market.NotFound:           http.StatusNotFound,
	market.AlreadyExists:      http.StatusConflict,
	market.PermissionDenied:   http.StatusForbidden,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// writeError is the one place a market outcome becomes a status.
func (a *API) writeError(w http.ResponseWriter, err error) {
	var body errorBody
	status := http.StatusInternalServerError
	var me *market.Error
	if errors.As(err, &me) {
		body.Error.Code, body.Error.Message = me.Code, me.Message
		if s, ok := statusOf[me.Code]; ok {
			status = s
		}
	} else {
		a.log.Error("google emulator control API", "err", err)
		body.Error.Code, body.Error.Message = "INTERNAL", "internal error: "+err.Error()
	}
	writeJSON(w, status, body)
}

// decode reads a JSON body into v, refusing unknown fields so that a typo
// in a test's setting is an error, not a silent default.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return market.Errorf(market.InvalidArgument, "read body: %v", err)
	}
	if len(b) > maxBody {
		return market.Errorf(market.InvalidArgument, "body larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return market.Errorf(market.InvalidArgument, "body: %v", err)
	}
	if dec.More() {
		return market.Errorf(market.InvalidArgument, "body: one JSON value expected")
	}
	return nil
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"settings": a.m.Settings(), "effective": a.m.EffectiveSettings()})
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request) {
	var s market.Settings
	if err := decode(r, &s); err != nil {
		a.writeError(w, err)
		return
	}
	if err := a.m.SetSettings(r.Context(), s); err != nil {
		a.writeError(w, err)
		return
	}
	a.getSettings(w, r)
}

type clockJSON struct {
	Now    time.Time `json:"now"`
	Offset string    `json:"offset"`
}

func (a *API) getClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, clockJSON{Now: a.m.Now(), Offset: a.m.ClockOffset().String()})
}

func (a *API) advanceClock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Duration string `json:"duration"`
	}
	if err := decode(r, &req); err != nil {
		a.writeError(w, err)
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		a.writeError(w, market.Errorf(market.InvalidArgument, "duration: %v (e.g. \"1h\")", err))
		return
	}
	if _, err := a.m.AdvanceClock(r.Context(), d); err != nil {
		a.writeError(w, err)
		return
	}
	a.getClock(w, r)
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	if b := r.URL.Query().Get("billing_account"); b != "" {
		writeJSON(w, http.StatusOK, map[string]any{"products": a.m.ProductsFor(b)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": a.m.Products()})
}

func (a *API) putProduct(w http.ResponseWriter, r *http.Request) {
	var p market.Product
	if err := decode(r, &p); err != nil {
		a.writeError(w, err)
		return
	}
	svc := r.PathValue("service")
	if p.ServiceName == "" {
		p.ServiceName = svc
	}
	if p.ServiceName != svc {
		a.writeError(w, market.Errorf(market.InvalidArgument, "service_name %q differs from the path's %q", p.ServiceName, svc))
		return
	}
	if err := a.m.PutProduct(r.Context(), p); err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"accounts": a.m.Accounts()})
}

func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request) {
	if err := a.m.DeleteAccount(r.Context(), r.PathValue("id")); err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listEntitlements(w http.ResponseWriter, r *http.Request) {
	if err := a.m.Tick(r.Context()); err != nil {
		a.writeError(w, err)
		return
	}
	list := a.m.Entitlements()
	if b := r.URL.Query().Get("billing_account"); b != "" {
		list = a.m.EntitlementsOf(b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entitlements": list})
}

func (a *API) order(w http.ResponseWriter, r *http.Request) {
	var o market.OrderRequest
	if err := decode(r, &o); err != nil {
		a.writeError(w, err)
		return
	}
	e, acc, err := a.m.Order(r.Context(), o)
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"entitlement": e, "account": acc})
}

func (a *API) changePlan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Plan string `json:"plan"`
	}
	if err := decode(r, &req); err != nil {
		a.writeError(w, err)
		return
	}
	e, err := a.m.RequestPlanChange(r.Context(), "", r.PathValue("id"), req.Plan)
	if err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (a *API) entAction(which string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var (
			e   market.Entitlement
			err error
		)
		switch which {
		case "cancel":
			e, err = a.m.Cancel(r.Context(), "", id)
		case "revert":
			e, err = a.m.RevertCancellation(r.Context(), "", id)
		case "end-term":
			e, err = a.m.EndTerm(r.Context(), id)
		default:
			err = fmt.Errorf("control: unknown action %q", which)
		}
		if err != nil {
			a.writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, e)
	}
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"events": a.m.Events()})
}

func (a *API) reset(w http.ResponseWriter, r *http.Request) {
	if err := a.m.Reset(r.Context()); err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) getFrontend(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.m.Frontend())
}

func (a *API) putFrontend(w http.ResponseWriter, r *http.Request) {
	var f market.Frontend
	if err := decode(r, &f); err != nil {
		a.writeError(w, err)
		return
	}
	if err := a.m.SetFrontend(r.Context(), f); err != nil {
		a.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}
