package servicecontrol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Consumer is what the house knows of a consumerId (an entitlement's
// usageReportingId) of a service.
type Consumer struct {
	Entitlement string
	Account     string
	Product     string
	Plan        string
	// Metrics are the metric names the plan allows, each with its price in
	// micro-dollars per unit.
	Metrics map[string]int64
	// Active is false before the entitlement is approved and after it ends.
	Active bool
	// EndedAt is when the entitlement ended (cancelled); zero while it runs.
	// Usage whose interval ends after it is refused (or flagged, per
	// Config.UsageAfterEnd); usage before it may still come in.
	EndedAt time.Time
	// CheckError is a scripted CheckError code check answers with
	// (e.g. BILLING_DISABLED); "" = fine.
	CheckError string
}

// Consumers looks consumers up; ok is false for a consumerId that is no
// live entitlement's of service. The house implements it.
type Consumers interface {
	Consumer(ctx context.Context, service, consumerID string) (c Consumer, ok bool, err error)
}

// Authorizer says which service account a request speaks for; an error
// means 401 UNAUTHENTICATED. If the error has AuthReason() string and
// AuthMessage() string methods (googleid's does), they fill the response.
type Authorizer func(r *http.Request) (email string, err error)

// ServiceConfig is a service (a product's service name) the emulator knows.
type ServiceConfig struct {
	// Callers are the service accounts with
	// roles/servicemanagement.serviceController on the service; empty lets
	// any authenticated caller report.
	Callers []string
}

// DuplicatePolicy is what report does with an operationId it has recorded
// with different content (contract §4.4.8, UNCONFIRMED).
type DuplicatePolicy int

const (
	// DuplicateReject answers a reportErrors entry with INVALID_ARGUMENT.
	DuplicateReject DuplicatePolicy = iota
	// DuplicateIgnore keeps the first and answers success, as if it were
	// the same.
	DuplicateIgnore
)

// AfterEndPolicy is what report does with usage after the entitlement ended
// (contract §4.4.4).
type AfterEndPolicy int

const (
	// AfterEndReject answers a reportErrors entry with FAILED_PRECONDITION.
	AfterEndReject AfterEndPolicy = iota
	// AfterEndRecord records it, flagged.
	AfterEndRecord
)

// Defaults for the zero values of Config.
const (
	DefaultLateWindow      = time.Hour
	DefaultServiceConfigID = "2026-10-15r0"
	// MaxRequestBytes is Google's limit on a CheckRequest or ReportRequest.
	MaxRequestBytes = 1 << 20
)

// Config configures the API.
type Config struct {
	// Services are the known service names.
	Services map[string]ServiceConfig
	// Authorize authenticates callers (required).
	Authorize Authorizer
	// Consumers resolves consumerIds (required).
	Consumers Consumers
	// LedgerPath is the SQLite file of the ledger, ":memory:" for one that
	// lives as long as the Server (required).
	LedgerPath string
	// LateWindow is how long after an interval's end a report is on time
	// (1 h, contract §4.4.3); later ones are recorded and flagged.
	LateWindow time.Duration
	// ConflictingDuplicate is what happens to a repeated operationId with
	// different content.
	ConflictingDuplicate DuplicatePolicy
	// UsageAfterEnd is what happens to usage after an entitlement ended.
	UsageAfterEnd AfterEndPolicy
	// UnknownServiceStatus is the answer for a service name that is not
	// configured: 403 PERMISSION_DENIED (default; Google does not say
	// whether a service exists to those who may not use it) or 404.
	UnknownServiceStatus int
	// InvoiceLocation decides which month usage falls in (UTC when nil).
	InvoiceLocation *time.Location
	// ServiceConfigID is echoed in responses (DefaultServiceConfigID).
	ServiceConfigID string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Services) == 0 {
		errs = append(errs, errors.New("servicecontrol: at least one service is required"))
	}
	for name := range c.Services {
		if !validServiceName(name) {
			errs = append(errs, fmt.Errorf("servicecontrol: service name %q: want a DNS-like name", name))
		}
	}
	if c.Authorize == nil {
		errs = append(errs, errors.New("servicecontrol: an Authorizer is required"))
	}
	if c.Consumers == nil {
		errs = append(errs, errors.New("servicecontrol: Consumers is required"))
	}
	if c.LedgerPath == "" {
		errs = append(errs, errors.New(`servicecontrol: ledger path is required (":memory:" for tests)`))
	}
	if c.LateWindow < 0 {
		errs = append(errs, errors.New("servicecontrol: late window must not be negative"))
	}
	if c.ConflictingDuplicate != DuplicateReject && c.ConflictingDuplicate != DuplicateIgnore {
		errs = append(errs, fmt.Errorf("servicecontrol: unknown duplicate policy %d", c.ConflictingDuplicate))
	}
	if c.UsageAfterEnd != AfterEndReject && c.UsageAfterEnd != AfterEndRecord {
		errs = append(errs, fmt.Errorf("servicecontrol: unknown after-end policy %d", c.UsageAfterEnd))
	}
	if s := c.UnknownServiceStatus; s != 0 && s != http.StatusForbidden && s != http.StatusNotFound {
		errs = append(errs, fmt.Errorf("servicecontrol: unknown-service status %d: want 403 or 404", s))
	}
	return errors.Join(errs...)
}

