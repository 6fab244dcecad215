package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
)

// handleHome sends each visitor to where they should be next.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	u := userFrom(r.Context())
	switch {
	case u == nil:
		return seeOther(w, r, "/login")
	case !u.User.Onboarded:
		return seeOther(w, r, "/onboarding/company")
	}
	if p, ok, err := s.cfg.Market.PendingPurchase(r.Context(), u.User.ID); err != nil {
		return err
	} else if ok {
		return seeOther(w, r, purchaseURL(p.ID))
	}
	if len(u.orgs) == 0 {
		return seeOther(w, r, "/orgs/new")
	}
	target := u.orgs[0].ID
	for _, o := range u.orgs {
		if o.ID == u.CurrentOrgID {
			target = o.ID
		}
	}
	return seeOther(w, r, orgURL(target, ""))
}

type authView struct {
	Next  string
	Email string // for the resend form
	Token string // reset form
	Sent  bool
}

func (s *Server) handleRegisterForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "register", view{Title: "Create your account", Data: authView{Next: safeNext(r.URL.Query().Get("next"))},
		Form: form{Values: url.Values{"email": {r.URL.Query().Get("email")}}}})
	return nil
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	next := safeNext(r.PostForm.Get("next"))
	in := account.RegisterInput{Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name"), Password: r.PostForm.Get("password"),
		ClientAddr: s.clientAddr(r), Next: next}
	if err := s.cfg.Accounts.Register(r.Context(), in); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		setRetryAfter(w, err)
		r.PostForm.Del("password")
		s.render(w, r, statusOf(err), "register", view{Title: "Create your account", Form: formFrom(r, err), Data: authView{Next: next}})
		return nil
	}
	q := url.Values{"email": {account.NormalizeEmail(in.Email)}}
	if next != "" {
		q.Set("next", next)
	}
	return seeOther(w, r, "/register/check-inbox?"+q.Encode())
}

// handleCheckInbox tells a new user to open the mail, and offers to send it
// again. It says the same whether or not the address was new.
func (s *Server) handleCheckInbox(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	s.render(w, r, http.StatusOK, "check_inbox", view{Title: "Check your inbox",
		Data: authView{Email: q.Get("email"), Next: safeNext(q.Get("next")), Sent: q.Get("resent") == "1"}})
	return nil
}

func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	if err := s.cfg.Accounts.ResendVerification(r.Context(), email, s.clientAddr(r), next); err != nil {
		setRetryAfter(w, err)
		return err
	}
	q := url.Values{"email": {account.NormalizeEmail(email)}, "resent": {"1"}}
	if next != "" {
		q.Set("next", next)
	}
	return seeOther(w, r, "/register/check-inbox?"+q.Encode())
}

