package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// maxBody bounds control requests; an offer of 100 plans fits easily.
const maxBody = 1 << 20

type errorBody struct {
	Error struct {
		Kind    string `json:"kind"`
		Code    string `json:"code,omitempty"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

// writeError is the one place a market outcome becomes a status.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	var (
		me     *market.Error
		body   errorBody
		status = http.StatusInternalServerError
	)
	if errors.As(err, &me) {
		body.Error.Kind, body.Error.Code, body.Error.Message = string(me.Kind), me.Code, me.Message
		status = me.Kind.HTTPStatus()
	} else {
		log.Error("azure emulator control API", "err", err)
		body.Error.Kind, body.Error.Message = "internal", "internal error: "+err.Error()
	}
	writeJSON(w, status, body)
}

// decode reads a JSON body into v, refusing unknown fields so that a typo
// in a test's setup fails loudly; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: fmt.Sprintf("request body: %v", err)}
	}
	return nil
}

func (a *API) respond(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, status, v)
}
