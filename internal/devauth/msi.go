package devauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// appServiceAPIVersion is the managed identity API version that
// azidentity (through MSAL's managedidentity package) sends.
const appServiceAPIVersion = "2019-08-01"

// startManagedIdentity makes the endpoint's secret header value and signing
// key, both new at every start.
func (s *Server) startManagedIdentity() error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("making the identity header: %w", err)
	}
	s.identityHeader = base64.RawURLEncoding.EncodeToString(b[:])
	key, err := generateKey()
	if err != nil {
		return err
	}
	s.msiKey, s.msiJWK = key, newPublicJWK(&key.PublicKey)
	return nil
}

// handleManagedIdentity emulates the App Service managed identity endpoint:
// GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=<r>[&client_id=<id>]
// with header X-IDENTITY-HEADER: IDENTITY_HEADER. It never issues tokens for
// the Keyserver's audience or the UI client: the handler's own identity is
// for the HSM, not for calling the Keyserver.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	if s.identityHeader == "" {
		http.NotFound(w, r)
		return
	}
	got := r.Header.Get("X-IDENTITY-HEADER")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.identityHeader)) != 1 {
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
	if s.forbiddenResource(resource) {
		s.log.Warn("managed identity token refused for the Keyserver's own audience", "resource", clip(resource))
		oauthError(w, http.StatusBadRequest, "invalid_resource", "The managed identity gets no tokens for the Keyserver or its UI.")
		return
	}
	// A user-assigned identity is asked for by client_id; any id is granted.
	id := q.Get("client_id")
	if id == "" {
		id = s.cfg.IdentityName
	}
	claims := jwt.MapClaims{"sub": id, "oid": id, "appid": id, "azp": id, "idtyp": "app"}
	token, exp, err := s.signWith(s.msiKey, s.msiJWK.Kid, claims, resource, s.cfg.TokenLifetime)
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

// forbiddenResource reports whether resource names the Keyserver's audience
// or the UI client, in any of the spellings a scope or resource may take.
func (s *Server) forbiddenResource(resource string) bool {
	norm := func(v string) string {
		v = strings.TrimSuffix(strings.TrimSpace(v), "/.default")
		return strings.ToLower(strings.TrimRight(v, "/"))
	}
	got := norm(resource)
	return got == norm(s.cfg.Audience) || got == norm(s.cfg.UIClientID)
}

// handleManagedIdentityJWKS publishes the managed identity tokens' key, apart
// from the JWKS the Keyserver trusts.
func (s *Server) handleManagedIdentityJWKS(w http.ResponseWriter, r *http.Request) {
	if s.identityHeader == "" {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []publicJWK{s.msiJWK}})
}

// WriteSecretFile writes value to path, readable by its owner only, replacing
// what was there: for IDENTITY_HEADER, which is new at each start.
func WriteSecretFile(path, value string) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := os.WriteFile(tmp, []byte(value+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
