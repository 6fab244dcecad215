package web

import (
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
	s.handleNotice(w, r, marketplace.Azure, s.cfg.AzureNotices, azureAckBudget, http.StatusOK)
}
