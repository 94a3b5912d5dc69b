package api

import (
	"net/http"
	"strings"

	"keyserver/internal/keyserver"
)

func (s *Server) uiConfig(w http.ResponseWriter, r *http.Request) error {
	if s.UI == nil || !s.UI.Config().Enabled() {
		return keyserver.Errorf(keyserver.ENOTFOUND, "Sign-in to the web UI is not configured: set KEYSERVER_UI_ISSUER and KEYSERVER_UI_CLIENT_ID.")
	}
	cfg := s.UI.Config()
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, UIConfig{Issuer: cfg.Issuer, ClientID: cfg.ClientID, Scope: cfg.Scope})
	return nil
}

// ui serves the web UI's pages and assets; every path outside /api/ is the UI's.
func (s *Server) ui(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		return keyserver.Errorf(keyserver.ENOTFOUND, "No route for %s %s.", r.Method, r.URL.Path)
	}
	if s.UI == nil {
		return keyserver.Errorf(keyserver.ENOTFOUND, "The web UI is not served here.")
	}
	if !s.UI.Serve(w, r) {
		return keyserver.Errorf(keyserver.ENOTFOUND, "No file %s.", r.URL.Path)
	}
	return nil
}
