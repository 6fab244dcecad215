package azurespec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Mismatch is how an exchange differs from the documents.
// ErrUndeclaredStatus is in a Mismatch whose response status the documents
// do not declare for the operation, as against a body that breaks a
// declared status's schema.
var ErrUndeclaredStatus = errors.New("undeclared status")

// undeclaredStatus says which status and what is declared; it is
// ErrUndeclaredStatus.
type undeclaredStatus string

func (e undeclaredStatus) Error() string        { return string(e) }
func (e undeclaredStatus) Is(target error) bool { return target == ErrUndeclaredStatus }

type Mismatch struct {
	Method string
	// Path is the request's path after its first /api segment, as sent
	// (/saas/subscriptions/37f9dea2-.../activate, /batchUsageEvent).
	Path string
	// Operation is the documents' operationId; empty when they declare no
	// operation for Method and Path.
	Operation string
	// Status is the response's status, 0 when the request is at fault.
	Status int
	// Part is "route" (no such operation), "request" or "response".
	Part string
	Err  error
}

func (m *Mismatch) Error() string {
	op := m.Operation
	if op == "" {
		op = "no operation"
	}
	part := m.Part
	if m.Status != 0 {
		part += " " + strconv.Itoa(m.Status)
	}
	return fmt.Sprintf("azurespec: %s %s (%s): %s: %s", m.Method, m.Path, op, part, describe(m.Err))
}

func (m *Mismatch) Unwrap() error { return m.Err }

// match is what routing a request found.
type match struct {
	req    *http.Request // a copy of the request, its path relative to /api
	route  *routers.Route
	params map[string]string
}

// apiPath returns the part of p after its first "/api" segment, and false
// when p has none (the request is not for these APIs). The seller's base URL
// for Microsoft is https://marketplaceapi.microsoft.com/api; the emulator's
// carries a prefix (such as /azure/api), so the segment is found wherever it
// is.
func apiPath(p string) (string, bool) {
	for i := 0; i < len(p); {
		j := strings.Index(p[i:], "/api")
		if j < 0 {
			return "", false
		}
		rest := p[i+j+len("/api"):]
		if rest == "" {
			return "/", true
		}
		if rest[0] == '/' {
			return rest, true
		}
		i += j + len("/api")
	}
	return "", false
}

// route finds the operation for r. It returns nil, nil for a request that is
// not for these APIs, and a *Mismatch when the documents declare no such
// operation.
func (c *Checker) route(r *http.Request) (*match, error) {
	path, ok := apiPath(r.URL.Path)
	if !ok {
		return nil, nil
	}
	// Tolerance: the SaaS document declares List subscriptions at
	// "/saas/subscriptions/", with the trailing slash its @nextLink
	// examples keep, while Microsoft's documentation and clients call
	// "/saas/subscriptions". Both reach the operation; no other path is
	// given a trailing slash it does not have.
	if path == "/saas/subscriptions" {
		path = "/saas/subscriptions/"
	}
	req := r.Clone(context.Background())
	u := *r.URL
	u.Path, u.RawPath = path, ""
	req.URL = &u
	if route, params := c.find(req); route != nil {
		return &match{req: req, route: route, params: params}, nil
	}
	reason := "the documents declare no such path"
	var declared []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := req.Clone(context.Background())
		other.Method = method
		if route, _ := c.find(other); route != nil {
			declared = append(declared, method)
		}
	}
	if len(declared) > 0 {
		reason = fmt.Sprintf("the documents declare this path for %s, not for %s", strings.Join(declared, ", "), r.Method)
	}
	return nil, &Mismatch{Method: r.Method, Path: path, Part: "route", Err: errors.New(reason)}
}

// find asks each document's router for req's operation.
func (c *Checker) find(req *http.Request) (*routers.Route, map[string]string) {
	for _, a := range c.apis {
		if route, params, err := a.router.FindRoute(req); err == nil {
			return route, params
		}
	}
	return nil, nil
}

// CheckRequest checks r, whose body is body, against the documents. A
// request whose path has no /api segment is not for these APIs and passes.
// r.Body is not read.
func (c *Checker) CheckRequest(r *http.Request, body []byte) error {
	m, err := c.route(r)
	if m == nil {
		return err
	}
	m.req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: m.req, PathParams: m.params, Route: m.route, Options: options(),
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return m.mismatch("request", 0, err)
	}
	return nil
}

// CheckResponse checks the answer to r (status, header, body) against the
// documents: the status must be declared for the operation, and the body
// must match the schema declared for that status, if any.
func (c *Checker) CheckResponse(r *http.Request, status int, header http.Header, body []byte) error {
	m, err := c.route(r)
	if m == nil {
		return err
	}
	responses := m.route.Operation.Responses
	if responses.Status(status) == nil && responses.Default() == nil {
		var declared []string
		for code := range responses.Map() {
			declared = append(declared, code)
		}
		slices.Sort(declared)
		return m.mismatch("response", status, undeclaredStatus(fmt.Sprintf("status %d is not declared (declared: %s)",
			status, strings.Join(declared, ", "))))
	}
	// Most error statuses are declared with no content (and, against
	// OpenAPI 3.0, no description, which kin-openapi lets pass), so any
	// body passes for them; only the Metering API's 400 and 409 carry a
	// schema, and those are checked.
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: m.req, PathParams: m.params, Route: m.route,
		},
		Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: options(),
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return m.mismatch("response", status, err)
	}
	return nil
}

