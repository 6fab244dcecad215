package servicecontrol

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// readBody reads a request body of at most MaxRequestBytes (Google's limit
// on a CheckRequest or ReportRequest).
func readBody(r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return nil, invalidArgument("The request body could not be read.")
	}
	if len(body) > MaxRequestBytes {
		return nil, invalidArgument(fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", MaxRequestBytes))
	}
	return body, nil
}

type checkErrorJSON struct {
	Code    string     `json:"code"`
	Subject string     `json:"subject,omitempty"`
	Detail  string     `json:"detail,omitempty"`
	Status  statusJSON `json:"status"`
}

type statusJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type consumerInfoJSON struct {
	ConsumerNumber string `json:"consumerNumber,omitempty"`
	ProjectNumber  string `json:"projectNumber,omitempty"`
	Type           string `json:"type"`
}

type checkResponse struct {
	OperationID      string           `json:"operationId,omitempty"`
	CheckErrors      []checkErrorJSON `json:"checkErrors,omitempty"`
	CheckInfo        *checkInfoJSON   `json:"checkInfo,omitempty"`
	ServiceConfigID  string           `json:"serviceConfigId"`
	ServiceRolloutID string           `json:"serviceRolloutId"`
}

type checkInfoJSON struct {
	ConsumerInfo consumerInfoJSON `json:"consumerInfo"`
}

// checkErrorStatus is the google.rpc.Code Google pairs with a CheckError
// code: the transient ones UNAVAILABLE, quota RESOURCE_EXHAUSTED, the rest
// the caller's business.
func checkErrorStatus(code string) int {
	switch {
	case strings.HasSuffix(code, "_UNAVAILABLE") || code == "LOAD_SHEDDING":
		return rpcCodes["UNAVAILABLE"]
	case code == "RESOURCE_EXHAUSTED" || code == "BUDGET_EXCEEDED":
		return rpcCodes["RESOURCE_EXHAUSTED"]
	case code == "NOT_FOUND" || code == "API_KEY_NOT_FOUND":
		return rpcCodes["NOT_FOUND"]
	case code == "PROJECT_INVALID" || code == "CONSUMER_INVALID" || code == "API_KEY_INVALID":
		return rpcCodes["INVALID_ARGUMENT"]
	default:
		return rpcCodes["PERMISSION_DENIED"]
	}
}

func newCheckError(code, consumerID, detail string) checkErrorJSON {
	return checkErrorJSON{Code: code, Subject: consumerID, Detail: detail,
		Status: statusJSON{Code: checkErrorStatus(code), Message: detail}}
}

// check serves POST /v1/services/{service}:check (contract §4.4.1-2): 200
// with checkErrors when the consumer may not be charged, empty when it may.
func (s *Server) check(w http.ResponseWriter, r *http.Request, service string) {
	body, e := readBody(r)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	op, e := decodeCheck(body)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	c, ok, err := s.consumers.Consumer(r.Context(), service, op.ConsumerID)
	if err != nil {
		s.log.Error("service control consumer lookup failed", "service", service, "consumer_id", op.ConsumerID, "error", err)
		s.writeError(w, r, &apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: "Internal error encountered."})
		return
	}
	resp := checkResponse{OperationID: op.ID, ServiceConfigID: s.serviceConfigID, ServiceRolloutID: s.serviceConfigID}
	switch {
	case !ok:
		resp.CheckErrors = []checkErrorJSON{newCheckError("NOT_FOUND", op.ConsumerID,
			fmt.Sprintf("Consumer '%s' was not found, or has no entitlement to service '%s'.", op.ConsumerID, service))}
	case c.CheckError != "":
		resp.CheckErrors = []checkErrorJSON{newCheckError(c.CheckError, op.ConsumerID,
			fmt.Sprintf("Consumer '%s' cannot use service '%s' (%s, scripted in the emulator).", op.ConsumerID, service, c.CheckError))}
	case !c.Active:
		resp.CheckErrors = []checkErrorJSON{newCheckError("SERVICE_NOT_ACTIVATED", op.ConsumerID,
			fmt.Sprintf("Service '%s' is not active for consumer '%s': its entitlement is not active.", service, op.ConsumerID))}
	}
	if ok {
		n, _ := strings.CutPrefix(op.ConsumerID, "project_number:")
		resp.CheckInfo = &checkInfoJSON{ConsumerInfo: consumerInfoJSON{ConsumerNumber: n, ProjectNumber: n, Type: "PROJECT"}}
	}
	writeJSON(w, http.StatusOK, resp)
}
