package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

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
// a batch had rejected events (the others are stored), and when the one
// event of a single-event request was rejected, that rejection's status:
// 400 for an event that is malformed, 422 for a valid one that would take
// a stored total past a bound (usage.MaxHourQuantity, MaxHourMicros).
type usageResultJSON struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Rejected   []rejectionJSON `json:"rejected"`
	Error      string          `json:"error,omitempty"`
}

type rejectionJSON struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Error  string `json:"error"`
	Status int    `json:"status"` // 400 malformed, 422 past a bound: sending it again will not help either way
}

// rejectionStatus is the HTTP status of one rejected event.
func rejectionStatus(k usage.RejectionKind) int {
	if k == usage.RejectionOverBound {
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadRequest
}

// eventSink stores the events of a request: the usage.Ingester, or in the
// benchmark of the HTTP floor, nothing at all.
type eventSink interface {
	Ingest(ctx context.Context, orgID int64, inputs []usage.Input) (usage.Result, error)
}

// usageEvents is POST /api/v1/events: CloudEvents from the vendor's
// product, authenticated by an organization's API key. The events always
// belong to that key's organization, whatever they say.
func (s *Server) usageEvents(ing eventSink) http.Handler {
	keys := newKeyCache(s.cfg.Orgs.AuthenticateKey, time.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="marketbridge"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: org.ErrBadKey.Message})
			return
		}
		orgID, err := keys.authenticate(r.Context(), strings.TrimSpace(key))
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
			out.Rejected[i] = rejectionJSON{Index: rj.Index, ID: rj.ID, Error: rj.Message, Status: rejectionStatus(rj.Kind)}
		}
		status := http.StatusOK
		switch {
		case len(res.Rejected) > 0 && batch:
			status = http.StatusMultiStatus
		case len(res.Rejected) > 0:
			status, out.Error = out.Rejected[0].Status, res.Rejected[0].Message
		}
		writeJSON(w, status, out)
	})
}

// keyCacheTTL is how long a key that authenticated is trusted without
// asking the database again, and so how long a revoked key may still send
// usage to a server that saw it just before. A product sends usage many
// times a second; checking the key each time was a quarter of the cost of a
// one-event request.
const keyCacheTTL = time.Second

// keyCacheMax bounds the cache; when full it starts over.
const keyCacheMax = 4096

// keyCache remembers, for keyCacheTTL, the organization of keys that
// authenticated. Failures are never cached, so a new key works at once.
type keyCache struct {
	auth func(ctx context.Context, key string) (int64, error)
	now  func() time.Time
	mu   sync.Mutex
	keys map[[sha256.Size]byte]cachedKey // by hash: no secrets kept in memory
}

type cachedKey struct {
	orgID   int64
	expires time.Time
}

func newKeyCache(auth func(ctx context.Context, key string) (int64, error), now func() time.Time) *keyCache {
	return &keyCache{auth: auth, now: now, keys: map[[sha256.Size]byte]cachedKey{}}
}

func (c *keyCache) authenticate(ctx context.Context, key string) (int64, error) {
	h := sha256.Sum256([]byte(key))
	now := c.now()
	c.mu.Lock()
	k, ok := c.keys[h]
	c.mu.Unlock()
	if ok && now.Before(k.expires) {
		return k.orgID, nil
	}
	orgID, err := c.auth(ctx, key)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if len(c.keys) >= keyCacheMax {
		clear(c.keys)
	}
	c.keys[h] = cachedKey{orgID: orgID, expires: now.Add(keyCacheTTL)}
	c.mu.Unlock()
	return orgID, nil
}
