package hsmfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// apiError is a failure with Key Vault's error body. Unsupported marks
// requests the fake does not implement; they are logged loudly.
type apiError struct {
	Status      int
	Code        string
	Message     string
	Unsupported bool
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badParameter(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, args...)}
}

// unsupported is a request the fake refuses because it does not implement it.
func unsupported(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: "NotSupportedByFake", Message: "hsmfake: " + fmt.Sprintf(format, args...), Unsupported: true}
}

func keyNotFound(name, version string) *apiError {
	id := name
	if version != "" {
		id += "/" + version
	}
	return &apiError{Status: http.StatusNotFound, Code: "KeyNotFound",
		Message: fmt.Sprintf("A key with (name/id) %s was not found in this key vault.", id)}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}

// fail writes err as Key Vault's error body and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		s.log.Error("hsmfake: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "InternalServerError", "hsmfake: "+err.Error())
		return
	}
	switch {
	case e.Unsupported:
		s.log.Warn("hsmfake: unsupported request", "method", r.Method, "path", r.URL.Path, "status", e.Status, "reason", e.Message)
	default:
		s.log.Info("hsmfake: request refused", "method", r.Method, "path", r.URL.Path, "status", e.Status, "code", e.Code, "reason", e.Message)
	}
	writeError(w, e.Status, e.Code, e.Message)
}
