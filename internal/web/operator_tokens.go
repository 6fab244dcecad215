package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
)

// The operator view's service tokens: the vendor's back end authenticates
// to the vendor API with them (#12).

type tokensView struct {
	Tokens []org.Token
	// NewName names the token just created; NewToken is its secret, on the
	// page's first showing only.
	NewName  string
	NewToken string
}

// freshTokenOrg is the organization id under which freshKeys holds a new
// service token's secret: tokens belong to no organization, and no
// organization has id 0.
const freshTokenOrg = 0

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, u *currentUser, status int, f form, created int64) error {
	toks, err := s.cfg.Orgs.Tokens(r.Context())
	if err != nil {
		return err
	}
	v := tokensView{Tokens: toks}
	for _, t := range toks {
		if created != 0 && t.ID == created {
			v.NewName = t.Name
			v.NewToken, _ = s.freshKeys.take(u.token, freshTokenOrg, t.ID)
		}
	}
	s.render(w, r, status, "operator_tokens", view{Title: "Service tokens", Form: f, Data: v})
	return nil
}

// handleTokens lists the service tokens; after a creation (?created=id) it
// shows the new token once, as the API keys page does.
func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	created, _ := strconv.ParseInt(r.URL.Query().Get("created"), 10, 64)
	return s.renderTokens(w, r, u, http.StatusOK, form{}, created)
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	in := org.CreateTokenInput{Name: r.PostForm.Get("name"), Scope: org.Scope(r.PostForm.Get("scope"))}
	t, full, err := s.cfg.Orgs.CreateToken(r.Context(), u.User.ID, in)
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.renderTokens(w, r, u, statusOf(err), formFrom(r, err), 0)
	}
	s.freshKeys.put(u.token, freshTokenOrg, t.ID, full)
	return seeOther(w, r, fmt.Sprintf("/operator/tokens?created=%d", t.ID))
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.cfg.Orgs.RevokeToken(r.Context(), id)
	if err != nil {
		return err
	}
	s.setFlash(w, fmt.Sprintf("Service token %q revoked. Requests that use it are refused from now on.", t.Name))
	return seeOther(w, r, "/operator/tokens")
}
