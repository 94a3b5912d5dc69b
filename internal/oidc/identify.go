package oidc

import (
	"maps"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
)

// kindOf tells a person's token from an app's, as Entra ID shapes them: a
// delegated token (a person signed in through a client app) carries scp; an
// app-only token carries none. idtyp, when present, must agree.
func kindOf(claims jwt.MapClaims) (keyserver.Kind, error) {
	delegated := false
	if raw, ok := claims["scp"]; ok {
		scp, isString := raw.(string)
		if !isString || strings.TrimSpace(scp) == "" {
			return 0, unauthenticated(nil, "The token's scp claim is not a list of scopes.")
		}
		delegated = true
	}
	idtyp, isString := claims["idtyp"].(string)
	if _, present := claims["idtyp"]; present && !isString {
		return 0, unauthenticated(nil, "The token's idtyp claim is not a string.")
	}
	switch {
	case idtyp == "app" && delegated:
		return 0, unauthenticated(nil, "The token says it is an app's (idtyp app) but carries a person's scopes (scp).")
	case idtyp == "user" && !delegated:
		return 0, unauthenticated(nil, "The token says it is a person's (idtyp user) but carries no scopes (scp).")
	case idtyp != "" && idtyp != "app" && idtyp != "user":
		return 0, unauthenticated(nil, "The token's idtyp %q is neither app nor user.", clip(idtyp))
	case delegated:
		return keyserver.KindPerson, nil
	}
	return keyserver.KindApp, nil
}

// identify names the bearer of a verified token. A person is named by the
// issuer's person claim (Entra: oid), never by the client app they signed in
// through (appid/azp); an app by the issuer's subject claim.
func (ti *trustedIssuer) identify(claims jwt.MapClaims) (keyserver.Identity, error) {
	kind, err := kindOf(claims)
	if err != nil {
		return keyserver.Identity{}, err
	}
	claim := ti.cfg.SubjectClaim
	var name string
	if kind == keyserver.KindPerson {
		if ti.cfg.PersonClaim == "" {
			return keyserver.Identity{}, unauthenticated(nil, "The token is a person's (it carries scp), and issuer %q is trusted for apps only.", ti.cfg.Issuer)
		}
		if err := ti.checkTenant(claims); err != nil {
			return keyserver.Identity{}, err
		}
		claim = ti.cfg.PersonClaim
		name = displayName(claims)
	}
	subject, _ := claims[claim].(string)
	if subject == "" {
		return keyserver.Identity{}, unauthenticated(nil, "The token has no %s claim naming the %s.", claim, kind)
	}
	if len(subject) > maxSubjectLength {
		return keyserver.Identity{}, unauthenticated(nil, "The token's %s claim is longer than %d bytes.", claim, maxSubjectLength)
	}
	return keyserver.Identity{
		Principal: keyserver.Principal{Issuer: ti.principal, Subject: subject, Kind: kind},
		Name:      name,
		Claims:    maps.Clone(map[string]any(claims)),
	}, nil
}

// checkTenant refuses a person's Entra ID token whose tid is not the
// issuer's tenant: the person's object id is unique within the tenant only.
func (ti *trustedIssuer) checkTenant(claims jwt.MapClaims) error {
	if ti.tenant == "" {
		return nil
	}
	if tid, _ := claims["tid"].(string); !strings.EqualFold(tid, ti.tenant) {
		return unauthenticated(nil, "The person's token names tenant %q, not the issuer's.", clip(tid))
	}
	return nil
}

// maxNameLength bounds the display name taken from a token.
const maxNameLength = 256

// displayName is the person's name as the token gives it.
func displayName(claims jwt.MapClaims) string {
	for _, c := range []string{"name", "preferred_username"} {
		if v, _ := claims[c].(string); strings.TrimSpace(v) != "" {
			return clipRunes(strings.TrimSpace(v), maxNameLength)
		}
	}
	return ""
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
