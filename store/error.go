// Package store holds phieu's domain: the types every other package speaks in,
// their validation, the service interfaces that persist them, and coded errors.
// It depends on the standard library only; implementations live in subpackages
// (store/sqlite) and never know about each other.
package store

import (
	"errors"
	"fmt"
)

// Error codes. The CLI and, later, the web pages turn these into exit codes and
// HTTP statuses without matching on message text.
const (
	EINVALID  = "invalid"
	ENOTFOUND = "not_found"
	ECONFLICT = "conflict"
	EINTERNAL = "internal"
)

// Error is a domain error: a code for programs and a message for people.
// Messages are written for the operator and may be shown as they are.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.As(err, new(*ImportError)) {
		return EINVALID
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic text for internal errors (whose details belong in the log).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// FieldError names one invalid field of one value. Import turns Field into the
// column header as the file wrote it.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError collects every problem found in one value, so a person
// fixes a row once rather than once per problem.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	if len(v) == 0 {
		return "invalid"
	}
	msg := v[0].Error()
	if len(v) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(v)-1)
	}
	return msg
}

// Unwrap lets errors.As find an *Error code of EINVALID.
func (v ValidationError) Unwrap() error { return &Error{Code: EINVALID, Message: v.Error()} }

func (v *ValidationError) add(field, format string, args ...any) {
	*v = append(*v, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v ValidationError) err() error {
	if len(v) == 0 {
		return nil
	}
	return v
}