func (m *match) mismatch(part string, status int, err error) *Mismatch {
	return &Mismatch{
		Method: m.req.Method, Path: m.req.URL.Path, Operation: m.route.Operation.OperationID,
		Status: status, Part: part, Err: err,
	}
}

func options() *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		// kin-openapi would otherwise write defaults (such as the
		// api-version) into the request it checks.
		SkipSettingDefaults: true,
		// Tolerance: a body on an operation that declares none (Resolve)
		// passes, because Microsoft's documentation tells clients to send
		// "{}" or nothing there. RejectWhenRequestBodyNotSpecified stays off.
		AuthenticationFunc: bearerPresent,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.WithStringFormatValidators(stringFormats),
		},
	}
	o.WithCustomSchemaErrorFunc(describeSchemaError)
	return o
}

// Tolerance: the documents require an Entra ID bearer token (security
// scheme AADToken, OAuth2 client credentials). Whether a token is genuine is
// for the emulator's Entra stand-in to decide, and a checker in the middle
// has no keys; so the checker only insists that a bearer token is sent.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return in.NewError(errors.New(`no "Authorization: Bearer <token>" header`))
	}
	return nil
}

// stringFormats are the formats the documents use, each with a message that
// says what was expected instead of quoting a regular expression. kin-openapi
// checks the integer ranges of int32 and int64 by itself.
//
// Tolerance: "uuid" is any 8-4-4-4-12 hexadecimal GUID, without the version
// and variant bits RFC 4122 would demand: Microsoft's services are .NET,
// where a Guid is any such string.
//
// Not tolerated: "date-time" is RFC 3339, with a time zone, as OpenAPI
// defines it, although Microsoft's documentation shows zone-less times
// ("2018-12-01T08:30:14", "0001-01-01T00:00:00") and bare dates for
// usageStartDate. The emulator and the seller write RFC 3339; a zone-less time
// from either is a bug this checker is meant to catch.
var stringFormats = map[string]openapi3.StringFormatValidator{
	"uuid":      matching(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`, "not a GUID (8-4-4-4-12 hexadecimal digits)"),
	"date-time": matching(openapi3.FormatOfStringDateTime, "not an RFC 3339 date-time with a time zone"),
	"email":     matching(openapi3.FormatOfStringForEmail, "not an email address"),
	"uri":       openapi3.NewCallbackValidator(absoluteURI),
}

func matching(pattern, complaint string) openapi3.StringFormatValidator {
	re := regexp.MustCompile(pattern)
	return openapi3.NewCallbackValidator(func(s string) error {
		if !re.MatchString(s) {
			return errors.New(complaint)
		}
		return nil
	})
}

func absoluteURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() || u.Host == "" {
		return errors.New("not an absolute URI")
	}
	return nil
}

// describe renders kin-openapi's errors in one line each, without the
// schema dumps its own messages carry.
func describe(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case openapi3.MultiError:
		return describeAll(e)
	case *openapi3filter.SecurityRequirementsError:
		return describeAll(e.Errors)
	case *openapi3filter.RequestError:
		what := ""
		switch {
		case e.Parameter != nil:
			what = fmt.Sprintf("%s parameter %q: ", e.Parameter.In, e.Parameter.Name)
		case e.RequestBody != nil:
			what = "body: "
		}
		return what + joinReason(e.Reason, e.Err)
	case *openapi3filter.ResponseError:
		return joinReason(e.Reason, e.Err)
	case *openapi3.SchemaError:
		return describeSchemaError(e)
	}
	return err.Error()
}

func describeAll(errs []error) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		parts = append(parts, describe(e))
	}
	return strings.Join(parts, "; ")
}

func joinReason(reason string, err error) string {
	if err == nil {
		return reason
	}
	detail := describe(err)
	if reason == "" || reason == err.Error() || reason == detail {
		return detail
	}
	return reason + ": " + detail
}

// describeSchemaError names where in the value a schema was broken, how,
// and what the value was (cut short).
func describeSchemaError(e *openapi3.SchemaError) string {
	at := "/" + strings.Join(e.JSONPointer(), "/")
	reason := e.Reason
	if e.Origin != nil {
		reason = e.Origin.Error()
	}
	if reason == "" {
		reason = fmt.Sprintf("does not match the schema's %q", e.SchemaField)
	}
	value, _ := json.Marshal(e.Value)
	const most = 80
	if len(value) > most {
		value = append(value[:most], "..."...)
	}
	return fmt.Sprintf("at %s: %s (value %s)", at, reason, value)
}
