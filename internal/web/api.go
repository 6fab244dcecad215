package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/org"
)

// apiError is the JSON body of every API error.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// api wraps a JSON API handler: the bearer API key names the one
// organization the request may touch; any other organization id is not
// found, as if it did not exist. Cookies are never accepted here, which is
// what keeps the API out of reach of cross-site requests.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, orgID int64) error) http.Handler {
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
		if id, err := strconv.ParseInt(r.PathValue("org"), 10, 64); err != nil || id != orgID {
			s.apiFail(w, r, org.ErrNotFound)
			return
		}
		if err := h(w, r, orgID); err != nil {
			s.apiFail(w, r, err)
		}
	})
}

// retryAfterSeconds is what a 503 of the API asks clients to wait: the
// conditions that answer 503 (a busy database, a shutdown, a deadline) pass
// within seconds, and a restarted process answers within a few.
const retryAfterSeconds = "2"

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	switch status {
	case http.StatusInternalServerError:
		s.logger.ErrorContext(r.Context(), "API request failed", "path", r.URL.Path, "err", err)
	case http.StatusServiceUnavailable:
		// Only conditions that pass answer 503 (#11): say when to try again.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, status, apiError{Error: fault.Message(err)})
}

type billingJSON struct {
	OrganizationID int64             `json:"organization_id"`
	State          string            `json:"state"`
	GraceUntil     *time.Time        `json:"grace_until,omitempty"`
	Subscription   *subscriptionJSON `json:"subscription,omitempty"`
	Credits        *creditsJSON      `json:"committed_credits,omitempty"`
}

// creditsJSON is a contract's committed credits over its current term, in
// micro-dollars (1 credit = $1 = 1,000,000), as metering draws them down.
type creditsJSON struct {
	CommittedMicros int64      `json:"committed_micros"`
	UsedMicros      int64      `json:"used_micros"`
	RemainingMicros int64      `json:"remaining_micros"`
	TermStart       time.Time  `json:"term_start"`
	TermEnd         *time.Time `json:"term_end,omitempty"`
	RunOutDate      string     `json:"run_out_date,omitempty"` // YYYY-MM-DD, UTC, at the recent daily rate
}

type subscriptionJSON struct {
	Marketplace     string            `json:"marketplace"`
	ProductCode     string            `json:"product_code"`
	OfferType       string            `json:"offer_type"`
	AWSAccountID    string            `json:"aws_account_id"`
	OfferID         string            `json:"offer_id,omitempty"`
	FreeTrial       bool              `json:"free_trial"`
	Status          string            `json:"status"`
	FinalMeteringBy *time.Time        `json:"final_metering_by,omitempty"`
	Entitlements    []entitlementJSON `json:"entitlements,omitempty"`
}

type entitlementJSON struct {
	Dimension string     `json:"dimension"`
	Value     any        `json:"value"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// handleAPIBilling is the organization's billing state for the vendor's
// product: whether and how it is billed, so the product can gate features,
// and a contract's committed credits as the billing page shows them.
func (s *Server) handleAPIBilling(w http.ResponseWriter, r *http.Request, orgID int64) error {
	b, sum, err := s.billingState(r.Context(), orgID)
	if err != nil {
		return err
	}
	out := billingJSON{OrganizationID: orgID, State: b.State}
	if sum.CommittedMicros > 0 {
		out.Credits = &creditsJSON{CommittedMicros: sum.CommittedMicros, UsedMicros: sum.UsedMicros, RemainingMicros: sum.RemainingMicros(),
			TermStart: sum.TermStart, TermEnd: optionalTime(sum.TermEnd)}
		if !sum.RunOut.IsZero() {
			out.Credits.RunOutDate = sum.RunOut.Format(time.DateOnly)
		}
	}
	if b.State == marketplace.BillingGrace || b.State == marketplace.BillingSuspended {
		out.GraceUntil = optionalTime(b.GraceUntil)
	}
	if sub := b.Subscription; sub != nil {
		sj := &subscriptionJSON{Marketplace: sub.Marketplace, ProductCode: sub.ProductCode, OfferType: string(sub.OfferType),
			AWSAccountID: sub.Customer.AWSAccountID, OfferID: sub.OfferID, FreeTrial: sub.FreeTrial, Status: sub.Status,
			FinalMeteringBy: optionalTime(sub.FinalMeteringBy)}
		for _, e := range sub.Entitlements {
			var v any = e.Text
			if e.Kind == "integer" {
				v = e.Integer
			}
			sj.Entitlements = append(sj.Entitlements, entitlementJSON{Dimension: e.Dimension, Value: v, ExpiresAt: optionalTime(e.ExpiresAt)})
		}
		out.Subscription = sj
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
