package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
)

const sessionCookie = "mb_session"

// currentUser is the logged-in person behind a request.
type currentUser struct {
	account.Session
	token string
	orgs  []org.Org
}

type userKey struct{}

func userFrom(ctx context.Context) *currentUser {
	u, _ := ctx.Value(userKey{}).(*currentUser)
	return u
}

// loadUser attaches the session named by the cookie, if any, to *r.
func (s *Server) loadUser(w http.ResponseWriter, r *http.Request, rp **http.Request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	sess, err := s.cfg.Accounts.SessionByToken(r.Context(), c.Value)
	if errors.Is(err, account.ErrNoSession) {
		s.clearSessionCookie(w)
		return nil
	}
	if err != nil {
		return err
	}
	u := &currentUser{Session: sess, token: c.Value}
	if u.orgs, err = s.cfg.Orgs.ListForUser(r.Context(), sess.User.ID); err != nil {
		return err
	}
	*rp = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
	return nil
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: int(account.SessionTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
}

// here is the current path and query, to come back to after a detour.
func here(r *http.Request) string {
	if r.Method != http.MethodGet {
		return ""
	}
	return r.URL.RequestURI()
}

// loginURL sends to the log-in page, returning to next afterwards.
func loginURL(next string) string {
	if next == "" || next == "/" {
		return "/login"
	}
	return "/login?" + url.Values{"next": {next}}.Encode()
}

// user wraps a handler that needs a logged-in user, onboarded or not.
func (s *Server) user(h func(w http.ResponseWriter, r *http.Request, u *currentUser) error) http.Handler {
	return s.page(func(w http.ResponseWriter, r *http.Request) error {
		u := userFrom(r.Context())
		if u == nil {
			return seeOther(w, r, loginURL(here(r)))
		}
		return h(w, r, u)
	})
}

// member wraps a console handler: logged in, and onboarding complete, which
// the console insists on before anything else.
func (s *Server) member(h func(w http.ResponseWriter, r *http.Request, u *currentUser) error) http.Handler {
	return s.user(func(w http.ResponseWriter, r *http.Request, u *currentUser) error {
		if !u.User.Onboarded {
			return seeOther(w, r, onboardingURL("/onboarding/company", here(r)))
		}
		return h(w, r, u)
	})
}

// inOrg wraps an organization-scoped handler: the {org} in the path must be
// one the user belongs to (else 404, as if it did not exist) with one of
// roles (else 403; any role when roles is empty).
func (s *Server) inOrg(roles []org.Role, h func(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error) http.Handler {
	return s.member(func(w http.ResponseWriter, r *http.Request, u *currentUser) error {
		id, err := strconv.ParseInt(r.PathValue("org"), 10, 64)
		if err != nil {
			return org.ErrNotFound
		}
		o, err := s.cfg.Orgs.Authorize(r.Context(), u.User.ID, id, roles...)
		if err != nil {
			return err
		}
		if u.CurrentOrgID != o.ID {
			if err := s.cfg.Accounts.SetCurrentOrg(r.Context(), u.token, o.ID); err != nil {
				return err
			}
			u.CurrentOrgID = o.ID
		}
		return h(w, r, u, o)
	})
}

// pathID reads a numeric path segment; a malformed one is simply not found.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return 0, fault.New(fault.KindNotFound, "There is nothing at this address.")
	}
	return id, nil
}

// clientAddr is the address rate limits count against: the connection's
// peer, or, behind a reverse proxy the operator trusts, the last address of
// X-Forwarded-For. A proxy appends the address it saw to whatever the
// client sent, so only the last entry is the proxy's word: the ones before
// it are the client's own claims, which it could vary at will to escape
// every limit.
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustProxy {
		if vals := r.Header.Values("X-Forwarded-For"); len(vals) > 0 {
			last := vals[len(vals)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a := strings.TrimSpace(last); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

const deviceCookie = "mb_device"

// deviceToken is the browser's device token (account.RememberDevice), if
// it has one.
func (s *Server) deviceToken(r *http.Request) string {
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// setDeviceCookie keeps the browser known to the accounts it logged in to,
// so that its log-ins are not slowed by strangers guessing at them. It is
// sent only to the log-in form's target, and outlives logging out.
func (s *Server) setDeviceCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: token, Path: "/login", MaxAge: int(account.DeviceTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteStrictMode})
}
