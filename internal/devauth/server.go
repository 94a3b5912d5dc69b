// Package devauth is the dev auth server: an OAuth 2.0 client-credentials
// token endpoint with OIDC discovery and JWKS, and an emulation of the App
// Service managed identity endpoint. It is for local and demo use only and
// is never deployed.
package devauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
	// Audience is the "aud" of client-credentials tokens.
	Audience string
	// IdentityHeader is the secret of the managed identity endpoint
	// (IDENTITY_HEADER); empty disables the endpoint.
	IdentityHeader string
	// IdentityName is the subject of managed identity tokens; default
	// "keyserver-local-identity".
	IdentityName string
	// KeyFile keeps the signing key (PKCS#8 PEM) across restarts; it is
	// created when missing. Empty means a new key at every start.
	KeyFile string
	// Clients are the OAuth clients; nil means DemoClients().
	Clients []Client
	// TokenLifetime defaults to one hour.
	TokenLifetime time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// DefaultIdentityName is the subject of managed identity tokens unless configured.
const DefaultIdentityName = "keyserver-local-identity"

// Server issues tokens. It is safe for concurrent use.
type Server struct {
	cfg     Config
	base    string // issuer without a trailing slash
	prefix  string // path of the issuer URL, routes live below it
	key     *rsa.PrivateKey
	jwk     publicJWK
	clients *clientSet
	log     *slog.Logger
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
	if cfg.IdentityName == "" {
		cfg.IdentityName = DefaultIdentityName
	}
	if cfg.Clients == nil {
		cfg.Clients = DemoClients()
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	clients, err := newClientSet(cfg.Clients)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg:     cfg,
		base:    strings.TrimSuffix(cfg.Issuer, "/"),
		prefix:  strings.TrimSuffix(u.Path, "/"),
		key:     key,
		jwk:     newPublicJWK(&key.PublicKey),
		clients: clients,
		log:     cfg.Logger,
	}, nil
}

// Handler serves the token, discovery, JWKS and managed identity endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+s.prefix+"/oauth2/token", s.handleToken)
	mux.HandleFunc("GET "+s.prefix+"/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET "+s.prefix+"/jwks", s.handleJWKS)
	mux.HandleFunc("GET "+s.prefix+"/.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("GET "+s.prefix+"/msi/token", s.handleManagedIdentity)
	return s.logRequests(mux)
}

// IdentityEndpoint is the URL to set as IDENTITY_ENDPOINT.
func (s *Server) IdentityEndpoint() string { return s.base + "/msi/token" }

// TokenEndpoint is the client-credentials token URL.
func (s *Server) TokenEndpoint() string { return s.base + "/oauth2/token" }

// Token issues a token for subject and audience directly, as the token
// endpoint would; tests use it to act as any subject.
func (s *Server) Token(subject, audience string) (string, time.Time, error) {
	return s.sign(jwt.MapClaims{"sub": subject, "azp": subject}, audience)
}

func (s *Server) sign(claims jwt.MapClaims, audience string) (string, time.Time, error) {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.TokenLifetime)
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
	tok.Header["kid"] = s.jwk.Kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing token: %w", err)
	}
	return signed, exp, nil
}

const maxFormBytes = 64 << 10

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	name, secret, ok := r.BasicAuth()
	if !ok || !s.clients.authenticate(name, secret) {
		s.log.Warn("client authentication failed", "client", clip(name), "basic", ok)
		w.Header().Set("WWW-Authenticate", `Basic realm="devauth"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing.")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Only client_credentials is supported.")
		return
	}
	token, exp, err := s.Token(name, s.cfg.Audience)
	if err != nil {
		s.log.Error("issuing token", "client", name, "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "The token could not be issued.")
		return
	}
	s.log.Info("token issued", "client", name, "audience", s.cfg.Audience, "expires", exp)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   int64(s.cfg.TokenLifetime / time.Second),
	})
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"jwks_uri":                              s.base + "/jwks",
		"token_endpoint":                        s.TokenEndpoint(),
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"grant_types_supported":                 []string{"client_credentials"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
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
