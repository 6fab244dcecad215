package main

import (
	"net/http"
	"testing"

	"github.com/marketbridge/marketbridge/internal/browsertest"
	"github.com/marketbridge/marketbridge/internal/oidc/oidctest"
)

// idpName is the in-process provider's name on marketbridge's buttons.
const idpName = "Example Identity"

// oidcDemo is the demo wired to a real OpenID provider (zitadel's op) that
// the test runs on 127.0.0.1: buyers can log in there instead of with a
// password.
type oidcDemo struct {
	demoURLs
	idp *oidctest.Provider
}

// startOIDCDemo starts the provider, then the demo with its --oidc-* flags
// and args, and gives the provider the users.
func startOIDCDemo(t *testing.T, users []oidctest.User, args ...string) oidcDemo {
	t.Helper()
	idp := oidctest.Start(t)
	for _, u := range users {
		idp.AddUser(u)
	}
	return oidcDemo{demoURLs: startDemo(t, append(idp.Flags(idpName), args...)...), idp: idp}
}

// logInAtProvider fills the provider's log-in page, which the browser is
// on, as u, and returns the status of the page marketbridge answers with
// after the provider sends the browser back.
func logInAtProvider(t *testing.T, b *browsertest.Browser, u oidctest.User) int {
	t.Helper()
	expectPage(t, b, http.StatusOK, http.StatusOK, "Sign in to Example Identity")
	b.Fill("#username", u.Username)
	b.Fill("#password", u.Password)
	return b.Click(`form[action="/login/username"] button[type=submit]`)
}
