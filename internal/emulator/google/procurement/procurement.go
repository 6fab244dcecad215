// Package procurement serves Google's Partner Procurement API v1
// (cloudcommerceprocurement.googleapis.com) over the emulator's market (#16),
// exactly as google.golang.org/api/cloudcommerceprocurement/v1 calls it:
// full resource names with a literal ':' before custom verbs (routed by
// hand, a ServeMux pattern cannot express them), JSON in lowerCamelCase,
// google.rpc.Status errors (contract §2).
package procurement

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/marketbridge/marketbridge/internal/emulator/google/market"
)

// Authorizer says which service account a request speaks for (googleid's
// Server.Authorize); an error means the request is unauthenticated.
type Authorizer func(*http.Request) (string, error)

// Server is the API's http.Handler; it serves paths from "/" (/v1/...).
type Server struct {
	market    *market.Market
	authorize Authorizer
	log       *slog.Logger

	faultMu    sync.Mutex
	failN      int
	failStatus int
}

var faultCodes = map[int]string{429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

// FailNext makes the next n requests answer status (429, 500 or 503) before
// doing anything, so that a seller's retries can be exercised (the official
// client does not retry, §2.1).
func (s *Server) FailNext(n, status int) error {
	if _, ok := faultCodes[status]; !ok || n < 0 {
		return fmt.Errorf("procurement: fault %d x %d: want n >= 0 and status 429, 500 or 503", n, status)
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.failN, s.failStatus = n, status
	return nil
}

func (s *Server) takeFault() *apiError {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.failN == 0 {
		return nil
	}
	s.failN--
	code := faultCodes[s.failStatus]
	return &apiError{status: s.failStatus, code: code, message: "Injected fault: " + code + " (emulator fault injection)."}
}

// New builds the server. authorize nil accepts every request (tests, an
// emulator run open on purpose).
func New(m *market.Market, authorize Authorizer, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{market: m, authorize: authorize, log: logger}
}

const maxBody = 1 << 20

type apiError struct {
	status  int
	code    string
	message string
}

var statusOf = map[string]int{
	market.InvalidArgument:    http.StatusBadRequest,
	market.FailedPrecondition: http.StatusBadRequest,
	market.NotFound:           http.StatusNotFound,
	market.AlreadyExists:      http.StatusConflict,
	market.PermissionDenied:   http.StatusForbidden,
	"UNAUTHENTICATED":         http.StatusUnauthorized,
	"UNIMPLEMENTED":           http.StatusNotImplemented,
	"INTERNAL":                http.StatusInternalServerError,
}

func errorf(code, msg string) *apiError {
	return &apiError{status: statusOf[code], code: code, message: msg}
}

func (s *Server) fromMarket(err error) *apiError {
	var me *market.Error
	if errors.As(err, &me) {
		return errorf(me.Code, me.Message)
	}
	s.log.Error("procurement: market failed", "error", err)
	return errorf("INTERNAL", "Internal error encountered.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	type item struct {
		Domain  string `json:"domain"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	reason := map[int]string{400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "notFound", 409: "conflict", 501: "notImplemented"}[e.status]
	if reason == "" {
		reason = "backendError"
	}
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.status, "message": e.message, "status": e.code,
		"errors": []item{{Domain: "global", Message: e.message, Reason: reason}},
	}})
}

// ServeHTTP routes /v1/providers/{p}/(accounts|entitlements)[/{id}[:verb]].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := s.serve(w, r); e != nil {
		s.log.Info("procurement refused", "method", r.Method, "path", r.URL.Path, "status", e.status, "code", e.code, "message", e.message)
		writeError(w, e)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) *apiError {
	if e := s.takeFault(); e != nil {
		return e
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) < 4 || len(parts) > 5 || parts[0] != "v1" || parts[1] != "providers" || (parts[3] != "accounts" && parts[3] != "entitlements") {
		return errorf(market.NotFound, "Requested entity was not found: no method at "+r.URL.Path+".")
	}
	if s.authorize != nil {
		if _, err := s.authorize(r); err != nil {
			return errorf("UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. ("+err.Error()+")")
		}
	}
	if parts[2] != s.market.ProviderID() {
		return errorf(market.PermissionDenied, "The caller does not have permission")
	}
	coll, id, verb := parts[3], "", ""
	if len(parts) == 5 {
		id = parts[4]
		if i := strings.LastIndexByte(id, ':'); i >= 0 {
			id, verb = id[:i], id[i+1:]
		}
		if id == "" {
			return errorf(market.NotFound, "Requested entity was not found.")
		}
	}
	// Due transitions (activation delay, scheduled starts) happen before
	// the request sees the state, whether or not the house's ticker ran.
	if err := s.market.Tick(r.Context()); err != nil {
		return s.fromMarket(err)
	}
	method := r.Method
	switch {
	case coll == "accounts" && id == "" && method == http.MethodGet:
		return s.listAccounts(w, r)
	case coll == "accounts" && verb == "" && method == http.MethodGet:
		return s.getAccount(w, id)
	case coll == "accounts" && method == http.MethodPost && (verb == "approve" || verb == "reject" || verb == "reset"):
		return s.accountVerb(w, r, id, verb)
	case coll == "entitlements" && id == "" && method == http.MethodGet:
		return s.listEntitlements(w, r)
	case coll == "entitlements" && verb == "" && method == http.MethodGet:
		e, ok := s.market.Entitlement(id)
		if !ok {
			return errorf(market.NotFound, "Entitlement "+id+" not found.")
		}
		writeJSON(w, http.StatusOK, s.toEntitlement(e))
		return nil
	case coll == "entitlements" && verb == "" && method == http.MethodPatch:
		return s.patchEntitlement(w, r, id)
	case coll == "entitlements" && method == http.MethodPost && verb != "":
		return s.entitlementVerb(w, r, id, verb)
	}
	return errorf(market.NotFound, "Requested entity was not found: no method "+method+" "+r.URL.Path+".")
}

func decodeBody(r *http.Request, v any) *apiError {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errorf(market.InvalidArgument, "Could not read the request body.")
	}
	if len(b) > maxBody {
		return errorf(market.InvalidArgument, "Request body is larger than 1 MB.")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errorf(market.InvalidArgument, "Invalid JSON payload received. "+err.Error())
	}
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, id string) *apiError {
	a, ok := s.market.Account(id)
	if !ok {
		return errorf(market.NotFound, "Account "+id+" not found.")
	}
	writeJSON(w, http.StatusOK, s.toAccount(a))
	return nil
}

func (s *Server) accountVerb(w http.ResponseWriter, r *http.Request, id, verb string) *apiError {
	var req struct {
		ApprovalName string            `json:"approvalName"`
		Reason       string            `json:"reason"`
		Properties   map[string]string `json:"properties"`
	}
	if e := decodeBody(r, &req); e != nil {
		return e
	}
	var err error
	switch verb {
	case "approve":
		_, err = s.market.ApproveAccount(r.Context(), id, req.ApprovalName, req.Reason, req.Properties)
	case "reject":
		_, err = s.market.RejectAccount(r.Context(), id, req.ApprovalName, req.Reason)
	case "reset":
		err = s.market.ResetAccount(r.Context(), id)
	}
	if err != nil {
		return s.fromMarket(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) entitlementVerb(w http.ResponseWriter, r *http.Request, id, verb string) *apiError {
	var req struct {
		PendingPlanName string `json:"pendingPlanName"`
		Reason          string `json:"reason"`
	}
	if e := decodeBody(r, &req); e != nil {
		return e
	}
	var err error
	ctx := r.Context()
	switch verb {
	case "approve":
		_, err = s.market.ApproveEntitlement(ctx, id)
	case "reject":
		err = s.market.RejectEntitlement(ctx, id, req.Reason)
	case "approvePlanChange":
		if req.PendingPlanName == "" {
			return errorf(market.InvalidArgument, "pendingPlanName is required.")
		}
		_, err = s.market.ApprovePlanChange(ctx, id, req.PendingPlanName)
	case "rejectPlanChange":
		if req.PendingPlanName == "" {
			return errorf(market.InvalidArgument, "pendingPlanName is required.")
		}
		_, err = s.market.RejectPlanChange(ctx, id, req.PendingPlanName)
	case "suspend":
		// Google documents suspend as "not yet supported" (§2.2).
		if _, ok := s.market.Entitlement(id); !ok {
			return errorf(market.NotFound, "Entitlement "+id+" not found.")
		}
		return errorf("UNIMPLEMENTED", "entitlements.suspend is not yet supported.")
	default:
		return errorf(market.NotFound, "Requested entity was not found: no method :"+verb+".")
	}
	if err != nil {
		return s.fromMarket(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) patchEntitlement(w http.ResponseWriter, r *http.Request, id string) *apiError {
	mask := r.URL.Query().Get("updateMask")
	for _, f := range strings.Split(mask, ",") {
		if f = strings.TrimSpace(f); f != "messageToUser" && f != "message_to_user" {
			return errorf(market.InvalidArgument, "updateMask must be messageToUser (the only writable field), got "+strconv.Quote(mask)+".")
		}
	}
	var req struct {
		MessageToUser string `json:"messageToUser"`
	}
	if e := decodeBody(r, &req); e != nil {
		return e
	}
	e, err := s.market.PatchMessage(r.Context(), id, req.MessageToUser)
	if err != nil {
		return s.fromMarket(err)
	}
	writeJSON(w, http.StatusOK, s.toEntitlement(e))
	return nil
}

// page reads pageSize and pageToken. Tokens are opaque to the client: the
// base64 of the offset, prefixed so that a token of the other list fails.
func page(r *http.Request, kind string, def, max int) (offset, size int, e *apiError) {
	q := r.URL.Query()
	size = def
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errorf(market.InvalidArgument, "pageSize must be a non-negative integer.")
		}
		if n > 0 {
			size = n
		}
	}
	if size > max {
		size = max
	}
	if t := q.Get("pageToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		rest, ok := strings.CutPrefix(string(b), kind+":")
		n, aerr := strconv.Atoi(rest)
		if err != nil || !ok || aerr != nil || n < 0 {
			return 0, 0, errorf(market.InvalidArgument, "Invalid pageToken.")
		}
		offset = n
	}
	return offset, size, nil
}

func nextToken(kind string, next, total int) string {
	if next >= total {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(next)))
}

// pageOf converts the page [off, off+size) of all, and gives the token of
// the next page ("" on the last).
func pageOf[T, J any](all []T, kind string, off, size int, conv func(T) J) ([]J, string) {
	var out []J
	for i := off; i < len(all) && i < off+size; i++ {
		out = append(out, conv(all[i]))
	}
	return out, nextToken(kind, off+size, len(all))
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) *apiError {
	off, size, e := page(r, "a", 25, 200)
	if e != nil {
		return e
	}
	resp := struct {
		Accounts      []accountJSON `json:"accounts,omitempty"`
		NextPageToken string        `json:"nextPageToken,omitempty"`
	}{}
	resp.Accounts, resp.NextPageToken = pageOf(s.market.Accounts(), "a", off, size, s.toAccount)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) listEntitlements(w http.ResponseWriter, r *http.Request) *apiError {
	off, size, e := page(r, "e", 200, 1000)
	if e != nil {
		return e
	}
	f, err := ParseFilter(r.URL.Query().Get("filter"))
	if err != nil {
		return errorf(market.InvalidArgument, "Invalid filter: "+err.Error())
	}
	var all []market.Entitlement
	for _, ent := range s.market.Entitlements() {
		if s.match(f, ent) {
			all = append(all, ent)
		}
	}
	resp := struct {
		Entitlements  []entitlementJSON `json:"entitlements,omitempty"`
		NextPageToken string            `json:"nextPageToken,omitempty"`
	}{}
	resp.Entitlements, resp.NextPageToken = pageOf(all, "e", off, size, s.toEntitlement)
	writeJSON(w, http.StatusOK, resp)
	return nil
}
