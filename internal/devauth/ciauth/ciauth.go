// Package ciauth stands in for the CI platforms' OIDC token services in
// local use and tests, next to the dev auth server: a GitHub-shaped issuer
// (discovery, JWKS and the ACTIONS_ID_TOKEN_REQUEST_URL endpoint) and a
// GitLab-shaped one (discovery, JWKS and id_tokens), with the claims the
// platforms put in their tokens. Like the dev auth server it is for local
// use only and is never deployed. Its keys are made at each start: platform
// tokens live minutes.
package ciauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultLifetime is how long platform tokens live, as GitHub's do.
const DefaultLifetime = 5 * time.Minute

// Server serves both stand-ins below one base URL: <base>/github and <base>/gitlab.
type Server struct {
	base     string
	lifetime time.Duration
	now      func() time.Time
	github   *issuer
	gitlab   *issuer

	mu   sync.Mutex
	jobs map[string]map[string]any // GitHub request token -> the job's claims
}

// issuer is one platform's signing key and issuer URL.
type issuer struct {
	url string
	key *rsa.PrivateKey
	kid string
}

// New makes the stand-ins for base, the dev auth server's URL. lifetime 0
// means DefaultLifetime; now nil means time.Now.
func New(base string, lifetime time.Duration, now func() time.Time) (*Server, error) {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{base: strings.TrimRight(base, "/"), lifetime: lifetime, now: now, jobs: map[string]map[string]any{}}
	var err error
	if s.github, err = newIssuer(GitHubIssuerAt(s.base)); err != nil {
		return nil, err
	}
	if s.gitlab, err = newIssuer(GitLabIssuerAt(s.base)); err != nil {
		return nil, err
	}
	return s, nil
}

func newIssuer(url string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("making the signing key of %s: %w", url, err)
	}
	sum := sha256.Sum256(key.PublicKey.N.Bytes())
	return &issuer{url: url, key: key, kid: hex.EncodeToString(sum[:8])}, nil
}

// GitHubIssuerAt and GitLabIssuerAt are the issuers of the stand-ins below base.
func GitHubIssuerAt(base string) string { return strings.TrimRight(base, "/") + "/github" }

// GitLabIssuerAt is the issuer of the GitLab stand-in below base.
func GitLabIssuerAt(base string) string { return strings.TrimRight(base, "/") + "/gitlab" }

// GitHubIssuer is the iss of GitHub-shaped tokens (GitHub's own is
// https://token.actions.githubusercontent.com).
func (s *Server) GitHubIssuer() string { return s.github.url }

// GitLabIssuer is the iss of GitLab-shaped tokens (GitLab's own is the
// instance URL, e.g. https://gitlab.com).
func (s *Server) GitLabIssuer() string { return s.gitlab.url }

// Handler serves discovery, JWKS and the token endpoints of both stand-ins;
// mount it on the paths /github/ and /gitlab/ of the base URL.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, is := range []*issuer{s.github, s.gitlab} {
		prefix := strings.TrimPrefix(is.url, s.base)
		jwks := prefix + "/.well-known/jwks"
		mux.HandleFunc("GET "+prefix+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{
				"issuer": is.url, "jwks_uri": s.base + jwks, "response_types_supported": []string{"id_token"},
				"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			})
		})
		mux.HandleFunc("GET "+jwks, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"keys": []any{is.jwk()}})
		})
	}
	mux.HandleFunc("GET /github/token", s.handleGitHubToken)
	mux.HandleFunc("POST /github/jobs", s.handleGitHubJob)
	mux.HandleFunc("POST /gitlab/jobs", s.handleGitLabJob)
	return mux
}

func (is *issuer) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": is.kid,
		"n": b64(is.key.PublicKey.N.Bytes()), "e": b64(big.NewInt(int64(is.key.PublicKey.E)).Bytes())}
}

// sign issues a token of is with claims for audience, valid for the lifetime.
func (s *Server) sign(is *issuer, claims map[string]any, audience string) (string, error) {
	now := s.now()
	c := jwt.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	c["iss"], c["aud"], c["jti"] = is.url, audience, hex.EncodeToString(jti)
	c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(s.lifetime).Unix()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = is.kid
	return tok.SignedString(is.key)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// orDefault is v, or d when v is empty.
func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