// validServiceName accepts DNS-like names: what can follow /v1/services/
// without escaping and before the ':' of the verb.
func validServiceName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Server is the API: an http.Handler, the ledger, and fault injection.
type Server struct {
	services        map[string]map[string]bool // service → allowed callers (nil: any)
	authorize       Authorizer
	consumers       Consumers
	lateWindow      time.Duration
	duplicates      DuplicatePolicy
	afterEnd        AfterEndPolicy
	unknownStatus   int
	location        *time.Location
	serviceConfigID string
	now             func() time.Time
	log             *slog.Logger
	ledger          *ledger
	handler         http.Handler

	faultMu   sync.Mutex
	failN     int
	failCode  int
	loseN     int
	reportsMu sync.Mutex // one report at a time: dedup and overlap checks see each other's writes
}

// New opens the ledger and returns the API.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		services:        map[string]map[string]bool{},
		authorize:       cfg.Authorize,
		consumers:       cfg.Consumers,
		lateWindow:      cfg.LateWindow,
		duplicates:      cfg.ConflictingDuplicate,
		afterEnd:        cfg.UsageAfterEnd,
		unknownStatus:   cfg.UnknownServiceStatus,
		location:        cfg.InvoiceLocation,
		serviceConfigID: cfg.ServiceConfigID,
		now:             cfg.Now,
		log:             logger,
	}
	if s.lateWindow == 0 {
		s.lateWindow = DefaultLateWindow
	}
	if s.unknownStatus == 0 {
		s.unknownStatus = http.StatusForbidden
	}
	if s.location == nil {
		s.location = time.UTC
	}
	if s.serviceConfigID == "" {
		s.serviceConfigID = DefaultServiceConfigID
	}
	if s.now == nil {
		s.now = time.Now
	}
	for name, sc := range cfg.Services {
		var callers map[string]bool
		if len(sc.Callers) > 0 {
			callers = map[string]bool{}
			for _, c := range sc.Callers {
				callers[c] = true
			}
		}
		s.services[name] = callers
	}
	l, err := openLedger(ctx, cfg.LedgerPath)
	if err != nil {
		return nil, err
	}
	s.ledger = l
	s.handler = s.routes()
	return s, nil
}

// Close closes the ledger.
func (s *Server) Close() error { return s.ledger.close() }

// ServeHTTP serves the API, relative to the mount point.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// FailNext makes the next n check or report calls answer status (429
// RESOURCE_EXHAUSTED, 500 INTERNAL or 503 UNAVAILABLE) without doing
// anything; n = 0 stops it.
func (s *Server) FailNext(n, status int) error {
	if _, ok := faultStatuses[status]; !ok {
		return fmt.Errorf("servicecontrol: fault status %d: want 429, 500 or 503", status)
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.failN, s.failCode = max(n, 0), status
	return nil
}

// LoseNextAnswers makes the next n report calls apply the report and then
// drop the connection without an answer: the seller cannot know the
// outcome and must retry with the same operationIds (contract §4.4.7).
func (s *Server) LoseNextAnswers(n int) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.loseN = max(n, 0)
}

var faultStatuses = map[int]string{
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
}

// takeFailure consumes one injected failure, if any.
func (s *Server) takeFailure() (int, bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.failN == 0 {
		return 0, false
	}
	s.failN--
	return s.failCode, true
}

func (s *Server) takeLoss() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.loseN == 0 {
		return false
	}
	s.loseN--
	return true
}
