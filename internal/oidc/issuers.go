// Package oidc verifies bearer tokens from trusted OpenID Connect issuers
// (Entra ID, GitHub Actions, GitLab, the dev auth server). It implements
// keyserver.TokenVerifier: keys come from each issuer's discovery document
// and JWKS and are cached, so a verified token costs no network I/O. It tells
// people (delegated tokens) from apps (app-only tokens) by the token's shape.
package oidc

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"keyserver/internal/strictjson"
)

// Issuer is one trusted token issuer, as configured in the
// KEYSERVER_TRUSTED_ISSUERS app setting.
type Issuer struct {
	// Issuer is the exact "iss" claim of the issuer's tokens.
	Issuer string `json:"issuer"`
	// Audience is the "aud" claim the Keyserver's tokens must carry.
	Audience string `json:"audience"`
	// SubjectClaim names the claim that identifies an app (a workload acting
	// on its own): sub, appid, azp or oid.
	SubjectClaim string `json:"subjectclaim"`
	// DiscoveryURL overrides <issuer>/.well-known/openid-configuration.
	DiscoveryURL string `json:"discoveryurl,omitempty"`
	// PersonClaim names the claim that identifies a person in the issuer's
	// delegated tokens (those with scp): oid for Entra ID, or sub. Empty means
	// the issuer names apps only, and its delegated tokens are refused.
	PersonClaim string `json:"personclaim,omitempty"`
	// SameAs names another trusted issuer whose tokens name the same people
	// and apps (Entra ID's v1 and v2 issuers of one tenant). This issuer's
	// principals are then registered and compared under that issuer.
	SameAs string `json:"sameas,omitempty"`
}

// Options are the verifier's settings besides the issuers. ParseIssuers
// reads AllowLoopbackHTTP only.
type Options struct {
	// AllowLoopbackHTTP accepts plain-http issuer, discovery and JWKS URLs on
	// loopback hosts (the local dev auth server). Off, every URL is https.
	AllowLoopbackHTTP bool
	// MaxKeyAge is how long an issuer's keys stay trusted when they cannot be
	// refreshed; default DefaultMaxKeyAge.
	MaxKeyAge time.Duration
	// Client fetches discovery documents and JWKS; default one with a
	// timeout. Its redirects are checked as the URLs are.
	Client *http.Client
}

// Claims an issuer may name.
var (
	subjectClaims = []string{"sub", "appid", "azp", "oid"}
	personClaims  = []string{"oid", "sub"}
)

// ParseIssuers reads the JSON array of trusted issuers and validates it.
// An empty SubjectClaim becomes "sub".
func ParseIssuers(jsonText string, o Options) ([]Issuer, error) {
	var issuers []Issuer
	if err := strictjson.Unmarshal([]byte(jsonText), &issuers); err != nil {
		return nil, fmt.Errorf("parsing trusted issuers: %w", err)
	}
	if err := CheckIssuers(issuers, o); err != nil {
		return nil, err
	}
	return issuers, nil
}

// CheckIssuers validates issuers in place, filling defaults: each one on its
// own, then the links between them.
func CheckIssuers(issuers []Issuer, o Options) error {
	seen := make(map[string]bool, len(issuers))
	for i := range issuers {
		is := &issuers[i]
		if err := is.normalize(o); err != nil {
			return fmt.Errorf("trusted issuer %d: %w", i, err)
		}
		if seen[is.Issuer] {
			return fmt.Errorf("trusted issuer %d: issuer %q is listed twice", i, is.Issuer)
		}
		seen[is.Issuer] = true
	}
	return checkLinks(issuers)
}

func (is *Issuer) normalize(o Options) error {
	if is.Issuer == "" {
		return fmt.Errorf("issuer is empty")
	}
	if err := checkHTTPURL(is.Issuer, o.AllowLoopbackHTTP); err != nil {
		return fmt.Errorf("issuer %q: %w", is.Issuer, err)
	}
	if is.Audience == "" {
		return fmt.Errorf("issuer %q: audience is empty", is.Issuer)
	}
	if is.SubjectClaim == "" {
		is.SubjectClaim = "sub"
	}
	if !slices.Contains(subjectClaims, is.SubjectClaim) {
		return fmt.Errorf("issuer %q: subjectclaim %q is not one of %s", is.Issuer, is.SubjectClaim, strings.Join(subjectClaims, ", "))
	}
	if is.PersonClaim != "" && !slices.Contains(personClaims, is.PersonClaim) {
		return fmt.Errorf("issuer %q: personclaim %q is not one of %s (the claim naming the person, never the client app)", is.Issuer, is.PersonClaim, strings.Join(personClaims, ", "))
	}
	if is.DiscoveryURL != "" {
		if err := checkHTTPURL(is.DiscoveryURL, o.AllowLoopbackHTTP); err != nil {
			return fmt.Errorf("issuer %q: discoveryurl: %w", is.Issuer, err)
		}
	}
	return nil
}

