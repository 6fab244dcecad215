package web

import (
	"net/http"
	"net/url"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
)

// onboardingURL is an onboarding step that returns to next when done.
func onboardingURL(step, next string) string {
	if next == "" || next == "/" {
		return step
	}
	return step + "?" + url.Values{"next": {next}}.Encode()
}

type onboardingView struct {
	Next         string
	Step         int
	Countries    []account.Option
	JobRoles     []account.Option
	CompanySizes []account.Option
	UseCases     []account.Option
}

func (s *Server) onboardingView(next string, step int) onboardingView {
	return onboardingView{Next: next, Step: step, Countries: account.Countries, JobRoles: account.JobRoles,
		CompanySizes: account.CompanySizes, UseCases: account.UseCases}
}

func (s *Server) handleCompanyForm(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	b, _, err := s.cfg.Accounts.Business(r.Context(), u.User.ID)
	if err != nil {
		return err
	}
	vals := url.Values{"company_name": {b.CompanyName}, "country": {b.Country}, "address": {b.Address}}
	s.render(w, r, http.StatusOK, "onboarding_company", view{Title: "Tell us about your business", Form: form{Values: vals},
		Data: s.onboardingView(safeNext(r.URL.Query().Get("next")), 1)})
	return nil
}

func (s *Server) handleCompany(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	next := safeNext(r.PostForm.Get("next"))
	in := account.CompanyInput{CompanyName: r.PostForm.Get("company_name"), Country: r.PostForm.Get("country"), Address: r.PostForm.Get("address")}
	if err := s.cfg.Accounts.SaveCompany(r.Context(), u.User.ID, in); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		s.render(w, r, statusOf(err), "onboarding_company", view{Title: "Tell us about your business", Form: formFrom(r, err),
			Data: s.onboardingView(next, 1)})
		return nil
	}
	return seeOther(w, r, onboardingURL("/onboarding/profile", next))
}

func (s *Server) handleProfileForm(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	b, found, err := s.cfg.Accounts.Business(r.Context(), u.User.ID)
	if err != nil {
		return err
	}
	next := safeNext(r.URL.Query().Get("next"))
	if !found {
		return seeOther(w, r, onboardingURL("/onboarding/company", next))
	}
	vals := url.Values{"job_role": {b.JobRole}, "company_size": {b.CompanySize}, "use_case": {b.UseCase}}
	s.render(w, r, http.StatusOK, "onboarding_profile", view{Title: "A little about you", Form: form{Values: vals},
		Data: s.onboardingView(next, 2)})
	return nil
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	next := safeNext(r.PostForm.Get("next"))
	in := account.ProfileInput{JobRole: r.PostForm.Get("job_role"), CompanySize: r.PostForm.Get("company_size"), UseCase: r.PostForm.Get("use_case")}
	if err := s.cfg.Accounts.SaveProfile(r.Context(), u.User.ID, in); err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		if err == account.ErrCompanyFirst {
			return seeOther(w, r, onboardingURL("/onboarding/company", next))
		}
		s.render(w, r, statusOf(err), "onboarding_profile", view{Title: "A little about you", Form: formFrom(r, err),
			Data: s.onboardingView(next, 2)})
		return nil
	}
	s.setFlash(w, "Thank you. Your account is ready.")
	if next != "" {
		return seeOther(w, r, next)
	}
	if len(u.orgs) == 0 {
		return seeOther(w, r, "/orgs/new")
	}
	return seeOther(w, r, "/")
}
