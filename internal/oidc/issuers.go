// Package oidc verifies bearer tokens from trusted OpenID Connect issuers
// (Entra ID, GitHub Actions, GitLab, the dev auth server). It implements
// keyserver.TokenVerifier: keys come from each issuer's discovery document
// and JWKS and are cached, so a verified token costs no network I/O.
package oidc

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"keyserver/internal/strictjson"
)

// Issuer is one trusted token issuer, as configured in the
// KEYSERVER_TRUSTED_ISSUERS app setting.
type Issuer struct {
	// Issuer is the exact "iss" claim of the issuer's tokens.
	Issuer string `json:"issuer"`
	// Audience is the "aud" claim the Keyserver's tokens must carry.
	Audience string `json:"audience"`
	// SubjectClaim names the claim that identifies the caller: sub, appid, azp or oid.
	SubjectClaim string `json:"subjectclaim"`
	// DiscoveryURL overrides <issuer>/.well-known/openid-configuration.
	DiscoveryURL string `json:"discoveryurl,omitempty"`
}

// Subject claims an issuer may name.
var subjectClaims = []string{"sub", "appid", "azp", "oid"}

// ParseIssuers reads the JSON array of trusted issuers and validates it.
// An empty SubjectClaim becomes "sub".
func ParseIssuers(jsonText string) ([]Issuer, error) {
	var issuers []Issuer
	if err := strictjson.Unmarshal([]byte(jsonText), &issuers); err != nil {
		return nil, fmt.Errorf("parsing trusted issuers: %w", err)
	}
	seen := make(map[string]bool, len(issuers))
	for i := range issuers {
		is := &issuers[i]
		if err := is.normalize(); err != nil {
			return nil, fmt.Errorf("trusted issuer %d: %w", i, err)
		}
		if seen[is.Issuer] {
			return nil, fmt.Errorf("trusted issuer %d: issuer %q is listed twice", i, is.Issuer)
		}
		seen[is.Issuer] = true
	}
	return issuers, nil
}

func (is *Issuer) normalize() error {
	if is.Issuer == "" {
		return fmt.Errorf("issuer is empty")
	}
	if err := checkHTTPURL(is.Issuer); err != nil {
		return fmt.Errorf("issuer %q: %w", is.Issuer, err)
	}
	if is.Audience == "" {
		return fmt.Errorf("issuer %q: audience is empty", is.Issuer)
	}
	if is.SubjectClaim == "" {
		is.SubjectClaim = "sub"
	}
	valid := false
	for _, c := range subjectClaims {
		valid = valid || c == is.SubjectClaim
	}
	if !valid {
		return fmt.Errorf("issuer %q: subjectclaim %q is not one of %s", is.Issuer, is.SubjectClaim, strings.Join(subjectClaims, ", "))
	}
	if is.DiscoveryURL != "" {
		if err := checkHTTPURL(is.DiscoveryURL); err != nil {
			return fmt.Errorf("issuer %q: discoveryurl: %w", is.Issuer, err)
		}
	}
	return nil
}

func (is *Issuer) discoveryURL() string {
	if is.DiscoveryURL != "" {
		return is.DiscoveryURL
	}
	return strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("not an https URL (http is allowed for loopback hosts only)")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
