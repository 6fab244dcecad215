package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/oidc"
	"github.com/marketbridge/marketbridge/internal/secret"
)

// SignInProvider is the vendor's OpenID Connect provider, as the log-in
// pages use it (package oidc's RelyingParty).
type SignInProvider interface {
	AuthURL(ctx context.Context, st oidc.Start) (string, error)
	Exchange(ctx context.Context, code, verifier string, nonceOK func(nonce string) bool) (oidc.Identity, error)
	LogoutURL(ctx context.Context, idToken, postLogout string) (string, bool)
	Issuer() string
}

// oidcStateCookie names the cookie that binds a sign-in to the browser
// that started it: the callback's state must be one this browser was
// given, so that a callback URL planted in another browser (log-in CSRF)
// does nothing. One cookie per sign-in, named after its state, so that two
// tabs signing in at once do not overwrite each other's. Lax, because the
// provider's redirect back is a cross-site top-level GET.
func oidcStateCookie(state string) string { return "mb_oidc_" + secret.Hash(state)[:16] }

// handleOIDCStart sends the browser to the provider to log in.
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if userFrom(r.Context()) != nil {
		if next == "" {
			next = "/"
		}
		return seeOther(w, r, next)
	}
	return s.redirectToProvider(w, r, account.PendingSignIn{Next: next})
}

// handleOIDCLink starts linking the provider's sign-in to the logged-in
// user's account: only the owner, logged in, attaches an identity.
func (s *Server) handleOIDCLink(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.redirectToProvider(w, r, account.PendingSignIn{Next: "/account", LinkUserID: u.User.ID})
}

func (s *Server) redirectToProvider(w http.ResponseWriter, r *http.Request, p account.PendingSignIn) error {
	if !s.signIns.Allow(s.clientAddr(r)) {
		return fault.New(fault.KindRateLimited, "Too many sign-in attempts from your address. Wait a minute, then try again.")
	}
	st := oidc.NewStart(secret.Token)
	to, err := s.cfg.OIDC.AuthURL(r.Context(), st)
	if err != nil {
		return err
	}
	p.State, p.Nonce, p.Verifier = st.State, st.Nonce, st.Verifier
	if err := s.cfg.Accounts.SaveSignIn(r.Context(), p); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie(st.State), Value: st.State, Path: oidc.CallbackPath, MaxAge: int(account.SignInTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// errWrongBrowser is a callback whose state this browser was not given.
var errWrongBrowser = fault.New(fault.KindInvalid, "This sign-in was started in another browser or has expired. Please start again.")

// errPasswordAccountStranded: a password account holds the address, and
// password log-in is off.
var errPasswordAccountStranded = fault.New(fault.KindConflict,
	"An account with this e-mail address already exists here, with a password, and log-in with a password is turned off. Ask the vendor's support to link it to this sign-in.")

type oidcProblemView struct {
	Heading    string
	Message    string
	Next       string
	Email      string // for "log in with your password"
	PasswordOK bool   // offer the password log-in
}

// handleOIDCCallback finishes a sign-in (or a link) when the provider
// sends the browser back.
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	cb, err := oidc.ParseCallback(r.URL.RawQuery)
	if err != nil {
		return s.oidcProblem(w, r, "This sign-in did not work", err, "", "")
	}
	c, cerr := r.Cookie(oidcStateCookie(cb.State))
	if cerr != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(cb.State)) != 1 {
		return s.oidcProblem(w, r, "This sign-in did not work", errWrongBrowser, "", "")
	}
	http.SetCookie(w, &http.Cookie{Name: oidcStateCookie(cb.State), Path: oidc.CallbackPath, MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	pending, err := s.cfg.Accounts.TakeSignIn(r.Context(), cb.State)
	if err != nil {
		return s.oidcProblem(w, r, "This sign-in did not work", err, "", "")
	}
	if cb.Error != "" {
		s.logger.InfoContext(r.Context(), "provider refused sign-in", "error", cb.Error, "description", cb.Description)
		msg := fault.New(fault.KindUnauthenticated, "The sign-in was cancelled or refused at %s.", s.cfg.OIDCName)
		return s.oidcProblem(w, r, "You are not logged in", msg, pending.Next, "")
	}
	id, err := s.cfg.OIDC.Exchange(r.Context(), cb.Code, pending.Verifier, pending.NonceMatches)
	if err != nil {
		if fault.KindOf(err) == fault.KindUnauthenticated {
			s.logger.WarnContext(r.Context(), "sign-in rejected", "err", err)
		}
		return s.oidcProblem(w, r, "This sign-in did not work", err, pending.Next, "")
	}
	ident := account.Identity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name}
	if pending.LinkUserID != 0 {
		return s.finishLink(w, r, pending.LinkUserID, ident)
	}
	u, err := s.cfg.Accounts.SignInWithIdentity(r.Context(), ident)
	switch {
	case errors.Is(err, account.ErrIdentityEmailTaken) && s.cfg.LocalAccountsOff:
		// The account's password no longer opens it, so its owner cannot
		// link from it: the vendor's staff must.
		return s.oidcProblem(w, r, "You already have an account", errPasswordAccountStranded, pending.Next, "")
	case errors.Is(err, account.ErrIdentityEmailTaken):
		return s.oidcProblem(w, r, "You already have an account", err, pending.Next, account.NormalizeEmail(id.Email))
	case errors.Is(err, account.ErrIdentityEmailTakenNoPassword):
		return s.oidcProblem(w, r, "You already have an account", err, pending.Next, "")
	case errors.Is(err, account.ErrIdentityEmailUnverified):
		return s.oidcProblem(w, r, "Your e-mail address is not confirmed", err, pending.Next, "")
	case err != nil:
		return err
	}
	return s.completeLogin(w, r, u, pending.Next, id.IDToken)
}

// finishLink attaches the identity to the user who asked, if that user is
// still the one logged in on this browser.
func (s *Server) finishLink(w http.ResponseWriter, r *http.Request, userID int64, id account.Identity) error {
	cu := userFrom(r.Context())
	if cu == nil || cu.User.ID != userID {
		return s.oidcProblem(w, r, "This sign-in did not work", fault.New(fault.KindForbidden, "Log in to the account you want to link, then start again from its account page."), "", "")
	}
	if err := s.cfg.Accounts.LinkIdentity(r.Context(), userID, id); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.oidcProblem(w, r, "This sign-in cannot be linked", err, "/account", "")
	}
	s.setFlash(w, "Your "+s.cfg.OIDCName+" sign-in is linked: you can log in with it from now on.")
	return seeOther(w, r, "/account")
}

