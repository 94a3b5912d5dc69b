package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
)

const (
	leeway        = 60 * time.Second
	maxTokenBytes = 16 << 10
)

var validMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// Verifier checks bearer tokens against the configured issuers. It is safe
// for concurrent use.
type Verifier struct {
	issuers map[string]*trustedIssuer
	now     func() time.Time
}

type trustedIssuer struct {
	cfg       Issuer
	principal string // the issuer principals are registered under (SameAs, or Issuer)
	tenant    string // the Entra ID tenant, when the issuer is Entra's
	parser    *jwt.Parser
	keys      *keyCache
}

var (
	_ keyserver.TokenVerifier = (*Verifier)(nil)
	_ keyserver.HealthChecker = (*Verifier)(nil)
)

// maxSubjectLength bounds the subject claim, which becomes part of table keys.
const maxSubjectLength = 256

// NewVerifier builds a verifier for issuers, checking them as ParseIssuers does.
func NewVerifier(issuers []Issuer, o Options) (*Verifier, error) {
	issuers = slices.Clone(issuers)
	if err := CheckIssuers(issuers, o); err != nil {
		return nil, err
	}
	if o.MaxKeyAge <= 0 {
		o.MaxKeyAge = DefaultMaxKeyAge
	}
	client := fetchClient(o)
	v := &Verifier{issuers: make(map[string]*trustedIssuer, len(issuers)), now: time.Now}
	now := func() time.Time { return v.now() }
	for _, cfg := range issuers {
		tenant, _ := entraTenant(cfg.Issuer)
		v.issuers[cfg.Issuer] = &trustedIssuer{
			cfg:       cfg,
			principal: cfg.canonical(),
			tenant:    tenant,
			parser: jwt.NewParser(
				jwt.WithValidMethods(validMethods),
				jwt.WithIssuer(cfg.Issuer),
				jwt.WithAudience(cfg.Audience),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithLeeway(leeway),
				jwt.WithTimeFunc(now),
			),
			keys: &keyCache{issuer: cfg, client: client, now: now, maxAge: o.MaxKeyAge, allowLoopbackHTTP: o.AllowLoopbackHTTP},
		}
	}
	return v, nil
}

// Verify checks the token's signature, issuer, audience and validity period
// and returns the identity of its bearer: a person or an app, named by the
// issuer's claim for that kind. Every failure is an EUNAUTHENTICATED
// *keyserver.Error.
func (v *Verifier) Verify(ctx context.Context, token string) (keyserver.Identity, error) {
	if len(token) > maxTokenBytes {
		return keyserver.Identity{}, unauthenticated(nil, "The bearer token is too large.")
	}
	var peek jwt.MapClaims
	unverified, _, err := jwt.NewParser().ParseUnverified(token, &peek)
	var alg string
	if unverified != nil {
		alg, _ = unverified.Header["alg"].(string)
	}
	if alg != "" && !slices.Contains(validMethods, alg) {
		return keyserver.Identity{}, unauthenticated(nil, "The token's signing algorithm %q is not accepted; use RS*, PS* or ES*.", clip(alg))
	}
	if err != nil {
		return keyserver.Identity{}, unauthenticated(err, "The bearer token is not a well-formed JWT.")
	}
	if alg == "" {
		return keyserver.Identity{}, unauthenticated(nil, "The token names no signing algorithm.")
	}
	iss, _ := peek["iss"].(string)
	ti := v.issuers[iss]
	if ti == nil {
		if iss == "" {
			return keyserver.Identity{}, unauthenticated(nil, "The token names no issuer.")
		}
		return keyserver.Identity{}, unauthenticated(nil, "The token issuer %q is not trusted.", clip(iss))
	}
	return ti.verify(ctx, token)
}

func (ti *trustedIssuer) verify(ctx context.Context, token string) (keyserver.Identity, error) {
	var claims jwt.MapClaims
	_, err := ti.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, unauthenticated(nil, "The token has no key id (kid) header.")
		}
		k, err := ti.keys.key(ctx, kid)
		if errors.Is(err, errKeyNotFound) {
			return nil, unauthenticated(nil, "The token was signed with a key that the issuer does not publish.")
		}
		if err != nil {
			return nil, unauthenticated(err, "The signing keys of the token issuer could not be fetched; try again later.")
		}
		alg := t.Method.Alg()
		if (k.alg != "" && k.alg != alg) || !keyFits(k.key, alg) {
			return nil, unauthenticated(nil, "The token's signing algorithm does not match the issuer's key.")
		}
		return k.key, nil
	})
	if err != nil {
		return keyserver.Identity{}, rejection(err)
	}
	return ti.identify(claims)
}

// rejection turns a parser error into a sentence for the caller.
func rejection(err error) error {
	var ke *keyserver.Error
	if errors.As(err, &ke) {
		return ke
	}
	msg := "The token could not be verified."
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "The bearer token is not a well-formed JWT."
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "The token signature is invalid."
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "The token has expired."
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "The token is not valid yet."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = "The token was issued for another audience than this Keyserver."
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "The token issuer is not trusted."
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "The token lacks a required claim (exp or aud)."
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		msg = "The token's claims are invalid."
	}
	return unauthenticated(err, "%s", msg)
}

// Health reports whether every issuer's keys are cached or can be fetched.
func (v *Verifier) Health(ctx context.Context) error {
	var errs []error
	for iss, ti := range v.issuers {
		if ti.keys.cached() {
			continue
		}
		if err := ti.keys.refresh(ctx); err != nil {
			errs = append(errs, fmt.Errorf("issuer %s: %w", iss, err))
		}
	}
	return errors.Join(errs...)
}

func unauthenticated(cause error, format string, args ...any) *keyserver.Error {
	return keyserver.Wrap(keyserver.EUNAUTHENTICATED, cause, format, args...)
}

// clip shortens a value taken from an unverified token before it is shown.
func clip(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
