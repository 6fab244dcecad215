package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the whole surface of the seller service, on one screen.
func (s *Server) routes(mux *http.ServeMux) {
	s.handle(mux, "GET /healthz", s.handleHealthz())
	s.handle(mux, "GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
}

// handle registers h under pattern, instrumented with the pattern as its
// route label, so metrics and logs group requests by route, not by URL.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, s.instrument(pattern, h))
}
