package kscli

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"keyserver/internal/ciplatform"
	"keyserver/internal/ksc"
)

// session is what commands that talk to the Keyserver share.
type session struct {
	env    *Env
	server *url.URL
	http   *http.Client
	tokens *tokenChain
	client *ksc.Client
}

// newSession reads the KSC_* environment. With needServer false a missing
// KSC_API_SERVER is not an error (ks token).
func newSession(env *Env, audience string, needServer bool) (*session, error) {
	s := &session{env: env}
	timeout, err := ksc.TimeoutFromEnv(env.Getenv)
	if err != nil {
		return nil, fail(ExitUsage, "%v", err)
	}
	s.http = env.HTTP
	if s.http == nil {
		s.http = ksc.NewHTTPClient(timeout)
	}
	if strings.TrimSpace(env.Getenv("KSC_API_SERVER")) != "" || needServer {
		if s.server, err = ksc.APIServerFromEnv(env.Getenv); err != nil {
			return nil, fail(ExitUsage, "%v", err)
		}
	}
	if audience == "" {
		audience = strings.TrimSpace(env.Getenv("KSC_AUDIENCE"))
	}
	if audience == "" && s.server != nil {
		audience = s.server.String()
	}
	s.tokens = &tokenChain{
		env:      ksc.TokenFromEnv(env.Getenv, env.Now),
		platform: ciplatform.Detect(env.Getenv, s.http),
		audience: audience,
		now:      env.now,
	}
	if s.server != nil {
		s.client = &ksc.Client{Base: s.server, Tokens: s.tokens, HTTP: s.http, UserAgent: "ks"}
	}
	return s, nil
}

// expirySkew renews a token this long before its exp claim.
const expirySkew = 30 * time.Second

// tokenChain hands out KSC_ID_TOKEN_FILE or KSC_ID_TOKEN while it is valid,
// and otherwise a token from the CI platform, renewed before it expires, so
// that long waits outlive the platform's short-lived tokens.
type tokenChain struct {
	env      *ksc.TokenSource // nil when neither variable is set
	platform ciplatform.Platform
	audience string
	now      func() time.Time

	mu     sync.Mutex
	cached string
}

var errNoToken = errors.New("no token: set KSC_ID_TOKEN or KSC_ID_TOKEN_FILE, or run ks in a GitHub Actions, GitLab CI or Azure Pipelines job that can get an OIDC token")

func (t *tokenChain) fresh(tok string) bool {
	exp := ksc.JWTExpiry(tok)
	return exp.IsZero() || t.now().Add(expirySkew).Before(exp)
}

// Token implements ksc.Tokens.
func (t *tokenChain) Token(ctx context.Context, renew bool) (string, error) {
	if t.env != nil {
		tok, err := t.env.Token()
		switch {
		case err != nil && t.platform == nil:
			return "", err
		case err == nil && (t.platform == nil || (!renew && t.fresh(tok))):
			return tok, nil
		}
	}
	if t.platform == nil {
		return "", errNoToken
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !renew && t.cached != "" && t.fresh(t.cached) {
		return t.cached, nil
	}
	if t.audience == "" {
		return "", errors.New("no audience to ask " + t.platform.Name() + " a token for: set KSC_AUDIENCE (or KSC_API_SERVER, its default)")
	}
	tok, err := t.platform.Token(ctx, t.audience)
	if err != nil {
		return "", err
	}
	t.cached = tok
	return tok, nil
}
