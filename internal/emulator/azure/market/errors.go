package market

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an outcome; the API and the control API map it to a status.
type Kind string

// Kinds of errors.
const (
	KindInvalid   Kind = "invalid"   // 400
	KindForbidden Kind = "forbidden" // 403: another publisher's resource
	KindNotFound  Kind = "not_found" // 404
	KindConflict  Kind = "conflict"  // 409
)

// HTTPStatus is the status every surface of the emulator answers the kind
// with; 500 for an unknown one.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindInvalid:
		return http.StatusBadRequest
	case KindForbidden:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// Error is a domain outcome with a message safe to show. Code and Target are
// what the Fulfillment API puts in its error body.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Target  string
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// Fulfillment API error codes the emulator uses (Microsoft's emulator's
// spelling; the live codes are unconfirmed, contract §8.3).
const (
	CodeBadArgument    = "BadArgument"
	CodeInvalidValue   = "InvalidValue"
	CodeHeaderMissing  = "HeaderNotPresent"
	CodeEntityNotFound = "EntityNotFound"
	CodeForbidden      = "Forbidden"
	CodeConflict       = "Conflict"
)

func errorf(kind Kind, code, target, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

func invalidf(target, format string, args ...any) error {
	return errorf(KindInvalid, CodeBadArgument, target, format, args...)
}

func notFoundf(target, format string, args ...any) error {
	return errorf(KindNotFound, CodeEntityNotFound, target, format, args...)
}

// IsKind reports whether err is a domain Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
