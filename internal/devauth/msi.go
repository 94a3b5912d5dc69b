package devauth

import (
	"crypto/subtle"
	"net/http"
	"strconv"

	"github.com/golang-jwt/jwt/v5"
)

// appServiceAPIVersion is the managed identity API version that
// azidentity (through MSAL's managedidentity package) sends.
const appServiceAPIVersion = "2019-08-01"

// handleManagedIdentity emulates the App Service managed identity endpoint:
// GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=<r>[&client_id=<id>]
// with header X-IDENTITY-HEADER: IDENTITY_HEADER.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	if s.cfg.IdentityHeader == "" {
		http.NotFound(w, r)
		return
	}
	got := r.Header.Get("X-IDENTITY-HEADER")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.IdentityHeader)) != 1 {
		s.log.Warn("managed identity request with a wrong X-IDENTITY-HEADER")
		oauthError(w, http.StatusUnauthorized, "invalid_request", "X-IDENTITY-HEADER is missing or wrong.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != appServiceAPIVersion {
		oauthError(w, http.StatusBadRequest, "invalid_request", "api-version must be "+appServiceAPIVersion+".")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "resource is missing.")
		return
	}
	// A user-assigned identity is asked for by client_id; any id is granted.
	id := q.Get("client_id")
	if id == "" {
		id = s.cfg.IdentityName
	}
	claims := jwt.MapClaims{"sub": id, "oid": id, "appid": id, "azp": id, "idtyp": "app"}
	token, exp, err := s.sign(claims, resource)
	if err != nil {
		s.log.Error("issuing managed identity token", "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	s.log.Info("managed identity token issued", "identity", clip(id), "resource", clip(resource), "expires", exp)
	w.Header().Set("Cache-Control", "no-store")
	// expires_on is a string of Unix seconds, as App Service sends it.
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": token,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    id,
	})
}
