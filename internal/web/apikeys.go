package web

import (
	"net/http"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
)

type apiKeysView struct {
	Keys    []org.APIKey
	NewKey  string // the secret of a key just created: shown this once
	NewName string
}

func (s *Server) renderAPIKeys(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org, status int, f form, v apiKeysView) error {
	keys, err := s.cfg.Orgs.Keys(r.Context(), u.User.ID, o.ID)
	if err != nil {
		return err
	}
	v.Keys = keys
	s.render(w, r, status, "api_keys", view{Title: "API keys · " + o.Name, Org: &o, Form: f, Data: v})
	return nil
}

func (s *Server) handleAPIKeys(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	return s.renderAPIKeys(w, r, u, o, http.StatusOK, form{}, apiKeysView{})
}

// handleCreateAPIKey shows the new key on the response to the POST itself,
// never through a redirect or a stored value, so it is seen exactly once.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	k, secret, err := s.cfg.Orgs.CreateKey(r.Context(), u.User.ID, o.ID, org.CreateKeyInput{Name: r.PostForm.Get("name")})
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.renderAPIKeys(w, r, u, o, statusOf(err), formFrom(r, err), apiKeysView{})
	}
	return s.renderAPIKeys(w, r, u, o, http.StatusOK, form{}, apiKeysView{NewKey: secret, NewName: k.Name})
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Orgs.RevokeKey(r.Context(), u.User.ID, o.ID, id); err != nil {
		return err
	}
	s.setFlash(w, "Key revoked. Requests that use it are refused from now on.")
	return seeOther(w, r, orgURL(o.ID, "api-keys"))
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	entries, err := s.cfg.Orgs.AuditLog(r.Context(), u.User.ID, o.ID, 200)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "audit", view{Title: "Audit log · " + o.Name, Org: &o, Data: entries})
	return nil
}
