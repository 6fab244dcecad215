package pubsub

import (
	"encoding/json"
	"net/http"
)

// Handler serves the delivery log and the faults as JSON, relative to where
// the control API mounts it (with the prefix stripped):
//
//	GET  /                            the subscription, its faults and the delivery log
//	GET  /deliveries/{eventId}        one message's record
//	POST /deliveries/{eventId}/redeliver  deliver it again now (dead-lettered ones too)
//	GET  /faults                      the faults in force
//	PUT  /faults                      replace them: {"duplicate":bool,"reorder":bool,"paused":bool}
func (s *Subscription) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleLog)
	mux.HandleFunc("GET /deliveries/{eventId}", s.handleDelivery)
	mux.HandleFunc("POST /deliveries/{eventId}/redeliver", s.handleRedeliver)
	mux.HandleFunc("GET /faults", s.handleFaults)
	mux.HandleFunc("PUT /faults", s.handleSetFaults)
	return mux
}

// LogDocument is the JSON of GET /.
type LogDocument struct {
	Subscription string     `json:"subscription"`
	Endpoint     string     `json:"endpoint"`
	Audience     string     `json:"audience"`
	Faults       Faults     `json:"faults"`
	Deliveries   []Delivery `json:"deliveries"`
}

func (s *Subscription) handleLog(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, LogDocument{
		Subscription: s.cfg.Subscription, Endpoint: s.cfg.Endpoint, Audience: s.cfg.Audience,
		Faults: s.Faults(), Deliveries: s.Log(),
	})
}

func (s *Subscription) handleDelivery(w http.ResponseWriter, r *http.Request) {
	d, ok := s.Lookup(r.PathValue("eventId"))
	if !ok {
		writeError(w, http.StatusNotFound, ErrUnknownEvent.Error())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Subscription) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("eventId")
	if err := s.Redeliver(id); err != nil { // only ErrUnknownEvent
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	d, _ := s.Lookup(id)
	writeJSON(w, http.StatusOK, d)
}

func (s *Subscription) handleFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Subscription) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFaults(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, f)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
