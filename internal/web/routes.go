package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/marketbridge/marketbridge/internal/oidc"
	"github.com/marketbridge/marketbridge/internal/org"
)

// routes is the whole surface of the seller service, on one screen.
func (s *Server) routes(mux *http.ServeMux) {
	s.handle(mux, "GET /healthz", s.handleHealthz())
	if !s.cfg.MetricsElsewhere {
		s.handle(mux, "GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	}
	s.handle(mux, "GET /static/", staticFiles())

	// Signing up and in: no session needed.
	s.handle(mux, "GET /{$}", s.page(s.handleHome))
	// Marketbridge's own accounts: off with --local-accounts=false.
	s.handle(mux, "GET /register", s.toLogin(s.page(s.handleRegisterForm)))
	s.handle(mux, "POST /register", s.localOnly(s.page(s.handleRegister)))
	s.handle(mux, "GET /register/check-inbox", s.toLogin(s.page(s.handleCheckInbox)))
	s.handle(mux, "POST /verify-email/resend", s.localOnly(s.page(s.handleResendVerification)))
	s.handle(mux, "GET /verify-email", s.page(s.handleVerifyEmail))
	s.handle(mux, "GET /login", s.page(s.handleLoginForm))
	s.handle(mux, "POST /login", s.localOnly(s.page(s.handleLogin)))
	s.handle(mux, "POST /logout", s.page(s.handleLogout))
	s.handle(mux, "GET /forgot-password", s.toLogin(s.page(s.handleForgotForm)))
	s.handle(mux, "POST /forgot-password", s.localOnly(s.page(s.handleForgot)))
	s.handle(mux, "GET /reset-password", s.toLogin(s.page(s.handleResetForm)))
	s.handle(mux, "POST /reset-password", s.localOnly(s.page(s.handleReset)))
	// Sign-in through the vendor's OpenID Connect provider, when set.
	if s.cfg.OIDC != nil {
		s.handle(mux, "GET /login/oidc", s.page(s.handleOIDCStart))
		s.handle(mux, "GET "+oidc.CallbackPath, s.page(s.handleOIDCCallback))
		s.handle(mux, "POST /account/oidc/link", s.user(s.handleOIDCLink))
	}
	s.handle(mux, "GET /invitations/accept", s.page(s.handleInvitation))

	// Logged in, before onboarding is complete.
	s.handle(mux, "GET /account", s.user(s.handleAccount))
	s.handle(mux, "GET /onboarding/company", s.user(s.handleCompanyForm))
	s.handle(mux, "POST /onboarding/company", s.user(s.handleCompany))
	s.handle(mux, "GET /onboarding/profile", s.user(s.handleProfileForm))
	s.handle(mux, "POST /onboarding/profile", s.user(s.handleProfile))

	// Logged in and onboarded.
	s.handle(mux, "POST /invitations/accept", s.member(s.handleAcceptInvitation))
	s.handle(mux, "GET /orgs/new", s.member(s.handleNewOrgForm))
	s.handle(mux, "POST /orgs", s.member(s.handleCreateOrg))
	s.handle(mux, "POST /orgs/switch", s.member(s.handleSwitchOrg))

	// Organization-scoped: a non-member gets 404, a member without the role 403.
	anyRole := []org.Role{}
	s.handle(mux, "GET /orgs/{org}/{$}", s.inOrg(anyRole, s.handleOrgOverview))
	s.handle(mux, "GET /orgs/{org}/members", s.inOrg(anyRole, s.handleMembers))
	s.handle(mux, "POST /orgs/{org}/members/invite", s.inOrg(admin, s.handleInvite))
	s.handle(mux, "POST /orgs/{org}/members/{user}/role", s.inOrg(admin, s.handleChangeRole))
	s.handle(mux, "POST /orgs/{org}/members/{user}/remove", s.inOrg(anyRole, s.handleRemoveMember))
	s.handle(mux, "POST /orgs/{org}/invitations/{id}/revoke", s.inOrg(admin, s.handleRevokeInvitation))
	s.handle(mux, "GET /orgs/{org}/api-keys", s.inOrg(admin, s.handleAPIKeys))
	s.handle(mux, "POST /orgs/{org}/api-keys", s.inOrg(admin, s.handleCreateAPIKey))
	s.handle(mux, "POST /orgs/{org}/api-keys/{id}/revoke", s.inOrg(admin, s.handleRevokeAPIKey))
	s.handle(mux, "GET /orgs/{org}/audit", s.inOrg(admin, s.handleAudit))

	// AWS Marketplace: the fulfillment URL, then the linking pages.
	s.handle(mux, "POST "+fulfillmentPath, s.page(s.handleFulfillment))
	s.handle(mux, fulfillmentPath, s.page(s.handleFulfillmentNotPosted))
	s.handle(mux, "GET /marketplace/aws/setup", s.page(s.handleSetup))
	s.handle(mux, "POST /marketplace/aws/sns", http.HandlerFunc(s.handleSNS))
	s.handle(mux, "POST /marketplace/aws/events", http.HandlerFunc(s.handleEvents))

	// Microsoft's commercial marketplace (#15): the landing page, then the
	// same set-up and linking pages; its webhook.
	s.handle(mux, "GET "+azureLandingPath, s.page(s.handleAzureLanding))
	s.handle(mux, "GET "+azureSetupPath, s.page(s.handleSetup))
	s.handle(mux, "POST "+azureWebhookPath, http.HandlerFunc(s.handleAzureWebhook))

	// Google Cloud Marketplace (#16): the sign-up post, then the same
	// set-up and linking pages; its Pub/Sub push endpoint.
	s.handle(mux, "POST "+gcpSignupPath, s.page(s.handleGCPSignup))
	s.handle(mux, gcpSignupPath, s.page(s.handleGCPSignupNotPosted))
	s.handle(mux, "GET "+gcpSetupPath, s.page(s.handleSetup))
	s.handle(mux, "POST "+gcpPubSubPath, http.HandlerFunc(s.handleGCPPubSub))

	// The JSON API, authenticated with an organization's API key (its own
	// organization) or a service token (any, by scope): see api.go.
	s.handle(mux, "GET /api/v1/openapi.json", handleOpenAPI())
	s.handle(mux, "POST /api/v1/events", s.usageEvents(s.cfg.Usage))
	s.handle(mux, "GET /api/v1/organizations/{org}/billing", s.api(s.handleAPIBilling))
	s.handle(mux, "GET /api/v1/organizations/{org}/entitlement", s.api(s.handleAPIEntitlement))
	if s.cfg.Coverage != nil {
		s.handle(mux, "GET /api/v1/organizations/{org}/usage", s.api(s.handleAPIUsage))
	}

	// The vendor API (#12): service tokens reach every organization (read:
	// GET; write: the rest); an organization's API key reads its own.
	s.handle(mux, "POST /api/v1/organizations", s.vendor(s.handleAPICreateOrg))
	s.handle(mux, "GET /api/v1/organizations", s.vendor(s.handleAPIOrgs))
	s.handle(mux, "GET /api/v1/organizations/{org}", s.api(s.handleAPIOrg))
	s.handle(mux, "GET /api/v1/organizations/{org}/members", s.api(s.handleAPIMembers))
	s.handle(mux, "POST /api/v1/organizations/{org}/members", s.api(s.handleAPIAddMember))
	s.handle(mux, "PATCH /api/v1/organizations/{org}/members/{member}", s.api(s.handleAPIChangeMember))
	s.handle(mux, "DELETE /api/v1/organizations/{org}/members/{member}", s.api(s.handleAPIRemoveMember))
	s.handle(mux, "PUT /api/v1/organizations/{org}/external_id", s.api(s.handleAPISetExternalID))
	s.handle(mux, "DELETE /api/v1/organizations/{org}/external_id", s.api(s.handleAPIClearExternalID))
	s.handle(mux, "GET /marketplace/purchases/{id}", s.member(s.handleLinkForm))
	s.handle(mux, "POST /marketplace/purchases/{id}/link", s.member(s.handleLink))
	s.handle(mux, "GET /orgs/{org}/billing", s.inOrg(billingRoles, s.handleBilling))

	// The vendor's operator view.
	s.handle(mux, "GET /operator", s.operator(s.handleOperator))
	s.handle(mux, "POST /operator/notifications/{id}/retry", s.operator(s.handleRetryNotification))
	s.handle(mux, "POST /operator/notices/{id}/retry", s.operator(s.handleRetryNotice))
	s.handle(mux, "GET /operator/tokens", s.operator(s.handleTokens))
	s.handle(mux, "POST /operator/tokens", s.operator(s.handleCreateToken))
	s.handle(mux, "POST /operator/tokens/{id}/revoke", s.operator(s.handleRevokeToken))
	if s.cfg.Webhooks != nil {
		s.handle(mux, "GET /operator/webhooks", s.operator(s.handleOperatorWebhooks))
		s.handle(mux, "POST /operator/webhooks", s.operator(s.handleCreateWebhook))
		s.handle(mux, "GET /operator/webhooks/{id}", s.operator(s.handleOperatorWebhook))
		s.handle(mux, "POST /operator/webhooks/{id}/rotate", s.operator(s.handleRotateWebhook))
		s.handle(mux, "POST /operator/webhooks/{id}/enable", s.operator(s.handleEnableWebhook))
		s.handle(mux, "POST /operator/webhooks/{id}/disable", s.operator(s.handleDisableWebhook))
		s.handle(mux, "POST /operator/webhooks/{id}/delete", s.operator(s.handleDeleteWebhook))
		s.handle(mux, "POST /operator/webhooks/{id}/deliveries/{delivery}/resend", s.operator(s.handleResendWebhook))
	}

	// The demo's inbox.
	if s.cfg.Mailbox != nil {
		s.handle(mux, "GET /dev/mailbox", s.page(s.handleMailbox))
		s.handle(mux, "GET /dev/mailbox/{id}", s.page(s.handleMailboxMessage))
	}
	// The demo's webhook receiver, verifying signatures as the vendor's must.
	if s.cfg.WebhookInbox != nil {
		s.handle(mux, "GET /dev/webhooks", s.page(s.handleDevWebhooks))
		s.handle(mux, "POST /dev/webhooks/inbox", http.HandlerFunc(s.handleDevWebhookInbox))
	}
}

var (
	admin        = []org.Role{org.RoleAdmin}
	billingRoles = []org.Role{org.RoleAdmin, org.RoleBilling}
)

// handle registers h under pattern, instrumented with the pattern as its
// route label, so metrics and logs group requests by route, not by URL.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, s.instrument(pattern, h))
}
