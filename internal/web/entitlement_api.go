package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// entitlementStandingJSON is the body of GET /api/v1/organizations/{org}/entitlement.
type entitlementStandingJSON struct {
	OrganizationID int64      `json:"organization_id"`
	Billable       bool       `json:"billable"`
	State          string     `json:"state"`
	Channel        *string    `json:"channel"`
	GraceUntil     *time.Time `json:"grace_until"`
	SuspendedAt    *time.Time `json:"suspended_at"`
	// Contract is the offer of the subscription: its type, and for a
	// contract with committed credits the current term's.
	Contract     *contractStandingJSON     `json:"contract"`
	Subscription *subscriptionStandingJSON `json:"subscription"`
}

type contractStandingJSON struct {
	OfferType              string     `json:"offer_type"` // "payg" or "contract"
	TermEnd                *time.Time `json:"term_end"`
	CreditsMicros          *int64     `json:"credits_micros"`
	CreditsUsedMicros      *int64     `json:"credits_used_micros"`
	CreditsRemainingMicros *int64     `json:"credits_remaining_micros"`
	// Overage: the committed credits are used up and usage is billed as
	// pay-as-you-go on the same contract (R14).
	Overage bool `json:"overage"`
}

type subscriptionStandingJSON struct {
	ProductCode       string `json:"product_code"`
	CustomerAccountID string `json:"customer_account_id"`
	Status            string `json:"status"`
}

// handleAPIEntitlement tells the vendor's product whether the organization
// may use it now and why (marketplace.Standing.Billable). It is meant to be
// called on every request of the product: at most two indexed reads, and a
// strong ETag over the body so that a product that keeps the last answer
// gets 304 without a body while nothing changed. no-cache lets it keep the
// answer but asks it to check every time: a cancellation must be seen at
// once.
func (s *Server) handleAPIEntitlement(w http.ResponseWriter, r *http.Request, orgID int64) error {
	st, err := s.cfg.Market.StandingOf(r.Context(), orgID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(standingJSON(st))
	if err != nil {
		return err
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Vary", "Authorization")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

func standingJSON(st marketplace.Standing) entitlementStandingJSON {
	out := entitlementStandingJSON{OrganizationID: st.OrgID, Billable: st.Billable(), State: st.State,
		GraceUntil: optionalTime(st.GraceUntil), SuspendedAt: optionalTime(st.SuspendedAt())}
	sub := st.Subscription
	if sub == nil {
		return out
	}
	if st.Live {
		channel := sub.Marketplace
		out.Channel = &channel
	}
	out.Subscription = &subscriptionStandingJSON{ProductCode: sub.ProductCode, CustomerAccountID: sub.Customer.AccountID, Status: sub.Status}
	c := &contractStandingJSON{OfferType: string(sub.OfferType)}
	if cr := st.Credits; cr != nil {
		remaining := cr.CommittedMicros - cr.UsedMicros
		c.TermEnd = optionalTime(cr.TermEnd)
		c.CreditsMicros, c.CreditsUsedMicros, c.CreditsRemainingMicros = &cr.CommittedMicros, &cr.UsedMicros, &remaining
		c.Overage = st.State == marketplace.BillingCreditsExhausted
	}
	out.Contract = c
	return out
}

// etagMatches applies If-None-Match to a GET: the weak comparison of RFC
// 9110 (section 13.1.2), so W/"x" matches "x", and * matches anything.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == want {
			return true
		}
	}
	return false
}
