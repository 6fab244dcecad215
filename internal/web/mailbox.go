package web

import (
	"errors"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/mail"
)

// handleMailbox is the demo's inbox: every mail the service composed, so
// that sign-up works on one machine without a mail server. It is only
// routed when no SMTP server is configured.
func (s *Server) handleMailbox(w http.ResponseWriter, r *http.Request) error {
	msgs, err := s.cfg.Mailbox.List(r.Context(), 100)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "mailbox", view{Title: "Dev mailbox", Data: msgs})
	return nil
}

func (s *Server) handleMailboxMessage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := s.cfg.Mailbox.Get(r.Context(), id)
	if errors.Is(err, mail.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "mailbox_message", view{Title: m.Subject, Data: m})
	return nil
}
