package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
)

// orgURL is a page of an organization.
func orgURL(id int64, page string) string { return fmt.Sprintf("/orgs/%d/%s", id, page) }

func (s *Server) handleNewOrgForm(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	s.render(w, r, http.StatusOK, "org_new", view{Title: "Create an organization"})
	return nil
}

func (s *Server) handleCreateOrg(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	o, err := s.cfg.Orgs.Create(r.Context(), u.User.ID, org.CreateInput{Name: r.PostForm.Get("name")})
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		s.render(w, r, statusOf(err), "org_new", view{Title: "Create an organization", Form: formFrom(r, err)})
		return nil
	}
	s.setFlash(w, fmt.Sprintf("Organization %q created. You are its admin.", o.Name))
	return seeOther(w, r, orgURL(o.ID, ""))
}

// handleSwitchOrg is the organization switcher in the header.
func (s *Server) handleSwitchOrg(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	id, err := strconv.ParseInt(r.PostForm.Get("org"), 10, 64)
	if err != nil {
		return org.ErrNotFound
	}
	if _, err := s.cfg.Orgs.Authorize(r.Context(), u.User.ID, id); err != nil {
		return err
	}
	if err := s.cfg.Accounts.SetCurrentOrg(r.Context(), u.token, id); err != nil {
		return err
	}
	return seeOther(w, r, orgURL(id, ""))
}

type overviewView struct {
	Members int
	IsAdmin bool
}

func (s *Server) handleOrgOverview(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	members, err := s.cfg.Orgs.Members(r.Context(), u.User.ID, o.ID)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "org_overview", view{Title: o.Name, Org: &o,
		Data: overviewView{Members: len(members), IsAdmin: o.Role == org.RoleAdmin}})
	return nil
}
