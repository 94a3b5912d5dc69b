package devauth

import (
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const maxFormBytes = 64 << 10

// PersonScope is the scp of people's access tokens, as an Entra API's
// delegated permission would be.
const PersonScope = "access_as_user"

// TenantID is the tid of people's tokens.
const TenantID = "keyserver-local"

// handleToken serves both grants: client_credentials for the demo clients
// (HTTP Basic, as seed 001's curl sends it) and authorization_code with PKCE
// for the public client people sign in through.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		s.exchangeCode(w, r)
		return
	}
	s.clientCredentials(w, r)
}

func (s *Server) clientCredentials(w http.ResponseWriter, r *http.Request) {
	name, secret, ok := r.BasicAuth()
	if !ok || !s.clients.authenticate(name, secret) {
		s.log.Warn("client authentication failed", "client", clip(name), "basic", ok)
		w.Header().Set("WWW-Authenticate", `Basic realm="devauth"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing.")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Clients get tokens with client_credentials; people sign in with authorization_code.")
		return
	}
	token, exp, err := s.Token(name, s.cfg.Audience)
	if err != nil {
		s.log.Error("issuing token", "client", name, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	s.log.Info("token issued", "client", name, "audience", s.cfg.Audience, "expires", exp)
	writeTokens(w, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int64(s.cfg.TokenLifetime / time.Second),
	})
}

// exchangeCode redeems an authorization code (RFC 6749 4.1.3) for a person's
// access token and ID token, checking the PKCE verifier (RFC 7636 4.6).
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	if _, _, basic := r.BasicAuth(); basic {
		oauthError(w, http.StatusUnauthorized, "invalid_client", s.cfg.UIClientID+" is a public client: send client_id in the body and no credentials.")
		return
	}
	if f.Get("client_id") != s.cfg.UIClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Unknown client_id; people sign in through "+s.cfg.UIClientID+".")
		return
	}
	code, verifier := f.Get("code"), f.Get("code_verifier")
	if code == "" || verifier == "" || f.Get("redirect_uri") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "code, redirect_uri and code_verifier are required.")
		return
	}
	g, ok := s.codes.redeem(code, s.cfg.Now())
	switch {
	case g == nil:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The code is unknown or was already used.")
		return
	case !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The code has expired; sign in again.")
		return
	case g.clientID != f.Get("client_id") || g.redirectURI != f.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The code was issued to another client or redirect_uri.")
		return
	case !verifierMatches(verifier, g.codeChallenge):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The code_verifier does not match the code_challenge.")
		return
	}
	access, exp, err := s.PersonToken(g.person)
	if err != nil {
		s.log.Error("issuing a person's token", "person", g.person.Name, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	id, _, err := s.signWith(s.key, s.jwk.Kid, s.personClaims(g.person, jwt.MapClaims{"nonce": g.nonce}), g.clientID, s.cfg.PersonTokenLifetime)
	if err != nil {
		s.log.Error("issuing an ID token", "person", g.person.Name, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	s.log.Info("person token issued", "person", g.person.Name, "client", g.clientID, "expires", exp)
	writeTokens(w, map[string]any{
		"access_token": access,
		"id_token":     id,
		"token_type":   "Bearer",
		"expires_in":   int64(s.cfg.PersonTokenLifetime / time.Second),
		"scope":        g.scope,
	})
}

// PersonToken issues p's access token for the Keyserver, shaped like an Entra
// delegated token: scp present, azp the UI's client id, sub and oid p's id.
func (s *Server) PersonToken(p Person) (string, time.Time, error) {
	claims := s.personClaims(p, jwt.MapClaims{"scp": PersonScope, "azp": s.cfg.UIClientID, "idtyp": "user"})
	return s.signWith(s.key, s.jwk.Kid, claims, s.cfg.Audience, s.cfg.PersonTokenLifetime)
}

func (s *Server) personClaims(p Person, extra jwt.MapClaims) jwt.MapClaims {
	claims := jwt.MapClaims{"sub": p.ID(), "oid": p.ID(), "tid": TenantID, "name": p.Name, "preferred_username": p.Name}
	for k, v := range extra {
		if v != "" {
			claims[k] = v
		}
	}
	return claims
}

func writeTokens(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, body)
}
