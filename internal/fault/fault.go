// Package fault is marketbridge's one vocabulary of failure: every domain
// error that a person may see carries a Kind, a message safe to show, and the
// cause to log. The web package maps kinds to statuses and pages in one place.
package fault

import (
	"errors"
	"fmt"
)

// Kind is what went wrong, from the caller's point of view.
type Kind int

const (
	KindInternal        Kind = iota // a bug or an outage: log it, show a generic message
	KindInvalid                     // bad input: say what to fix, change nothing
	KindNotFound                    // absent, or not visible to this caller
	KindForbidden                   // visible, but the caller's role does not allow it
	KindConflict                    // clashes with the current state (already linked, last admin)
	KindUnauthenticated             // needs a log-in
	KindRateLimited                 // too many attempts; try later
	KindUnavailable                 // a dependency is down; try again
)

// Error is a failure with a kind and a message that is safe to show.
type Error struct {
	Kind    Kind
	Message string
	Err     error // the cause, for logs; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a message safe to show.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k whose cause is err.
func Wrap(k Kind, err error, message string) *Error {
	return &Error{Kind: k, Message: message, Err: err}
}

// KindOf is the kind of the first *Error in err's chain; KindInternal when
// there is none, so that unexpected errors never leak their text.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Message is what may be shown to a person for err.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Message
	}
	return "Something went wrong on our side. Please try again; if it keeps happening, contact support."
}

// FieldError is an invalid form field: which one, and how to fix it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Field returns an invalid-input error about one field.
func Field(field, message string) error { return &FieldError{Field: field, Message: message} }

// Fields gathers every field error in err's tree (errors.Join included),
// keyed by field, first message wins, so that a form shows each at its field.
func Fields(err error) map[string]string {
	out := map[string]string{}
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
			return
		case *FieldError:
			if _, ok := out[e.Field]; !ok {
				out[e.Field] = e.Message
			}
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Validation turns the joined field errors of a Validate method into one
// KindInvalid error, or nil when there are none.
func Validation(errs ...error) error {
	err := errors.Join(errs...)
	if err == nil {
		return nil
	}
	return &Error{Kind: KindInvalid, Message: "Please correct the highlighted fields.", Err: err}
}