// oidcProblem shows why a sign-in did not log anyone in, and the way on.
func (s *Server) oidcProblem(w http.ResponseWriter, r *http.Request, heading string, err error, next, email string) error {
	switch fault.KindOf(err) {
	case fault.KindInternal:
		return err
	case fault.KindUnavailable:
		s.logger.WarnContext(r.Context(), "sign-in provider unavailable", "err", err)
	}
	v := oidcProblemView{Heading: heading, Message: fault.Message(err), Next: next, Email: email, PasswordOK: email != "" && !s.cfg.LocalAccountsOff}
	s.render(w, r, statusOf(err), "oidc_problem", view{Title: heading, Data: v})
	return nil
}

// completeLogin opens a session for u on this browser, as a password
// log-in and a provider sign-in both end, and goes on: to next, to a
// marketplace set-up waiting in this browser or for this user (R4), through
// onboarding first when it is not done.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, u account.User, next, idToken string) error {
	// A new session on every log-in; the old one, if any, is ended.
	if old := userFrom(r.Context()); old != nil {
		if err := s.cfg.Accounts.EndSession(r.Context(), old.token); err != nil {
			return err
		}
	}
	tok, err := s.cfg.Accounts.StartSessionWithIDToken(r.Context(), u.ID, idToken)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, tok)
	device, err := s.cfg.Accounts.RememberDevice(r.Context(), u.ID, s.deviceToken(r))
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, device)
	if next == "" {
		// A marketplace set-up waiting in this browser, or for this user
		// from another browser, comes first (R4).
		if s.waitingPurchase(r) {
			next = "/marketplace/aws/setup"
		} else if p, ok, err := s.cfg.Market.PendingPurchase(r.Context(), u.ID); err != nil {
			return err
		} else if ok {
			next = purchaseURL(p.ID)
		}
	}
	if !u.Onboarded {
		return seeOther(w, r, onboardingURL("/onboarding/company", next))
	}
	if next == "" {
		next = "/"
	}
	return seeOther(w, r, next)
}

type accountView struct {
	HasPassword bool
	Identities  []account.LinkedIdentity
	CanLink     bool
}

// handleAccount shows how the user logs in, and offers to link the
// provider's sign-in.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	has, err := s.cfg.Accounts.HasPassword(r.Context(), u.User.ID)
	if err != nil {
		return err
	}
	ids, err := s.cfg.Accounts.Identities(r.Context(), u.User.ID)
	if err != nil {
		return err
	}
	v := accountView{HasPassword: has, Identities: ids, CanLink: s.cfg.OIDC != nil && len(ids) == 0}
	s.render(w, r, http.StatusOK, "account", view{Title: "Your account", Data: v})
	return nil
}

// logoutTarget is where a browser goes after logging out: the provider's
// end-session endpoint when the session came from it and it has one
// (RP-initiated log-out), which sends it back to the log-in page.
func (s *Server) logoutTarget(ctx context.Context, idToken string) (string, bool) {
	if s.cfg.OIDC == nil || idToken == "" {
		return "", false
	}
	return s.cfg.OIDC.LogoutURL(ctx, idToken, strings.TrimRight(s.cfg.BaseURL, "/")+"/login")
}

// localOnly wraps a route of marketbridge's own accounts (registration,
// password log-in, reset): with --local-accounts=false it is not there.
func (s *Server) localOnly(h http.Handler) http.Handler {
	if !s.cfg.LocalAccountsOff {
		return h
	}
	return s.page(func(w http.ResponseWriter, r *http.Request) error {
		return fault.New(fault.KindNotFound, "There is nothing at this address.")
	})
}

// toLogin answers a page of marketbridge's own accounts with the log-in
// page when they are off, keeping where the person was going.
func (s *Server) toLogin(h http.Handler) http.Handler {
	if !s.cfg.LocalAccountsOff {
		return h
	}
	return s.page(func(w http.ResponseWriter, r *http.Request) error {
		return seeOther(w, r, loginURL(safeNext(r.URL.Query().Get("next"))))
	})
}

// signInView is what the log-in and register pages offer.
type signInView struct {
	Provider string // the provider's name, "" when sign-in through one is off
	Local    bool   // marketbridge's own accounts
}

// signInLinks is the "signin" template's argument: the ways to log in,
// returning to Next.
type signInLinks struct {
	signInView
	Next string
}

func (l signInLinks) Query() string {
	if l.Next == "" {
		return ""
	}
	return "?" + url.Values{"next": {l.Next}}.Encode()
}
