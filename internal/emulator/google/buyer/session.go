package buyer

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
)

const (
	sessionCookie = "gcp_emulator_buyer"
	csrfCookie    = "gcp_emulator_csrf"
	csrfField     = "csrf"
)

// defaultEmail is offered on the sign-in page; the emulator sends no mail.
const defaultEmail = "buyer@example.com"

// current is who the browser acts as, from the cookie. The emulator has no
// identity provider for buyers: the cookie is the whole sign-in.
func (p *Pages) current(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s, err := parseSession(c.Value)
	return s, err == nil
}

// requireBuyer sends a browser that is not signed in to the sign-in page.
func (p *Pages) requireBuyer(w http.ResponseWriter, r *http.Request) (session, bool) {
	s, ok := p.current(r)
	if !ok {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, p.path("/signin"), http.StatusSeeOther)
		} else {
			p.fail(w, r, &Error{Kind: KindConflict, Message: "You are not signed in, so nothing was changed. Sign in with a billing account, then try again."})
		}
	}
	return s, ok
}

// nonce is the browser's CSRF nonce, set as a cookie when it has none (or
// a malformed one), so that the page being rendered can carry its token.
func (p *Pages) nonce(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validNonce(c.Value) {
		return c.Value
	}
	b := make([]byte, nonceLen/2)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		p.log.Error("google buyer pages: no randomness for a CSRF nonce", "err", err)
		return "" // the page's forms will be refused; better than a guessable nonce
	}
	n := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: n, Path: p.path("/"), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return n
}

// requireCSRF refuses a POST whose form lacks this browser's token, before
// the form reaches a handler. Forms are small; a larger body is refused.
func (p *Pages) requireCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			p.fail(w, r, &Error{Kind: KindInvalid, Message: "The form could not be read (is it larger than 64 KiB?), so nothing was changed. Go back and submit it again.", Err: err})
			return
		}
		var nonce string
		if c, err := r.Cookie(csrfCookie); err == nil {
			nonce = c.Value
		}
		if !checkCSRF(p.csrfKey, nonce, r.PostForm.Get(csrfField)) {
			p.log.Warn("google buyer pages refused a form without a valid CSRF token", "path", r.URL.Path)
			p.refuse(w, r, "This form is out of date (the emulator restarted, or your browser's cookies were cleared) or was not sent from these pages, so nothing was changed.",
				"Reload the page and use its buttons again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// knownAccounts is the sign-in page's list: billing accounts that hold
// orders or private offers, so a tester can pick one instead of typing.
func (p *Pages) knownAccounts(ctx context.Context) []BillingAccount {
	known, err := p.m.BillingAccounts(ctx)
	if err != nil {
		p.log.Error("google buyer pages: list billing accounts", "err", err)
		return nil // the page still lets the buyer type one
	}
	return known
}

// newBillingAccount suggests a fresh billing account: one with no orders.
func (p *Pages) newBillingAccount() string {
	b := make([]byte, 9)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return billingPrefix + "000000-000000-000000"
	}
	h := strings.ToUpper(hex.EncodeToString(b))
	return billingPrefix + h[0:6] + "-" + h[6:12] + "-" + h[12:18]
}

func (p *Pages) signInForm(w http.ResponseWriter, r *http.Request) {
	account, email := p.newBillingAccount(), defaultEmail
	if s, ok := p.current(r); ok {
		account, email = s.BillingAccount, s.Email
	}
	p.render(w, r, http.StatusOK, "signin", "Sign in", map[string]any{
		"BillingAccount": account, "Email": email, "Known": p.knownAccounts(r.Context()),
	})
}

func (p *Pages) signIn(w http.ResponseWriter, r *http.Request) {
	account, aerr := parseBillingAccount(r.PostFormValue("billing_account"))
	email, eerr := parseEmail(r.PostFormValue("email"))
	if aerr != nil || eerr != nil {
		p.fail(w, r, &Error{Kind: KindInvalid, Message: sentences(aerr, eerr)})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: session{BillingAccount: account, Email: email}.encode(),
		Path: p.path("/"), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p.seeOther(w, r, "/", "signed-in")
}

func (p *Pages) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: p.path("/"), MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p.seeOther(w, r, "/signin", "signed-out")
}
