// Package devauth is the dev auth server: OAuth 2.0 client-credentials tokens
// for the demo clients, OIDC sign-in (authorization code with PKCE) for the
// demo people through one public client, discovery and JWKS, and an emulation
// of the App Service managed identity endpoint. It is for local and demo use
// only and is never deployed.
package devauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Config configures a Server.
type Config struct {
	// Issuer is the URL the server is reached at and the "iss" of its tokens.
	Issuer string
	// Audience is the "aud" of access tokens: the Keyserver's.
	Audience string
	// ManagedIdentity turns on the managed identity endpoint, with a secret
	// header value made afresh at each start (see Server.IdentityHeader).
	ManagedIdentity bool
	// IdentityName is the subject of managed identity tokens; default
	// "keyserver-local-identity".
	IdentityName string
	// KeyFile keeps the signing key (PKCS#8 PEM) across restarts; it is
	// created when missing. Empty means a new key at every start.
	KeyFile string
	// Clients are the OAuth clients; nil means DemoClients().
	Clients []Client
	// People sign in through the UI client; nil means DemoPeople().
	People []Person
	// UIClientID is the public client people sign in through; default
	// "keyserver-ui".
	UIClientID string
	// RedirectURIs are the UI client's redirect URIs, matched exactly; none
	// turns sign-in off. Their origins may call the token, discovery and JWKS
	// endpoints from a browser (CORS).
	RedirectURIs []string
	// TokenLifetime is the lifetime of client tokens; default one hour.
	TokenLifetime time.Duration
	// PersonTokenLifetime is the lifetime of people's tokens; default one hour.
	PersonTokenLifetime time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// DefaultIdentityName is the subject of managed identity tokens unless configured.
const DefaultIdentityName = "keyserver-local-identity"

// DefaultUIClientID is the client id of the web UI.
const DefaultUIClientID = "keyserver-ui"

// Server issues tokens. It is safe for concurrent use.
type Server struct {
	cfg     Config
	base    string // issuer without a trailing slash
	prefix  string // path of the issuer URL, routes live below it
	key     *rsa.PrivateKey
	jwk     publicJWK
	clients *secretSet
	people  *personSet
	codes   codeStore
	origins map[string]bool // allowed CORS origins
	log     *slog.Logger

	// The managed identity endpoint signs with a key of its own, so that its
	// tokens never pass as the tokens the Keyserver trusts.
	identityHeader string
	msiKey         *rsa.PrivateKey
	msiJWK         publicJWK
}

// New builds a Server, loading or creating its signing key.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, fmt.Errorf("audience is empty")
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, base: strings.TrimSuffix(cfg.Issuer, "/"), prefix: strings.TrimSuffix(u.Path, "/"), log: cfg.Logger}
	if s.clients, err = newClientSet(cfg.Clients); err != nil {
		return nil, err
	}
	if s.people, err = newPersonSet(cfg.People); err != nil {
		return nil, err
	}
	if s.origins, err = redirectOrigins(cfg.RedirectURIs); err != nil {
		return nil, err
	}
	if s.key, err = loadOrCreateKey(cfg.KeyFile); err != nil {
		return nil, err
	}
	s.jwk = newPublicJWK(&s.key.PublicKey)
	if cfg.ManagedIdentity {
		if err := s.startManagedIdentity(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (cfg *Config) setDefaults() {
	if cfg.IdentityName == "" {
		cfg.IdentityName = DefaultIdentityName
	}
	if cfg.Clients == nil {
		cfg.Clients = DemoClients()
	}
	if cfg.People == nil {
		cfg.People = DemoPeople()
	}
	if cfg.UIClientID == "" {
		cfg.UIClientID = DefaultUIClientID
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.PersonTokenLifetime <= 0 {
		cfg.PersonTokenLifetime = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
}

// Handler serves the token, sign-in, discovery, JWKS and managed identity endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	p := s.prefix
	mux.HandleFunc("POST "+p+"/oauth2/token", s.cors(s.handleToken))
	mux.HandleFunc("GET "+p+"/.well-known/openid-configuration", s.cors(s.handleDiscovery))
	mux.HandleFunc("GET "+p+"/jwks", s.cors(s.handleJWKS))
	mux.HandleFunc("GET "+p+"/.well-known/jwks.json", s.cors(s.handleJWKS))
	for _, path := range []string{"/oauth2/token", "/.well-known/openid-configuration", "/jwks", "/.well-known/jwks.json"} {
		mux.HandleFunc("OPTIONS "+p+path, s.preflight)
	}
	mux.HandleFunc("GET "+p+"/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+p+"/authorize", s.handleSignIn)
	mux.HandleFunc("GET "+p+"/logout", s.handleLogout)
	mux.HandleFunc("GET "+p+"/msi/token", s.handleManagedIdentity)
	mux.HandleFunc("GET "+p+"/msi/jwks", s.handleManagedIdentityJWKS)
	return s.logRequests(mux)
}

// IdentityEndpoint is the URL to set as IDENTITY_ENDPOINT.
func (s *Server) IdentityEndpoint() string { return s.base + "/msi/token" }

// IdentityHeader is the value to set as IDENTITY_HEADER: made at random when
// the server starts; empty when the managed identity endpoint is off.
func (s *Server) IdentityHeader() string { return s.identityHeader }

// TokenEndpoint is the token URL.
func (s *Server) TokenEndpoint() string { return s.base + "/oauth2/token" }

// AuthorizationEndpoint is the URL of the sign-in page.
func (s *Server) AuthorizationEndpoint() string { return s.base + "/authorize" }

// Token issues a client's token for subject and audience directly, as the
// token endpoint would; tests use it to act as any client. It is shaped like
// an Entra app-only token: no scp, idtyp app, azp and appid the client id.
func (s *Server) Token(subject, audience string) (string, time.Time, error) {
	claims := jwt.MapClaims{"sub": subject, "azp": subject, "appid": subject, "idtyp": "app"}
	return s.signWith(s.key, s.jwk.Kid, claims, audience, s.cfg.TokenLifetime)
}

// SignClaims issues a token with any claims for audience, signed as the
// issuer's own tokens are; iss, aud, iat, nbf, exp and jti are set. Tests use
// it to shape tokens as Entra ID does for people and apps.
func (s *Server) SignClaims(claims map[string]any, audience string) (string, error) {
	token, _, err := s.signWith(s.key, s.jwk.Kid, jwt.MapClaims(maps.Clone(claims)), audience, s.cfg.TokenLifetime)
	return token, err
}

func (s *Server) signWith(key *rsa.PrivateKey, kid string, claims jwt.MapClaims, audience string, lifetime time.Duration) (string, time.Time, error) {
	now := s.cfg.Now()
	exp := now.Add(lifetime)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("making token id: %w", err)
	}
	claims["iss"] = s.cfg.Issuer
	claims["aud"] = audience
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = exp.Unix()
	claims["jti"] = hex.EncodeToString(jti[:])
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing token: %w", err)
	}
	return signed, exp, nil
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"jwks_uri":                              s.base + "/jwks",
		"authorization_endpoint":                s.AuthorizationEndpoint(),
		"token_endpoint":                        s.TokenEndpoint(),
		"end_session_endpoint":                  s.base + "/logout",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "none"},
		"grant_types_supported":                 []string{"client_credentials", "authorization_code"},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile"},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      []string{"sub", "oid", "tid", "name", "preferred_username", "nonce"},
	})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []publicJWK{s.jwk}})
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// logRequests logs method, path and status of every request; never headers,
// query strings or bodies, which carry secrets and tokens.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// clip shortens a caller-supplied value before it is logged.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
