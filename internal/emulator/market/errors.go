package market

import (
	"errors"
	"fmt"
)

// Kind classifies an outcome for the control API and the buyer pages.
type Kind string

// Kinds of errors.
const (
	KindInvalid   Kind = "invalid"   // bad input: 400
	KindNotFound  Kind = "not_found" // 404
	KindConflict  Kind = "conflict"  // state forbids it: 409
	KindForbidden Kind = "forbidden" // IAM permissions missing: 403
)

// Error is a domain outcome with a message safe to show.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

func errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// AWSError is an error of the AWS API, named as AWS names it.
type AWSError struct {
	Code    string
	Message string
}

func (e *AWSError) Error() string { return e.Code + ": " + e.Message }

// AWS error codes of the emulated operations.
const (
	CodeInvalidToken             = "InvalidTokenException"
	CodeExpiredToken             = "ExpiredTokenException"
	CodeInvalidProductCode       = "InvalidProductCodeException"
	CodeInvalidUsageDimension    = "InvalidUsageDimensionException"
	CodeInvalidCustomerID        = "InvalidCustomerIdentifierException"
	CodeInvalidLicense           = "InvalidLicenseException"
	CodeTimestampOutOfBounds     = "TimestampOutOfBoundsException"
	CodeInvalidTag               = "InvalidTagException"
	CodeInvalidUsageAllocations  = "InvalidUsageAllocationsException"
	CodeThrottling               = "ThrottlingException"
	CodeInternalServiceError     = "InternalServiceErrorException"
	CodeInvalidParameter         = "InvalidParameterException"
	CodeValidation               = "ValidationException"
	CodeInternalServiceErrorEnts = "InternalServiceErrorException"
)

func awsErr(code, format string, args ...any) error {
	return &AWSError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsKind reports whether err is a domain Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
