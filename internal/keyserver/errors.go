package keyserver

import (
	"errors"
	"fmt"
)

// Error codes. They travel on the wire as the "error" field of a JSON error
// body; the HTTP adapter alone maps them to statuses.
const (
	EINVALID         = "invalid_request"
	EUNAUTHENTICATED = "unauthenticated"
	EFORBIDDEN       = "forbidden"
	ENOTFOUND        = "not_found"
	ECONFLICT        = "conflict"
	ENOTAPPROVED     = "not_approved"
	EEXHAUSTED       = "usage_exhausted"
	ECLOSED          = "operation_closed"
	EEXPIRED         = "expired"
	ETOOLARGE        = "request_too_large"
	ERATELIMITED     = "rate_limited"
	EUNAVAILABLE     = "unavailable"
	EINTERNAL        = "internal"
)

// Error is a failure the caller may see: a code and a sentence a person
// understands. Cause is for the logs only.
type Error struct {
	Code    string
	Message string
	// Field names the request field an EINVALID error is about, if one is.
	Field string
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// On names the request field the error is about and returns e.
func (e *Error) On(field string) *Error {
	e.Field = field
	return e
}

// ErrorField returns the field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Wrap builds an *Error that keeps cause for the logs.
func Wrap(code string, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	if err == nil {
		return "" // before errors.As, whose target would be allocated
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-facing message of err. Errors that are not
// an *Error get a generic message so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}
