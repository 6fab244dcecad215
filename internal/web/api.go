package web

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
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
	// Fields has every invalid field's message, by the field's JSON name,
	// when the request was refused for its fields (400).
	Fields map[string]string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiCaller is who an API request authenticated as: a service token of the
// vendor's back end, or one organization's API key.
type apiCaller struct {
	token  *org.Token // nil for an API key
	keyOrg int64      // the API key's organization
}

type callerKey struct{}

// callerOf is the caller s.api or s.vendor authenticated.
func callerOf(r *http.Request) apiCaller {
	c, _ := r.Context().Value(callerKey{}).(apiCaller)
	return c
}

// API authorization outcomes beyond a bad credential.
var (
	errReadOnlyToken = fault.New(fault.KindForbidden, `This service token has the scope "read"; this request needs a token with the scope "write".`)
	errKeyReadsOnly  = fault.New(fault.KindForbidden, "An organization's API key only reads its own organization; changes need a service token with the scope \"write\".")
	errKeyOneOrg     = fault.New(fault.KindForbidden, "An organization's API key reaches only its own organization; listing, finding and creating organizations need a service token.")
)

// neededScope is what a request needs of a service token: reads are GET
// (and HEAD); everything else writes.
func neededScope(r *http.Request) org.Scope {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return org.ScopeRead
	}
	return org.ScopeWrite
}

// authenticateAPI reads the bearer credential: a service token (mbt_) or
// an organization's API key (mbk_). A service token must have the scope the
// method needs.
func (s *Server) authenticateAPI(r *http.Request) (apiCaller, error) {
	cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return apiCaller{}, org.ErrBadKey
	}
	cred = strings.TrimSpace(cred)
	if org.IsServiceToken(cred) {
		tok, err := s.cfg.Orgs.AuthenticateToken(r.Context(), cred)
		if err != nil {
			return apiCaller{}, err
		}
		if !tok.Scope.Allows(neededScope(r)) {
			return apiCaller{}, errReadOnlyToken
		}
		return apiCaller{token: &tok}, nil
	}
	orgID, err := s.cfg.Orgs.AuthenticateKey(r.Context(), cred)
	if err != nil {
		return apiCaller{}, err
	}
	return apiCaller{keyOrg: orgID}, nil
}

