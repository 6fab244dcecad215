package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
	"github.com/marketbridge/marketbridge/internal/emulator/sigv4"
)

// MaxRequestBytes is BatchMeterUsage's "under 1 MB" limit, applied to every call.
const MaxRequestBytes = 1 << 20

// Targets this handler serves.
const (
	TargetResolveCustomer = "AWSMPMeteringService.ResolveCustomer"
	TargetBatchMeterUsage = "AWSMPMeteringService.BatchMeterUsage"
	TargetGetEntitlements = "AWSMPEntitlementService.GetEntitlements"

	// AgreementService is the Agreement Service's Smithy name: its
	// X-Amz-Target prefix in AWS JSON 1.0 and its {service} in RPC v2 CBOR.
	AgreementService          = "AWSMPCommerceService_v20200301"
	TargetDescribeAgreement   = AgreementService + ".DescribeAgreement"
	TargetGetAgreementTerms   = AgreementService + ".GetAgreementTerms"
	TargetSearchAgreements    = AgreementService + ".SearchAgreements"
	agreementServiceTargetDot = AgreementService + "."
)

// SigningName is the SigV4 service name of the three Marketplace APIs
// (metering, entitlement, agreement), as their models give it.
const SigningName = "aws-marketplace"

// unknownOperationMessage is AWS's wording for a target no service has.
const unknownOperationMessage = "The requested operation is not recognized by the service."

// Market is what the API needs of the emulated marketplace.
type Market interface {
	LookupCredential(accessKeyID string) (market.Credential, bool)
	RequestID() string
	Allow(sellerAccountID, op string) bool
	TakeAPIFaults(ctx context.Context, op string) (market.APIFaults, error)
	ResolveCustomer(sellerAccountID, token string) (market.Customer, error)
	BatchMeterUsage(ctx context.Context, sellerAccountID string, in market.MeterInput) (market.MeterOutput, error)
	GetEntitlements(sellerAccountID string, in market.EntitlementsInput) (market.EntitlementsOutput, error)
	DescribeAgreement(sellerAccountID, agreementID string) (market.AgreementView, error)
	GetAgreementTerms(sellerAccountID, agreementID string) (market.AgreementTerms, error)
	SearchAgreements(callerAccountID string, q market.AgreementSearch) []market.AgreementView
}

// Handler serves the AWS API.
type Handler struct {
	m        Market
	verifier *sigv4.Verifier
	log      *slog.Logger
}

// New returns the API handler. now is real time, for signature freshness.
func New(m Market, now func() time.Time, logger *slog.Logger) *Handler {
	return &Handler{
		m:   m,
		log: logger,
		verifier: &sigv4.Verifier{
			Service: SigningName,
			Now:     now,
			Secret: func(id string) (string, bool) {
				c, ok := m.LookupCredential(id)
				return c.SecretAccessKey, ok
			},
		},
	}
}

// apiError is an error response. fields are the error shape's members
// beyond its message (the Agreement Service's reason, resourceId...).
type apiError struct {
	status  int
	code    string
	message string
	fields  map[string]any
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func clientErr(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: msg}
}

// ServeHTTP serves AWS JSON 1.1: POST / with X-Amz-Target.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handle(w, r, r.Header.Get("X-Amz-Target"), false)
}

// ServeCBOR serves Smithy RPC v2 CBOR:
// POST /service/{service}/operation/{operation}.
func (h *Handler) ServeCBOR(w http.ResponseWriter, r *http.Request) {
	h.handle(w, r, r.PathValue("service")+"."+r.PathValue("operation"), true)
}

// isAgreement says whether a target is the Agreement Service's, which
// speaks AWS JSON 1.0 and has its own error names.
func isAgreement(target string) bool { return strings.HasPrefix(target, agreementServiceTargetDot) }

func (h *Handler) handle(w http.ResponseWriter, r *http.Request, target string, useCBOR bool) {
	reqID := h.m.RequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	resp, err := h.serve(r, target, useCBOR)
	if err != nil {
		h.writeError(w, target, useCBOR, reqID, err)
		return
	}
	var body bytes.Buffer
	if err := json.NewEncoder(&body).Encode(resp); err != nil {
		h.writeError(w, target, useCBOR, reqID, err)
		return
	}
	h.write(w, target, http.StatusOK, bytes.TrimRight(body.Bytes(), "\n"), useCBOR)
}

// write sends a JSON body as is, or re-encoded as CBOR.
func (h *Handler) write(w http.ResponseWriter, target string, status int, jsonBody []byte, useCBOR bool) {
	if useCBOR {
		b, err := jsonToCBOR(jsonBody)
		if err != nil {
			h.log.Error("encode cbor response", "err", err)
			status, b = http.StatusInternalServerError, nil
		}
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		w.WriteHeader(status)
		w.Write(b) //nolint:errcheck // the client went away
		return
	}
	if isAgreement(target) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	} else {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.WriteHeader(status)
	w.Write(jsonBody) //nolint:errcheck // the client went away
}

