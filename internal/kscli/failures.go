package kscli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"keyserver/internal/ksc"
)

// codeByStatus names the error code a status means when an answer has none.
var codeByStatus = map[int]string{
	http.StatusBadRequest: "invalid_request", http.StatusUnauthorized: "unauthenticated",
	http.StatusForbidden: "forbidden", http.StatusNotFound: "not_found", http.StatusConflict: "conflict",
	http.StatusGone: "expired", http.StatusRequestEntityTooLarge: "request_too_large",
	http.StatusTooManyRequests: "rate_limited", http.StatusServiceUnavailable: "unavailable",
}

// advice is the exit code and what to do for each API error code.
var advice = map[string]struct {
	code int
	todo string
}{
	"unauthenticated":   {ExitAuth, "give ks a fresh token (KSC_ID_TOKEN, KSC_ID_TOKEN_FILE or the CI platform's) for the audience the Keyserver trusts"},
	"forbidden":         {ExitDenied, "ask a Keyserver admin for the role"},
	"not_found":         {ExitDenied, "check the operation and key ids, and that this identity may see them"},
	"invalid_request":   {ExitUsage, "fix the request"},
	"request_too_large": {ExitUsage, "send less"},
	"not_approved":      {ExitRefused, "run ks wait until it is approved"},
	"usage_exhausted":   {ExitRefused, "open a new operation with enough uses"},
	"operation_closed":  {ExitRejected, "open a new operation"},
	"expired":           {ExitExpired, "open a new operation"},
	"conflict":          {ExitRefused, "see the message"},
	"rate_limited":      {ExitUnavailable, "retry later"},
	"unavailable":       {ExitUnavailable, "retry later"},
}

// explain turns a failed call into an exit code and a line that says what
// went wrong while doing what, and what to do.
func explain(err error, doing string) *exitError {
	var (
		ae *ksc.APIError
		te *ksc.TransportError
		tk *ksc.TokenError
		ee *exitError
	)
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.As(err, &tk):
		return failure(ExitAuth, "%s: %v", doing, tk.Err)
	case errors.As(err, &te) && te.Timeout:
		return failure(ExitUnavailable, "%s: the Keyserver did not answer in time; check KSC_API_SERVER or raise KSC_HTTP_CLIENT_TIMEOUT", doing)
	case errors.As(err, &te):
		return failure(ExitUnavailable, "%s: cannot reach the Keyserver (%v); check KSC_API_SERVER and the network", doing, te.Err)
	case errors.As(err, &ae):
		return explainAPI(ae, doing)
	}
	return failure(ExitError, "%s: %v", doing, err)
}

func explainAPI(ae *ksc.APIError, doing string) *exitError {
	code := ae.Code
	if _, known := advice[code]; !known {
		code = codeByStatus[ae.Status]
	}
	msg := strings.TrimRight(ae.Message, ".")
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d", ae.Status)
	}
	a, known := advice[code]
	if !known {
		return failure(ExitError, "%s: the Keyserver failed (HTTP %d: %s); retry, and report it with the time if it persists", doing, ae.Status, msg)
	}
	if code == "conflict" {
		return failure(a.code, "%s: %s", doing, msg)
	}
	return failure(a.code, "%s: %s; %s", doing, msg, a.todo)
}

// transient reports a failure worth retrying while waiting.
func transient(err error) bool {
	var (
		ae *ksc.APIError
		te *ksc.TransportError
	)
	if errors.As(err, &te) {
		return true
	}
	return errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status >= 500)
}
