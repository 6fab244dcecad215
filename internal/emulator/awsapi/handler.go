package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
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
)

// SigningName is the SigV4 service name of both Marketplace APIs.
const SigningName = "aws-marketplace"

// Market is what the API needs of the emulated marketplace.
type Market interface {
	LookupCredential(accessKeyID string) (market.Credential, bool)
	RequestID() string
	Allow(sellerAccountID, op string) bool
	TakeAPIFaults(ctx context.Context, op string) (market.APIFaults, error)
	ResolveCustomer(sellerAccountID, token string) (market.Customer, error)
	BatchMeterUsage(ctx context.Context, sellerAccountID string, in market.MeterInput) (market.MeterOutput, error)
	GetEntitlements(sellerAccountID string, in market.EntitlementsInput) (market.EntitlementsOutput, error)
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

// apiError is an error response.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func clientErr(code, msg string) *apiError { return &apiError{http.StatusBadRequest, code, msg} }

// ServeHTTP serves AWS JSON 1.1: POST / with X-Amz-Target.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.handle(w, r, r.Header.Get("X-Amz-Target"), false)
}

// ServeCBOR serves Smithy RPC v2 CBOR:
// POST /service/{service}/operation/{operation}.
func (h *Handler) ServeCBOR(w http.ResponseWriter, r *http.Request) {
	h.handle(w, r, r.PathValue("service")+"."+r.PathValue("operation"), true)
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request, target string, useCBOR bool) {
	w.Header().Set("x-amzn-RequestId", h.m.RequestID())
	resp, err := h.serve(r, target, useCBOR)
	if err != nil {
		h.writeError(w, target, useCBOR, err)
		return
	}
	var body bytes.Buffer
	if err := json.NewEncoder(&body).Encode(resp); err != nil {
		h.writeError(w, target, useCBOR, err)
		return
	}
	h.write(w, http.StatusOK, bytes.TrimRight(body.Bytes(), "\n"), useCBOR)
}

// write sends a JSON body as is, or re-encoded as CBOR.
func (h *Handler) write(w http.ResponseWriter, status int, jsonBody []byte, useCBOR bool) {
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
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(jsonBody) //nolint:errcheck // the client went away
}

func (h *Handler) serve(r *http.Request, target string, useCBOR bool) (any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return nil, clientErr("SerializationException", "Could not read the request body")
	}
	if len(body) > MaxRequestBytes {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "Request must be smaller than 1048576 bytes"}
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
	default:
		return nil, clientErr("UnknownOperationException", "")
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
	switch {
	case faults.Throttle, !h.m.Allow(seller, op):
		return nil, clientErr(market.CodeThrottling, "Rate exceeded")
	case faults.InternalError:
		return nil, &apiError{http.StatusInternalServerError, market.CodeInternalServiceError, "An internal error has occurred"}
	}
	switch op {
	case "ResolveCustomer":
		return h.resolveCustomer(seller, body)
	case "BatchMeterUsage":
		return h.batchMeterUsage(r.Context(), seller, body, faults.Unprocessed)
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

func (h *Handler) writeError(w http.ResponseWriter, target string, useCBOR bool, err error) {
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
		resp = apiError{http.StatusBadRequest, se.Code, se.Message}
	case errors.As(err, &me):
		resp = apiError{http.StatusBadRequest, me.Code, me.Message}
		if me.Code == market.CodeInternalServiceError {
			resp.status = http.StatusInternalServerError
		}
	default:
		h.log.Error("emulator AWS API", "target", target, "err", err)
		resp = apiError{http.StatusInternalServerError, market.CodeInternalServiceError, "An internal error has occurred"}
	}
	h.log.Debug("emulator AWS API error", "target", target, "code", resp.code, "message", resp.message)
	body, _ := json.Marshal(struct { // two strings cannot fail to encode
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{resp.code, resp.message})
	h.write(w, resp.status, body, useCBOR)
}
