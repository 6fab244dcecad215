package servicecontrol

import (
	"encoding/json"
	"errors"
	"net/http"
)

// apiError is a failure of a whole request, answered as Google's APIs do:
// {"error": {code, message, status, details}}, which the Go client turns
// into a *googleapi.Error.
type apiError struct {
	status  int    // HTTP
	code    string // google.rpc.Code name
	message string
	reason  string // ErrorInfo reason, "" for none
	method  string // for ErrorInfo metadata
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidArgument(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT", message: msg}
}

// rpcCodes are google.rpc.Code numbers, for statuses inside 200 answers.
var rpcCodes = map[string]int{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
	"ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
	"ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
	"DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

type errorDetail struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type errorEnvelope struct {
	Error struct {
		Code    int           `json:"code"`
		Message string        `json:"message"`
		Status  string        `json:"status"`
		Details []errorDetail `json:"details,omitempty"`
	} `json:"error"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	var env errorEnvelope
	env.Error.Code, env.Error.Message, env.Error.Status = e.status, e.message, e.code
	if e.reason != "" {
		env.Error.Details = []errorDetail{{
			Type: "type.googleapis.com/google.rpc.ErrorInfo", Reason: e.reason, Domain: "googleapis.com",
			Metadata: map[string]string{"service": "servicecontrol.googleapis.com", "method": e.method},
		}}
	}
	s.log.Debug("service control request refused", "path", r.URL.Path, "status", e.status, "code", e.code, "message", e.message)
	writeJSON(w, e.status, env)
}

// unauthenticated is the 401 for an Authorizer error, with the reason and
// message of the error when it offers them.
func unauthenticated(err error, method string) *apiError {
	e := &apiError{status: http.StatusUnauthorized, code: "UNAUTHENTICATED", method: method,
		message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
		reason:  "ACCESS_TOKEN_TYPE_UNSUPPORTED"}
	var described interface {
		AuthReason() string
		AuthMessage() string
	}
	if errors.As(err, &described) {
		e.reason, e.message = described.AuthReason(), described.AuthMessage()
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
