package hsmfake

import (
	"net/http"
	"strings"
)

// Operations, as fault injection names them.
const (
	opList   = "list"
	opGet    = "get"
	opCreate = "create"
	opSign   = "sign"
	opVerify = "verify"
	opRotate = "rotate"
)

// route is a recognised request: its operation and what serves it.
type route struct {
	op  string
	run func(w http.ResponseWriter, r *http.Request) error
}

// serve routes, then authenticates, then applies injected faults.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fault" {
		s.serveFault(w, r)
		return
	}
	rt, err := s.route(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !hasBearer(r) {
		w.Header().Set("WWW-Authenticate", s.challenge())
		writeError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	}
	if f, ok := s.faults.take(rt.op); ok && s.applyFault(w, r, rt.op, f) {
		return
	}
	if err := rt.run(w, r); err != nil {
		s.fail(w, r, err)
	}
}

// challenge is the WWW-Authenticate value Key Vault sends with a 401. The
// azcore challenge policy reads "authorization" (the tenant) and "resource".
func (s *Server) challenge() string {
	return `Bearer authorization="https://login.microsoftonline.com/` + TenantID + `", resource="` + s.resource + `"`
}

// hasBearer accepts any non-empty bearer token: the fake does not validate tokens.
func hasBearer(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != ""
}

// route maps the path to a handler. Paths are matched by segment because an
// empty version means "latest", sent as "/keys/k/", "/keys/k//sign" or, by
// azkeys (which joins the empty segment away), "/keys/k/sign".
func (s *Server) route(r *http.Request) (route, error) {
	segs := strings.Split(strings.TrimLeft(r.URL.Path, "/"), "/")
	if segs[0] != "keys" {
		return route{}, unsupported(http.StatusNotFound, "%s %s is not implemented; only the keys API is.", r.Method, r.URL.Path)
	}
	method := func(want string, rt route) (route, error) {
		if r.Method != want {
			return route{}, unsupported(http.StatusMethodNotAllowed, "%s %s is not implemented; use %s.", r.Method, r.URL.Path, want)
		}
		return rt, nil
	}
	if len(segs) == 1 || (len(segs) == 2 && segs[1] == "") {
		return method(http.MethodGet, route{opList, s.handleList})
	}
	name := segs[1]
	switch {
	case len(segs) == 2:
		return method(http.MethodGet, route{opGet, s.getHandler(name, "")})
	case len(segs) == 3 && segs[2] == "create":
		return method(http.MethodPost, route{opCreate, s.createHandler(name)})
	case len(segs) == 3 && segs[2] == "sign":
		return method(http.MethodPost, route{opSign, s.signHandler(name, "")})
	case len(segs) == 3 && segs[2] == "rotate":
		return method(http.MethodPost, route{opRotate, s.rotateHandler(name)})
	case len(segs) == 3 && segs[2] == "verify":
		return method(http.MethodPost, route{opVerify, s.verifyHandler(name, "")})
	case len(segs) == 3 && isVersion(segs[2]):
		return method(http.MethodGet, route{opGet, s.getHandler(name, segs[2])})
	case len(segs) == 4 && isVersion(segs[2]) && segs[3] == "sign":
		return method(http.MethodPost, route{opSign, s.signHandler(name, segs[2])})
	case len(segs) == 4 && isVersion(segs[2]) && segs[3] == "verify":
		return method(http.MethodPost, route{opVerify, s.verifyHandler(name, segs[2])})
	}
	return route{}, unsupported(http.StatusNotFound, "%s %s is not implemented; the fake serves list, get, create, rotate, sign and verify (versions are 32 hex digits).", r.Method, r.URL.Path)
}

// isVersion accepts a 32-hex-digit version or "" (the latest).
func isVersion(v string) bool { return v == "" || versionPattern.MatchString(v) }

// kidOf is the key's id under baseURL: https://host/keys/name/version.
func kidOf(baseURL string, k *keyVersion) string {
	return strings.TrimRight(baseURL, "/") + "/keys/" + k.name + "/" + k.version
}

// baseURL is the vault URL the request was sent to.
func baseURL(r *http.Request) string { return "https://" + r.Host }
