package module

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Error is a failure with the Cryptoki code to return and the one line to
// print on stderr.
type Error struct {
	RV  RV
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func errorf(rv RV, format string, args ...any) *Error {
	return &Error{RV: rv, Msg: fmt.Sprintf(format, args...)}
}

// RVOf returns the Cryptoki code of err: its *Error code, else CKR_GENERAL_ERROR.
func RVOf(err error) RV {
	if err == nil {
		return CKR_OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.RV
	}
	return CKR_GENERAL_ERROR
}

// codeOfStatus names the error code an HTTP status means when the answer
// carries no code serverError knows.
var codeOfStatus = map[int]string{
	401: "unauthenticated",
	403: "forbidden",
	404: "not_found",
	410: "expired",
	429: "rate_limited",
	503: "unavailable",
}

// serverError maps a Keyserver error answer of signorders to a Cryptoki code
// and a line that says what to do. opID names the operation.
func serverError(status int, code, message, keyID, opID string) *Error {
	if message == "" {
		message = "no message"
	}
	switch code {
	case "unauthenticated":
		return errorf(CKR_USER_NOT_LOGGED_IN, "the Keyserver rejected the token (%s); set KSC_ID_TOKEN or KSC_ID_TOKEN_FILE to a fresh token", message)
	case "forbidden":
		return errorf(CKR_KEY_FUNCTION_NOT_PERMITTED, "not allowed to sign with key %s in operation %s (%s); ask an admin for the orderer role", keyID, opID, message)
	case "not_found":
		return errorf(CKR_KEY_HANDLE_INVALID, "key %s or operation %s not found (%s); check KSC_OPERATION_ID and the key label", keyID, opID, message)
	case "invalid_request":
		return errorf(CKR_DATA_INVALID, "the Keyserver refused the request (%s)", message)
	case "request_too_large":
		return errorf(CKR_DATA_LEN_RANGE, "the Keyserver refused the request as too large (%s)", message)
	case "not_approved":
		return errorf(CKR_FUNCTION_REJECTED, "operation %s is not approved yet (%s); wait for approval, then sign again", opID, message)
	case "usage_exhausted":
		return errorf(CKR_TOKEN_RESOURCE_EXCEEDED, "operation %s has used up its signatures with key %s (%s); create a new operation", opID, keyID, message)
	case "operation_closed":
		return errorf(CKR_ACTION_PROHIBITED, "operation %s is closed (%s); create a new operation", opID, message)
	case "expired":
		return errorf(CKR_PIN_EXPIRED, "operation %s has expired (%s); create a new operation", opID, message)
	case "rate_limited":
		return errorf(CKR_FUNCTION_CANCELED, "the Keyserver is rate limiting (%s); retry later", message)
	case "unavailable":
		return errorf(CKR_DEVICE_ERROR, "the Keyserver or its HSM is unavailable (%s); retry later", message)
	case "conflict":
		return errorf(CKR_FUNCTION_FAILED, "the Keyserver reported a conflict (%s); retry", message)
	}
	if known, ok := codeOfStatus[status]; ok {
		return serverError(status, known, message, keyID, opID)
	}
	return errorf(CKR_GENERAL_ERROR, "the Keyserver answered HTTP %d %s (%s)", status, code, message)
}

// transportError maps a failed HTTP exchange (no answer) to CKR_DEVICE_REMOVED.
func transportError(err error, what string) *Error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errorf(CKR_DEVICE_REMOVED, "%s: the Keyserver did not answer in time; check KSC_API_SERVER or raise KSC_HTTP_CLIENT_TIMEOUT", what)
	}
	return errorf(CKR_DEVICE_REMOVED, "%s: cannot reach the Keyserver: %v; check KSC_API_SERVER and the network", what, err)
}
