package servicecontrol

import (
	"net/http"
	"strings"
)

// routes is the API's surface, relative to the mount point. Google's paths
// put a custom verb after a ':' in the last segment
// (/v1/services/{serviceName}:report), which ServeMux patterns cannot
// express, so /v1/services/ is split by hand.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/services/", s.serviceCall)
	mux.HandleFunc("/v1/emulator/ledger", readOnly(s, s.ledgerPage))
	mux.HandleFunc("/v1/emulator/invoices/{account}/{month}", readOnly(s, s.invoicePage))
	mux.HandleFunc("/", s.notFound)
	return mux
}

// methods are the RPC names of the verbs, for ErrorInfo and logs.
var methods = map[string]string{
	"check":         "google.api.servicecontrol.v1.ServiceController.Check",
	"report":        "google.api.servicecontrol.v1.ServiceController.Report",
	"allocateQuota": "google.api.servicecontrol.v1.QuotaController.AllocateQuota",
}

func (s *Server) serviceCall(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/services/")
	i := strings.LastIndexByte(rest, ':')
	if i < 0 || strings.Contains(rest, "/") {
		s.notFound(w, r)
		return
	}
	service, verb := rest[:i], rest[i+1:]
	method, ok := methods[verb]
	if !ok {
		s.notFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "UNIMPLEMENTED", message: "Method " + r.Method + " is not allowed for :" + verb + "; use POST."})
		return
	}
	if code, ok := s.takeFailure(); ok {
		s.writeError(w, r, &apiError{status: code, code: faultStatuses[code], message: "The service is currently unavailable (injected by the emulator)."})
		return
	}
	if e := s.admit(r, service, verb, method); e != nil {
		s.writeError(w, r, e)
		return
	}
	switch verb {
	case "check":
		s.check(w, r, service)
	case "report":
		s.report(w, r, service)
	default:
		s.writeError(w, r, &apiError{status: http.StatusNotImplemented, code: "UNIMPLEMENTED", message: "services." + verb + " is not modelled by the emulator (Marketplace SaaS uses check and report only)."})
	}
}

// admit authenticates the caller (401) and checks that it may use the
// service (403, or 404 for an unknown service if so configured).
func (s *Server) admit(r *http.Request, service, verb, method string) *apiError {
	email, err := s.authorize(r)
	if err != nil {
		s.log.Debug("service control caller refused", "error", err)
		return unauthenticated(err, method)
	}
	perm := "servicemanagement.services." + strings.ToLower(verb)
	callers, known := s.services[service]
	if !known {
		if s.unknownStatus == http.StatusNotFound {
			return &apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "Service '" + service + "' not found."}
		}
		return &apiError{status: http.StatusForbidden, code: "PERMISSION_DENIED", reason: "IAM_PERMISSION_DENIED", method: method,
			message: "Permission '" + perm + "' denied on service '" + service + "' (or it may not exist)."}
	}
	if callers != nil && !callers[email] {
		return &apiError{status: http.StatusForbidden, code: "PERMISSION_DENIED", reason: "IAM_PERMISSION_DENIED", method: method,
			message: "Permission '" + perm + "' denied on service '" + service + "' for " + email + ". Grant it roles/servicemanagement.serviceController."}
	}
	return nil
}

// readOnly answers anything but GET on the inspection endpoints with a
// JSON 405, as the rest of the API answers in JSON.
func readOnly(s *Server, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "UNIMPLEMENTED", message: "The emulator's inspection endpoints are read-only: use GET."})
			return
		}
		h(w, r)
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "The requested URL " + r.URL.Path + " was not found on this server."})
}
