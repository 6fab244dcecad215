package main

import (
	"net/http"
	"testing"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/oidc/oidctest"
)

// Flow A with sign-in through the vendor's OpenID provider (#12): the demo
// buyer subscribes, sets up an account, chooses "Log in with Example
// Identity" on the set-up page, logs in at the provider as a first-time
// user, fills the business information, and links a new organization; the
// purchase survived the trip through the provider (R4). Logging out ends
// the provider's session too and comes back to the log-in page.
func TestBrowser_MarketplaceFlowA_OIDCFirstSignInOnboardsAndLinks_R4(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "buyer")
	noor := oidctest.User{Subject: "idp-noor", Username: "noor", Password: "correct horse", Email: "noor@example.com",
		EmailVerified: true, GivenName: "Noor", FamilyName: "Haddad"}
	d := startOIDCDemo(t, []oidctest.User{noor})

	expectPage(t, b, b.Visit(d.emulator+"/buyer/"), http.StatusOK, "Discover products")
	actAs(t, b, market.DemoBuyerAccountID)
	subscribePAYG(t, b)
	expectPage(t, b, setUpAccount(t, b, d.demoURLs), http.StatusOK, "Welcome from AWS Marketplace")
	expectText(t, b, "main .panel", paygTitle, "1234-5678-9012", "Log in with "+idpName, "Register")

	expectPage(t, b, b.Click(`main a[href^="/login/oidc?"]`), http.StatusOK, "Sign in to Example Identity")
	expectPage(t, b, logInAtProvider(t, b, noor), http.StatusOK, "Tell us about your business")
	expectText(t, b, "header .who", "Noor Haddad", noor.Email)
	expectPage(t, b, onboard(t, b, person{company: "Haddad Robotics"}), http.StatusOK, linkHeading)
	expectText(t, b, "main .panel", paygTitle, "1234-5678-9012")
	if got := b.Value("#f-name"); got != "Haddad Robotics" {
		t.Errorf("the new organization's name is %q, want the company from onboarding", got)
	}
	confirmLink(t, b, "Haddad Robotics")
	expectBilling(t, b, "1234-5678-9012", "Pay as you go", "—")

	// The account page says how Noor logs in; it and the sign-in pages
	// reflow at 320 px with enough contrast (WCAG 2.1, 1.4.10 and 1.4.3).
	b.SetViewport(320, 640)
	visitAndCheck(t, b, "account", d.seller+"/account", http.StatusOK)
	expectText(t, b, "main", "noor@example.com", "none: you log in through "+idpName, d.idp.Issuer)

	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")
	if b.URL().Path != "/login" || d.idp.Logouts() != 1 {
		t.Errorf("after logging out the browser is on %s and the provider ended %d sessions; want /login and 1", b.URL(), d.idp.Logouts())
	}
	checkPage(t, b, "log in, with the provider's button")
	expectText(t, b, "main", "Log in with "+idpName)
	visitAndCheck(t, b, "a sign-in that did not work", d.seller+"/login/oidc/callback?state=old&code=c", http.StatusUnprocessableEntity)
	visitAndCheck(t, b, "register, with the provider's button", d.seller+"/register", http.StatusOK)
}

// Someone with a password account tries the provider's sign-in with the
// same, verified address: marketbridge does not attach it silently, but
// says to log in with the password and link from the account page (#12).
// They do; from then on the provider's sign-in opens the same account.
func TestBrowser_OIDCSameAddressAsPasswordAccountLinksFromAccountPage(t *testing.T) {
	t.Parallel()
	b := browsertest.New(t, "owner")
	ines := person{name: "Ines Duarte", email: "ines@example.com", password: "tiles of lisbon in blue", company: "Duarte Tiles"}
	atIdP := oidctest.User{Subject: "idp-ines", Username: "ines", Password: "azulejo", Email: ines.email, EmailVerified: true,
		GivenName: "Ines", FamilyName: "Duarte"}
	d := startOIDCDemo(t, []oidctest.User{atIdP})
	signUp(t, b, d.seller, ines)
	orgID := createOrg(t, b, ines.company)
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")

	expectPage(t, b, b.Click(`main a[href^="/login/oidc"]`), http.StatusOK, "Sign in to Example Identity")
	expectPage(t, b, logInAtProvider(t, b, atIdP), http.StatusConflict, "You already have an account")
	expectText(t, b, "main .panel", "Log in with its password", "Link your "+idpName+" sign-in")
	expectPage(t, b, b.Click(`main a[href^="/login?"]`), http.StatusOK, "Log in")
	if got := b.Value("#f-email"); got != ines.email {
		t.Errorf("the log-in form has %q, want the address filled in", got)
	}
	expectPage(t, b, login(t, b, ines), http.StatusOK, ines.company)

	expectPage(t, b, b.Click(`header a.who`), http.StatusOK, "Your account")
	expectPage(t, b, b.Click(`main form[action="/account/oidc/link"] button[type=submit]`), http.StatusOK, "Sign in to Example Identity")
	expectPage(t, b, logInAtProvider(t, b, atIdP), http.StatusOK, "Your account")
	expectFlash(t, b, "sign-in is linked")
	expectText(t, b, "main", "Linked to "+ines.email)

	// A password session logs out here only; then the provider's sign-in
	// opens Ines's account.
	expectPage(t, b, b.Click(`header form[action="/logout"] button[type=submit]`), http.StatusOK, "Log in")
	expectPage(t, b, b.Click(`main a[href^="/login/oidc"]`), http.StatusOK, "Sign in to Example Identity")
	expectPage(t, b, logInAtProvider(t, b, atIdP), http.StatusOK, ines.company)
	if want := orgPage(d.seller, orgID, ""); b.URL().String() != want {
		t.Errorf("after signing in through the provider the browser is on %s, want %s", b.URL(), want)
	}
}
