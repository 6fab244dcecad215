package web

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/org"
)

type membersView struct {
	Members     []org.Member
	Invitations []org.Invitation
	IsAdmin     bool
	Me          int64
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org, status int, f form) error {
	members, err := s.cfg.Orgs.Members(r.Context(), u.User.ID, o.ID)
	if err != nil {
		return err
	}
	invs, err := s.cfg.Orgs.PendingInvitations(r.Context(), u.User.ID, o.ID)
	if err != nil {
		return err
	}
	if f.Values == nil {
		f.Values = url.Values{"role": {string(org.RoleDeveloper)}}
	}
	s.render(w, r, status, "members", view{Title: "Members · " + o.Name, Org: &o, Form: f,
		Data: membersView{Members: members, Invitations: invs, IsAdmin: o.Role == org.RoleAdmin, Me: u.User.ID}})
	return nil
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	return s.renderMembers(w, r, u, o, http.StatusOK, form{})
}

func (s *Server) handleInvite(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	in := org.InviteInput{Email: r.PostForm.Get("email"), Role: org.Role(r.PostForm.Get("role"))}
	if err := s.cfg.Orgs.Invite(r.Context(), u.User.ID, o.ID, in); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.renderMembers(w, r, u, o, statusOf(err), formFrom(r, err))
	}
	s.setFlash(w, fmt.Sprintf("Invitation sent to %s.", in.Email))
	return seeOther(w, r, orgURL(o.ID, "members"))
}

// memberAction runs a change to one member and comes back to the members
// page, with the refusal shown there when the rules forbid it.
func (s *Server) memberAction(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org, done string, act func(user int64) error) error {
	target, err := pathID(r, "user")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	if err := act(target); err != nil {
		if k := fault.KindOf(err); k == fault.KindConflict || k == fault.KindInvalid {
			return s.renderMembers(w, r, u, o, statusOf(err), form{Error: fault.Message(err)})
		}
		return err
	}
	s.setFlash(w, done)
	if target == u.User.ID && done == "You left the organization." {
		return seeOther(w, r, "/")
	}
	return seeOther(w, r, orgURL(o.ID, "members"))
}

func (s *Server) handleChangeRole(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	return s.memberAction(w, r, u, o, "Role changed.", func(user int64) error {
		return s.cfg.Orgs.ChangeRole(r.Context(), u.User.ID, o.ID, user, org.Role(r.PostForm.Get("role")))
	})
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	done := "Member removed."
	if r.PathValue("user") == fmt.Sprint(u.User.ID) {
		done = "You left the organization."
	}
	return s.memberAction(w, r, u, o, done, func(user int64) error {
		return s.cfg.Orgs.RemoveMember(r.Context(), u.User.ID, o.ID, user)
	})
}

func (s *Server) handleRevokeInvitation(w http.ResponseWriter, r *http.Request, u *currentUser, o org.Org) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Orgs.RevokeInvitation(r.Context(), u.User.ID, o.ID, id); err != nil {
		return err
	}
	s.setFlash(w, "Invitation withdrawn.")
	return seeOther(w, r, orgURL(o.ID, "members"))
}

type invitationView struct {
	Token    string
	LoggedIn bool
	Email    string
}

// handleInvitation is where an invitation link lands: logged-in users get
// an accept button; others are asked to log in or register first, and come
// back here afterwards.
func (s *Server) handleInvitation(w http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	u := userFrom(r.Context())
	v := invitationView{Token: tok, LoggedIn: u != nil}
	if u != nil {
		v.Email = u.User.Email
	}
	s.render(w, r, http.StatusOK, "invitation", view{Title: "You are invited", Data: v})
	return nil
}

func (s *Server) handleAcceptInvitation(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	o, err := s.cfg.Orgs.Accept(r.Context(), u.User.ID, u.User.Email, r.PostForm.Get("token"))
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		s.render(w, r, statusOf(err), "invitation", view{Title: "You are invited", Form: form{Error: fault.Message(err)},
			Data: invitationView{LoggedIn: true, Email: u.User.Email}})
		return nil
	}
	if err := s.cfg.Accounts.SetCurrentOrg(r.Context(), u.token, o.ID); err != nil {
		return err
	}
	s.setFlash(w, fmt.Sprintf("Welcome to %s. You joined as %s.", o.Name, o.Role.Label()))
	return seeOther(w, r, orgURL(o.ID, ""))
}
