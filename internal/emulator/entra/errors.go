package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// entraError is an OAuth error as Entra renders it: the OAuth code, the
// AADSTS number that error_description starts with and error_codes lists,
// and the HTTP status.
type entraError struct {
	status  int
	code    string
	aadsts  int
	message string
}

func (e *entraError) Error() string {
	return fmt.Sprintf("%s: AADSTS%d: %s", e.code, e.aadsts, e.message)
}

// The errors the stand-in answers with, named by what went wrong. The
// numbers and wording are Entra's (AADSTS error code reference), with
// "emulator" saying so where the stand-in refuses what Entra would accept.
func errMethod(method string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_request", 900561,
		fmt.Sprintf("The endpoint only accepts POST requests. Received a %s request.", method)}
}

func errMissing(param string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_request", 900144,
		fmt.Sprintf("The request body must contain the following parameter: '%s'.", param)}
}

func errMalformed(detail string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_request", 90023,
		"The authentication service request is not valid: " + detail}
}

func errTenantMalformed(tenant string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_tenant", 900023,
		fmt.Sprintf("Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external domain.", tenant)}
}

func errNoTenant() *entraError {
	return &entraError{http.StatusBadRequest, "invalid_request", 50059,
		"No tenant-identifying information found in either the request or implied by any provided credentials. Client credentials need the publisher's tenant id in the URL."}
}

// errUnknownTenant is the token endpoints' answer (invalid_request); the
// discovery documents say invalid_tenant, as Entra does.
func errUnknownTenant(code, tenant string) *entraError {
	return &entraError{http.StatusBadRequest, code, 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. (In the emulator, a tenant exists once an app is registered in it.)", tenant)}
}

func errGrantType(grant string) *entraError {
	return &entraError{http.StatusBadRequest, "unsupported_grant_type", 70003,
		fmt.Sprintf("The app requested an unsupported grant type '%s'. The emulator models client_credentials only.", grant)}
}

func errUnknownApp(clientID, tenant string) *entraError {
	return &entraError{http.StatusBadRequest, "unauthorized_client", 700016,
		fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant)}
}

func errNoSecret() *entraError {
	return &entraError{http.StatusUnauthorized, "invalid_client", 7000218,
		"The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
}

func errBadSecret(clientID string) *entraError {
	return &entraError{http.StatusUnauthorized, "invalid_client", 7000215,
		fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)}
}

func errScope(scope string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_scope", 70011,
		fmt.Sprintf("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. The marketplace API's is %s.", scope, MarketplaceScope)}
}

func errResource(resource, tenant string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_resource", 500011,
		fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. The marketplace API's resource is %s.", resource, tenant, MarketplaceAppID)}
}

func errNotModelled(what string) *entraError {
	return &entraError{http.StatusBadRequest, "invalid_request", 90023,
		what + " is not modelled by the emulator's Entra ID stand-in, which issues client-credentials tokens with a client secret only."}
}

// errorBody is Entra's error JSON. Entra repeats the trace and correlation
// ids and the time at the end of error_description.
type errorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

// entraTimestamp is how Entra writes timestamp: "2019-03-12 20:35:43Z".
const entraTimestamp = "2006-01-02 15:04:05Z"

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *entraError) {
	trace, corr := s.requestIDs(w, r)
	ts := s.now().UTC().Format(entraTimestamp)
	body := errorBody{
		Error:         e.code,
		Description:   fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.aadsts, e.message, trace, corr, ts),
		ErrorCodes:    []int{e.aadsts},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
	}
	noStore(w)
	s.log.Debug("entra request refused", "path", r.URL.Path, "error", e.code, "aadsts", e.aadsts, "trace_id", trace)
	writeJSON(w, e.status, body)
}

// requestIDs makes the trace id of a response and takes the correlation id
// from the client-request-id header MSAL sends, or makes one; both go back
// in headers as Entra sends them.
func (s *Server) requestIDs(w http.ResponseWriter, r *http.Request) (trace, correlation string) {
	trace = s.newGUID()
	correlation = r.Header.Get("client-request-id")
	if !isGUID(correlation) {
		correlation = s.newGUID()
	}
	w.Header().Set("x-ms-request-id", trace)
	w.Header().Set("client-request-id", correlation)
	return trace, correlation
}

func (s *Server) newGUID() string {
	b := make([]byte, 16)
	if _, err := s.rand.Read(b); err != nil {
		// An id only correlates logs; the time still tells requests apart.
		copy(b, fmt.Appendf(nil, "%016x", s.now().UnixNano()))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// noStore marks a response that must not be cached: tokens and errors.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
