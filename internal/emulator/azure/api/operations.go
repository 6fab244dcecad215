package api

import (
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

func (a *API) listOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := a.m.OutstandingOperations(caller(r).ID, r.PathValue("id"))
	if err != nil && market.IsKind(err, market.KindNotFound) && a.m.Settings().LiveQuirks {
		ops, err = nil, nil // live: 200 with an empty list for an unknown subscription
	}
	if err != nil {
		a.writeError(w, err)
		return
	}
	out := struct {
		Operations []market.OperationWire `json:"operations"`
	}{Operations: []market.OperationWire{}}
	for _, op := range ops {
		out.Operations = append(out.Operations, market.NewOperationWire(op))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getOperation(w http.ResponseWriter, r *http.Request) {
	op, err := a.m.GetOperation(caller(r).ID, r.PathValue("id"), r.PathValue("op"))
	if err != nil {
		a.writeError(w, a.quirkNotFound(err))
		return
	}
	writeJSON(w, http.StatusOK, market.NewOperationWire(op))
}

// quirkNotFound turns a 404 into the 400 the live API gave (§3.11).
func (a *API) quirkNotFound(err error) error {
	if market.IsKind(err, market.KindNotFound) && a.m.Settings().LiveQuirks {
		e := *err.(*market.Error)
		e.Kind, e.Code = market.KindInvalid, market.CodeBadArgument
		return &e
	}
	return err
}

func (a *API) updateOperation(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		a.writeError(w, err)
		return
	}
	status, err := parseAck(b)
	if err != nil {
		a.writeError(w, err)
		return
	}
	pub, sub, opID := caller(r).ID, r.PathValue("id"), r.PathValue("op")
	if a.m.Settings().LiveQuirks {
		op, err := a.m.GetOperation(pub, sub, opID)
		switch {
		case err != nil:
			a.writeError(w, a.quirkNotFound(err))
			return
		case op.Source == market.SourcePartner && op.Status == market.OpInProgress:
			writeJSON(w, http.StatusInternalServerError, errorBody{Code: "InternalServerError",
				Message: "An operation the publisher requested cannot be acknowledged."})
			return
		case status != "Success" && status != "Failure":
			w.WriteHeader(http.StatusOK) // live: no validation, nothing happens
			return
		}
	}
	if _, err := a.m.AckOperation(r.Context(), pub, sub, opID, status); err != nil {
		a.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
