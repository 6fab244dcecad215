package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

type ctxKey struct{}

// caller is the publisher a request acts for.
func caller(r *http.Request) market.Publisher {
	p, _ := r.Context().Value(ctxKey{}).(market.Publisher)
	return p
}

// wrap runs the checks every call shares, in the order Microsoft's emulator
// applies them, then the handler.
func (a *API) wrap(op string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{"x-ms-requestid", "x-ms-correlationid"} {
			v := r.Header.Get(name)
			if v == "" {
				v = a.m.NewRequestID()
			}
			w.Header().Set(name, v)
		}
		switch v, ok := r.URL.Query()["api-version"]; {
		case !ok || len(v) == 0 || v[0] == "":
			writeVersionError(w, "ApiVersionUnspecified", "An API version is required, but was not specified.")
			return
		case v[0] != APIVersion:
			writeVersionError(w, "UnsupportedApiVersion", "The HTTP resource does not support the API version '"+v[0]+"'; the supported version is "+APIVersion+".")
			return
		}
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(raw) == "" {
			writeForbidden(w, "The authorization token is missing.")
			return
		}
		tid, appid, err := a.auth.VerifyAccessToken(strings.TrimSpace(raw), a.now())
		if err != nil {
			writeForbidden(w, "The authorization token is invalid, expired, missing or this request is attempting to access a SaaS subscription for an offer that was published with a different Azure AD App ID: "+err.Error())
			return
		}
		pub, err := a.m.PublisherByApp(tid, appid)
		if err != nil {
			a.writeError(w, err)
			return
		}
		if ok, wait := a.m.Allow(pub.ID); !ok {
			writeThrottled(w, wait)
			return
		}
		faults, err := a.m.TakeFaults(r.Context(), op)
		if err != nil {
			a.writeError(w, err)
			return
		}
		if faults.Delay > 0 {
			t := time.NewTimer(faults.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		switch {
		case faults.Throttle > 0:
			writeThrottled(w, faults.Throttle)
			return
		case faults.InternalError:
			writeJSON(w, http.StatusInternalServerError, errorBody{Code: "InternalServerError", Message: "An injected fault: the emulator answers 500 and did nothing."})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, pub))
		if faults.DropResponse {
			// The work is done and committed; the answer is lost, so the
			// client's retry meets what it already did (409 Duplicate...).
			h(discardWriter{header: http.Header{}}, r)
			panic(http.ErrAbortHandler)
		}
		h(w, r)
	})
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func writeThrottled(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
	writeJSON(w, http.StatusTooManyRequests, errorBody{Code: "TooManyRequests", Message: "Rate limit is exceeded. Try again in " + strconv.Itoa(int(wait/time.Second)) + " seconds."})
}
