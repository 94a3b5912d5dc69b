// Package api serves the Keyserver's HTTP routes: authentication, JSON
// decoding, and the one place where domain errors become HTTP statuses.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/webui"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// Server holds what the routes need.
type Server struct {
	Service  *keyserver.Service
	Verifier keyserver.TokenVerifier
	// Health names the dependencies checked by GET /api/health.
	Health map[string]keyserver.HealthChecker
	// HealthTimeout bounds each dependency check; zero means DefaultHealthTimeout.
	HealthTimeout time.Duration
	Log           *slog.Logger
	// UI is the web UI; nil serves none.
	UI *webui.UI

	healthCache healthCache
	tokens      tokenCache
}

// Route is one method and path pattern the server answers.
type Route struct {
	Method  string
	Pattern string
	Public  bool
}

type authedFunc func(w http.ResponseWriter, r *http.Request, c keyserver.Caller) error

// identFunc serves a verified identity, whether or not it holds a role.
type identFunc func(w http.ResponseWriter, r *http.Request, id keyserver.Identity) error

type route struct {
	Route
	h     func(w http.ResponseWriter, r *http.Request) error
	auth  authedFunc
	ident identFunc
}

func (s *Server) routes() []route {
	return []route{
		{Route: Route{"GET", "/api/health", true}, h: s.health},
		{Route: Route{"GET", "/api/me", false}, ident: s.me},
		{Route: Route{"GET", "/api/ui/config", true}, h: s.uiConfig},
		{Route: Route{"GET", "/{path...}", true}, h: s.ui},
		{Route: Route{"POST", "/api/operations", false}, auth: s.createOperation},
		{Route: Route{"GET", "/api/operations", false}, auth: s.listOperations},
		{Route: Route{"GET", "/api/operations/{id}", false}, auth: s.getOperation},
		{Route: Route{"POST", "/api/operations/{id}/approve", false}, auth: s.approve},
		{Route: Route{"POST", "/api/operations/{id}/reject", false}, auth: s.reject},
		{Route: Route{"POST", "/api/operations/{id}/cancel", false}, auth: s.cancel},
		{Route: Route{"GET", "/api/operations/{id}/audit", false}, auth: s.operationEvents},
		{Route: Route{"GET", "/api/keys", false}, auth: s.listKeys},
		{Route: Route{"GET", "/api/keys/{keyid}", false}, auth: s.getKey},
		{Route: Route{"POST", "/api/signorders", false}, auth: s.signOrder},
		{Route: Route{"GET", "/api/admin/subjects", false}, auth: s.getSubjects},
		{Route: Route{"GET", "/api/admin/subjects/{id}", false}, auth: s.getSubject},
		{Route: Route{"PUT", "/api/admin/subjects/{id}", false}, auth: s.putSubject},
		{Route: Route{"DELETE", "/api/admin/subjects/{id}", false}, auth: s.deleteSubject},
		{Route: Route{"PUT", "/api/admin/subjects", false}, auth: s.putSubject},
		{Route: Route{"DELETE", "/api/admin/subjects", false}, auth: s.deleteSubject},
		{Route: Route{"GET", "/api/admin/policies", false}, auth: s.getPolicies},
		{Route: Route{"GET", "/api/admin/policies/{id}", false}, auth: s.getPolicy},
		{Route: Route{"PUT", "/api/admin/policies/{id}", false}, auth: s.putPolicy},
		{Route: Route{"PUT", "/api/admin/policies", false}, auth: s.putPolicy},
		{Route: Route{"DELETE", "/api/admin/policies/{id}", false}, auth: s.deletePolicy},
		{Route: Route{"DELETE", "/api/admin/policies", false}, auth: s.deletePolicy},
		{Route: Route{"GET", "/api/admin/keys", false}, auth: s.listAdminKeys},
		{Route: Route{"GET", "/api/admin/keys/{keyid}", false}, auth: s.getAdminKey},
		{Route: Route{"PUT", "/api/admin/keys/{keyid}", false}, auth: s.putKey},
		{Route: Route{"DELETE", "/api/admin/keys/{keyid}", false}, auth: s.deleteKey},
		{Route: Route{"GET", "/api/audit", false}, auth: s.listAudit},
		{Route: Route{"GET", "/api/audit/key", false}, auth: s.auditKey},
		{Route: Route{"GET", "/api/audit/checkpoints/{n}", false}, auth: s.auditCheckpoint},
		{Route: Route{"GET", "/api/audit/inclusion", false}, auth: s.auditInclusion},
		{Route: Route{"GET", "/api/audit/consistency", false}, auth: s.auditConsistency},
	}
}

// Routes lists what Handler serves, for checking the function.json files.
func (s *Server) Routes() []Route {
	var out []Route
	for _, rt := range s.routes() {
		out = append(out, rt.Route)
	}
	return out
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := rt.h
		switch {
		case rt.auth != nil:
			h = s.authenticated(rt.auth)
		case rt.ident != nil:
			h = s.identified(rt.ident)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(h))
	}
	mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return keyserver.Errorf(keyserver.ENOTFOUND, "No route for %s %s.", r.Method, r.URL.Path)
	}))
	return mux
}

type ctxKey int

const requestIDKey ctxKey = 0

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	attrs  []any // the handler's own attributes of the request's log line
}

// logAttrs adds attributes to the log line of the request w answers.
func logAttrs(w http.ResponseWriter, attrs ...any) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.attrs = append(rec.attrs, attrs...)
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// wrap turns a handler's error into the JSON error body and writes one log line per request.
func (s *Server) wrap(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		err := h(rec, r)
		attrs := make([]any, 0, 14+len(rec.attrs)) // room for every attribute below
		attrs = append(attrs, "request_id", id, "method", r.Method, "path", r.URL.Path)
		if err != nil {
			status := writeError(rec, err, id)
			attrs = append(attrs, "status", status, "error", keyserver.ErrorCode(err))
			if status >= 500 {
				attrs = append(attrs, "cause", err.Error())
			}
		} else {
			attrs = append(attrs, "status", rec.status)
		}
		attrs = append(attrs, rec.attrs...)
		attrs = append(attrs, "duration_ms", millis(time.Since(start)))
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.log().Log(r.Context(), level, "request", attrs...)
	})
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// identified validates the bearer token and serves the identity it names.
func (s *Server) identified(h identFunc) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return keyserver.Errorf(keyserver.EUNAUTHENTICATED, "This route needs an Authorization: Bearer <token> header.")
		}
		id, err := s.tokens.verify(r.Context(), s.Verifier, strings.TrimSpace(token), time.Now())
		if err != nil {
			if keyserver.ErrorCode(err) == keyserver.EINTERNAL {
				return keyserver.Wrap(keyserver.EUNAUTHENTICATED, err, "The bearer token is not valid.")
			}
			return err
		}
		return h(w, r, id)
	}
}

// authenticated validates the bearer token and resolves the caller's roles.
func (s *Server) authenticated(h authedFunc) func(w http.ResponseWriter, r *http.Request) error {
	return s.identified(func(w http.ResponseWriter, r *http.Request, id keyserver.Identity) error {
		c, err := s.Service.Caller(r.Context(), id)
		if err != nil {
			return err
		}
		return h(w, r, c)
	})
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
