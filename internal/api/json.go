package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"keyserver/internal/keyserver"
	"keyserver/internal/strictjson"
)

var statusByCode = map[string]int{
	keyserver.EINVALID:         http.StatusBadRequest,
	keyserver.EUNAUTHENTICATED: http.StatusUnauthorized,
	keyserver.EFORBIDDEN:       http.StatusForbidden,
	keyserver.ENOTFOUND:        http.StatusNotFound,
	keyserver.ECONFLICT:        http.StatusConflict,
	keyserver.ENOTAPPROVED:     http.StatusConflict,
	keyserver.EEXHAUSTED:       http.StatusConflict,
	keyserver.ECLOSED:          http.StatusConflict,
	keyserver.EEXPIRED:         http.StatusGone,
	keyserver.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	keyserver.ERATELIMITED:     http.StatusTooManyRequests,
	keyserver.EUNAVAILABLE:     http.StatusServiceUnavailable,
	keyserver.EINTERNAL:        http.StatusInternalServerError,
}

// StatusOf maps a domain error code to its HTTP status.
func StatusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error, requestID string) int {
	code := keyserver.ErrorCode(err)
	status := StatusOf(code)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, Error{Error: code, Message: keyserver.ErrorMessage(err), Field: keyserver.ErrorField(err), RequestID: requestID})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"internal","message":"An internal error occurred."}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decode reads a JSON body strictly (see strictjson): at most MaxBodyBytes,
// one value, no unknown, repeated or case-variant member names. An empty body
// is allowed only when optional.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return keyserver.Errorf(keyserver.ETOOLARGE, "The request body exceeds %d bytes.", MaxBodyBytes)
	}
	if err != nil {
		return keyserver.Wrap(keyserver.EINVALID, err, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return keyserver.Errorf(keyserver.EINVALID, "The request needs a JSON body.")
	}
	if err := strictjson.Unmarshal(body, v); err != nil {
		return keyserver.Errorf(keyserver.EINVALID, "The request body is not valid JSON for this route: %s.", err)
	}
	return nil
}
