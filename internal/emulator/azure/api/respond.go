package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

// maxBody bounds request bodies: a batch of 25 events is a few kilobytes.
const maxBody = 256 << 10

// errorBody is the flat error shape Microsoft's emulator mirrors from the
// live API (§3.1): {"code","message","target","details"}.
type errorBody struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Target  string        `json:"target,omitempty"`
	Details []errorDetail `json:"details,omitempty"`
}

type errorDetail struct {
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
	Code    string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client went away
}

// writeVersionError uses the capitalised shape Microsoft's emulator gives
// api-version errors, which tests that the seller parses errors tolerantly.
func writeVersionError(w http.ResponseWriter, code, msg string) {
	type inner struct {
		Code    string `json:"Code"`
		Message string `json:"Message"`
	}
	writeJSON(w, http.StatusBadRequest, struct {
		Error inner `json:"Error"`
	}{inner{code, msg}})
}

func writeForbidden(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusForbidden, errorBody{Code: market.CodeForbidden, Message: msg})
}

// writeError is the one place a market outcome becomes a status.
func (a *API) writeError(w http.ResponseWriter, err error) {
	var me *market.Error
	if !errors.As(err, &me) {
		a.log.Error("azure emulator API", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Code: "InternalServerError", Message: "internal error: " + err.Error()})
		return
	}
	writeJSON(w, me.Kind.HTTPStatus(), errorBody{Code: me.Code, Message: me.Message, Target: me.Target})
}

// readBody reads a bounded body; an empty body is nil.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: "request body: " + err.Error()}
	}
	return b, nil
}

func badBody(target string, err error) error {
	return &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Target: target, Message: "The request body is invalid: " + err.Error()}
}
