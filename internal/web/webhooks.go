package web

import (
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// webhookSecretSlot is where freshKeys holds a webhook endpoint's new
// secret until the page after the redirect shows it: no organization has
// this id, so the slot never meets an API key's.
const webhookSecretSlot = -1

type typeOption struct {
	Value   webhook.Type
	Checked bool
}

type webhooksView struct {
	Endpoints    []webhook.Endpoint
	Types        []typeOption
	Enabled      bool // the new endpoint form's box
	AllowPrivate bool
}

// renderWebhooks lists the endpoints with the form for a new one.
func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, f form) error {
	eps, err := s.cfg.Webhooks.List(r.Context())
	if err != nil {
		return err
	}
	v := webhooksView{Endpoints: eps, Enabled: f.Values == nil || f.Get("enabled") != "", AllowPrivate: s.cfg.Webhooks.AllowPrivate()}
	for _, t := range webhook.Types {
		v.Types = append(v.Types, typeOption{Value: t, Checked: slices.Contains(f.Values["types"], string(t))})
	}
	s.render(w, r, status, "operator_webhooks", view{Title: "Webhook endpoints", Form: f, Data: v})
	return nil
}

func (s *Server) handleOperatorWebhooks(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.renderWebhooks(w, r, http.StatusOK, form{})
}

// handleCreateWebhook makes an endpoint and redirects to its page, which
// shows its secret once (post/redirect/get, as for API keys).
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	if err := r.ParseForm(); err != nil {
		return fault.Wrap(fault.KindInvalid, err, "The form could not be read.")
	}
	in := webhook.EndpointInput{URL: r.PostForm.Get("url"), Enabled: r.PostForm.Get("enabled") != ""}
	for _, t := range r.PostForm["types"] {
		in.Types = append(in.Types, webhook.Type(t))
	}
	e, secret, err := s.cfg.Webhooks.Create(r.Context(), in)
	if err != nil {
		if fault.KindOf(err) == fault.KindInternal {
			return err
		}
		return s.renderWebhooks(w, r, statusOf(err), formFrom(r, err))
	}
	s.freshKeys.put(u.token, webhookSecretSlot, e.ID, secret)
	return seeOther(w, r, fmt.Sprintf("/operator/webhooks/%d?secret=new", e.ID))
}

type webhookView struct {
	Endpoint   webhook.Endpoint
	Deliveries []webhook.Delivery
	Attempts   []webhook.Attempt
	// Secret is the endpoint's new secret, on the page's first showing
	// after its creation or rotation; SecretGone says it was shown already.
	Secret     string
	SecretGone bool
}

// handleOperatorWebhook shows an endpoint: its state, latest deliveries and
// attempts, and its new secret once after a creation or rotation.
func (s *Server) handleOperatorWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := s.cfg.Webhooks.Get(r.Context(), id)
	if err != nil {
		return err
	}
	v := webhookView{Endpoint: e}
	if r.URL.Query().Get("secret") != "" {
		var ok bool
		v.Secret, ok = s.freshKeys.take(u.token, webhookSecretSlot, id)
		v.SecretGone = !ok
	}
	if v.Deliveries, err = s.cfg.Webhooks.Deliveries(r.Context(), id, 50); err != nil {
		return err
	}
	if v.Attempts, err = s.cfg.Webhooks.Attempts(r.Context(), id, 100); err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "operator_webhook", view{Title: "Webhook endpoint " + e.URL, Data: v})
	return nil
}

// webhookAction runs act on the endpoint of the path, then goes back to
// its page with done, or to the list when it is gone.
func (s *Server) webhookAction(act func(r *http.Request, id int64) (string, error)) func(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return func(w http.ResponseWriter, r *http.Request, u *currentUser) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		to, err := act(r, id)
		if err != nil {
			return err
		}
		return seeOther(w, r, to)
	}
}

func (s *Server) handleRotateWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.webhookAction(func(r *http.Request, id int64) (string, error) {
		secret, err := s.cfg.Webhooks.Rotate(r.Context(), id)
		if err != nil {
			return "", err
		}
		s.freshKeys.put(u.token, webhookSecretSlot, id, secret)
		s.setFlash(w, "New secret made. The previous one signs too for 24 hours: change your receiver's secret before then.")
		return fmt.Sprintf("/operator/webhooks/%d?secret=rotated", id), nil
	})(w, r, u)
}

func (s *Server) handleEnableWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.webhookAction(func(r *http.Request, id int64) (string, error) {
		if err := s.cfg.Webhooks.SetEnabled(r.Context(), id, true); err != nil {
			return "", err
		}
		s.setFlash(w, "Endpoint enabled: it gets new events, and its waiting deliveries go out.")
		return fmt.Sprintf("/operator/webhooks/%d", id), nil
	})(w, r, u)
}

func (s *Server) handleDisableWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.webhookAction(func(r *http.Request, id int64) (string, error) {
		if err := s.cfg.Webhooks.SetEnabled(r.Context(), id, false); err != nil {
			return "", err
		}
		s.setFlash(w, "Endpoint disabled: it gets no new events until enabled, and its pending deliveries wait.")
		return fmt.Sprintf("/operator/webhooks/%d", id), nil
	})(w, r, u)
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.webhookAction(func(r *http.Request, id int64) (string, error) {
		if err := s.cfg.Webhooks.Delete(r.Context(), id); err != nil {
			return "", err
		}
		s.setFlash(w, "Endpoint deleted, with its deliveries.")
		return "/operator/webhooks", nil
	})(w, r, u)
}

func (s *Server) handleResendWebhook(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	return s.webhookAction(func(r *http.Request, id int64) (string, error) {
		delivery, err := pathID(r, "delivery")
		if err != nil {
			return "", err
		}
		if err := s.cfg.Webhooks.Resend(r.Context(), id, delivery); err != nil {
			return "", err
		}
		s.setFlash(w, fmt.Sprintf("Delivery %d is due again now, with the same webhook-id.", delivery))
		return fmt.Sprintf("/operator/webhooks/%d", id), nil
	})(w, r, u)
}

// maxInboxBody bounds what the demo's inbox reads of a delivery.
const maxInboxBody = 1 << 20

// handleDevWebhookInbox is the demo's webhook receiver: it verifies the
// signature as a vendor's receiver must, answering 204 when it holds and
// 400 when it does not, and keeps the delivery for /dev/webhooks.
func (s *Server) handleDevWebhookInbox(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInboxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if it := s.cfg.WebhookInbox.Receive(r.Header, body); !it.Verified() {
		http.Error(w, it.Problem, http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDevWebhooks(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "dev_webhooks", view{Title: "Dev webhook inbox", Data: s.cfg.WebhookInbox.List()})
	return nil
}
