package market

import (
	"errors"
	"fmt"
)

// Codes are google.rpc.Code names; the HTTP faces map them to statuses (§2.6).
const (
	InvalidArgument    = "INVALID_ARGUMENT"
	FailedPrecondition = "FAILED_PRECONDITION"
	NotFound           = "NOT_FOUND"
	AlreadyExists      = "ALREADY_EXISTS"
	PermissionDenied   = "PERMISSION_DENIED"
)

// Error is a refusal the caller can act on.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf is err's code, "" when err is not an *Error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
