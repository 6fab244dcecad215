package servicecontrol

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// readRequest reads a request body of at most MaxRequestBytes (Google's
// limit on a CheckRequest or ReportRequest) and decodes it.
func readRequest[T any](r *http.Request, decode func([]byte) (T, *apiError)) (T, *apiError) {
	var zero T
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return zero, invalidArgument("The request body could not be read.")
	}
	if len(body) > MaxRequestBytes {
		return zero, invalidArgument(fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", MaxRequestBytes))
	}
	return decode(body)
}

// consumer looks a consumerId up: nil when the house does not know it, an
// INTERNAL error when the house could not say.
func (s *Server) consumer(ctx context.Context, service, consumerID string) (*Consumer, *apiError) {
	c, ok, err := s.consumers.Consumer(ctx, service, consumerID)
	if err != nil {
		s.log.Error("service control consumer lookup failed", "service", service, "consumer_id", consumerID, "error", err)
		return nil, &apiError{status: http.StatusInternalServerError, code: "INTERNAL", message: "Internal error encountered."}
	}
	if !ok {
		return nil, nil
	}
	return &c, nil
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
	op, e := readRequest(r, decodeCheck)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	c, e := s.consumer(r.Context(), service, op.ConsumerID)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	resp := checkResponse{OperationID: op.ID, ServiceConfigID: s.serviceConfigID, ServiceRolloutID: s.serviceConfigID}
	switch {
	case c == nil:
		resp.CheckErrors = []checkErrorJSON{newCheckError("NOT_FOUND", op.ConsumerID,
			fmt.Sprintf("Consumer '%s' was not found, or has no entitlement to service '%s'.", op.ConsumerID, service))}
	case c.CheckError != "":
		resp.CheckErrors = []checkErrorJSON{newCheckError(c.CheckError, op.ConsumerID,
			fmt.Sprintf("Consumer '%s' cannot use service '%s' (%s, scripted in the emulator).", op.ConsumerID, service, c.CheckError))}
	case !c.Active && !endedAfter(c, op):
		resp.CheckErrors = []checkErrorJSON{newCheckError("SERVICE_NOT_ACTIVATED", op.ConsumerID,
			fmt.Sprintf("Service '%s' is not active for consumer '%s': its entitlement is not active.", service, op.ConsumerID))}
	}
	if c != nil {
		n, _ := strings.CutPrefix(op.ConsumerID, "project_number:")
		resp.CheckInfo = &checkInfoJSON{ConsumerInfo: consumerInfoJSON{ConsumerNumber: n, ProjectNumber: n, Type: "PROJECT"}}
	}
	writeJSON(w, http.StatusOK, resp)
}

// endedAfter says whether op's usage ends at or before the end of c's
// entitlement: unreported usage from before a cancellation may still be
// reported (contract §4.4.4), and report takes it, so check must not stop
// the seller from sending it.
func endedAfter(c *Consumer, op operation) bool {
	return !c.EndedAt.IsZero() && !op.End.IsZero() && !op.End.After(c.EndedAt)
}
