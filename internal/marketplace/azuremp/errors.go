package azuremp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The kinds of failure a caller acts on. Every error of a call wraps one of
// them, most often inside an *APIError that says more.
var (
	// ErrTokenInvalid: Resolve refused the marketplace token (400): missing,
	// malformed or expired. The buyer reopens the subscription in the
	// Azure portal and selects "Configure account" again.
	ErrTokenInvalid = errors.New("marketplace token invalid or expired")
	// ErrForbidden: Microsoft refused the publisher's credentials (401,
	// 403), or Entra ID refused to issue a token: a wrong tenant, app or
	// secret, or a subscription of an offer published under another app.
	ErrForbidden = errors.New("marketplace refused the publisher's credentials")
	// ErrNotFound: no such subscription or operation (404).
	ErrNotFound = errors.New("not found in the marketplace")
	// ErrConflict: the operation can no longer be updated (409), or a
	// usage event of the same hour was already accepted.
	ErrConflict = errors.New("marketplace conflict")
	// ErrBadRequest: Microsoft refused the request as invalid or not
	// allowed in the subscription's state (400 other than Resolve's).
	// Retrying it unchanged gets the same answer.
	ErrBadRequest = errors.New("marketplace refused the request")
	// ErrThrottled: too many requests (429), still so after the bounded
	// retries or with a Retry-After longer than the client waits.
	ErrThrottled = errors.New("marketplace throttled the request")
	// ErrUnavailable: a 5xx answer, a network failure or a timeout, after
	// the retries the call allows. Try again later.
	ErrUnavailable = errors.New("marketplace unavailable")
	// ErrBadResponse: a 2xx answer that could not be read, or one that
	// points somewhere the client does not go (a @nextLink on another host).
	ErrBadResponse = errors.New("unreadable marketplace response")
	// ErrInvalidInput: the call was refused before anything was sent.
	ErrInvalidInput = errors.New("invalid marketplace request")
)

// APIError is what a call to Microsoft ended with. It wraps its Kind (one of
// the Err values above) and the cause, if any, so errors.Is works on both.
type APIError struct {
	Kind error
	// Op names the call, e.g. "get subscription".
	Op string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Code, Message and Target come from the error body, when there is one.
	Code, Message, Target string
	Details               []ErrorDetail
	// RequestID and CorrelationID identify the request for Microsoft's
	// support: the ones Microsoft echoed, else the ones sent.
	RequestID, CorrelationID string
	// RetryAfter is what a 429 or 503 asked the client to wait, if it said.
	RetryAfter time.Duration
	// Err is the underlying cause: a network error, a context's, a parse
	// error.
	Err error
	// unsent: the call's request never left (no token could be had).
	unsent bool
	// earlier is an earlier attempt of the call that may have reached
	// Microsoft, if one did.
	earlier *APIError
}

// ErrorDetail is one item of an error body's details.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " [target %s]", e.Target)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RequestID != "" || e.CorrelationID != "" {
		fmt.Fprintf(&b, " (x-ms-requestid %s, x-ms-correlationid %s)", e.RequestID, e.CorrelationID)
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As both the kind and the cause.
func (e *APIError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// errorBody reads Microsoft's error answers, which come in two shapes
// (§3.1): the spec's {"error":{"code","message"}} (the emulator of Microsoft
// spells it "Error"/"Code"; encoding/json matches either) and a flat
// {"code","message","target","details"}. Any other body, plain text
// included, leaves the fields empty: a body is never required.
type errorBody struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Target  string        `json:"target"`
	Details []ErrorDetail `json:"details"`
	Error   *struct {
		Code    string        `json:"code"`
		Message string        `json:"message"`
		Target  string        `json:"target"`
		Details []ErrorDetail `json:"details"`
	} `json:"error"`
}

// maxTextInError bounds how much of a body that is not JSON an error quotes.
const maxTextInError = 200

// parseErrorBody returns what an error body says, from either shape.
func parseErrorBody(body []byte) (code, message, target string, details []ErrorDetail) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return "", "", "", nil
	}
	var eb errorBody
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &eb) != nil {
		return "", quoteText(trimmed), "", nil
	}
	code, message, target, details = eb.Code, eb.Message, eb.Target, eb.Details
	if eb.Error != nil {
		code, message, target, details = eb.Error.Code, eb.Error.Message, eb.Error.Target, eb.Error.Details
	}
	// The details often say which field was wrong when the top says
	// only "One or more errors have occurred."
	if len(details) > 0 && details[0].Message != "" && message != details[0].Message {
		message = strings.TrimSpace(message + " " + details[0].Message)
	}
	return code, message, target, details
}

// quoteText keeps a short, printable prefix of a plain-text body.
func quoteText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxTextInError {
		cut := maxTextInError
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
