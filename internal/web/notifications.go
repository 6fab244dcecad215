package web

import (
	"crypto/subtle"
	"errors"
	"io"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/marketplace"
	"github.com/marketbridge/marketbridge/internal/marketplace/awsmp"
)

// maxNotificationBytes bounds a notification body: AWS Marketplace's are a
// few kilobytes; SNS allows 256 KiB.
const maxNotificationBytes = 256 << 10

// handleSNS is the SNS HTTP/S endpoint. Nothing is believed before the
// message is verified: from a topic of AWS Marketplace's account and region
// for a product of the catalog, signed by a certificate from a trusted host
// (#11). Then it is stored (deduplicated by its id) before it is applied, so
// a crash in between loses nothing. A 2xx tells SNS to stop retrying; a
// refusal is a 4xx, so that SNS gives up on a message that can never be
// believed.
func (s *Server) handleSNS(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotificationBytes))
	if err != nil {
		s.refuseNotification(w, r, http.StatusRequestEntityTooLarge, err)
		return
	}
	m, err := s.cfg.SNS.ParseAndVerify(r.Context(), body)
	if err != nil {
		s.refuseNotification(w, r, http.StatusBadRequest, err)
		return
	}
	code, ok := awsmp.TopicProduct(m.TopicArn)
	if _, known := s.cfg.Market.Catalog().Product(code); !ok || !known {
		s.refuseNotification(w, r, http.StatusBadRequest, errors.New("topic of a product not in the catalog: "+m.TopicArn))
		return
	}
	switch m.Type {
	case awsmp.SNSSubscriptionConfirmation:
		if err := s.cfg.SNS.Confirm(r.Context(), m); errors.Is(err, awsmp.ErrBadSNSMessage) {
			s.refuseNotification(w, r, http.StatusBadRequest, err)
			return
		} else if err != nil {
			s.logger.ErrorContext(r.Context(), "SNS subscription not confirmed", "topic", m.TopicArn, "err", err)
			http.Error(w, "confirmation failed", http.StatusBadGateway)
			return
		}
		s.logger.InfoContext(r.Context(), "SNS subscription confirmed", "topic", m.TopicArn)
	case awsmp.SNSUnsubscribeConfirmation:
		s.logger.WarnContext(r.Context(), "SNS subscription ended by AWS", "topic", m.TopicArn)
	default:
		n, err := awsmp.ParseSNSNotification(m)
		if err != nil {
			s.refuseNotification(w, r, http.StatusBadRequest, err)
			return
		}
		s.recordNotification(w, r, n)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) refuseNotification(w http.ResponseWriter, r *http.Request, status int, err error) {
	s.logger.WarnContext(r.Context(), "notification refused", "status", status, "err", err, "remote", r.RemoteAddr)
	http.Error(w, http.StatusText(status), status)
}

// handleEvents is the target of an EventBridge API destination. Its
// connection sends a shared secret in a header, compared in constant time;
// without a configured secret the endpoint does not exist.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.EventBridgeKey == "" {
		http.NotFound(w, r)
		return
	}
	got := r.Header.Get(s.cfg.EventBridgeHeader)
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.EventBridgeKey)) != 1 {
		s.refuseNotification(w, r, http.StatusUnauthorized, errors.New("EventBridge key missing or wrong"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotificationBytes))
	if err != nil {
		s.refuseNotification(w, r, http.StatusRequestEntityTooLarge, err)
		return
	}
	n, err := awsmp.ParseEvent(body, s.cfg.EventOrigins)
	if err != nil {
		s.refuseNotification(w, r, http.StatusBadRequest, err)
		return
	}
	// Agreement events name no product; their agreement selects the
	// subscription a License event of a catalog product was matched to.
	if n.ProductCode != "" {
		if _, known := s.cfg.Market.Catalog().Product(n.ProductCode); !known {
			s.refuseNotification(w, r, http.StatusBadRequest, errors.New("event for unknown product "+n.ProductCode))
			return
		}
	}
	s.recordNotification(w, r, n)
}

// recordNotification stores a verified notification, applies what can be
// applied now, and answers 2xx so that the sender stops retrying.
func (s *Server) recordNotification(w http.ResponseWriter, r *http.Request, n marketplace.Notification) {
	_, isNew, err := s.cfg.Market.Record(r.Context(), n)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "store notification", "message_id", n.MessageID, "err", err)
		http.Error(w, "not stored; retry", http.StatusServiceUnavailable)
		return
	}
	if isNew {
		// Best effort now; the notification worker retries what fails.
		if _, err := s.cfg.Market.ApplyPending(r.Context(), 50); err != nil {
			s.logger.WarnContext(r.Context(), "apply notifications", "err", err)
		}
	}
	s.logger.InfoContext(r.Context(), "marketplace notification", "source", n.Source, "action", n.Action,
		"message_id", n.MessageID, "duplicate", !isNew)
	w.WriteHeader(http.StatusOK)
}
