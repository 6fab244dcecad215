package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/metering"
	"github.com/marketbridge/marketbridge/internal/webhook"
)

// operator wraps a page of the vendor's operator view: only the configured
// operators see it; to anyone else it does not exist.
func (s *Server) operator(h func(w http.ResponseWriter, r *http.Request, u *currentUser) error) http.Handler {
	return s.member(func(w http.ResponseWriter, r *http.Request, u *currentUser) error {
		if !slices.ContainsFunc(s.cfg.Operators, func(e string) bool { return strings.EqualFold(strings.TrimSpace(e), u.User.Email) }) {
			return errNotFound
		}
		return h(w, r, u)
	})
}

type operatorView struct {
	Reconciliation []metering.Reconciliation
	// Failures are usage hours metering could not rate and left out (#11).
	Failures      []metering.Failure
	Purchases     []marketplace.PurchaseSummary
	Subscriptions []marketplace.Subscription
	Notifications []marketplace.StoredNotification
	// Notices are Microsoft's webhook calls (#15).
	Notices []marketplace.StoredNotification
	// DisabledWebhooks are the webhook endpoints that are off, for a
	// warning at the top (#12).
	DisabledWebhooks []webhook.Endpoint
}

func (s *Server) handleOperator(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	var v operatorView
	var err error
	if v.Subscriptions, err = s.cfg.Market.Subscriptions(r.Context(), 200); err != nil {
		return err
	}
	if v.Purchases, err = s.cfg.Market.Purchases(r.Context(), 100); err != nil {
		return err
	}
	if v.Notifications, err = s.cfg.Market.Notifications(r.Context(), 200); err != nil {
		return err
	}
	if v.Notices, err = s.cfg.Market.Notices(r.Context(), 200); err != nil {
		return err
	}
	if v.Failures, err = s.cfg.Reports.Failures(r.Context(), 100); err != nil {
		return err
	}
	if s.cfg.Webhooks != nil {
		eps, err := s.cfg.Webhooks.List(r.Context())
		if err != nil {
			return err
		}
		for _, e := range eps {
			if !e.Enabled {
				v.DisabledWebhooks = append(v.DisabledWebhooks, e)
			}
		}
	}
	if s.cfg.Reconciler != nil {
		// The zero month is this month on the marketplace's clock, which
		// in the demo runs ahead of real time.
		if v.Reconciliation, err = s.cfg.Reconciler.Reconcile(r.Context(), time.Time{}); err != nil {
			return err
		}
	}
	s.render(w, r, http.StatusOK, "operator", view{Title: "Operator view", Data: v})
	return nil
}

func (s *Server) handleRetryNotification(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Market.RetryNotification(r.Context(), id); err != nil {
		s.setFlash(w, "Notification "+r.PathValue("id")+" did not apply: "+err.Error())
		return seeOther(w, r, "/operator")
	}
	s.setFlash(w, "Notification "+r.PathValue("id")+" applied.")
	return seeOther(w, r, "/operator")
}

func (s *Server) handleRetryNotice(w http.ResponseWriter, r *http.Request, u *currentUser) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Market.RetryNotice(r.Context(), id); err != nil {
		s.setFlash(w, "Notice "+r.PathValue("id")+" did not apply: "+err.Error())
		return seeOther(w, r, "/operator")
	}
	s.setFlash(w, "Notice "+r.PathValue("id")+" applied.")
	return seeOther(w, r, "/operator")
}