// apiRefuse answers a request whose credential did not authenticate or
// authorize.
func (s *Server) apiRefuse(w http.ResponseWriter, r *http.Request, err error) {
	if fault.KindOf(err) == fault.KindUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="marketbridge"`)
	}
	s.apiFail(w, r, err)
}

// api wraps a JSON API handler of one organization, /api/v1/organizations/
// {org}/…. An organization's API key reaches that organization only, and
// only to read: any other organization id is not found, as if it did not
// exist. A service token reaches any organization that exists, to read
// with the scope "read" (GET) and to change with "write". Cookies are never
// accepted here, which is what keeps the API out of reach of cross-site
// requests.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, orgID int64) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticateAPI(r)
		if err != nil {
			s.apiRefuse(w, r, err)
			return
		}
		orgID, perr := strconv.ParseInt(r.PathValue("org"), 10, 64)
		switch {
		case c.token == nil && (perr != nil || orgID != c.keyOrg):
			s.apiFail(w, r, org.ErrNotFound)
			return
		case c.token == nil && neededScope(r) != org.ScopeRead:
			s.apiRefuse(w, r, errKeyReadsOnly)
			return
		case c.token != nil && (perr != nil || orgID <= 0):
			s.apiFail(w, r, org.ErrNotFound)
			return
		case c.token != nil:
			ok, err := s.cfg.Orgs.Exists(r.Context(), orgID)
			if err != nil || !ok {
				s.apiFail(w, r, cmp.Or(err, error(org.ErrNotFound)))
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if err := h(w, r, orgID); err != nil {
			s.apiFail(w, r, err)
		}
	})
}

// vendor wraps a JSON API handler that spans organizations (list, find,
// create): only a service token reaches it, with the scope the method
// needs; an organization's API key is refused.
func (s *Server) vendor(h func(w http.ResponseWriter, r *http.Request, tok org.Token) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticateAPI(r)
		if err == nil && c.token == nil {
			err = errKeyOneOrg
		}
		if err != nil {
			s.apiRefuse(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		if err := h(w, r, *c.token); err != nil {
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
	fields := fault.Fields(err)
	if len(fields) > 0 {
		// Every field error at once, by the name of the JSON field.
		status = http.StatusBadRequest
	}
	switch status {
	case http.StatusInternalServerError:
		s.logger.ErrorContext(r.Context(), "API request failed", "path", r.URL.Path, "err", err)
	case http.StatusServiceUnavailable:
		// Only conditions that pass answer 503 (#11): say when to try again.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	body := apiError{Error: fault.Message(err)}
	if len(fields) > 0 {
		body.Fields = fields
		names := slices.Sorted(maps.Keys(fields))
		msgs := make([]string, len(names))
		for i, f := range names {
			msgs[i] = f + ": " + fields[f]
		}
		body.Error = strings.Join(msgs, "; ")
	}
	writeJSON(w, status, body)
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
	Agreement       *agreementJSON    `json:"agreement,omitempty"`
}

// agreementJSON is the agreement the buyer accepted (#13). Amounts are
// decimal strings in the agreement's currency, exact: AWS writes prices
// with up to six decimal places.
type agreementJSON struct {
	ID              string                `json:"id"`
	Status          string                `json:"status"`
	OfferID         string                `json:"offer_id,omitempty"`
	AcceptedAt      *time.Time            `json:"accepted_at,omitempty"`
	StartsAt        *time.Time            `json:"starts_at,omitempty"`
	EndsAt          *time.Time            `json:"ends_at,omitempty"`
	ReadAt          time.Time             `json:"read_at"`
	Currency        string                `json:"currency,omitempty"`
	Duration        string                `json:"duration,omitempty"`
	AutoRenew       *bool                 `json:"auto_renew,omitempty"`
	FreeTrialEndsAt *time.Time            `json:"free_trial_ends_at,omitempty"`
	CommittedAmount string                `json:"committed_amount,omitempty"`
	Commitments     []commitmentJSON      `json:"commitments,omitempty"`
	UsagePrices     []usagePriceJSON      `json:"usage_prices,omitempty"`
	Payments        []marketplace.Payment `json:"payments,omitempty"`
}

type commitmentJSON struct {
	Dimension   string `json:"dimension"`
	Description string `json:"description,omitempty"`
	Quantity    int64  `json:"quantity"`
	Unlimited   bool   `json:"unlimited,omitempty"`
	UnitPrice   string `json:"unit_price,omitempty"`
	Amount      string `json:"amount,omitempty"`
}

type usagePriceJSON struct {
	Dimension   string `json:"dimension"`
	Description string `json:"description,omitempty"`
	Price       string `json:"price"`
}

func agreementOut(v *marketplace.AgreementView) *agreementJSON {
	if v == nil {
		return nil
	}
	out := &agreementJSON{ID: v.ID, Status: v.Status, OfferID: v.OfferID, AcceptedAt: optionalTime(v.AcceptedAt),
		StartsAt: optionalTime(v.StartsAt), EndsAt: optionalTime(v.EndsAt), ReadAt: v.ReadAt.UTC(), Currency: v.Terms.Currency,
		Duration: v.Terms.Duration, AutoRenew: v.Terms.AutoRenew, FreeTrialEndsAt: optionalTime(v.FreeTrialEnds), Payments: v.Terms.Payments}
	if v.CommittedTotal != "" {
		out.CommittedAmount = v.CommittedMicros.Decimal()
	}
	for _, c := range v.Commitments {
		cj := commitmentJSON{Dimension: c.Dimension, Description: c.Description, Quantity: c.Quantity, Unlimited: c.Unlimited,
			UnitPrice: c.Commitment.UnitPrice}
		if c.Total != "" {
			cj.Amount = c.AmountMicros.Decimal()
		}
		out.Commitments = append(out.Commitments, cj)
	}
	for _, u := range v.Usage {
		out.UsagePrices = append(out.UsagePrices, usagePriceJSON{Dimension: u.Dimension, Description: u.Description, Price: u.Decimal})
	}
	return out
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
			AWSAccountID: sub.Customer.AccountID, OfferID: sub.OfferID, FreeTrial: sub.FreeTrial, Status: sub.Status,
			FinalMeteringBy: optionalTime(sub.FinalMeteringBy)}
		for _, e := range sub.Entitlements {
			var v any = e.Text
			if e.Kind == "integer" {
				v = e.Integer
			}
			sj.Entitlements = append(sj.Entitlements, entitlementJSON{Dimension: e.Dimension, Value: v, ExpiresAt: optionalTime(e.ExpiresAt)})
		}
		agreement, err := s.cfg.Market.AgreementOf(r.Context(), sub.ID)
		if err != nil {
			return err
		}
		sj.Agreement = agreementOut(agreement)
		out.Subscription = sj
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
