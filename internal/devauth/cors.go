package devauth

import (
	"fmt"
	"net/http"
	"net/url"
)

// redirectOrigins checks the UI client's redirect URIs and returns their
// origins, which may call the token, discovery and JWKS endpoints from a browser.
func redirectOrigins(uris []string) (map[string]bool, error) {
	origins := make(map[string]bool, len(uris))
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("redirect URI %q must be an absolute http(s) URL without user or fragment", raw)
		}
		origins[u.Scheme+"://"+u.Host] = true
	}
	return origins, nil
}

// cors lets the UI's origins read the answers of h.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.allowOrigin(w, r)
		h(w, r)
	}
}

// allowOrigin reports whether the request's Origin is one of the UI's, and
// then says so in the answer's headers.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !s.origins[origin] {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}

// preflight answers a CORS preflight request from the UI's origins.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if !s.allowOrigin(w, r) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
