package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
	"github.com/marketbridge/marketbridge/internal/usage"
)

// Body limits of POST /api/v1/events. A batch of MaxBatch events with long
// ids and sources stays well under 16 MiB; a single event needs far less.
const (
	maxUsageBatchBytes = 16 << 20
	maxUsageEventBytes = 64 << 10
)

// usageResultJSON is the body of every answer to POST /api/v1/events that
// got as far as looking at events: 200 when nothing was rejected, 207 when
// a batch had rejected events (the others are stored), 400 when the one
// event of a single-event request was rejected.
type usageResultJSON struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Rejected   []rejectionJSON `json:"rejected"`
	Error      string          `json:"error,omitempty"`
}

type rejectionJSON struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// usageEvents is POST /api/v1/events: CloudEvents from the vendor's
// product, authenticated by an organization's API key. The events always
// belong to that key's organization, whatever they say.
func (s *Server) usageEvents(ing *usage.Ingester) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="marketbridge"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: org.ErrBadKey.Message})
			return
		}
		orgID, err := s.cfg.Orgs.AuthenticateKey(r.Context(), strings.TrimSpace(key))
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var batch bool
		limit := int64(maxUsageEventBytes)
		switch mt {
		case "application/cloudevents+json":
		case "application/cloudevents-batch+json":
			batch, limit = true, maxUsageBatchBytes
		default:
			writeJSON(w, http.StatusUnsupportedMediaType, apiError{Error: "Send events as application/cloudevents+json (one event) or application/cloudevents-batch+json (an array of up to 10000)."})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "The body is too large: at most 16 MiB per batch, 64 KiB per event."})
				return
			}
			s.apiFail(w, r, fault.Wrap(fault.KindInvalid, err, "The body could not be read."))
			return
		}
		decode := usage.DecodeEvent
		if batch {
			decode = usage.DecodeBatch
		}
		inputs, err := decode(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: fault.Message(err)})
			return
		}
		res, err := ing.Ingest(r.Context(), orgID, inputs)
		if errors.Is(err, usage.ErrBatchTooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fault.Message(err)})
			return
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		out := usageResultJSON{Accepted: res.Accepted, Duplicates: res.Duplicates, Rejected: make([]rejectionJSON, len(res.Rejected))}
		for i, rj := range res.Rejected {
			out.Rejected[i] = rejectionJSON{Index: rj.Index, ID: rj.ID, Error: rj.Message}
		}
		status := http.StatusOK
		switch {
		case len(res.Rejected) > 0 && batch:
			status = http.StatusMultiStatus
		case len(res.Rejected) > 0:
			status, out.Error = http.StatusBadRequest, res.Rejected[0].Message
		}
		writeJSON(w, status, out)
	})
}
