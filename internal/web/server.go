package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pinger is the database check behind /healthz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config holds what the server needs from main.
type Config struct {
	Logger         *slog.Logger
	DB             Pinger
	Registry       *prometheus.Registry // where request metrics are registered and /metrics reads
	RequestTimeout time.Duration
}

// Validate reports every missing dependency at once.
func (c Config) Validate() error {
	var errs []error
	if c.Logger == nil {
		errs = append(errs, errors.New("web: Logger is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("web: DB is required"))
	}
	if c.Registry == nil {
		errs = append(errs, errors.New("web: Registry is required"))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("web: RequestTimeout must be positive"))
	}
	return errors.Join(errs...)
}

// Server is the seller service's HTTP handler.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	metrics *httpMetrics
	handler http.Handler
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, metrics: m}
	mux := http.NewServeMux()
	s.routes(mux)
	s.handler = s.withRequestID(s.withTimeout(mux))
	return s, nil
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