// checkLinks checks the sameas links, and refuses two issuers that name the
// same people (Entra ID v1 and v2 of one tenant) unless they are linked: one
// person could otherwise approve, through one, what they asked for through the other.
func checkLinks(issuers []Issuer) error {
	byIssuer := make(map[string]*Issuer, len(issuers))
	for i := range issuers {
		byIssuer[issuers[i].Issuer] = &issuers[i]
	}
	for _, is := range issuers {
		if is.SameAs == "" {
			continue
		}
		target := byIssuer[is.SameAs]
		switch {
		case is.SameAs == is.Issuer:
			return fmt.Errorf("issuer %q: sameas names the issuer itself", is.Issuer)
		case target == nil:
			return fmt.Errorf("issuer %q: sameas %q is not a trusted issuer", is.Issuer, is.SameAs)
		case target.SameAs != "":
			return fmt.Errorf("issuer %q: sameas %q is itself the same as %q; name %q directly", is.Issuer, is.SameAs, target.SameAs, target.SameAs)
		case is.PersonClaim != target.PersonClaim:
			return fmt.Errorf("issuer %q: personclaim %q differs from %q of the issuer it is the same as", is.Issuer, is.PersonClaim, target.PersonClaim)
		case !sameAppClaim(is.SubjectClaim, target.SubjectClaim):
			return fmt.Errorf("issuer %q: subjectclaim %q names apps otherwise than %q of the issuer it is the same as", is.Issuer, is.SubjectClaim, target.SubjectClaim)
		}
		t1, ok1 := entraTenant(is.Issuer)
		t2, ok2 := entraTenant(target.Issuer)
		if ok1 && ok2 && t1 != t2 {
			return fmt.Errorf("issuer %q: sameas %q is another Entra ID tenant", is.Issuer, is.SameAs)
		}
	}
	for i, a := range issuers {
		ta, ok := entraTenant(a.Issuer)
		for _, b := range issuers[i+1:] {
			if tb, okb := entraTenant(b.Issuer); !ok || !okb || ta != tb || a.canonical() == b.canonical() {
				continue
			}
			return fmt.Errorf("trusted issuers %q and %q are Entra ID's v1 and v2 issuers of tenant %s: they name the same people and apps, "+
				"so one identity could approve through one what it asked for through the other. Add \"sameas\":%q to the entry of %q",
				a.Issuer, b.Issuer, ta, b.Issuer, a.Issuer)
		}
	}
	return nil
}

// Aliases maps each issuer that is the same as another (sameas) to the
// issuer its principals are registered under.
func Aliases(issuers []Issuer) map[string]string {
	aliases := map[string]string{}
	for _, is := range issuers {
		if is.SameAs != "" {
			aliases[is.Issuer] = is.SameAs
		}
	}
	return aliases
}

// canonical is the issuer under which the issuer's principals are registered.
func (is *Issuer) canonical() string {
	if is.SameAs != "" {
		return is.SameAs
	}
	return is.Issuer
}

// sameAppClaim reports whether two subject claims name an app alike: Entra's
// v1 tokens carry the client id as appid, v2 tokens as azp.
func sameAppClaim(a, b string) bool {
	clientID := func(c string) bool { return c == "appid" || c == "azp" }
	return a == b || (clientID(a) && clientID(b))
}

// entraTenant returns the tenant of an Entra ID issuer, v1
// (https://sts.windows.net/{tid}/) or v2 (https://login.microsoftonline.com/{tid}/v2.0).
func entraTenant(issuer string) (string, bool) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch strings.ToLower(u.Host) {
	case "sts.windows.net":
		if len(parts) == 1 && parts[0] != "" {
			return strings.ToLower(parts[0]), true
		}
	case "login.microsoftonline.com":
		if len(parts) == 2 && parts[0] != "" && parts[1] == "v2.0" {
			return strings.ToLower(parts[0]), true
		}
	}
	return "", false
}

func (is *Issuer) discoveryURL() string {
	if is.DiscoveryURL != "" {
		return is.DiscoveryURL
	}
	return strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
}

// checkHTTPURL accepts https URLs, and plain-http ones on loopback hosts
// when allowLoopbackHTTP is set.
func checkHTTPURL(s string, allowLoopbackHTTP bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("not an https URL")
	}
	if u.Scheme == "http" && !(allowLoopbackHTTP && isLoopback(u.Hostname())) {
		return fmt.Errorf("not an https URL (plain http is allowed for loopback hosts only, with KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS, for the local dev auth server)")
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