// handleVerifyEmail follows the link in the verification mail. The link may
// be opened in another browser or tab than the one that registered, so it
// does not log in: it sends to the log-in page, which returns to next.
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	next := safeNext(q.Get("next"))
	v, err := s.cfg.Accounts.VerifyEmail(r.Context(), q.Get("token"))
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		s.render(w, r, statusOf(err), "verify_failed", view{Title: "This link does not work", Form: form{Error: fault.Message(err)},
			Data: authView{Next: next}})
		return nil
	}
	if v.SetPasswordToken != "" {
		s.setFlash(w, "Someone else also tried to sign up with this address. To be sure the account is yours, choose its password: that verifies your address.")
		return seeOther(w, r, "/reset-password?"+url.Values{"token": {v.SetPasswordToken}}.Encode())
	}
	u := v.User
	if cu := userFrom(r.Context()); cu != nil && cu.User.ID == u.ID {
		s.setFlash(w, "Your e-mail address is verified.")
		if next == "" {
			next = "/"
		}
		return seeOther(w, r, next)
	}
	s.setFlash(w, "Your e-mail address is verified. Log in to continue.")
	return seeOther(w, r, loginURL(next)+sep(loginURL(next))+url.Values{"email": {u.Email}}.Encode())
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	next := safeNext(q.Get("next"))
	if userFrom(r.Context()) != nil {
		if next == "" {
			next = "/"
		}
		return seeOther(w, r, next)
	}
	s.render(w, r, http.StatusOK, "login", view{Title: "Log in", Data: authView{Next: next},
		Form: form{Values: url.Values{"email": {q.Get("email")}}}})
	return nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	next := safeNext(r.PostForm.Get("next"))
	device := s.deviceToken(r)
	u, err := s.cfg.Accounts.LogIn(r.Context(), account.LoginInput{Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password"),
		ClientAddr: s.clientAddr(r), Device: device})
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		setRetryAfter(w, err)
		r.PostForm.Del("password")
		data := authView{Next: next}
		if errors.Is(err, account.ErrNotVerified) {
			data.Email = account.NormalizeEmail(r.PostForm.Get("email"))
		}
		s.render(w, r, statusOf(err), "login", view{Title: "Log in", Form: formFrom(r, err), Data: data})
		return nil
	}
	return s.completeLogin(w, r, u, next, "")
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	idToken := ""
	if u := userFrom(r.Context()); u != nil {
		var err error
		if idToken, err = s.cfg.Accounts.LogOut(r.Context(), u.token); err != nil {
			return err
		}
	}
	s.clearSessionCookie(w)
	// A set-up in progress belongs to whoever brought it: the next person
	// to log in on this browser must not inherit it.
	s.clearPurchaseCookie(w)
	// A session that came from the provider ends there too, which sends
	// the browser back to the log-in page.
	if to, ok := s.logoutTarget(r.Context(), idToken); ok {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	s.setFlash(w, "You are logged out.")
	return seeOther(w, r, "/login")
}

func (s *Server) handleForgotForm(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "forgot", view{Title: "Reset your password", Data: authView{Sent: r.URL.Query().Get("sent") == "1"}})
	return nil
}

func (s *Server) handleForgot(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	if err := s.cfg.Accounts.RequestPasswordReset(r.Context(), r.PostForm.Get("email"), s.clientAddr(r)); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		setRetryAfter(w, err)
		s.render(w, r, statusOf(err), "forgot", view{Title: "Reset your password", Form: formFrom(r, err)})
		return nil
	}
	return seeOther(w, r, "/forgot-password?sent=1")
}

func (s *Server) handleResetForm(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	if err := s.cfg.Accounts.CheckResetLink(r.Context(), tok); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		s.render(w, r, statusOf(err), "forgot", view{Title: "Reset your password", Form: form{Error: fault.Message(err)}})
		return nil
	}
	s.render(w, r, http.StatusOK, "reset", view{Title: "Choose a new password", Data: authView{Token: tok}})
	return nil
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	tok := r.PostForm.Get("token")
	u, err := s.cfg.Accounts.ResetPassword(r.Context(), tok, r.PostForm.Get("password"))
	switch {
	case fault.KindOf(err) == fault.KindInternal && err != nil:
		return err
	case len(fault.Fields(err)) > 0:
		s.render(w, r, statusOf(err), "reset", view{Title: "Choose a new password", Form: formFrom(r, err), Data: authView{Token: tok}})
		return nil
	case err != nil:
		s.render(w, r, statusOf(err), "forgot", view{Title: "Reset your password", Form: form{Error: fault.Message(err)}})
		return nil
	}
	s.clearSessionCookie(w)
	// The link proved this browser's owner holds the mailbox: its log-ins
	// are not slowed by strangers guessing at the account.
	device, err := s.cfg.Accounts.RememberDevice(r.Context(), u.ID, s.deviceToken(r))
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, device)
	s.setFlash(w, "Your password is changed. Log in with the new one.")
	return seeOther(w, r, "/login?"+url.Values{"email": {u.Email}}.Encode())
}

// setRetryAfter tells a client refused for too many attempts when to come
// back, in the Retry-After header (whole seconds, rounded up).
func setRetryAfter(w http.ResponseWriter, err error) {
	var rl *account.RateLimitError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int((rl.RetryAfter+time.Second-1)/time.Second)))
	}
}
