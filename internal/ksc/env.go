// Package ksc reads the KSC_* environment that the Keyserver's agent-side
// tools share: the PKCS#11 module (pkcs11client) and the ks CLI (cmd/ks).
// Both parse KSC_API_SERVER, KSC_ID_TOKEN / KSC_ID_TOKEN_FILE and
// KSC_HTTP_CLIENT_TIMEOUT here, so that they accept and refuse the same values.
package ksc

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP request when KSC_HTTP_CLIENT_TIMEOUT is unset.
const DefaultTimeout = 10 * time.Second

// APIServerFromEnv reads and checks KSC_API_SERVER.
func APIServerFromEnv(getenv func(string) string) (*url.URL, error) {
	raw := strings.TrimSpace(getenv("KSC_API_SERVER"))
	if raw == "" {
		return nil, fmt.Errorf("KSC_API_SERVER is not set; set it to the Keyserver URL, e.g. https://keyserver.example.com")
	}
	return ParseAPIServer(raw)
}

// ParseAPIServer accepts https URLs, and http only for loopback hosts.
func ParseAPIServer(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("KSC_API_SERVER %q is not a URL like https://keyserver.example.com", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("KSC_API_SERVER %q must use https (plain http is allowed only for localhost)", raw)
		}
	default:
		return nil, fmt.Errorf("KSC_API_SERVER %q must start with https://", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("KSC_API_SERVER %q must not carry credentials, a query or a fragment", raw)
	}
	return u, nil
}

// IsLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TimeoutFromEnv reads KSC_HTTP_CLIENT_TIMEOUT.
func TimeoutFromEnv(getenv func(string) string) (time.Duration, error) {
	return ParseTimeout(getenv("KSC_HTTP_CLIENT_TIMEOUT"))
}

// ParseTimeout reads a Go duration ("15s") or plain seconds ("15"); empty
// gives DefaultTimeout.
func ParseTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.ParseFloat(s, 64)
		if err2 != nil {
			return 0, fmt.Errorf("KSC_HTTP_CLIENT_TIMEOUT %q is neither a duration like 15s nor a number of seconds", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("KSC_HTTP_CLIENT_TIMEOUT %q must be positive", s)
	}
	return d, nil
}

// TokenFromEnv returns the token source of KSC_ID_TOKEN_FILE (preferred, as
// a file can be refreshed) or KSC_ID_TOKEN, or nil when neither is set.
func TokenFromEnv(getenv func(string) string, now func() time.Time) *TokenSource {
	fixed := strings.TrimSpace(getenv("KSC_ID_TOKEN"))
	file := strings.TrimSpace(getenv("KSC_ID_TOKEN_FILE"))
	if fixed == "" && file == "" {
		return nil
	}
	return NewTokenSource(fixed, file, now)
}

// NoTokenMessage says what to set when no token is configured.
const NoTokenMessage = "neither KSC_ID_TOKEN nor KSC_ID_TOKEN_FILE is set; set one to the bearer token (or a file holding it)"
