package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"keyserver/internal/keyserver"
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

type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestid,omitempty"`
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
	writeJSON(w, status, errorBody{Error: code, Message: keyserver.ErrorMessage(err), Field: keyserver.ErrorField(err), RequestID: requestID})
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

// decode reads a JSON body strictly: at most MaxBodyBytes, no unknown fields,
// nothing after the value. An empty body is allowed only when optional.
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return keyserver.Errorf(keyserver.EINVALID, "The request body is not valid JSON for this route: %s.", jsonProblem(err))
	}
	if dec.More() {
		return keyserver.Errorf(keyserver.EINVALID, "The request body has data after its JSON value.")
	}
	return nil
}

func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "field " + typeErr.Field + " must be " + typeErr.Type.String()
	}
	return err.Error()
}
