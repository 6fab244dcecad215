package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

// maxBody bounds control requests; nothing legitimate comes near it.
const maxBody = 1 << 20

type errorBody struct {
	Error struct {
		Kind    string `json:"kind"`
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

// writeError is the one place a domain outcome becomes a status.
func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	var (
		me     *market.Error
		body   errorBody
		status int
	)
	if errors.As(err, &me) {
		body.Error.Kind, body.Error.Message = string(me.Kind), me.Message
		switch me.Kind {
		case market.KindInvalid:
			status = http.StatusBadRequest
		case market.KindNotFound:
			status = http.StatusNotFound
		case market.KindConflict:
			status = http.StatusConflict
		case market.KindForbidden:
			status = http.StatusForbidden
		default:
			status = http.StatusInternalServerError
		}
	} else {
		log.Error("emulator control API", "err", err)
		body.Error.Kind, body.Error.Message, status = "internal", "internal error: "+err.Error(), http.StatusInternalServerError
	}
	writeJSON(w, status, body)
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return &market.Error{Kind: market.KindInvalid, Message: fmt.Sprintf("request body: %v", err)}
	}
	return nil
}

// respond writes v, or the error.
func (a *API) respond(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeError(w, a.log, err)
		return
	}
	writeJSON(w, status, v)
}
