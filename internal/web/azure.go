package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/marketplace"
)

// Microsoft's commercial marketplace (#15): the landing page URL and the
// connection webhook URL entered in Partner Center's technical
// configuration (docs/azure-setup.md).
const (
	azureLandingPath = "/marketplace/azure/landing"
	azureWebhookPath = "/marketplace/azure/webhook"
	azureSetupPath   = "/marketplace/azure/setup"
	// azureConsoleURL is where the buyer finds their SaaS subscriptions to
	// select "Configure account now" or "Manage account" again.
	azureConsoleURL = "https://portal.azure.com/#browse/Microsoft.SaaS%2Fresources"
)

// AzureNotices verifies and reads the calls of Microsoft's webhook
// (package azuremp): the Entra ID bearer token first, then the body. An
// error that is marketplace.ErrNoticeNotAuthentic is answered 401, any
// other 400.
type AzureNotices interface {
	Notice(ctx context.Context, authorization string, body []byte) (marketplace.Notice, error)
}

// azureAckBudget bounds the work done for a new notice before the webhook
// is answered: Microsoft waits 10 seconds for the seller to accept a plan
// or quantity change, and counts no answer as acceptance.
const azureAckBudget = 8 * time.Second

// handleAzureLanding is the landing page Microsoft opens with ?token= when
// the buyer selects "Configure account now" (or "Manage account"). A GET
// is a top-level navigation, so the browser's SameSite=Lax cookies come
// with it: the purchase is resolved at once, its claim set in a cookie, and
// the browser sent on to the same set-up pages as AWS's (R4).
func (s *Server) handleAzureLanding(w http.ResponseWriter, r *http.Request) error {
	if !s.fulfillments.Allow(s.clientAddr(r)) {
		return fault.New(fault.KindRateLimited, "Too many set-up attempts from your address. Wait a minute, then select \u201cConfigure account now\u201d on the marketplace again.")
	}
	// Query().Get decodes the token once; Microsoft escapes '+' as %2B, so
	// a space can only be a '+' that something on the way left unescaped.
	token := strings.ReplaceAll(r.URL.Query().Get("token"), " ", "+")
	claim, _, err := s.cfg.Market.Land(r.Context(), marketplace.Azure, token)
	if err != nil {
		return s.renderSetUpError(w, r, err, marketplace.Azure)
	}
	http.SetCookie(w, &http.Cookie{Name: purchaseCookie, Value: claim, Path: "/", MaxAge: int(marketplace.PurchaseTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	return seeOther(w, r, azureSetupPath)
}

// handleAzureWebhook is Microsoft's connection webhook. Nothing is believed
// before the Entra ID token is verified; the notice is stored before it is
// answered (Microsoft retries until it gets a 2xx), and the subscription is
// read from Microsoft again before anything changes here. A new notice is
// applied at once, within the 10 seconds Microsoft gives the seller to
// accept a plan or quantity change; the providers' loop retries what fails.
func (s *Server) handleAzureWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AzureNotices == nil {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotificationBytes))
	if err != nil {
		s.refuseNotification(w, r, http.StatusRequestEntityTooLarge, err)
		return
	}
	n, err := s.cfg.AzureNotices.Notice(r.Context(), r.Header.Get("Authorization"), body)
	if errors.Is(err, marketplace.ErrNoticeNotAuthentic) {
		s.refuseNotification(w, r, http.StatusUnauthorized, err)
		return
	}
	if errors.Is(err, marketplace.ErrMarketplaceUnavailable) {
		// Entra's keys could not be read: a 4xx would reject a plan
		// change, a 503 makes Microsoft try again.
		s.logger.WarnContext(r.Context(), "marketplace notice not verified yet", "err", err)
		http.Error(w, "cannot verify now; retry", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		s.refuseNotification(w, r, http.StatusBadRequest, err)
		return
	}
	id, isNew, err := s.cfg.Market.RecordNotice(r.Context(), marketplace.Azure, n)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "store marketplace notice", "notice", n.ID, "err", err)
		http.Error(w, "not stored; retry", http.StatusServiceUnavailable)
		return
	}
	if isNew {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), azureAckBudget)
		if _, err := s.cfg.Market.ApplyNotice(ctx, id); err != nil {
			s.logger.WarnContext(r.Context(), "apply marketplace notice", "notice", n.ID, "err", err)
		}
		cancel()
	}
	s.logger.InfoContext(r.Context(), "marketplace notice", "marketplace", marketplace.Azure, "action", n.Action, "notice", n.ID, "duplicate", !isNew)
	w.WriteHeader(http.StatusOK)
}
