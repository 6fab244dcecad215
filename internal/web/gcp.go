package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Google Cloud Marketplace (#16): the Sign up URL entered in Producer
// Portal's frontend integration (also its SSO login URL, which Google posts
// the same token to), and the push endpoint of the seller's Pub/Sub
// subscription on the provider's topic (docs/gcp-setup.md).
const (
	gcpSignupPath = "/marketplace/gcp/signup"
	gcpSetupPath  = "/marketplace/gcp/setup"
	gcpPubSubPath = "/marketplace/gcp/pubsub"
	// gcpConsoleURL is where the buyer finds their orders, to click
	// "Register" or "Manage on" again.
	gcpConsoleURL = "https://console.cloud.google.com/marketplace/orders"
	// gcpTokenField is the form field of Google's sign-up post.
	gcpTokenField = "x-gcp-marketplace-token"
)

// NoticeReader verifies and reads one call of a marketplace's
// notification endpoint (Microsoft's webhook: package azuremp; Google's
// Pub/Sub push: package gcpmp): the caller's bearer token first, then the
// body. An error that is marketplace.ErrNoticeNotAuthentic is answered 401,
// marketplace.ErrMarketplaceUnavailable 503, any other 400.
type NoticeReader interface {
	Notice(ctx context.Context, authorization string, body []byte) (marketplace.Notice, error)
}

// gcpApplyBudget bounds the work done for a new notice before the push is
// answered: Pub/Sub's acknowledgement deadline (10 s by default) is also
// its push request's timeout.
const gcpApplyBudget = 8 * time.Second

// handleGCPSignup is where Google posts the buyer's browser when they
// click "Register with <vendor>" (or "Manage on <vendor>", with SSO): a
// cross-site form post carrying a JWT that lives five minutes, so it is
// verified at once and never kept; the verified purchase is carried by
// the same claim cookie as AWS's, through the same set-up pages (R4).
func (s *Server) handleGCPSignup(w http.ResponseWriter, r *http.Request) error {
	if !s.fulfillments.Allow(s.clientAddr(r)) {
		return fault.New(fault.KindRateLimited, "Too many set-up attempts from your address. Wait a minute, then click \u201cRegister\u201d on Google Cloud Marketplace again.")
	}
	if err := r.ParseForm(); err != nil {
		return s.renderSetUpError(w, r, marketplace.ErrTokenInvalid, marketplace.GCP)
	}
	// The form field is what Google documents; the query is tolerated,
	// since a sign-up URL may be reached through a redirect that drops the
	// body.
	token := r.PostForm.Get(gcpTokenField)
	if token == "" {
		token = r.URL.Query().Get(gcpTokenField)
	}
	claim, _, err := s.cfg.Market.Land(r.Context(), marketplace.GCP, token)
	if err != nil {
		return s.renderSetUpError(w, r, err, marketplace.GCP)
	}
	http.SetCookie(w, &http.Cookie{Name: purchaseCookie, Value: claim, Path: "/", MaxAge: int(marketplace.PurchaseTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	return seeOther(w, r, gcpSetupPath)
}

// handleGCPSignupNotPosted answers a person who opens the Sign up URL
// directly: only Google's post carries a token.
func (s *Server) handleGCPSignupNotPosted(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get(gcpTokenField) != "" {
		return s.handleGCPSignup(w, r)
	}
	w.Header().Set("Allow", http.MethodPost)
	v := marketplaceErrorView{Heading: "This set-up link is not valid", ConsoleURL: gcpConsoleURL, ConsoleLabel: "Your orders in Google Cloud Marketplace",
		Message: "This page is opened by Google Cloud Marketplace when you click \u201cRegister\u201d for one of our products. " +
			"Open your orders in Google Cloud Marketplace and click it there."}
	s.render(w, r, http.StatusMethodNotAllowed, "marketplace_error", view{Title: v.Heading, Data: v})
	return nil
}

// handleGCPPubSub is the push endpoint of the seller's Pub/Sub
// subscription. Nothing is believed before the push's OIDC token is
// verified; the notice is stored before it is acknowledged (Pub/Sub
// delivers again until it gets a 2xx), and the entitlement is read from
// Google again before anything changes here. A new notice is applied at
// once; the providers' loop retries what fails.
func (s *Server) handleGCPPubSub(w http.ResponseWriter, r *http.Request) {
	s.handleNotice(w, r, marketplace.GCP, s.cfg.GCPNotices, gcpApplyBudget, http.StatusNoContent)
}

// handleNotice reads, stores and applies one call of a marketplace's
// notification endpoint, and answers ok once it is stored.
func (s *Server) handleNotice(w http.ResponseWriter, r *http.Request, market string, reader NoticeReader, budget time.Duration, ok int) {
	if reader == nil {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotificationBytes))
	if err != nil {
		s.refuseNotification(w, r, http.StatusRequestEntityTooLarge, err)
		return
	}
	n, err := reader.Notice(r.Context(), r.Header.Get("Authorization"), body)
	if errors.Is(err, marketplace.ErrNoticeNotAuthentic) {
		s.refuseNotification(w, r, http.StatusUnauthorized, err)
		return
	}
	if errors.Is(err, marketplace.ErrMarketplaceUnavailable) {
		// The signing keys could not be read: a 503 makes the
		// marketplace deliver it again.
		s.logger.WarnContext(r.Context(), "marketplace notice not verified yet", "marketplace", market, "err", err)
		http.Error(w, "cannot verify now; retry", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		s.refuseNotification(w, r, http.StatusBadRequest, err)
		return
	}
	id, isNew, err := s.cfg.Market.RecordNotice(r.Context(), market, n)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "store marketplace notice", "marketplace", market, "notice", n.ID, "err", err)
		http.Error(w, "not stored; retry", http.StatusServiceUnavailable)
		return
	}
	if isNew && n.SubscriptionKey != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), budget)
		if _, err := s.cfg.Market.ApplyNotice(ctx, id); err != nil {
			s.logger.WarnContext(r.Context(), "apply marketplace notice", "marketplace", market, "notice", n.ID, "err", err)
		}
		cancel()
	}
	s.logger.InfoContext(r.Context(), "marketplace notice", "marketplace", market, "action", n.Action, "notice", n.ID, "duplicate", !isNew)
	w.WriteHeader(ok)
}