func (h *Handler) serve(r *http.Request, target string, useCBOR bool) (any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return nil, clientErr("SerializationException", "Could not read the request body")
	}
	if len(body) > MaxRequestBytes {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLargeException", message: "Request must be smaller than 1048576 bytes"}
	}
	cred, err := h.verifier.Verify(r, body)
	if err != nil {
		return nil, err
	}
	if useCBOR {
		if body, err = cborToJSON(body); err != nil {
			return nil, clientErr("SerializationException", "The request body is not valid CBOR")
		}
	}
	c, _ := h.m.LookupCredential(cred.AccessKeyID)
	seller := c.AccountID
	var op string
	switch target {
	case TargetResolveCustomer:
		op = "ResolveCustomer"
	case TargetBatchMeterUsage:
		op = "BatchMeterUsage"
	case TargetGetEntitlements:
		op = "GetEntitlements"
	case TargetDescribeAgreement, TargetGetAgreementTerms, TargetSearchAgreements:
		op = strings.TrimPrefix(target, agreementServiceTargetDot)
	default:
		return nil, clientErr(codeUnknownOperation, unknownOperationMessage)
	}
	faults, err := h.m.TakeAPIFaults(r.Context(), op)
	if err != nil {
		return nil, err
	}
	if faults.Delay > 0 {
		select {
		case <-time.After(faults.Delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	agreement := isAgreement(target)
	throttled := faults.Throttle || !h.m.Allow(seller, op)
	switch {
	case throttled && agreement:
		// The Agreement Service's model gives ThrottlingException 429; the
		// metering and entitlement services answer 400.
		return nil, &apiError{status: http.StatusTooManyRequests, code: market.CodeThrottling, message: "Rate exceeded"}
	case throttled:
		return nil, clientErr(market.CodeThrottling, "Rate exceeded")
	case faults.InternalError && agreement:
		return nil, &apiError{status: http.StatusInternalServerError, code: codeInternalServer, message: "An internal error has occurred"}
	case faults.InternalError:
		return nil, &apiError{status: http.StatusInternalServerError, code: market.CodeInternalServiceError, message: "An internal error has occurred"}
	}
	switch op {
	case "ResolveCustomer":
		return h.resolveCustomer(seller, body)
	case "BatchMeterUsage":
		return h.batchMeterUsage(r.Context(), seller, body, faults.Unprocessed)
	case "DescribeAgreement":
		return h.describeAgreement(seller, body)
	case "GetAgreementTerms":
		return h.getAgreementTerms(seller, body)
	case "SearchAgreements":
		return h.searchAgreements(seller, body)
	default:
		return h.getEntitlements(seller, body, faults.EmptyPage)
	}
}

func decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return clientErr("SerializationException", "Start of structure or map found where not expected, or the body is not valid JSON")
	}
	return nil
}

func (h *Handler) writeError(w http.ResponseWriter, target string, useCBOR bool, requestID string, err error) {
	var (
		ae   *apiError
		se   *sigv4.Error
		me   *market.AWSError
		resp apiError
	)
	switch {
	case errors.As(err, &ae):
		resp = *ae
	case errors.As(err, &se):
		resp = apiError{status: http.StatusBadRequest, code: se.Code, message: se.Message}
	case errors.As(err, &me):
		resp = apiError{status: http.StatusBadRequest, code: me.Code, message: me.Message}
		if me.Code == market.CodeInternalServiceError {
			resp.status = http.StatusInternalServerError
		}
	default:
		h.log.Error("emulator AWS API", "target", target, "err", err)
		resp = apiError{status: http.StatusInternalServerError, code: market.CodeInternalServiceError, message: "An internal error has occurred"}
		if isAgreement(target) {
			resp.code = codeInternalServer
		}
	}
	h.log.Debug("emulator AWS API error", "target", target, "code", resp.code, "message", resp.message)
	out := map[string]any{"__type": resp.code, "message": resp.message}
	if isAgreement(target) {
		// Every Agreement Service error shape carries the request id.
		out["requestId"] = requestID
	}
	for k, v := range resp.fields {
		out[k] = v
	}
	body, err := json.Marshal(out)
	if err != nil {
		h.log.Error("encode AWS API error", "err", err)
		body = []byte(`{"__type":"` + market.CodeInternalServiceError + `"}`)
	}
	h.write(w, target, resp.status, body, useCBOR)
}
